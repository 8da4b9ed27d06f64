"""CDR-4: `GET /live/events` relays a real switch live feed (`LiveFeed` on a unix socket) as
Server-Sent Events: authentication (bearer or a short-lived link), roles (an employee sees his
own calls only), isolation (another account's calls never reach the stream), and resuming by
`Last-Event-ID` without duplicates."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.api.conftest import Api, unique, utcnow
from vpbx.api.app import create_api
from vpbx.api.live import UnixLiveSource
from vpbx.domain.live import LiveCallState, SuperviseAnswer, SuperviseMode, SuperviseRequest
from vpbx.storage.db import make_async_engine
from vpbx.switch.live_feed import LiveFeed


class _Served:
    """The API with a switch's live feed, on one event loop in a thread (as in one process)."""

    def __init__(self, db_url: str, socket_path: Path) -> None:
        self.db_url = db_url
        self.socket_path = socket_path
        self.loop: asyncio.AbstractEventLoop | None = None
        self.feed: LiveFeed | None = None
        self.server: uvicorn.Server | None = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/v1"
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        engine = make_async_engine(self.db_url)
        self.feed = LiveFeed(self.socket_path)
        await self.feed.start()
        app = create_api(engine, utcnow, live=UnixLiveSource(self.socket_path))
        config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            await self.feed.stop()
            await engine.dispose()

    def __enter__(self) -> _Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while self.server is None or not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert self.thread.is_alive(), "the server failed"
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()

    def put(self, account_id: int, call: LiveCallState) -> None:
        assert self.loop is not None
        assert self.feed is not None
        self.loop.call_soon_threadsafe(self.feed.put_call, account_id, call)

    def end(self, account_id: int, call_id: str) -> None:
        assert self.loop is not None
        assert self.feed is not None
        self.loop.call_soon_threadsafe(self.feed.end_call, account_id, call_id)


class _Events:
    """One SSE stream read line by line: `next()` the next event as (id, type, data)."""

    def __init__(self, client: httpx.Client, url: str, **kw: Any) -> None:
        self._cm = client.stream("GET", url, **kw)
        self.response = self._cm.__enter__()
        self._lines = self.response.iter_lines()

    def next(self) -> tuple[int, str, dict[str, Any]]:
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "" and "data" in fields:
                return int(fields["id"]), fields["event"], json.loads(fields["data"])
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        raise AssertionError("the stream ended")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def _call(
    call_id: str, *, ringing: tuple[int, ...] = (), talker: int | None = None
) -> LiveCallState:
    return LiveCallState(
        call_id=call_id,
        caller="79160000001",
        number="74950000000",
        started_at=1_800_000_000.0,
        step="Приветствие",
        ringing=ringing,
        talker=talker,
    )


