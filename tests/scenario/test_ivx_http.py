"""IVX-1..3 against a real HTTP server on loopback: every JSON form, 500, bad JSON, a hang."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.scenario.helpers import CALLER, NUMBER, Driver, config
from vpbx.domain.net_policy import parse_networks
from vpbx.scenario.actions import Action, Dial, DialTarget, Hangup, HttpRequest, Play
from vpbx.scenario.events import DialFailed, HttpResponse, PlaybackDone
from vpbx.services.crm import CrmClient
from vpbx.services.net_guard import NetGuard

PHONES = ["74959876543", "79039691644"]
#: The CRM of these tests listens on loopback, which the SSRF guard refuses unless allowed (as an
#: installation does with VPBX_HTTP_ALLOW_NETWORKS).
LOOPBACK_ALLOWED = NetGuard(parse_networks("127.0.0.0/8"))


class Crm:
    """Answers by path: /json/<name> → BODIES[name]; /500; /bad; /hang (up to 5 s)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.release = threading.Event()
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _answer(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(url.query)
                if method == "POST":
                    length = int(self.headers.get("Content-Length", 0))
                    params = urllib.parse.parse_qs(self.rfile.read(length).decode())
                crm.requests.append((method, url.path, params))
                if url.path == "/hang":
                    crm.release.wait(5)
                    status, body = 200, '{"returned_code": 1}'
                elif url.path == "/500":
                    status, body = 500, "oops"
                elif url.path == "/bad":
                    status, body = 200, "{not json"
                else:
                    status, body = 200, BODIES[url.path.removeprefix("/json/")]
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Crm:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


BODIES = {
    "forward-file": json.dumps({"phones": PHONES, "message_name": "10sec.mp3"}),
    "forward-text": json.dumps({"text": "Приветствую", "phones": PHONES}, ensure_ascii=False),
    "message-alias": json.dumps({"massage_name": "10sec.mp3"}),
    "text-only": json.dumps({"text": "Привет"}, ensure_ascii=False),
    "phones-only": json.dumps({"phones": PHONES}),
    "operator-alias": json.dumps(
        {"phones": PHONES, "massage_name": "10sec.mp3", "operator_massage": "op_hint.mp3"}
    ),
    "operator-both": json.dumps(
        {"phones": PHONES, "operator_media": "op_hint.mp3", "operator_text": "VIP"}
    ),
    "operator-text": json.dumps({"phones": PHONES, "operator_text": "Клиент с сайта"}),
    "code-2": json.dumps({"returned_code": 2}),
    "code-string": json.dumps({"returned_code": "3"}),
    "code-unknown": json.dumps({"returned_code": 42}),
    "unknown-file": json.dumps({"phones": PHONES, "message_name": "nope.wav"}),
    "empty": "{}",
    "array": "[1, 2]",
    # the manual's first example, verbatim, with its missing quote: not JSON
    "manual-typo": '{"phones: ["74959876543", "79039691644"], "message_name": "10sec.mp3"}',
}


@pytest.fixture(scope="module")
def crm() -> Iterator[Crm]:
    with Crm() as server:
        yield server


def ivx_ops(url: str, **extra: Any) -> list[dict[str, Any]]:
    op: dict[str, Any] = {
        "key": "ivx",
        "kind": "interactive",
        "url": url,
        "timeout": 1,
        "params": ["cdr_id", "start_time", "input_result", "numa", "numb"],
        "codes": [{"code": 2, "target": "two"}, {"code": 3, "target": "three"}],
        "exits": {"fallback": "fb"},
    }
    op.update(extra)
    return [
        op,
        {"key": "two", "kind": "info", "text": "два"},
        {"key": "three", "kind": "info", "text": "три"},
        {"key": "fb", "kind": "info", "text": "запасной"},
    ]


async def ask(d: Driver, out: list[Action]) -> list[Action]:
    """Execute the engine's HttpRequest with the real client and feed the response back."""
    request = next(a for a in out if isinstance(a, HttpRequest))
    async with CrmClient(guard=LOOPBACK_ALLOWED) as client:
        response = await client.execute(request)
    return d.send(response)


def at_op(d: Driver) -> str | None:
    op = d.call._op
    return op.key if op is not None else None


async def test_request_parameters_get(crm: Crm) -> None:
    d = Driver(config(ivx_ops(f"{crm.url}/json/code-2")))
    out = d.arrive()
    await ask(d, out)
    method, path, params = crm.requests[-1]
    assert (method, path) == ("GET", "/json/code-2")
    assert params["cdr_id"] == ["77"]
    assert params["numa"] == [CALLER]
    assert params["numb"] == [NUMBER]
    assert params["input_result"] == ["None"]
    assert params["start_time"][0].isdigit()


async def test_request_parameters_post_with_dtmf_first(crm: Crm) -> None:
    ops = ivx_ops(f"{crm.url}/json/code-2", method="POST", dtmf_length=4, params=["input_result"])
    d = Driver(config(ops))
    d.arrive()
    out = d.keys("1234")
    await ask(d, out)
    method, _, params = crm.requests[-1]
    assert method == "POST"
    assert params == {"input_result": ["1234"]}
    assert at_op(d) == "two"


@pytest.mark.parametrize(
    ("form", "message", "dial"),
    [
        (
            "forward-file",
            Play(file_ids=(101,)),
            Dial(tuple(DialTarget(number=p) for p in PHONES), "ivx", 1),
        ),
        (
            "forward-text",
            Play(text="Приветствую"),
            Dial(tuple(DialTarget(number=p) for p in PHONES), "ivx", 1),
        ),
        ("message-alias", Play(file_ids=(101,)), None),
        ("text-only", Play(text="Привет"), None),
        ("phones-only", None, Dial(tuple(DialTarget(number=p) for p in PHONES), "ivx", 1)),
        (
            "operator-alias",
            Play(file_ids=(101,)),
            Dial(
                tuple(DialTarget(number=p) for p in PHONES), "ivx", 1, operator_message_file_id=102
            ),
        ),
        (
            "operator-both",
            None,
            Dial(
                tuple(DialTarget(number=p) for p in PHONES), "ivx", 1, operator_message_file_id=102
            ),
        ),
        (
            "operator-text",
            None,
            Dial(
                tuple(DialTarget(number=p) for p in PHONES),
                "ivx",
                1,
                operator_message_text="Клиент с сайта",
            ),
        ),
    ],
)
async def test_each_json_form(crm: Crm, form: str, message: Play | None, dial: Dial | None) -> None:
    d = Driver(config(ivx_ops(f"{crm.url}/json/{form}")))
    out = await ask(d, d.arrive())
    if message is not None:
        assert out == [message]
        out = d.send(PlaybackDone())
    if dial is None:
        assert isinstance(out[-1], Hangup)
        assert out[-1].reason == "crm_message"
    else:
        assert out == [dial]
        d.send(DialFailed("no_answer"))
        assert at_op(d) == "fb"  # a CRM forward nobody answers takes the fallback


@pytest.mark.parametrize(
    ("form", "expected"), [("code-2", "two"), ("code-string", "three"), ("code-unknown", "fb")]
)
async def test_returned_code_routing(crm: Crm, form: str, expected: str) -> None:
    d = Driver(config(ivx_ops(f"{crm.url}/json/{form}")))
    await ask(d, d.arrive())
    assert at_op(d) == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/500", "статусом 500"),
        ("/bad", "не JSON"),
        ("/json/manual-typo", "не JSON"),
        ("/json/unknown-file", "nope.wav"),
        ("/json/empty", "нет инструкции"),
        ("/json/array", "не JSON-объект"),
    ],
)
async def test_failures_take_the_fallback(crm: Crm, path: str, reason: str) -> None:
    d = Driver(config(ivx_ops(crm.url + path)))
    await ask(d, d.arrive())
    assert at_op(d) == "fb"
    assert any(reason in t and "запасной выход" in t for t in d.texts())


