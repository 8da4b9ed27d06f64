"""The setup wizard of a new account in a real headless Chromium against a real `vpbx run`
(issue 14): the operator makes an account, its admin and its provider's trunk (API); the admin
signs in, is offered the wizard, makes a number, an employee and a scenario on its pages, a
baresip phone registers with the SIP line the wizard shows, and a SIPp trunk call to the new
number reaches that phone (the wizard's last step shows it answered by him). Screenshots of the
wizard and of two other screens (a contact with his personal manager, account settings)."""

from __future__ import annotations

import os
import random
import re
import subprocess
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.peers.baresip import BaresipPhone
from tests.peers.rtp_pcap import silence, tone
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import TRUNK_IP, tone_file
from tests.test_processes import VPBX
from tests.web.conftest import Tenant, screenshot


def _new_account(served: Tenant) -> tuple[str, str]:
    """What the installation's operator does for a new client: the account, its admin and the
    provider's trunk. Answers the admin's login and password."""
    env = os.environ | {"VPBX_DATA_DIR": str(served.data_dir)}
    env.pop("VPBX_DATABASE_URL", None)
    done = subprocess.run(
        [*VPBX, "operator-token"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    mark = random.randint(1000, 9999)
    login, password = f"admin{mark}@new", "new-admin-2026"
    operator = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{served.http}/api/v1", headers=operator, timeout=10) as client:
        account = client.post("/accounts", json={"name": f"Новая компания {mark}"})
        assert account.status_code == 201, account.text
        inside = {"X-Account-Id": str(account.json()["id"])}
        user = {"login": login, "password": password, "role": "admin"}
        assert client.post("/users", json=user, headers=inside).status_code == 201
        trunk = {"name": "Провайдер", "host": TRUNK_IP, "allow_ips": [TRUNK_IP]}
        assert client.post("/trunks", json=trunk, headers=inside).status_code == 201
    return login, password


def test_a_new_account_set_up_by_the_wizard_takes_a_trunk_call(
    page: Page, served: Tenant, tmp_path: Path
) -> None:
    login, password = _new_account(served)
    number = f"7495{random.randint(1000000, 9999999)}"

    page.goto(served.http + "/login")
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти", exact=True).click()
    prompt = page.get_by_role("region", name="Настройте АТС за 4 шага")
    prompt.get_by_role("button", name="Открыть мастер настройки").click()
    expect(page).to_have_url(re.compile(r"/setup$"))

    page.get_by_label("Виртуальный номер").fill(number)
    page.get_by_role("button", name="Далее").click()

    page.get_by_role("textbox", name="Фамилия").fill("Мастеров")
    page.get_by_role("textbox", name="Имя").fill("Иван")
    page.get_by_label("Добавочный номер").fill("101")
    page.get_by_role("button", name="Создать").click()
    card = page.locator("[data-testid^=sip-line-]")
    expect(card.get_by_test_id("sip-login")).not_to_have_text("")
    card.get_by_role("button", name="Показать").click()
    expect(card.get_by_test_id("sip-password")).not_to_have_text(re.compile("•"))
    sip_login = card.get_by_test_id("sip-login").inner_text().strip()
    sip_password = card.get_by_test_id("sip-password").inner_text().strip()

    phone = BaresipPhone(
        tmp_path / "phone",
        f"<sip:{sip_login}@127.0.0.1:{served.sip_port}>;auth_pass={sip_password};"
        "answermode=auto;audio_codecs=PCMU,PCMA;regint=300",
        tone_file(tmp_path / "tone.wav", 900, seconds=10),
    )
    phone.start()
    try:
        expect(card.get_by_test_id("sip-status")).to_have_text("Зарегистрирован", timeout=20_000)
        screenshot(page, "setup-wizard")
        page.get_by_role("button", name="Далее").click()

        expect(page.get_by_label("Название сценария")).to_have_value("Входящие звонки")
        page.get_by_role("button", name="Создать").click()
        expect(page.get_by_text(f"Позвоните на номер +{number}")).to_be_visible()

        caller = TrunkCaller(
            tmp_path / "trunk", served.sip_port, number, [silence(0.5), tone(500, 2.0)], ip=TRUNK_IP
        )
        caller.run().assert_ok()
        expect(page.get_by_test_id("setup-last-call")).to_contain_text(
            "отвечен, ответил Мастеров Иван", timeout=15_000
        )
        screenshot(page, "setup-wizard-test-call")
    finally:
        phone.stop()

    # two of the other screens: a contact with his personal manager, the account's settings
    page.goto(served.http + "/contacts/new")
    page.get_by_label("Фамилия", exact=True).fill("Клиентов")
    page.get_by_label("Телефоны").fill("+7 916 123-45-67")
    page.keyboard.press("Enter")
    page.get_by_label("Персональный менеджер").click()
    page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)").get_by_title(
        "Мастеров Иван"
    ).click()
    page.get_by_role("button", name="Создать", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+$"))
    expect(page.get_by_role("heading", name="Контакт: Клиентов")).to_be_visible()
    expect(page.get_by_label("Персональный менеджер")).to_be_visible()
    screenshot(page, "contact")

    page.goto(served.http + "/account")
    expect(page.get_by_role("heading", name="Настройки аккаунта")).to_be_visible()
    expect(page.get_by_label("Перевод на SIP URI")).to_be_disabled()
    screenshot(page, "account-settings")
