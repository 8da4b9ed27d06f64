"""REGISTERs answered without a task of their own (issue 17): with the line in the directory's
cache and a binding store, `Registrar.register_at_once` answers the challenge at once and the
200 once the binding is committed, the same answers `register` gives; it leaves a line it would
have to read to `register`; a failed commit answers nothing. The store's callbacks, and the
endpoint's one timer left armed while the earliest deadline stays."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import pytest

from vpbx.domain.directory import LineInfo
from vpbx.domain.switch_records import StoredBinding
from vpbx.sip.digest import build_authorization
from vpbx.sip.message import Request, Response
from vpbx.sip.parser import parse_message
from vpbx.sip.registrar import Bindings
from vpbx.switch.directory import Directory, DirectorySource
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.registrar_service import Registrar
from vpbx.switch.registration_store import GATHER, RegistrationStore
from vpbx.transport.sip import Peer

LINE = LineInfo(5, 50, "l50", "secret", "in_out", None)
PEER = Peer("udp", "127.0.0.1", 5062)
WALL = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)


class _Source:
    """The directory's database side, over one line."""

    def __init__(self) -> None:
        self.reads = 0

    async def line(self, login: str) -> LineInfo | None:
        self.reads += 1
        return LINE if login == LINE.login else None

    async def lines(self, logins: list[str]) -> dict[str, LineInfo]:
        return {login: LINE for login in logins if login == LINE.login}


