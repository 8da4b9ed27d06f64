"""The scenario editor in a real headless Chromium against a real `vpbx run` (issue 14):
every operation is a structured form; an exit picked from the scenario's operations, the prompt
file played from the file base, the lint warning shown beside its operation and gone once the
exit is linked, and the saved scenario exactly what was loaded plus that one exit (no SIP peers)."""

from __future__ import annotations

import io
import math
import random
import struct
import wave

from playwright.sync_api import Page, expect

from tests.web.conftest import Tenant, api, screenshot
from tests.web.test_cabinet_browser import sign_in


def _tone_wav(seconds: float = 1.0, hz: int = 440) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = int(8000 * seconds)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / 8000)))
                for n in range(frames)
            )
        )
    return out.getvalue()


def test_the_scenario_editor_edits_operations_as_forms(
    page: Page, served: Tenant, admin_token: str
) -> None:
    mark = random.randint(1000, 9999)
    with api(served, admin_token) as client:
        created = client.post(
            "/files", json={"name": f"Приветствие {mark}", "kind": "sound", "text": ""}
        )
        assert created.status_code == 201, created.text
        file_id = created.json()["id"]
        uploaded = client.put(
            f"/files/{file_id}/content",
            content=_tone_wav(),
            headers={"Content-Type": "audio/wav"},
        )
        assert uploaded.status_code < 300, uploaded.text
        employee = client.get("/employees?limit=1").json()["items"][0]
        document = {
            "name": f"Меню браузера {mark}",
            "entry": "menu",
            "operations": [
                {
                    "key": "menu",
                    "kind": "menu",
                    "title": "Главное меню",
                    "prompt_file_id": file_id,
                    "exits": {"1": "fwd", "invalid": "menu_again"},
                },
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"employee_id": employee["id"]}],
                    "strategy": "priority",
                    "exits": {"no_answer": "vm"},
                },
                {"key": "vm", "kind": "voicemail", "emails": ["office@example.ru"]},
                {"key": "menu_again", "kind": "info", "text": "Повторите выбор", "exits": {}},
            ],
        }
        scenario = client.post("/scenarios", json=document)
        assert scenario.status_code == 201, scenario.text
        scenario_id = scenario.json()["id"]
        loaded = client.get(f"/scenarios/{scenario_id}").json()

    sign_in(page, served, f"/scenarios/{scenario_id}")
    menu = page.get_by_role("group", name="Операция 1")
    expect(menu.get_by_label("Текст приветствия (синтез речи)")).to_be_visible()
    # the menu without a timeout exit: its warning is beside it
    expect(menu.get_by_test_id("lint")).to_contain_text("время ожидания истекло", timeout=15_000)
    forward = page.get_by_role("group", name="Операция 2")
    expect(forward.get_by_label("Адресат 1: Сотрудник")).to_be_visible()
    voicemail = page.get_by_role("group", name="Операция 3")
    expect(voicemail.get_by_label("E-mail для записи")).to_be_visible()

    # the prompt file plays from the file base
    menu.get_by_role("button", name=f"Прослушать Приветствие {mark}").click()
    expect(menu.get_by_test_id(f"player-{file_id}")).to_be_visible()

    # the timeout exit linked to the voicemail: the warning goes
    menu.get_by_label("Время ожидания истекло", exact=True).click()
    page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)").get_by_title(
        "vm — Голосовая почта"
    ).click()
    expect(menu.get_by_test_id("lint")).to_have_count(0, timeout=15_000)
    screenshot(page, "scenario-edit")

    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_text("Сохранено")).to_be_visible()
    with api(served, admin_token) as client:
        saved = client.get(f"/scenarios/{scenario_id}").json()
    expected = loaded["operations"]
    expected[0]["exits"] = {**expected[0]["exits"], "timeout": "vm"}
    assert saved["operations"] == expected