@pytest.fixture
def served(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    # a unix socket path must stay under 108 bytes: not under pytest's long tmp_path
    folder = tmp_path_factory.mktemp("l")
    with _Served(api.db_url, folder / "live.sock") as server:
        yield server


def test_the_stream_shows_the_accounts_calls_to_its_roles_and_no_other_accounts(
    api: Api, served: _Served
) -> None:
    a_id, a_admin = api.new_account(f"Живой A {unique()}")
    b_id, b_admin = api.new_account(f"Живой B {unique()}")
    sip = [{"kind": "sip"}]
    e1 = api.create("employees", a_admin, {"last_name": "Первый", "phones": sip})["id"]
    e2 = api.create("employees", a_admin, {"last_name": "Второй", "phones": sip})["id"]
    a_employee = api.user(a_admin, "employee", e1)
    a_supervisor = api.user(a_admin, "supervisor")
    served.put(a_id, _call("a-ring", ringing=(e1,)))
    served.put(a_id, _call("a-talk", talker=e2))
    served.put(b_id, _call("b-call"))
    time.sleep(0.2)  # flushed

    with httpx.Client(base_url=served.url, timeout=5) as client:
        assert client.get("/live/events").status_code == 401
        assert client.get("/live/events", params={"link": "1.nope"}).status_code == 401
        assert client.post("/live/link").status_code == 401

        def stream(token: str, **kw: Any) -> _Events:
            headers = {"Authorization": f"Bearer {token}"} | kw.pop("headers", {})
            return _Events(client, "/live/events", headers=headers, **kw)

        supervisor = stream(a_supervisor)
        assert supervisor.response.headers["content-type"].startswith("text/event-stream")
        seq, kind, snapshot = supervisor.next()
        assert kind == "snapshot"
        assert seq == snapshot["seq"]
        assert {c["call_id"] for c in snapshot["calls"]} == {"a-ring", "a-talk"}
        assert {(e["employee_id"], e["state"]) for e in snapshot["employees"]} == {
            (e1, "ringing"),
            (e2, "talking"),
        }
        assert {m["name"] for m in snapshot["staff"]} == {"Первый", "Второй"}

        employee = stream(a_employee)
        _, _, mine = employee.next()
        assert [c["call_id"] for c in mine["calls"]] == ["a-ring"]
        assert mine["employees"] == [{"employee_id": e1, "state": "ringing"}]
        assert [m["employee_id"] for m in mine["staff"]] == [e1]

        other = stream(b_admin)
        _, _, theirs = other.next()
        assert [c["call_id"] for c in theirs["calls"]] == ["b-call"]
        assert theirs["staff"] == []

        # the ringing call is answered by e1; A's events reach A's streams only
        started = time.monotonic()
        served.put(a_id, _call("a-ring", talker=e1))
        served.put(b_id, _call("b-second"))
        event = supervisor.next()
        assert event[1] == "call"
        assert event[2]["call"]["talker"] == e1
        assert time.monotonic() - started < 1.0
        assert event[0] == seq + 1
        assert supervisor.next()[2]["employee"] == {"employee_id": e1, "state": "talking"}
        assert employee.next()[2]["call"]["call_id"] == "a-ring"
        assert other.next()[2]["call"]["call_id"] == "b-second"  # A's answer never came

        # the call ends; a viewer that reconnects from before it gets only what it missed
        served.put(a_id, _call("a-talk", talker=e2))  # unchanged: no event
        served.end(a_id, "a-ring")
        assert supervisor.next()[1] == "ended"
        last = supervisor.next()
        assert last[2]["employee"] == {"employee_id": e1, "state": "offline"}
        supervisor.close()
        resumed = stream(a_supervisor, headers={"Last-Event-ID": str(seq)})
        replay = [resumed.next() for _ in range(4)]
        assert [r[0] for r in replay] == list(range(seq + 1, last[0] + 1))
        assert [r[1] for r in replay] == ["call", "employee", "ended", "employee"]
        resumed.close()
        # an employee's stream never resumes (the switch cannot know what he was shown)
        again = stream(a_employee, headers={"Last-Event-ID": str(seq)})
        assert again.next()[1] == "snapshot"
        again.close()
        # a number this switch never gave (another run's): a fresh snapshot
        fresh = stream(a_supervisor, params={"since": last[0] + 100})
        assert fresh.next()[1] == "snapshot"
        for opened in (fresh, employee, other):
            opened.close()

        # a browser's EventSource: a short-lived link instead of the header
        link = client.post("/live/link", headers={"Authorization": f"Bearer {a_admin}"})
        assert link.status_code == 200, link.text
        assert link.json()["url"].startswith("/api/v1/live/events?link=")
        by_link = _Events(client, link.json()["url"].removeprefix("/api/v1"))
        _, kind, linked = by_link.next()
        assert kind == "snapshot"
        assert [c["call_id"] for c in linked["calls"]] == ["a-talk"]
        by_link.close()

        # the operator watches an account he names (X-Account-Id), never "all of them"
        operator = {"Authorization": f"Bearer {api.operator_token}"}
        refused = client.get("/live/events", headers=operator)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_id"] == "forbidden"
        chosen = stream(api.operator_token, headers={"X-Account-Id": str(b_id)})
        assert {c["call_id"] for c in chosen.next()[2]["calls"]} == {"b-call", "b-second"}
        chosen.close()


def test_supervise_asks_the_switch_for_the_users_own_employee_and_says_why_not(
    api: Api, served: _Served
) -> None:
    """TRN-1 from the live view: what the API sends the switch (the user's own employee, his
    name, the mode) and how it answers each of the switch's refusals; who may ask at all."""
    account_id, admin = api.new_account(f"Надзор {unique()}")
    _, other_admin = api.new_account(f"Чужой {unique()}")
    sip = [{"kind": "sip"}]
    boss = api.create(
        "employees", admin, {"last_name": "Надзорова", "first_name": "Анна", "phones": sip}
    )
    plain = api.create(
        "employees",
        admin,
        {"last_name": "Мобильный", "phones": [{"kind": "number", "number": "79161234567"}]},
    )
    supervisor = api.user(admin, "supervisor", boss["id"])
    asked: list[tuple[int, SuperviseRequest]] = []
    answers = {"ringing": SuperviseAnswer.RINGING, "taken": SuperviseAnswer.TAKEN}

    async def switch(account: int, request: SuperviseRequest) -> SuperviseAnswer:
        asked.append((account, request))
        return answers.get(request.call_id, SuperviseAnswer.NO_CALL)

    assert served.feed is not None
    served.feed.supervise = switch

    with httpx.Client(base_url=served.url, timeout=5) as client:

        def ask(token: str, call_id: str, mode: str = "whisper") -> httpx.Response:
            return client.post(
                f"/live/calls/{call_id}/supervise",
                json={"mode": mode},
                headers={"Authorization": f"Bearer {token}"},
            )

        joined = ask(supervisor, "ringing", "listen")
        assert joined.status_code == 202, joined.text
        assert joined.json() == {
            "call_id": "ringing",
            "mode": "listen",
            "employee_id": boss["id"],
            "status": "ringing",
        }
        assert asked == [
            (
                account_id,
                SuperviseRequest("ringing", boss["id"], "Надзорова Анна", SuperviseMode.LISTEN),
            )
        ]
        gone = ask(supervisor, "ended")
        assert gone.status_code == 404
        assert gone.json()["error_id"] == "live_call.not_found"
        assert gone.json()["message"].startswith("звонок уже закончился")
        taken = ask(supervisor, "taken", "barge")
        assert taken.status_code == 409
        assert taken.json()["error_id"] == "live_call.supervised"
        assert len(asked) == 3

        # refused before the switch is asked: roles, no employee, an employee without a line
        for token, status, error_id in [
            (api.user(admin, "employee", boss["id"]), 403, "forbidden"),
            (admin, 409, "supervisor.no_employee"),
            (api.user(admin, "admin", plain["id"]), 409, "supervisor.no_phone"),
        ]:
            refused = ask(token, "ringing")
            assert (refused.status_code, refused.json()["error_id"]) == (status, error_id)
        # another account's admin names this account's call: his own account is asked
        stranger = api.user(
            other_admin,
            "supervisor",
            api.create("employees", other_admin, {"last_name": "Чужак", "phones": sip})["id"],
        )
        assert ask(stranger, "ringing").status_code == 202
        assert asked[-1][0] != account_id
        assert len(asked) == 4
        # bad input: an unknown mode, a call id that no switch gives
        assert ask(supervisor, "ringing", "shout").status_code == 422
        assert ask(supervisor, "no such id!").status_code == 422