async def test_a_hanging_crm_falls_back_within_the_timeout(crm: Crm) -> None:
    d = Driver(config(ivx_ops(f"{crm.url}/hang", timeout=1)))
    out = d.arrive()
    started = time.monotonic()
    await ask(d, out)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5  # the server would hang for 5 s
    assert at_op(d) == "fb"
    assert any("timeout" in t for t in d.texts())


def test_the_engine_falls_back_on_its_own_timer_without_any_response() -> None:
    d = Driver(config(ivx_ops("http://127.0.0.1:9/never", timeout=2)))
    out = d.arrive()
    request = next(a for a in out if isinstance(a, HttpRequest))
    d.advance(1.9)
    assert at_op(d) == "ivx"
    d.advance(0.2)
    assert at_op(d) == "fb"
    # a late answer is ignored
    assert d.send(HttpResponse(request.request_id, 200, '{"returned_code": 2}')) == []


async def test_connection_refused_falls_back() -> None:
    d = Driver(config(ivx_ops("http://127.0.0.1:9/closed")))
    await ask(d, d.arrive())
    assert at_op(d) == "fb"


def test_a_response_to_another_request_is_ignored() -> None:
    d = Driver(config(ivx_ops("http://127.0.0.1:9/x")))
    d.arrive()
    assert d.send(HttpResponse(999, 200, '{"returned_code": 2}')) == []
    assert at_op(d) == "ivx"


def test_crm_phones_that_are_extensions_ring_the_employee_and_the_group() -> None:
    """A CRM names a personal manager by extension (101 is also Russia's fire service): an
    extension of the account rings its employee or group; other phones are outside numbers."""
    d = Driver(config(ivx_ops("http://127.0.0.1:9/x")))
    request = next(a for a in d.arrive() if isinstance(a, HttpRequest))
    body = json.dumps({"phones": ["101", "200", "79039691644"]})
    out = d.send(HttpResponse(request.request_id, 200, body))
    targets = (DialTarget(employee_id=1), DialTarget(group_id=10), DialTarget(number="79039691644"))
    assert out == [Dial(targets, "ivx", 1)]
