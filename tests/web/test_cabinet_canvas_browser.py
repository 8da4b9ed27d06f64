"""The visual scenario editor (issue 16) in a real headless Chromium against a real `vpbx run`:
a scenario drawn from the palette with its exits connected on the canvas is saved and comes back
as the API document that was drawn; the simulator lights the path of a call on the canvas."""

from __future__ import annotations

import json
import random
import re

from playwright.sync_api import Locator, Page, expect

from tests.test_processes import Served
from tests.web.conftest import api, screenshot
from tests.web.test_cabinet_browser import sign_in

# the bodies the cabinet PUTs (Chromium does not report the body of a fetch(Request) to Playwright)
SENT_BODIES = """
window.__sent = [];
const original = window.fetch;
window.fetch = async (input, init) => {
  const request = input instanceof Request ? input : new Request(input, init);
  if (request.method === 'PUT')
    window.__sent.push({ url: request.url, body: await request.clone().text() });
  return original(request);
};
"""


def _node(page: Page, key: str) -> Locator:
    return page.locator(f'.react-flow__node[data-id="{key}"]')


def _connect(page: Page, source: str, handle: str, target: str) -> None:
    """Drag from the exit `handle` of `source` onto the entry point of `target`."""
    start = page.locator(
        f'.react-flow__handle[data-nodeid="{source}"][data-handleid="{handle}"]'
    ).bounding_box()
    end = page.locator(
        f'.react-flow__handle[data-nodeid="{target}"][data-handleid="in"]'
    ).bounding_box()
    assert start is not None
    assert end is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 10, end["y"] + 10, steps=8)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=4)
    page.mouse.up()


def test_a_loaded_scenario_is_drawn_with_its_exits(
    page: Page, served: Served, admin_token: str
) -> None:
    mark = random.randint(1000, 9999)
    with api(served, admin_token) as client:
        employee = client.get("/employees?limit=1").json()["items"][0]
        document = {
            "name": f"Схема {mark}",
            "entry": "menu",
            "operations": [
                {
                    "key": "menu",
                    "kind": "menu",
                    "prompt_text": "Нажмите 1",
                    "exits": {"1": "fwd", "timeout": "vm"},
                },
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"employee_id": employee["id"]}],
                    "exits": {"no_answer": "vm"},
                },
                {"key": "vm", "kind": "voicemail", "emails": ["office@example.ru"]},
            ],
        }
        created = client.post("/scenarios", json=document)
        assert created.status_code == 201, created.text
        scenario_id = created.json()["id"]
    sign_in(page, served, f"/scenarios/{scenario_id}?view=scheme")
    for key in ("menu", "fwd", "vm"):
        expect(_node(page, key)).to_be_visible(timeout=15_000)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(_node(page, "menu").get_by_test_id("entry")).to_be_visible()
    page.wait_for_timeout(3000)
    page.screenshot(path="/tmp/shots/loaded.png")


def _save(page: Page) -> None:
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_text("Сохранено")).to_be_visible()


def test_a_scenario_drawn_from_the_palette_is_saved_as_drawn(
    page: Page, served: Served, admin_token: str
) -> None:
    mark = random.randint(1000, 9999)
    with api(served, admin_token) as client:
        employee = client.get("/employees?limit=1").json()["items"][0]
        created = client.post("/scenarios", json={"name": f"Нарисованный {mark}", "operations": []})
        assert created.status_code == 201, created.text
        scenario_id = created.json()["id"]
    page.add_init_script(SENT_BODIES)
    sign_in(page, served, f"/scenarios/{scenario_id}?view=scheme")
    palette = page.get_by_role("toolbar", name="Операции")
    panel = page.get_by_test_id("side-panel")

    palette.get_by_role("button", name="Добавить: Голосовое меню").click()
    expect(_node(page, "menu").get_by_test_id("entry")).to_be_visible(timeout=15_000)
    panel.get_by_label("Текст приветствия (синтез речи)").fill("Нажмите 1")

    palette.get_by_role("button", name="Добавить: Переадресация").click()
    expect(_node(page, "forward")).to_be_visible()
    panel.get_by_role("button", name=re.compile(r"Сотрудник$")).click()
    panel.get_by_label("Адресат 1: Сотрудник").click()
    name = f"{employee['last_name']} {employee['first_name']}".strip()
    page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)").get_by_title(name).click()

    palette.get_by_role("button", name="Добавить: Голосовая почта").click()
    expect(_node(page, "voicemail")).to_be_visible()

    # each added under the one before: the exits drawn from node to node, then laid out
    page.get_by_role("button", name="Показать всё").click()
    page.wait_for_timeout(300)
    _connect(page, "menu", "exit:1", "forward")
    _connect(page, "forward", "exit:no_answer", "voicemail")
    _connect(page, "menu", "exit:timeout", "voicemail")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.get_by_role("button", name="Расположить автоматически").click()
    # the menu still has no «invalid» exit: the linter's warning is on that exit's pill
    expect(_node(page, "menu").get_by_test_id("exit-exit:invalid")).to_have_attribute(
        "data-lint", "warning", timeout=15_000
    )
    expect(_node(page, "forward").get_by_test_id("exit-exit:no_answer")).not_to_have_attribute(
        "data-lint", "warning"
    )
    page.get_by_role("button", name="Показать всё").click()
    screenshot(page, "scenario-canvas")
    _save(page)

    with api(served, admin_token) as client:
        saved = client.get(f"/scenarios/{scenario_id}").json()
    assert saved["entry"] == "menu"
    drawn = {op["key"]: op for op in saved["operations"]}
    assert [(op["key"], op["kind"]) for op in saved["operations"]] == [
        ("menu", "menu"),
        ("forward", "forward"),
        ("voicemail", "voicemail"),
    ]
    assert drawn["menu"]["exits"] == {"1": "forward", "timeout": "voicemail"}
    assert drawn["menu"]["prompt_text"] == "Нажмите 1"
    assert drawn["forward"]["exits"] == {"no_answer": "voicemail"}
    assert [t["employee_id"] for t in drawn["forward"]["targets"]] == [employee["id"]]
    assert drawn["voicemail"]["exits"] == {}

    # reloaded, it is drawn again; saved without edits, it sends back exactly what was loaded
    page.reload()
    expect(_node(page, "voicemail")).to_be_visible(timeout=15_000)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    _save(page)
    sent = page.evaluate("window.__sent")
    assert [json.loads(s["body"]) for s in sent if s["url"].endswith(f"/scenarios/{scenario_id}")][
        -1
    ] == {k: saved[k] for k in ("name", "entry", "operations")}
    with api(served, admin_token) as client:
        assert client.get(f"/scenarios/{scenario_id}").json() == saved
