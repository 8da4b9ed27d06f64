"""The visual scenario editor (issue 16) in a real headless Chromium against a real `vpbx run`:
a scenario drawn from the palette with its exits connected on the canvas is saved and comes back
as the API document that was drawn; the simulator lights the path of a call on the canvas."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.peers.rtp_pcap import digits, silence
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import TRUNK_IP
from tests.web.conftest import Tenant, api, screenshot
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


def _connect(page: Page, source: str, handle: str, target: str, *, on_body: bool = False) -> None:
    """Drag from the exit `handle` of `source` onto the entry dot of `target` (or its body), the
    editor scrolled to the top of the window and the diagram fitted in it (both ends in view)."""
    page.get_by_test_id("scenario-canvas").evaluate("(e) => e.scrollIntoView({ block: 'start' })")
    page.get_by_role("button", name="Показать всё").click()
    start = page.locator(
        f'.react-flow__handle[data-nodeid="{source}"][data-handleid="{handle}"]'
    ).bounding_box()
    if on_body:
        end = _node(page, target).get_by_test_id("node-key").bounding_box()
    else:
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
    page: Page, served: Tenant, admin_token: str
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
                    "exits": {"1": "fwd", "2": "loop1", "timeout": "vm"},
                },
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"employee_id": employee["id"]}],
                    "exits": {"no_answer": "vm"},
                },
                {"key": "vm", "kind": "voicemail", "emails": ["office@example.ru"]},
                # two messages leading to each other: a loop that never waits for the caller
                {"key": "loop1", "kind": "info", "text": "Раз", "exits": {"next": "loop2"}},
                {"key": "loop2", "kind": "info", "text": "Два", "exits": {"next": "loop1"}},
            ],
        }
        created = client.post("/scenarios", json=document)
        assert created.status_code == 201, created.text
        scenario_id = created.json()["id"]
    sign_in(page, served, f"/scenarios/{scenario_id}?view=scheme")
    for key in ("menu", "fwd", "vm"):
        expect(_node(page, key)).to_be_visible(timeout=15_000)
    expect(page.locator(".react-flow__edge")).to_have_count(6)
    expect(_node(page, "menu").get_by_test_id("entry")).to_be_visible()
    # the linter's endless loop is drawn on the edges it runs along, and only there
    warned = page.locator(".react-flow__edge.lint-warning")
    expect(warned).to_have_count(2, timeout=15_000)
    for edge in ("loop1→exit:next", "loop2→exit:next"):
        expect(page.locator(f'.react-flow__edge[data-id="{edge}"]')).to_have_class(
            re.compile(r"\blint-warning\b")
        )


def _click_save(page: Page) -> None:
    """Press «Сохранить»; if it cannot be found, say which buttons and dialogs the page shows
    (this click once waited 30 s in CI for a button that was not there, not reproduced since)."""
    button = page.get_by_role("button", name="Сохранить", exact=True)
    try:
        expect(button).to_have_count(1, timeout=30_000)
    except AssertionError as error:
        # every button element, hidden ones too: (name, laid out, under aria-hidden, its CSS
        # visibility, its classes, the aria-labels inside it: a loading icon adds «loading»)
        buttons = page.locator("button").evaluate_all(
            "(all) => all.map((b) => [(b.getAttribute('aria-label') || b.textContent || '').trim(),"
            " b.offsetParent !== null, b.closest('[aria-hidden=true]') !== null,"
            " getComputedStyle(b).visibility, b.className,"
            " [...b.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label'))])"
        )
        dialogs = page.locator("[role=dialog], .ant-drawer-open, .ant-modal-wrap").count()
        raise AssertionError(f"no «Сохранить»: buttons {buttons}, dialogs {dialogs}") from error
    button.click()


def _save(page: Page) -> None:
    _click_save(page)
    expect(page.get_by_text("Сохранено")).to_be_visible()


def test_a_scenario_drawn_from_the_palette_is_saved_as_drawn_and_calls_follow_it(
    page: Page, served: Tenant, admin_token: str, tmp_path: Path
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
    _connect(page, "menu", "exit:timeout", "voicemail", on_body=True)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.get_by_role("button", name="Расположить автоматически").click()

    # the keys: copy and paste the forward (a copy under a new key, its exit kept), undo, redo,
    # then Delete; undo and redo of a link too — the drawing ends as it was
    _node(page, "forward").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(_node(page, "forward_copy")).to_be_visible()
    expect(page.locator('.react-flow__edge[data-id="forward_copy→exit:no_answer"]')).to_have_count(
        1
    )
    page.keyboard.press("Control+z")
    expect(_node(page, "forward_copy")).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    expect(_node(page, "forward_copy")).to_be_visible()
    # selected as a user would: on a loaded box the redone node's selection may come later
    _node(page, "forward_copy").click()
    page.keyboard.press("Delete")
    expect(_node(page, "forward_copy")).to_have_count(0)
    # an edge is clicked just under the exit it leaves from
    handle = page.locator(
        '.react-flow__handle[data-nodeid="menu"][data-handleid="exit:timeout"]'
    ).bounding_box()
    assert handle is not None
    page.mouse.click(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] + 8)
    expect(page.locator('.react-flow__edge[data-id="menu→exit:timeout"]')).to_have_class(
        re.compile(r"\bselected\b")
    )
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.get_by_role("button", name="Отменить (Ctrl+Z)").click()
    expect(page.locator(".react-flow__edge")).to_have_count(3)
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

    # a trunk call through it follows the drawn path: key 1 → the forward (the employee has no
    # registered phone: nobody answers) → its no_answer exit → the voicemail
    number = f"7495{random.randint(1_000_000, 9_999_999)}"
    with api(served, admin_token) as client:
        trunk = {"name": f"Провайдер {mark}", "host": TRUNK_IP, "allow_ips": [TRUNK_IP]}
        assert client.post("/trunks", json=trunk).status_code == 201
        rules = [{"scenario_id": scenario_id}]
        assert client.post("/numbers", json={"number": number, "rules": rules}).status_code == 201
    TrunkCaller(
        tmp_path / "trunk",
        served.sip_port,
        number,
        [silence(1.0), digits("1"), silence(6.0)],
        ip=TRUNK_IP,
    ).run().assert_ok()
    path = _live_path(served, admin_token, number)
    assert path == ["menu", "1", "forward", "no_answer", "voicemail"], path
    for source, exit_, _target in zip(path[0::2], path[1::2], path[2::2], strict=False):
        expect(page.locator(f'.react-flow__edge[data-id="{source}→exit:{exit_}"]')).to_have_count(1)


def _live_path(served: Tenant, token: str, number: str) -> list[str]:
    """The operations and exits a finished call to `number` went through (its call details)."""
    deadline = time.monotonic() + 20
    with api(served, token) as client:
        while True:
            calls = client.get("/calls", params={"limit": 20, "sort": "-started_at"}).json()
            ours = [c for c in calls["items"] if c["called"] == number]
            if ours and ours[0]["ended_at"] is not None:
                break
            assert time.monotonic() < deadline, calls
            time.sleep(0.3)
        steps = client.get(f"/calls/{ours[0]['id']}/details").json()
    path: list[str] = []
    for step in steps:
        if step["kind"] == "operation" and "key" in step["data"]:
            path.append(step["data"]["key"])
        elif step["kind"] == "exit" and "exit" in step["data"]:
            path.append(step["data"]["exit"])
    return path


def test_the_simulator_lights_the_off_schedule_path_of_key_2_at_23(
    page: Page, served: Tenant, admin_token: str
) -> None:
    """A number whose first rule (09:00-18:00) leads to a day scenario and whose second leads to
    the night menu: at 23:00 the first rule is off schedule, and key 2 takes the night menu to
    the voicemail."""
    mark = random.randint(1000, 9999)
    number = f"7495{random.randint(1_000_000, 9_999_999)}"
    with api(served, admin_token) as client:
        employee = client.get("/employees?limit=1").json()["items"][0]
        hours = [{"start": "09:00", "end": "18:00"}]
        schedule = client.post(
            "/schedules",
            json={
                "name": f"Рабочее время {mark}",
                "kind": "weekly",
                "weekly": [{"weekday": day, "intervals": hours} for day in range(1, 8)],
            },
        )
        assert schedule.status_code == 201, schedule.text
        day = client.post(
            "/scenarios",
            json={
                "name": f"День {mark}",
                "entry": "fwd",
                "operations": [
                    {"key": "fwd", "kind": "forward", "targets": [{"employee_id": employee["id"]}]}
                ],
            },
        )
        assert day.status_code == 201, day.text
        night = client.post(
            "/scenarios",
            json={
                "name": f"Ночь {mark}",
                "entry": "menu",
                "operations": [
                    {
                        "key": "menu",
                        "kind": "menu",
                        "prompt_text": "Нажмите 1 для оператора, 2 для голосовой почты",
                        "exits": {"1": "fwd", "2": "vm", "timeout": "vm", "invalid": "menu"},
                    },
                    {
                        "key": "fwd",
                        "kind": "forward",
                        "targets": [{"employee_id": employee["id"]}],
                        "exits": {"no_answer": "vm"},
                    },
                    {"key": "vm", "kind": "voicemail", "emails": ["office@example.ru"]},
                ],
            },
        )
        assert night.status_code == 201, night.text
        night_id = night.json()["id"]
        rules = [
            {"schedule_id": schedule.json()["id"], "scenario_id": day.json()["id"]},
            {"scenario_id": night_id},
        ]
        created = client.post("/numbers", json={"number": number, "rules": rules})
        assert created.status_code == 201, created.text

    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, served, f"/scenarios/{night_id}?view=scheme")
    expect(_node(page, "vm")).to_be_visible(timeout=15_000)
    page.get_by_role("tab", name="Симуляция").click()
    # the number whose rule leads to this scenario is offered first
    expect(page.get_by_text(f"{number} (правило на этот сценарий)")).to_be_visible()
    page.get_by_label("Время звонка").fill("2026-12-07T23:00")
    page.get_by_label("Нажатые клавиши").fill("2")
    page.get_by_role("button", name="Смоделировать").click()
    details = page.get_by_role("list", name="Детали звонка")
    expect(details).to_contain_text("вне графика", timeout=15_000)
    expect(details).to_contain_text("нажата клавиша 2")

    # step by step: first nothing of this scenario is lit, at the end the path menu -2-> vm
    page.get_by_role("button", name="В начало").click()
    expect(page.locator(".react-flow__node.sim-current")).to_have_count(0)
    page.get_by_role("button", name="Следующий шаг").click()
    page.get_by_role("button", name="В конец").click()
    expect(_node(page, "vm")).to_have_class(re.compile(r"\bsim-current\b"))
    expect(_node(page, "menu")).to_have_class(re.compile(r"\bsim-visited\b"))
    expect(_node(page, "fwd")).not_to_have_class(re.compile(r"\bsim-"))
    lit = page.locator(".react-flow__edge.sim-passed")
    expect(lit).to_have_count(1)
    expect(lit).to_have_attribute("data-id", "menu→exit:2")
    details.scroll_into_view_if_needed()
    screenshot(page, "scenario-simulation")


FRAMES = """
() => {
  window.__frames = [];
  window.__measuring = true;
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last);
    last = now;
    if (window.__measuring) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
