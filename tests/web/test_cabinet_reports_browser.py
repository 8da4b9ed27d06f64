"""The calls report and the file base in a real headless Chromium against a real `vpbx run`
(SQLite), issue 14: a voicemail left by a SIPp trunk caller plays in the file base (the page's
audio element streams it through a short-lived link and reports the message's duration); the
employee role sees only his own calls; a number is blocked from a report row (BLK-1); a sound
file is recorded by phone («Записать сообщение»: SIPp on the trunk answers the PBX's call)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.peers.ports import free_port, free_range
from tests.peers.rtp_pcap import silence, tone, write_rtp_pcap
from tests.peers.sipp import SippServer, sipp_args
from tests.peers.trunk_caller import TrunkCaller
from tests.web.conftest import Tenant, api, screenshot
from vpbx.services.call_log import CallRecord, write_call
from vpbx.storage.db import make_async_engine

EMPLOYEE = ("ivanov@demo", "ivanov-pass-2026")
TRUNK_IP = "127.0.0.2"
NUMBER = "74951110099"
CALLER = "74957654321"  # the From of the SIPp trunk caller
MINE, OTHERS = "79161110001", "79162220002"  # callers of Иванов's and Петрова's calls
RECORD_NUMBER = "79163330003"  # called to record a sound file (FILE-1)


@dataclass
class Voicemail:
    call_id: int
    file_id: int
    seconds: float  # the file's duration as the API says


def sign_in(page: Page, served: Tenant, who: tuple[str, str], path: str) -> None:
    page.goto(served.http + path)
    expect(page.get_by_text("Вход в личный кабинет")).to_be_visible()
    page.get_by_label("Логин").fill(who[0])
    page.get_by_label("Пароль").fill(who[1])
    page.get_by_role("button", name="Войти", exact=True).click()


@pytest.fixture(scope="module")
def voicemail(served: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Voicemail:
    """A trunk, a number whose scenario is voicemail, and SIPp calling it: it waits through the
    greeting, then sends 4 s of a 440 Hz tone and hangs up."""
    with api(served, served.token()) as client:
        trunk = client.post(
            "/trunks", json={"name": "Provider", "host": TRUNK_IP, "allow_ips": [TRUNK_IP]}
        )
        assert trunk.status_code == 201, trunk.text
        scenario = client.post(
            "/scenarios",
            json={
                "name": "Voicemail",
                "entry": "vm",
                "operations": [{"key": "vm", "kind": "voicemail", "emails": [], "max_seconds": 30}],
            },
        )
        assert scenario.status_code == 201, scenario.text
        number = client.post(
            "/numbers",
            json={"number": NUMBER, "rules": [{"scenario_id": scenario.json()["id"]}]},
        )
        assert number.status_code == 201, number.text
        result = TrunkCaller(
            tmp_path_factory.mktemp("trunk"),
            served.sip_port,
            NUMBER,
            [silence(3.0), tone(440, 4.0), silence(0.5)],
            timeout=30,
        ).run()
        result.assert_ok()
        # The file row and the call row that links it are written by different steps of the
        # hang-up, so both are waited for.
        deadline = dt.datetime.now() + dt.timedelta(seconds=15)
        while True:
            files = client.get("/files", params={"kind": "voicemail"}).json()["items"]
            calls = client.get("/calls", params={"status": "voicemail"}).json()["items"]
            linked = [c for f in files for c in calls if f["id"] in c["recording_file_ids"]]
            if linked:
                break
            assert dt.datetime.now() < deadline, f"no voicemail linked to a call: {files} {calls}"
            time.sleep(0.3)
        (found,) = files
        assert found["caller"] == CALLER
        (call,) = linked
        return Voicemail(call["id"], found["id"], found["duration_seconds"])


@pytest.fixture(scope="module")
def staff_calls(served: Tenant) -> dict[str, int]:
    """One finished call of Иванов and one of Петрова (the demo's employees), written as the
    switch writes them, and an employee user for Иванов."""
    with api(served, served.token()) as client:
        account_id = client.get("/account").json()["id"]
        staff = {e["last_name"]: e["id"] for e in client.get("/employees").json()["items"]}
        user = client.post(
            "/users",
            json={
                "login": EMPLOYEE[0],
                "password": EMPLOYEE[1],
                "role": "employee",
                "employee_id": staff["Иванов"],
            },
        )
        assert user.status_code == 201, user.text
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    async def write() -> None:
        engine = make_async_engine(f"sqlite:///{served.data_dir / 'vpbx.db'}")
        try:
            async with engine.begin() as conn:
                for minutes, caller, employee in ((-30, MINE, "Иванов"), (-20, OTHERS, "Петрова")):
                    started = now + dt.timedelta(minutes=minutes)
                    record = CallRecord(
                        account_id=account_id,
                        started_at=started,
                        direction="incoming",
                        status="answered",
                        caller=caller,
                        called="74951234567",
                        employee_id=staff[employee],
                        answered_at=started + dt.timedelta(seconds=5),
                        ended_at=started + dt.timedelta(seconds=65),
                        wait_seconds=5,
                        talk_seconds=60,
                    )
                    await write_call(conn, record, started)
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running in this thread
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(write())).result()
    return staff


def test_a_voicemail_left_by_a_sipp_caller_plays_in_the_file_base(
    page: Page, served: Tenant, voicemail: Voicemail
) -> None:
    # the message: the 4 s tone and what followed until the caller hung up
    assert 3.5 < voicemail.seconds < 6.0, voicemail
    sign_in(page, served, served.admin, "/files")
    expect(page.get_by_role("heading", name="База файлов")).to_be_visible()
    expect(page.get_by_role("tab", name="Файлы голосовой почты")).to_have_attribute(
        "aria-selected", "true"
    )
    table = page.get_by_test_id("files-table")
    expect(table.get_by_role("cell", name=CALLER, exact=True)).to_be_visible()
    table.get_by_role("button", name=re.compile("^Воспроизвести")).first.click()
    player = page.get_by_test_id(f"player-{voicemail.file_id}")
    expect(player).to_be_visible()
    page.wait_for_function(
        "el => el.readyState >= 1 && Number.isFinite(el.duration)",
        arg=player.element_handle(),
        timeout=10_000,
    )
    duration = player.evaluate("el => el.duration")
    assert abs(duration - voicemail.seconds) < 0.1, (duration, voicemail.seconds)
    # it plays: the browser streams it (range requests through the link) and time goes on
    player.evaluate("el => { el.muted = true; return el.play(); }")
    page.wait_for_function("el => el.currentTime > 0.5", arg=player.element_handle())
    screenshot(page, "file-base")

    # the call details: why it went to voicemail, and the message played there too
    page.goto(served.http + "/calls")
    row = page.get_by_test_id("calls-table").get_by_role("row").filter(has_text=CALLER)
    expect(row.get_by_text("Голосовая почта")).to_be_visible()
    screenshot(page, "calls-report")
    row.get_by_role("button", name="Детали").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.get_by_text(f"Детали звонка № {voicemail.call_id}")).to_be_visible()
    expect(drawer.get_by_test_id("call-timeline")).to_be_visible()
    expect(drawer.get_by_test_id("call-step").first).to_be_visible()
    expect(drawer.get_by_test_id(f"player-{voicemail.file_id}")).to_be_visible()
    screenshot(page, "call-details")


def test_the_employee_role_sees_only_his_own_calls(
    page: Page, served: Tenant, staff_calls: dict[str, int]
) -> None:
    sign_in(page, served, EMPLOYEE, "/calls")
    expect(page.get_by_role("heading", name="Мои звонки")).to_be_visible()
    table = page.get_by_test_id("calls-table")
    expect(table.get_by_text(MINE)).to_be_visible()
    expect(table.get_by_text(OTHERS)).to_have_count(0)
    expect(table.get_by_text(CALLER)).to_have_count(0)  # the voicemail went to nobody
    expect(page.get_by_text("Всего: 1")).to_be_visible()
    # no configuration to read, nothing to block
    expect(page.get_by_role("combobox", name="Сотрудник")).to_have_count(0)
    expect(page.get_by_role("button", name="В черный список")).to_have_count(0)
    screenshot(page, "calls-employee")


def test_a_number_is_blocked_from_a_report_row(
    page: Page, served: Tenant, staff_calls: dict[str, int]
) -> None:
    sign_in(page, served, served.admin, f"/calls?caller={OTHERS}")
    row = page.get_by_test_id("calls-table").get_by_role("row").filter(has_text=OTHERS)
    row.get_by_role("button", name="В черный список").click()
    expect(page.get_by_text(f"Добавить номер {OTHERS} в черный список?")).to_be_visible()
    page.get_by_role("tooltip").get_by_role("button", name="В черный список").click()
    expect(page.get_by_text(f"Номер {OTHERS} добавлен в черный список")).to_be_visible()
    with api(served, served.token()) as client:
        entries = client.get("/blacklist", params={"number": OTHERS}).json()["items"]
    assert [e["number"] for e in entries] == [OTHERS]
    assert "звонок №" in entries[0]["comment"]


def test_the_report_tabs_and_filters_ask_the_api(
    page: Page, served: Tenant, staff_calls: dict[str, int], tmp_path: Path
) -> None:
    sign_in(page, served, served.admin, "/calls")
    table = page.get_by_test_id("calls-table")
    expect(table.get_by_text(MINE)).to_be_visible()
    page.get_by_role("combobox", name="Сотрудник").click()
    page.get_by_title("Петрова", exact=False).first.click()
    expect(page).to_have_url(re.compile(r"employee=\d+"))
    expect(table.get_by_text(OTHERS)).to_be_visible()
    expect(table.get_by_text(MINE)).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Выгрузить в CSV").click()
    saved = tmp_path / "calls.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert OTHERS in text
    assert MINE not in text
    assert text.splitlines()[0].startswith("Дата и время;")


def test_a_sound_file_is_recorded_by_phone_from_the_file_base(
    page: Page, served: Tenant, voicemail: Voicemail, tmp_path: Path
) -> None:
    """FILE-1 «Записать сообщение»: the admin asks the PBX to call a number; the provider (SIPp
    on the trunk) answers and, after the instruction and the beep, says a tone; the recording
    stops at its longest length (5 s), and the new sound file is first in the list."""
    port, media = free_port(), free_range(4)
    with api(served, served.token()) as client:
        (trunk,) = [t for t in client.get("/trunks").json()["items"] if t["name"] == "Provider"]
        moved = client.patch(f"/trunks/{trunk['id']}", json={"port": port})
        assert moved.status_code == 200, moved.text
    write_rtp_pcap(tmp_path / "provider.pcap", [silence(7.0), tone(600, 3.0), silence(10.0)])
    args = sipp_args(
        "provider_answers.xml", None, calls=1, rate=10, transport="u1", timeout=60,
        extra=["-mi", TRUNK_IP, "-mp", str(media)], port=port, ip=TRUNK_IP,
    )  # fmt: skip
    provider = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with SippServer(provider, tmp_path, TRUNK_IP, port) as sipp:
        sign_in(page, served, served.admin, "/files?kind=sound")
        page.get_by_role("button", name="Записать сообщение").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Название файла").fill("Приветствие по телефону")
        dialog.get_by_text("На номер", exact=True).click()
        dialog.get_by_label("Номер телефона").fill(RECORD_NUMBER)
        dialog.get_by_label("Длительность записи не более, с").fill("5")
        dialog.get_by_role("button", name="Позвонить").click()
        expect(dialog.get_by_text("Идёт звонок")).to_be_visible(timeout=10_000)
        expect(
            dialog.get_by_text("Сообщение записано: файл «Приветствие по телефону»")
        ).to_be_visible(timeout=30_000)
        first = page.get_by_test_id("files-table").get_by_role("row").nth(1)
        expect(first).to_contain_text("Приветствие по телефону")
        screenshot(page, "record-by-phone")
        result = sipp.finish(30)
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert re.search(rf"^INVITE sip:{RECORD_NUMBER}@", result.messages(), re.M)
    with api(served, served.token()) as client:
        (found,) = [
            f for f in client.get("/files", params={"kind": "sound"}).json()["items"]
            if f["name"] == "Приветствие по телефону"
        ]  # fmt: skip
    assert 4.5 <= found["duration_seconds"] <= 5.6, found