class _Storage:
    """Commits held until `release`, or failing while `fail` is set."""

    def __init__(self) -> None:
        self.saved: list[dict[int, list[str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None:
        await self.gate.wait()
        if self.fail:
            raise OSError("disk full")
        self.saved.append({line: [b.contact for b in rows] for line, rows in lines.items()})

    async def load(self, now: dt.datetime) -> list[StoredBinding]:
        return []

    async def drop(self, row_ids: Sequence[int]) -> None:
        return None


def _register(cseq: int, authorization: str | None = None, expires: int = 60) -> Request:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{cseq}",
        "From: <sip:l50@127.0.0.1>;tag=a",
        "To: <sip:l50@127.0.0.1>",
        "Call-ID: at-once",
        f"CSeq: {cseq} REGISTER",
        "Contact: <sip:l50@127.0.0.1:5062>",
        f"Expires: {expires}",
        *([f"Authorization: {authorization}"] if authorization else []),
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def _credentials(challenge: Response, password: str = "secret", nc: int = 1) -> str:
    return build_authorization(
        challenge.headers.get("WWW-Authenticate") or "",
        "REGISTER",
        "sip:127.0.0.1",
        "l50",
        password,
        "abcd",
        nc,
    )


def _registrar(source: _Source, storage: _Storage) -> Registrar:
    return Registrar(
        Directory(cast(DirectorySource, source)),
        bindings=Bindings(min_expires=1),
        store=RegistrationStore(storage, lambda: WALL),
        wall=lambda: WALL,
    )


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 - told by synchronous callbacks
            await asyncio.sleep(0.001)


async def _answered(answers: list[Response], count: int) -> None:
    """Until `count` answers came (a commit may wait `GATHER` for others to join it)."""
    await _until(lambda: len(answers) >= count)


async def test_a_cached_line_is_challenged_at_once_and_answered_200_after_its_commit() -> None:
    source, storage = _Source(), _Storage()
    registrar = _registrar(source, storage)
    try:
        assert await registrar.directory.line("l50") == LINE  # in the cache now
        answers: list[Response] = []
        assert registrar.register_at_once(_register(1), PEER, _now(), answers.append)
        assert [a.status for a in answers] == [401]  # no await, no task
        storage.gate.clear()
        authorization = _credentials(answers[0])
        assert registrar.register_at_once(_register(2, authorization), PEER, _now(), answers.append)
        assert len(answers) == 1  # the binding is applied, but not committed yet
        assert registrar.bindings.current("l50", _now())
        storage.gate.set()
        await _answered(answers, 2)
        assert [a.status for a in answers] == [401, 200]
        ok = answers[1]
        assert ok.headers.get_all("Contact") == ("<sip:l50@127.0.0.1:5062>;expires=60",)
        assert ok.headers.get("Date") == "Mon, 07 Dec 2026 11:00:00 GMT"
        assert storage.saved == [{50: ["sip:l50@127.0.0.1:5062"]}]
        assert source.reads == 1
    finally:
        registrar.stop()


async def test_at_once_answers_as_register_does() -> None:
    """The same exchanges through both: challenge, 200, a replayed digest (stale challenge), a
    wrong password (401), an unregister (200 without Contact)."""

    async def through(at_once: bool) -> list[tuple[int, tuple[str, ...], bool]]:
        source, storage = _Source(), _Storage()
        registrar = _registrar(source, storage)
        await registrar.directory.line("l50")
        seen: list[tuple[int, tuple[str, ...], bool]] = []

        async def ask(request: Request) -> Response:
            if at_once:
                got: list[Response] = []
                assert registrar.register_at_once(request, PEER, _now(), got.append)
                await _answered(got, 1)
                await asyncio.sleep(GATHER * 2)
                assert len(got) == 1
                answer = got[0]
            else:
                found = await registrar.register(request, PEER, _now())
                assert found is not None
                answer = found
            stale = "stale=true" in (answer.headers.get("WWW-Authenticate") or "")
            seen.append((answer.status, answer.headers.get_all("Contact"), stale))
            return answer

        try:
            challenge = await ask(_register(1))
            authorization = _credentials(challenge)
            await ask(_register(2, authorization))
            await ask(_register(3, authorization))  # nc 1 again: a replay
            await ask(_register(4, _credentials(challenge, "wrong", nc=2)))
            await ask(_register(5, _credentials(challenge, nc=3), expires=0))
        finally:
            registrar.stop()
        return seen

    expected = [
        (401, (), False),
        (200, ("<sip:l50@127.0.0.1:5062>;expires=60",), False),
        (401, (), True),
        (401, (), False),
        (200, (), False),
    ]
    assert await through(at_once=False) == expected
    assert await through(at_once=True) == expected


async def test_a_line_not_in_the_cache_is_left_to_register() -> None:
    source, storage = _Source(), _Storage()
    registrar = _registrar(source, storage)
    try:
        answers: list[Response] = []
        challenge = await registrar.register(_register(1), PEER, _now())
        assert challenge is not None
        request = _register(2, _credentials(challenge))
        assert not registrar.register_at_once(request, PEER, _now(), answers.append)
        assert answers == []
        assert not registrar.bindings.current("l50", _now())
        assert source.reads == 0
        # `register` then does it all, the nonce-count still unused
        answer = await registrar.register(request, PEER, _now())
        assert answer is not None
        assert answer.status == 200
        assert source.reads == 1
    finally:
        registrar.stop()


async def test_without_a_store_every_register_is_left_to_register() -> None:
    registrar = Registrar(Directory(cast(DirectorySource, _Source())), wall=lambda: WALL)
    answers: list[Response] = []
    assert not registrar.register_at_once(_register(1), PEER, _now(), answers.append)
    assert answers == []


async def test_a_failed_commit_answers_nothing_and_the_next_register_is_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, storage = _Source(), _Storage()
    registrar = _registrar(source, storage)
    try:
        await registrar.directory.line("l50")
        answers: list[Response] = []
        registrar.register_at_once(_register(1), PEER, _now(), answers.append)
        challenge = answers.pop()
        storage.fail = True
        registrar.register_at_once(
            _register(2, _credentials(challenge)), PEER, _now(), answers.append
        )
        await _until(lambda: "registrations not stored" in caplog.text)
        await asyncio.sleep(GATHER * 2)
        assert answers == []
        storage.fail = False
        registrar.register_at_once(
            _register(3, _credentials(challenge, nc=2)), PEER, _now(), answers.append
        )
        await _answered(answers, 1)
        assert [a.status for a in answers] == [200]
    finally:
        registrar.stop()


async def test_the_store_tells_every_waiter_of_a_commit_even_after_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = _Storage()
    storage.gate.clear()
    store = RegistrationStore(storage, lambda: WALL)
    told: list[tuple[str, BaseException | None]] = []

    def broken(error: BaseException | None) -> None:
        raise RuntimeError("a waiter's bug")

    store.submit(1, [], lambda error: told.append(("first", error)))
    store.submit(2, [], broken)
    saving = asyncio.ensure_future(store.save(3, []))
    await asyncio.sleep(0)  # the first commit is under way (held), the save joins the next
    store.submit(1, [], lambda error: told.append(("again", error)))
    assert told == []
    storage.gate.set()
    await asyncio.wait_for(saving, 5)
    assert told == [("first", None), ("again", None)]
    assert storage.saved == [{1: [], 2: []}, {3: [], 1: []}]
    assert "commit callback failed" in caplog.text


async def test_an_idle_store_commits_at_once_and_one_under_load_gathers_for_a_moment() -> None:
    storage = _Storage()
    store = RegistrationStore(storage, lambda: WALL, gather=0.05)
    loop = asyncio.get_running_loop()
    told: list[float] = []
    started = loop.time()
    store.submit(1, [], lambda error: told.append(loop.time()))
    await _until(lambda: bool(told))
    assert told[0] - started < 0.04  # idle: no wait
    # right after a commit: the next waits for others to join it
    started = loop.time()
    store.submit(2, [], lambda error: told.append(loop.time()))
    await asyncio.sleep(0.01)
    store.submit(3, [], lambda error: told.append(loop.time()))
    await _until(lambda: len(told) == 3)
    # uvloop's timers and clock tick in milliseconds: the wait can read a hair under 0.05
    assert told[1] - started >= 0.05 - 0.002
    assert storage.saved == [{1: []}, {2: [], 3: []}]


async def test_the_endpoint_timer_stays_armed_while_the_earliest_deadline_stays() -> None:
    endpoint = SipEndpoint("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    endpoint._loop = loop
    deadline = loop.time() + 30
    endpoint.layer.get_timer = lambda: deadline  # type: ignore[method-assign]
    endpoint._arm()
    first = endpoint._timer
    assert first is not None
    endpoint._arm()
    assert endpoint._timer is first  # not cancelled and made again
    deadline += 1
    endpoint._arm()
    assert endpoint._timer is not first
    assert first.cancelled()
    assert endpoint._timer is not None
    endpoint._timer.cancel()


def test_the_date_of_a_200_follows_the_wall_clock_though_formatted_once_a_second() -> None:
    now = [WALL]
    registrar = Registrar(Directory(cast(DirectorySource, _Source())), wall=lambda: now[0])
    assert registrar._date_now() == "Mon, 07 Dec 2026 11:00:00 GMT"
    now[0] = WALL + dt.timedelta(milliseconds=999)
    assert registrar._date_now() == "Mon, 07 Dec 2026 11:00:00 GMT"
    now[0] = WALL + dt.timedelta(seconds=1)
    assert registrar._date_now() == "Mon, 07 Dec 2026 11:00:01 GMT"
    # a wall clock in another zone, or set back, gives its own second's date
    now[0] = (WALL - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=3)))
    assert registrar._date_now() == "Mon, 07 Dec 2026 10:00:00 GMT"
