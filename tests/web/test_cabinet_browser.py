"""The web cabinet in a real headless Chromium against a real `vpbx run` (SQLite): sign-in in
Russian, an employee created on the page whose SIP line a real baresip phone registers with
(the page then shows it registered), a 422 under its field in Russian and in English, an
expired session and an API that is down (issue 14)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.peers.baresip import BaresipPhone
from tests.switch.harness import tone_file
from tests.web.conftest import Tenant, api, screenshot


def sign_in(page: Page, served: Tenant, path: str = "/") -> None:
    """As the admin of the module's account."""
    page.goto(served.http + path)
    expect(page.get_by_text("Вход в личный кабинет")).to_be_visible()
    page.get_by_label("Логин").fill(served.admin[0])
    page.get_by_label("Пароль").fill(served.admin[1])
    page.get_by_role("button", name="Войти", exact=True).click()


def fresh_extension(served: Tenant, token: str) -> str:
    with api(served, token) as client:
        taken = {e["extension"] for e in client.get("/employees?limit=1000").json()["items"]}
    while (extension := str(random.randint(3000, 7999))) in taken:
        pass
    return extension


def test_sign_in_create_an_employee_and_see_his_phone_registered(
    page: Page, served: Tenant, tmp_path: Path
) -> None:
    page.goto(served.http + "/employees")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Femployees$"))
    expect(page.get_by_text("Вход в личный кабинет")).to_be_visible()
    screenshot(page, "sign-in")

    sign_in(page, served, "/employees")
    expect(page).to_have_url(re.compile(r"/employees$"))
    expect(page.get_by_role("heading", name="Сотрудники")).to_be_visible()
    expect(page.get_by_role("link", name="Иванов")).to_be_visible()  # the demo account's
    screenshot(page, "employees")

    page.get_by_role("button", name="Новый сотрудник").click()
    expect(page).to_have_url(re.compile(r"/employees/new$"))
    page.get_by_role("textbox", name="Фамилия").fill("Браузеров")
    page.get_by_role("textbox", name="Имя").fill("Пётр")
    page.get_by_role("button", name="Создать").click()
    expect(page).to_have_url(re.compile(r"/employees/\d+$"))
    card = page.locator("[data-testid^=sip-line-]")
    expect(card.get_by_test_id("sip-login")).not_to_have_text("")
    card.get_by_role("button", name="Показать").click()
    expect(card.get_by_test_id("sip-password")).not_to_have_text(re.compile("•"))
    expect(card.get_by_test_id("sip-status")).to_have_text("Не зарегистрирован")

    login = card.get_by_test_id("sip-login").inner_text().strip()
    password = card.get_by_test_id("sip-password").inner_text().strip()
    host = card.get_by_test_id("sip-server").inner_text().strip()
    port = int(card.get_by_test_id("sip-port").inner_text())
    assert (host, port) == ("127.0.0.1", served.sip_port)

    phone = BaresipPhone(
        tmp_path / "phone",
        f"<sip:{login}@{host}:{port}>;auth_pass={password};answermode=manual;"
        "audio_codecs=PCMU,PCMA;regint=300",
        tone_file(tmp_path / "tone.wav", 440, seconds=5),
    )
    phone.start()
    try:
        # the page asks every 3 s: no reload
        expect(card.get_by_test_id("sip-status")).to_have_text("Зарегистрирован", timeout=20_000)
        expect(card.get_by_text(re.compile("baresip"))).to_be_visible()
        expect(card.get_by_text(re.compile(r"127\.0\.0\.1:\d+"))).to_be_visible()
        screenshot(page, "employee-sip-registered")
    finally:
        phone.stop()

    page.get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(served.http + "/employees")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Femployees$"))


def test_a_422_is_shown_under_its_field_in_russian_then_english(
    page: Page, served: Tenant, admin_token: str
) -> None:
    extension = fresh_extension(served, admin_token)
    with api(served, admin_token) as client:
        body = {"last_name": "Занятой", "extension": extension, "phones": [{"kind": "sip"}]}
        assert client.post("/employees", json=body).status_code == 201

    sign_in(page, served, "/employees/new")
    page.get_by_role("textbox", name="Фамилия").fill("Второй")
    page.get_by_label("Добавочный номер").fill(extension)
    page.get_by_role("button", name="Создать").click()

    field = page.locator(".ant-form-item", has=page.get_by_label("Добавочный номер"))
    expect(field).to_contain_text("Этот добавочный номер уже занят другим сотрудником или группой")
    expect(page.get_by_role("textbox", name="Фамилия")).to_have_value("Второй")
    screenshot(page, "employee-422-ru")

    page.get_by_test_id("language-switch").click()
    page.get_by_title("English").click()
    field = page.locator(".ant-form-item", has=page.get_by_label("Extension"))
    expect(field).to_contain_text("This extension is already used by another employee or group")
    expect(page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)")).to_have_count(0)
    screenshot(page, "employee-422-en")

    # the choice is remembered
    page.reload()
    expect(page.get_by_role("textbox", name="Last name")).to_be_visible()


def test_an_expired_session_returns_to_the_same_page_after_sign_in(
    page: Page, served: Tenant
) -> None:
    page.goto(served.http + "/login")
    page.evaluate(
        """localStorage.setItem('vpbx.session', JSON.stringify({accessToken: 'expired',
        refreshToken: 'expired-too', login: 'admin@demo', accountId: null}))"""
    )
    page.goto(served.http + "/employees?sort=-last_name")

    expect(page).to_have_url(re.compile(r"/login\?next=%2Femployees%3Fsort%3D-last_name&expired=1"))
    expect(page.get_by_text("Сеанс истёк")).to_be_visible()
    page.get_by_label("Логин").fill(served.admin[0])
    page.get_by_label("Пароль").fill(served.admin[1])
    page.get_by_role("button", name="Войти", exact=True).click()
    expect(page).to_have_url(re.compile(r"/employees\?sort=-last_name$"))


def test_an_api_that_is_down_shows_a_retryable_error(page: Page, served: Tenant) -> None:
    sign_in(page, served)
    expect(page.get_by_text("Добро пожаловать")).to_be_visible()
    page.route("**/api/v1/employees?*", lambda route: route.abort("connectionrefused"))

    page.get_by_role("link", name="Сотрудники").click()
    expect(page.get_by_role("alert")).to_contain_text("Сервер не отвечает", timeout=15_000)
    screenshot(page, "api-down")

    page.unroute("**/api/v1/employees?*")
    page.get_by_role("button", name="Повторить").click()
    expect(page.get_by_role("link", name="Иванов")).to_be_visible()
