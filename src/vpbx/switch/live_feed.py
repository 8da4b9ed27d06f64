"""CDR-4: the switch's live feed of current calls, served to the API processes on a unix socket.

The calls tell `LiveFeed` what they do (`put_call`, `end_call`); that only updates the sans-IO
`vpbx.domain.live.LiveBoard` and arms one flush timer (`FLUSH_DELAY`), so a burst of changes of
one call becomes one event and the call path never waits for anyone. The flush hands each
subscriber its account's events in a bounded buffer; a subscriber whose buffer is full (a slow
or stuck reader) is dropped there and then, and reconnects for a fresh snapshot.

The protocol, one connection per subscriber on `<data_dir>/switch-live.sock`: the API sends one
JSON line `{"account_id": N, "since": S}` (`since` null or absent: no history), the switch
answers one JSON object a line: the events after S when it still has them all, else a
`snapshot`, then the events as they happen. Only a process that may enter the data folder can
connect; nothing is listening on the network.

TRN-1: the same socket carries the live view's one command, a supervisor joining a call. The
API sends `{"account_id": N, "supervise": {...}}` (`SuperviseRequest.as_json`), the switch
answers one line `{"supervise": "<SuperviseAnswer>"}` and closes. The call lives on this node,
so this node answers at once whether his phones ring (a durable task, as a recording by phone
is, would be claimed by any node and answered only later); see docs/decisions.md.

Employee states beyond the calls (docs/decisions.md): the registrar tells `line_presence` when a
line's first binding appears or its last vanishes; a talk's end starts the talker's wrap-up,
which one timer ends (`LiveBoard.next_timer`); schedules are re-read on the minute. Which line
is whose and who has which schedule is the account's `Roster`, built from the switch's cached
configuration snapshot when the account is first needed and again when its configuration
changes (`config_changed`): nothing here reads the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vpbx.domain.live import (
    LiveBoard,
    LiveCallState,
    Roster,
    SuperviseAnswer,
    SuperviseRequest,
    encode,
)
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = ["FLUSH_DELAY", "MAX_BUFFER", "SCHEDULE_TICK", "LiveFeed", "roster_of"]

log = logging.getLogger("vpbx.switch.live")

#: changes are gathered this long (seconds) before they go out as events
FLUSH_DELAY = 0.05
#: events a subscriber may have unsent before it is dropped
MAX_BUFFER = 2000
#: the subscriber's request line (a supervise command carries the supervisor's name)
MAX_REQUEST = 2048
REQUEST_TIMEOUT = 5.0
#: schedules are re-read this often (seconds; their intervals are whole minutes)
SCHEDULE_TICK = 60.0


def roster_of(config: ConfigSnapshot) -> Roster:
    """What the live board needs of an account's configuration snapshot."""
    lines = {
        e.id: frozenset(p.sip_line_id for p in e.phones if p.sip_line_id is not None)
        for e in config.employees.values()
    }
    schedules = {
        e.id: config.schedules[e.schedule_id][1]
        for e in config.employees.values()
        if e.schedule_id is not None and e.schedule_id in config.schedules
    }
    return Roster(config.tz, config.calendar, MappingProxyType(lines), MappingProxyType(schedules))


class _Subscriber:
    __slots__ = ("account_id", "buffer", "dropped", "wake", "writer")

    def __init__(self, account_id: int, writer: asyncio.StreamWriter) -> None:
        self.account_id = account_id
        self.writer = writer
        self.buffer: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.dropped = False

    def drop(self) -> None:
        """Ends the subscription at once: what its socket still buffers is thrown away (a
        reader that stopped reading would otherwise hold it, and its task, for ever)."""
        self.dropped = True
        self.buffer.clear()
        self.wake.set()
        self.writer.transport.abort()


