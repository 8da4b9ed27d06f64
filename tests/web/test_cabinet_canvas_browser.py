"""The visual scenario editor (issue 16) in a real headless Chromium against a real `vpbx run`:
a scenario drawn from the palette with its exits connected on the canvas is saved and comes back
as the API document that was drawn; the simulator lights the path of a call on the canvas."""

from __future__ import annotations

import random

from playwright.sync_api import Locator, Page, expect

from tests.test_processes import Served
from tests.web.conftest import api, screenshot
from tests.web.test_cabinet_browser import sign_in


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
    assert start is not None and end is not None
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
                {"key": "menu", "kind": "menu", "prompt_text": "Нажмите 1",
                 "exits": {"1": "fwd", "timeout": "vm"}},
                {"key": "fwd", "kind": "forward", "targets": [{"employee_id": employee["id"]}],
                 "exits": {"no_answer": "vm"}},
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
