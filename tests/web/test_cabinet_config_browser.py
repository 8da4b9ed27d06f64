"""The cabinet's configuration screens in a real headless Chromium against a real `vpbx run`
(issue 14, must-show 2 and 6):

* a group, a schedule and a number rule made on the pages, and a trunk call (SIPp) through that
  rule reaches the group: the member's phone (baresip, registered with his SIP line) answers;
* the account's YAML downloaded, edited, uploaded, its dry-run changes shown, then applied.

The trunk, the member and the scenario the rule names are set up through the API: the pages
under test are the group's, the schedule's and the number's."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.peers.rtp_pcap import silence, tone
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import TRUNK_IP
from tests.web.conftest import Tenant, api, employee_with_phone, screenshot
from tests.web.test_cabinet_browser import sign_in


def _pick(page: Page, field: str, option: str, scope: Page | Locator | None = None) -> None:
    """Choose `option` in the antd select labelled `field`."""
    (scope or page).get_by_label(field, exact=True).click()
    page.keyboard.type(option)
    page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)").get_by_title(
        option
    ).click()


def test_a_group_schedule_and_rule_made_on_the_pages_route_a_trunk_call_to_the_group(
    page: Page, served: Tenant, admin_token: str, tmp_path: Path
) -> None:
    number = f"7495{random.randint(1000000, 9999999)}"
    with api(served, admin_token) as client:
        trunk = {"name": "Провайдер", "host": TRUNK_IP, "allow_ips": [TRUNK_IP]}
        assert client.post("/trunks", json=trunk).status_code == 201
        member_id, phone = employee_with_phone(
            client, tmp_path, served, f"Группов{random.randint(1000, 9999)}"
        )
        member = client.get(f"/employees/{member_id}").json()["last_name"]
    try:
        # the group: its member and the distribution table
        sign_in(page, served, "/groups/new")
        page.get_by_label("Название", exact=True).fill("Отдел браузера")
        _pick(page, "Сотрудники", member)
        expect(page.get_by_text(re.compile(r"^S · "))).to_have_count(1)
        page.get_by_role("button", name="Уравнять проценты").click()
        expect(page.get_by_text("Итого: 100 %")).to_be_visible()
        page.get_by_role("button", name="Создать", exact=True).click()
        expect(page).to_have_url(re.compile(r"/groups/\d+$"))
        group_id = int(page.url.rsplit("/", 1)[1])
        screenshot(page, "group")

        with api(served, admin_token) as client:
            scenario = client.post(
                "/scenarios",
                json={
                    "name": "В группу браузера",
                    "entry": "group",
                    "operations": [
                        {"key": "group", "kind": "forward", "targets": [{"group_id": group_id}]}
                    ],
                },
            )
            assert scenario.status_code == 201, scenario.text
        page.goto(f"{served.http}/scenarios/{scenario.json()['id']}")
        # the warning is shown beside the operation it concerns (its code under the text)
        expect(page.get_by_role("group", name="Операция 1").get_by_test_id("lint")).to_contain_text(
            "forward_no_fallback", timeout=15_000
        )
        screenshot(page, "scenario-lint")

        # the schedule: every day round the clock (the call may come at any hour)
        page.goto(f"{served.http}/schedules/new")
        page.get_by_label("Название", exact=True).fill("Круглосуточно")
        for day in ("Сб", "Вс"):
            page.get_by_role("button", name=f"Добавить интервал {day}").click()
        for day in ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"):
            page.get_by_label(f"{day} 1 С", exact=True).fill("00:00")
            page.get_by_label(f"{day} 1 До", exact=True).fill("00:00")
        expect(page.locator("[data-active=no]")).to_have_count(0)
        expect(page.locator("[data-testid=day-1]")).to_contain_text("00:00–00:00")
        screenshot(page, "schedule")
        page.get_by_role("button", name="Создать", exact=True).click()
        expect(page).to_have_url(re.compile(r"/schedules/\d+$"))

        # the number and its rule: this schedule, every caller, the scenario to the group
        page.goto(f"{served.http}/numbers/new")
        page.get_by_label("Номер", exact=True).fill(number)
        page.get_by_role("button", name="Создать правило").click()
        rule = page.get_by_role("group", name="Правило 1")
        rule.get_by_role("textbox", name="Название правила").fill("Из браузера")
        _pick(page, "График активности", "Круглосуточно", scope=rule)
        _pick(page, "Сценарий", "В группу браузера", scope=rule)
        page.get_by_role("button", name="Создать", exact=True).click()
        expect(page).to_have_url(re.compile(r"/numbers/\d+$"))
        screenshot(page, "number-rules")

        caller = TrunkCaller(
            tmp_path / "trunk", served.sip_port, number, [silence(0.5), tone(500, 2.0)], ip=TRUNK_IP
        )
        caller.run().assert_ok()
    finally:
        phone.stop()

    with api(served, admin_token) as client:
        deadline = time.monotonic() + 10
        while True:
            calls = client.get("/calls", params={"limit": 20, "sort": "-started_at"}).json()
            ours = [c for c in calls["items"] if c["called"] == number]
            if ours and ours[0]["ended_at"] is not None:
                break
            assert time.monotonic() < deadline, calls
            time.sleep(0.3)
    assert ours[0]["status"] == "answered", ours[0]
    assert ours[0]["employee_id"] == member_id, ours[0]


def test_yaml_downloaded_edited_uploaded_shows_its_changes_then_applies(
    page: Page, served: Tenant, admin_token: str, tmp_path: Path
) -> None:
    sign_in(page, served, "/config")
    expect(page.get_by_role("heading", name="Настройки аккаунта в YAML")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Скачать YAML").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Отдел продаж / Sales" in text

    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("Отдел продаж / Sales", "Отдел продаж (из YAML)"), "utf-8")
    page.get_by_role("textbox", name="Текст YAML").fill("")
    page.locator("input[type=file]").set_input_files(str(edited))
    expect(page.get_by_role("textbox", name="Текст YAML")).to_have_value(
        re.compile("Отдел продаж \\(из YAML\\)")
    )
    page.get_by_role("button", name="Показать изменения").click()
    changes = page.get_by_role("region", name="Что изменится")
    expect(changes.get_by_role("cell", name="groups")).to_be_visible()
    expect(changes.get_by_test_id("yaml-diff")).to_contain_text("- ")
    expect(changes.get_by_test_id("yaml-diff")).to_contain_text("+ ")
    expect(changes.get_by_test_id("yaml-diff")).to_contain_text("Отдел продаж (из YAML)")
    screenshot(page, "config-yaml-diff")

    with api(served, admin_token) as client:  # the dry run wrote nothing
        names = [g["name"] for g in client.get("/groups", params={"limit": 100}).json()["items"]]
        assert "Отдел продаж / Sales" in names
    page.get_by_role("button", name="Применить").click()
    expect(page.get_by_role("status")).to_contain_text("Настройки применены")
    with api(served, admin_token) as client:
        names = [g["name"] for g in client.get("/groups", params={"limit": 100}).json()["items"]]
        assert "Отдел продаж (из YAML)" in names
        assert "Отдел продаж / Sales" not in names