class LiveFeed:
    """The node's live board, its flush timer and the subscribers' socket."""

    def __init__(
        self,
        socket_path: Path,
        board: LiveBoard | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.socket_path = socket_path
        self.board = board or LiveBoard()
        #: the wall clock (Unix seconds) of the board's `now`
        self.clock = clock
        #: TRN-1: whether a supervisor's phones are rung to join a call of the account
        self.supervise: Callable[[int, SuperviseRequest], Awaitable[SuperviseAnswer]] | None = None
        #: an account's roster (from the switch's configuration cache); None: calls only
        self.roster: Callable[[int], Awaitable[Roster]] | None = None
        self._subscribers: set[_Subscriber] = set()
        self._timer: asyncio.TimerHandle | None = None
        #: the next wrap-up's end or schedule check, and when it is due (Unix seconds)
        self._tick: asyncio.TimerHandle | None = None
        self._tick_at: float | None = None
        #: the next schedule check (None: no roster known yet)
        self._minute: float | None = None
        self._loading: dict[int, asyncio.Task[None]] = {}
        self._stale: set[int] = set()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- what the calls tell (never awaits, never raises on a subscriber's account) -------------

    def put_call(self, account_id: int, call: LiveCallState) -> None:
        if self.board.put_call(account_id, call, self.clock()):
            self._arm()

    def end_call(self, account_id: int, call_id: str) -> None:
        if self.board.end_call(account_id, call_id, self.clock()):
            self._arm()

    # -- what the registrar and the configuration tell -------------------------------------------

    def line_presence(self, account_id: int, line_id: int, registered: bool) -> None:
        """The line's first binding appeared (True) or its last vanished (unregistered,
        expired, revoked): its employee's state goes out at once."""
        changed = self.board.set_line(account_id, line_id, registered)
        if not self.board.has_roster(account_id):
            self._load_soon(account_id)  # which employee the line is: known once loaded
        elif changed:
            self._arm()

    def config_changed(self, account_id: int) -> None:
        """The account's configuration changed: its roster is read again (when it had one)."""
        if self.board.has_roster(account_id):
            self._load_soon(account_id)

    def _load_soon(self, account_id: int) -> None:
        if self.roster is None:
            return
        if account_id in self._loading:
            self._stale.add(account_id)  # changed while being read: read once more after
            return
        task = asyncio.ensure_future(self._load(account_id))
        self._loading[account_id] = task
        task.add_done_callback(lambda _: self._loaded(account_id))

    def _loaded(self, account_id: int) -> None:
        self._loading.pop(account_id, None)
        if account_id in self._stale:
            self._stale.discard(account_id)
            self._load_soon(account_id)

    async def _load(self, account_id: int) -> None:
        assert self.roster is not None
        try:
            roster = await self.roster(account_id)
        except Exception:
            # the calls' part of the view goes on; the next change or subscriber tries again
            log.exception("live roster not loaded", extra={"account_id": account_id})
            return
        now = self.clock()
        self.board.set_roster(account_id, roster, now)
        if self._minute is None:
            self._minute = _next_minute(now)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)
        self._arm_tick()

    def _arm_tick(self) -> None:
        """One timer for the first wrap-up's end and, once a roster is known, the next minute
        (when the schedules are read again)."""
        now = self.clock()
        due = self.board.next_timer()
        if self._minute is not None:
            due = self._minute if due is None else min(due, self._minute)
        if due == self._tick_at:
            return
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._tick_at = due
        if due is not None:
            self._tick = asyncio.get_running_loop().call_later(max(0.0, due - now), self._ticked)

    def _ticked(self) -> None:
        self._tick = self._tick_at = None
        now = self.clock()
        schedules = self._minute is not None and now >= self._minute
        if schedules:
            self._minute = _next_minute(now)
        if self.board.tick(now, schedules=schedules):
            self.flush()
        self._arm_tick()

    def flush(self) -> None:
        """Turn the changes into events now (the timer's, or a new subscriber's, call)."""
        if self._timer is not None:
            self._timer.cancel()  # a no-op when it is the timer that runs
            self._timer = None
        self._arm_tick()
        for account_id, events in self.board.flush().items():
            subs = [sub for sub in self._subscribers if sub.account_id == account_id]
            if subs:  # nobody watches this account: the board keeps its history only
                lines = [encode(e) for e in events]
                for sub in subs:
                    self._offer(sub, lines)

    def _offer(self, sub: _Subscriber, lines: list[bytes]) -> None:
        if len(sub.buffer) + len(lines) > MAX_BUFFER:
            # a reader this far behind would delay nothing but itself; it resynchronises
            self._subscribers.discard(sub)
            sub.drop()
            log.warning("live subscriber too slow: dropped", extra={"account_id": sub.account_id})
        else:
            sub.buffer.extend(lines)
            sub.wake.set()

    # -- the socket ------------------------------------------------------------------------------

    async def start(self) -> None:
        path = self.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # left by a switch that was killed
        self._server = await asyncio.start_unix_server(self._serve, str(path), limit=MAX_REQUEST)
        log.info("live feed listening", extra={"socket": str(path)})

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = self._tick_at = None
        self._stale.clear()
        for task in list(self._loading.values()):
            task.cancel()
        if self._server is not None:
            self._server.close()
            for sub in list(self._subscribers):
                sub.drop()
            self._subscribers.clear()
            # Python 3.11's wait_closed does not wait for the connections: end them here
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
            self.socket_path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._stream(reader, writer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _supervise(self, command: _Supervise, writer: asyncio.StreamWriter) -> None:
        if self.supervise is None:  # a feed without calls (tests of the feed alone)
            answer = SuperviseAnswer.NO_CALL
        else:
            answer = await self.supervise(command.account_id, command.request)
        log.info(
            "supervise asked",
            extra={
                "account_id": command.account_id,
                "call": command.request.call_id,
                "employee_id": command.request.employee_id,
                "mode": command.request.mode.value,
                "answer": answer.value,
            },
        )
        writer.write(encode({"supervise": answer.value}))
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request = _request(await reader.readline())
        except (TimeoutError, ValueError, ConnectionError, asyncio.LimitOverrunError):
            return
        if isinstance(request, _Supervise):
            await self._supervise(request, writer)
            return
        account_id, since = request
        if self.roster is not None and not self.board.has_roster(account_id):
            await self._load(account_id)  # the employees' registrations and schedules
        # Flushed, then subscribed, with no await between: the first events the subscriber
        # gets follow exactly the snapshot (or the history) it starts from.
        self.flush()
        missed = self.board.since(account_id, since) if since is not None else None
        first = missed if missed is not None else [self.board.snapshot(account_id)]
        sub = _Subscriber(account_id, writer)
        sub.buffer.extend(encode(e) for e in first)
        self._subscribers.add(sub)
        # a subscriber that goes away is noticed at once, not at the next event of its account
        gone = asyncio.ensure_future(reader.read())
        gone.add_done_callback(lambda _: sub.drop())
        try:
            while not sub.dropped:
                while sub.buffer:
                    writer.write(sub.buffer.popleft())
                await writer.drain()
                if sub.dropped:
                    break
                sub.wake.clear()
                await sub.wake.wait()
        except (ConnectionError, OSError):
            pass  # dropped (aborted) or gone
        finally:
            gone.cancel()
            self._subscribers.discard(sub)


def _next_minute(now: float) -> float:
    return now - now % SCHEDULE_TICK + SCHEDULE_TICK


@dataclass(frozen=True, slots=True)
class _Supervise:
    account_id: int
    request: SuperviseRequest


def _request(line: bytes) -> tuple[int, int | None] | _Supervise:
    message: Any = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("not an object")
    account_id, since = message.get("account_id"), message.get("since")
    if type(account_id) is not int or not (since is None or type(since) is int):
        raise ValueError("bad request")
    if "supervise" in message:
        return _Supervise(account_id, SuperviseRequest.from_json(message["supervise"]))
    return account_id, since
