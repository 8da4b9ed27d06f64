"""A supervisor whispers from the live view (TRN-1, issue 16 must-show 4) in a real headless
Chromium against a real `vpbx run`: a trunk call (SIPp, saying 500 Hz) talks to the employee
(baresip, 1000 Hz); the supervisor, signed in to the cabinet as himself, presses «Подсказывать»
on the call, his own baresip phone (1500 Hz) rings and answers by itself, and the row shows
that he whispers. The employee hears him; what the caller heard (captured) never holds him."""

from __future__ import annotations

import random
import secrets
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.peers.rtp_pcap import tone
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import TRUNK_IP
from tests.switch.live import tones_heard
from tests.switch.observe import band_power, heard
from tests.switch.test_supervise_live import seconds_with
from tests.web.conftest import SCREENSHOTS, Tenant, api, employee_with_phone

CALLER_HZ, EMPLOYEE_HZ, SUPERVISOR_HZ = 500.0, 1000.0, 1500.0
#: how long the supervisor whispers before he hangs up
WHISPER = 4.0


def test_a_supervisors_whisper_from_the_live_view_is_heard_by_the_employee_only(
    page: Page, served: Tenant, admin_token: str, tmp_path: Path
) -> None:
    mark = random.randint(1000, 9999)
    number = f"7495{random.randint(1000000, 9999999)}"
    login, password = f"boss{mark}", f"boss-{secrets.token_hex(6)}"
    for folder in ("employee", "supervisor"):
        (tmp_path / folder).mkdir()
    with api(served, admin_token) as client:
        trunk = {"name": f"Провайдер {mark}", "host": TRUNK_IP, "allow_ips": [TRUNK_IP]}
        assert client.post("/trunks", json=trunk).status_code == 201
        employee_id, employee = employee_with_phone(
            client, tmp_path / "employee", served, f"Оператор{mark}", hz=EMPLOYEE_HZ
        )
        boss_id, boss_phone = employee_with_phone(
            client, tmp_path / "supervisor", served, f"Надзор{mark}", hz=SUPERVISOR_HZ
        )
        user = {"login": login, "password": password, "role": "supervisor", "employee_id": boss_id}
        assert client.post("/users", json=user).status_code == 201
        scenario = client.post(
            "/scenarios",
            json={
                "name": f"Надзор {mark}",
                "entry": "fwd",
                "operations": [
                    {"key": "fwd", "kind": "forward", "targets": [{"employee_id": employee_id}]}
                ],
            },
        )
        assert scenario.status_code == 201, scenario.text
        rules = [{"scenario_id": scenario.json()["id"]}]
        assert client.post("/numbers", json={"number": number, "rules": rules}).status_code == 201
    caller = TrunkCaller(
        tmp_path / "trunk", served.sip_port, number, [tone(CALLER_HZ, 14.0)], ip=TRUNK_IP
    )
    try:
        page.set_viewport_size({"width": 1600, "height": 900})
        page.goto(served.http + "/live")
        page.get_by_label("Логин").fill(login)
        page.get_by_label("Пароль").fill(password)
        page.get_by_role("button", name="Войти", exact=True).click()
        expect(page.get_by_role("heading", name="Звонки сейчас")).to_be_visible(timeout=15_000)
        expect(page.get_by_role("columnheader", name="Супервизор")).to_be_visible()

        caller.start()
        row = page.get_by_role("row").filter(has_text=number)
        expect(row.get_by_role("cell", name=f"Оператор{mark}", exact=True)).to_be_visible(
            timeout=10_000
        )
        row.get_by_role("button", name="Подсказывать").click()
        expect(page.get_by_text("Звоним на ваш телефон")).to_be_visible()
        boss_phone.wait_event("CALL_ESTABLISHED", timeout=20)
        expect(row.get_by_test_id("supervisor")).to_have_text(f"Надзор{mark} подсказывает")
        expect(row.get_by_role("button")).to_have_count(0)
        expect(page.get_by_test_id(f"employee-{boss_id}")).to_have_attribute(
            "data-state", "talking"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live-supervise.png"), full_page=True)
        time.sleep(WHISPER)
        boss_phone.command("hangup")
        boss_phone.wait_event("CALL_CLOSED")
        # he left: the talk goes on, and the call may be joined again
        expect(row.get_by_role("button", name="Подсказывать")).to_be_visible()
        result = caller.wait()
        result.assert_ok()
        expect(row).to_have_count(0, timeout=5000)
    finally:
        caller.stop()
        employee.stop()
        boss_phone.stop()

    # the caller heard the employee, never the supervisor
    assert tones_heard(result.samples, (EMPLOYEE_HZ, SUPERVISOR_HZ)) == {EMPLOYEE_HZ}
    assert band_power(result.samples, SUPERVISOR_HZ) < 0.01
    assert seconds_with(result.samples, SUPERVISOR_HZ) == 0
    # the employee heard the caller, and the supervisor for about as long as he whispered
    assert seconds_with(heard(employee), SUPERVISOR_HZ) >= WHISPER - 1.5
    assert seconds_with(heard(employee), CALLER_HZ) >= WHISPER
    # the supervisor heard both of them
    assert seconds_with(heard(boss_phone), CALLER_HZ) >= WHISPER - 1.5
    assert seconds_with(heard(boss_phone), EMPLOYEE_HZ) >= WHISPER - 1.5