"""


def _frame_times(page: Page, gesture: Callable[[], None]) -> list[float]:
    page.evaluate(FRAMES)
    gesture()
    return sorted(page.evaluate("() => { window.__measuring = false; return window.__frames; }"))


def _drag(page: Page, x: float, y: float, dx: float, dy: float, steps: int = 60) -> None:
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + dx * i / steps, y + dy * i / steps)
    page.mouse.up()


def test_the_editor_stays_interactive_with_200_operations(
    page: Page, served: Tenant, admin_token: str
) -> None:
    """Issue 16's figure: pan and node-drag frame times on a 200-operation scenario (rAF
    intervals in the browser while Playwright drags the background, then the entry menu), and
    the time to draw it laid out."""
    kinds = ["menu", "forward", "info", "voicemail"]
    with api(served, admin_token) as client:
        employee = client.get("/employees?limit=1").json()["items"][0]
        operations = []
        for i in range(200):
            kind = kinds[i % 4]
            key, nxt = f"op{i}", f"op{min(i + 1, 199)}"
            op: dict[str, object] = {"key": key, "kind": kind, "title": f"Шаг {i}"}
            if kind == "menu":
                op |= {"prompt_text": "Нажмите", "exits": {"1": nxt, "2": f"op{min(i + 3, 199)}"}}
            elif kind == "forward":
                op |= {"targets": [{"employee_id": employee["id"]}], "exits": {"no_answer": nxt}}
            elif kind == "info":
                op |= {"text": "Сообщение", "exits": {"next": nxt}}
            operations.append(op)
        created = client.post(
            "/scenarios", json={"name": "200 операций", "entry": "op0", "operations": operations}
        )
        assert created.status_code == 201, created.text
        scenario_id = created.json()["id"]
    sign_in(page, served, "/")
    expect(page.get_by_role("button", name="Выйти")).to_be_visible(timeout=15_000)
    started = time.monotonic()
    page.goto(f"{served.http}/scenarios/{scenario_id}?view=scheme")
    expect(page.locator(".react-flow__node")).to_have_count(200, timeout=60_000)
    expect(page.get_by_test_id("scenario-canvas").locator(".ant-spin")).to_have_count(
        0, timeout=60_000
    )
    drawn = time.monotonic() - started

    page.get_by_test_id("scenario-canvas").evaluate("(e) => e.scrollIntoView({ block: 'start' })")
    # zoomed in on the entry (the wheel zooms around the pointer) until nodes are readable
    entry = _node(page, "op0").bounding_box()
    assert entry is not None
    page.mouse.move(entry["x"] + entry["width"] / 2, entry["y"] + 2)
    for _ in range(4):
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(150)
    page.wait_for_timeout(300)
    # the pan starts on an empty spot of the background
    empty = page.evaluate(
        """() => {
          const r = document.querySelector('.react-flow__pane').getBoundingClientRect();
          for (let y = r.top + 40; y < Math.min(r.bottom, innerHeight) - 40; y += 20)
            for (let x = r.left + 40; x < r.right - 40; x += 20)
              if (document.elementFromPoint(x, y)?.classList.contains('react-flow__pane'))
                return { x, y };
          return null;
        }"""
    )
    assert empty is not None
    pan = _frame_times(page, lambda: _drag(page, empty["x"], empty["y"], 150, 100))
    # the entry is dragged by its header (and does move)
    key = "op0"
    box = _node(page, key).bounding_box()
    assert box is not None
    drag = _frame_times(page, lambda: _drag(page, box["x"] + 40, box["y"] + 12, 200, 120))
    moved = _node(page, key).bounding_box()
    assert moved is not None
    assert moved["x"] > box["x"] + 100, (box, moved)

    def p(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    figures = (
        f"200 operations drawn and laid out in {drawn:.1f} s; "
        f"pan: {len(pan)} frames, median {p(pan, 0.5):.0f} ms, p95 {p(pan, 0.95):.0f} ms; "
        f"node drag: {len(drag)} frames, median {p(drag, 0.5):.0f} ms, p95 {p(drag, 0.95):.0f} ms"
    )
    print(figures)
    # interactive: half the frames at 10 fps or better even on a loaded machine, none frozen
    # (measured here: pan median 17 ms, dragging the 15-exit menu median 17-33 ms)
    assert p(pan, 0.5) <= 100, figures
    assert p(drag, 0.5) <= 100, figures
    assert max(pan + drag) < 1000, figures


def test_a_scenario_saved_by_someone_else_meanwhile_is_reloaded_or_overwritten(
    page: Page, served: Tenant, admin_token: str
) -> None:
    mark = random.randint(1000, 9999)
    with api(served, admin_token) as client:
        document = {
            "name": f"Вдвоём {mark}",
            "entry": "menu",
            "operations": [
                {"key": "menu", "kind": "menu", "prompt_text": "Нажмите 1", "exits": {"1": "vm"}},
                {"key": "vm", "kind": "voicemail", "emails": ["office@example.ru"]},
            ],
        }
        created = client.post("/scenarios", json=document)
        assert created.status_code == 201, created.text
        scenario_id = created.json()["id"]

    def someone_else(change: Callable[[dict[str, Any]], None]) -> None:
        with api(served, admin_token) as client:
            got = client.get(f"/scenarios/{scenario_id}")
            body = {k: got.json()[k] for k in ("name", "entry", "operations")}
            change(body)
            saved = client.put(
                f"/scenarios/{scenario_id}", json=body, headers={"If-Match": got.headers["ETag"]}
            )
            assert saved.status_code == 200, saved.text

    sign_in(page, served, f"/scenarios/{scenario_id}?view=scheme")
    expect(_node(page, "vm")).to_be_visible(timeout=15_000)
    someone_else(
        lambda body: body["operations"].append({"key": "theirs", "kind": "info", "text": "Их"})
    )
    _connect(page, "menu", "exit:timeout", "vm")
    _click_save(page)
    stale = page.get_by_role("alert").filter(has_text="изменил кто-то другой")
    expect(stale).to_be_visible()
    # reload: theirs is drawn, ours is gone (drawn again, then saved)
    stale.get_by_role("button", name="Перезагрузить").click()
    expect(_node(page, "theirs")).to_be_visible()
    expect(stale).to_have_count(0)
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    _connect(page, "menu", "exit:timeout", "vm")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    _save(page)
    with api(served, admin_token) as client:
        saved = client.get(f"/scenarios/{scenario_id}").json()
    assert [op["key"] for op in saved["operations"]] == ["menu", "vm", "theirs"]
    assert saved["operations"][0]["exits"] == {"1": "vm", "timeout": "vm"}

    # overwrite: ours replaces theirs
    someone_else(lambda body: body.update(name=f"Их название {mark}"))
    _connect(page, "menu", "exit:invalid", "menu")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    _click_save(page)
    expect(stale).to_be_visible()
    with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith(f"/scenarios/{scenario_id}")
    ) as answer:
        stale.get_by_role("button", name="Сохранить поверх").click()
    assert answer.value.status == 200
    with api(served, admin_token) as client:
        saved = client.get(f"/scenarios/{scenario_id}").json()
    assert saved["name"] == f"Вдвоём {mark}"
    assert saved["operations"][0]["exits"] == {"1": "vm", "timeout": "vm", "invalid": "menu"}
