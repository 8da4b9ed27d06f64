"""CDR-4: the live view of an account's current calls and employee states, as a sans-IO board.

The switch tells the board what its calls do (`put_call`, `end_call`); the
board coalesces: changes only mark a call or an employee dirty, and `flush()` (called by the
switch's feed a few times a second at most) turns each dirty item into one event with the
account's next sequence number. A subscriber starts from `snapshot()` (the state at a sequence
number) and applies the events after it; one that reconnects with the last number it saw gets
the events it missed from `since()`, or None when they left the bounded history (then it takes
a fresh snapshot). Events are upserts and removals of whole items, so applying one twice is
harmless, but the sequence numbers let a client drop what it already has.

The wire form is one JSON object a line (`encode`); the API process reads it back with
`json.loads` and serves it as Server-Sent Events.

TRN-1 from the live view: a supervisor asks to join a call (`SuperviseRequest`) on the same
socket, and the switch answers at once whether it rings his phones (`SuperviseAnswer`): the
call is live on that node only, so the node that holds it is the one that can say.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from vpbx.domain.schedule import ProductionCalendar, ScheduleSpec, is_active

__all__ = [
    "HISTORY",
    "EmployeeState",
    "EmployeeView",
    "LiveBoard",
    "LiveCallState",
    "Roster",
    "SuperviseAnswer",
    "SuperviseMode",
    "SuperviseRequest",
    "encode",
]

#: events kept per account for reconnecting subscribers (beyond: a fresh snapshot)
HISTORY = 512


class EmployeeState(enum.StrEnum):
    """An employee's state on the live view, the most telling first (docs/decisions.md): his
    calls (talking, ringing), his post-call pause (wrap-up), his schedule, his phone's
    registration. One state an employee: the first that holds."""

    TALKING = "talking"
    RINGING = "ringing"
    #: the distribution's post-call pause after his talk (`wrapup_seconds`): not rung yet
    WRAP_UP = "wrap_up"
    #: his schedule (EMP-4) is not active now: the distribution does not ring him
    OFF_SCHEDULE = "off_schedule"
    #: one of his SIP lines has a binding: he can be rung
    REGISTERED = "registered"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Roster:
    """What the board needs of an account's configuration to tell an employee's registration
    and schedule: his SIP lines, his schedule (none: around the clock, EMP-4), the account's
    zone and production calendar. Built by the switch from its configuration snapshot."""

    tz: ZoneInfo
    calendar: ProductionCalendar | None = None
    #: employee → his SIP lines
    lines: Mapping[int, frozenset[int]] = field(default_factory=lambda: MappingProxyType({}))
    #: employee → his schedule (only those who have one)
    schedules: Mapping[int, ScheduleSpec] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def employees(self) -> frozenset[int]:
        return frozenset(self.lines) | frozenset(self.schedules)

    def owners(self, line_id: int) -> list[int]:
        return [e for e, lines in self.lines.items() if line_id in lines]

    def off_schedule(self, now: float) -> frozenset[int]:
        """The employees whose schedule is not active at `now` (Unix seconds)."""
        instant = dt.datetime.fromtimestamp(now, dt.UTC)
        return frozenset(
            e
            for e, spec in self.schedules.items()
            if not is_active(spec, instant, self.tz, self.calendar)
        )


@dataclass(frozen=True, slots=True)
class LiveCallState:
    """One current call as the live view shows it (times are Unix seconds, UTC)."""

    call_id: str
    caller: str
    number: str
    started_at: float
    #: the scenario step the call is at (the last line of its call details)
    step: str = ""
    #: the employees being rung now
    ringing: tuple[int, ...] = ()
    #: the employee in the talk (None: nobody, or an outside number answered)
    talker: int | None = None
    answered_at: float | None = None
    #: QUE-4: the caller's place in the queue (1 = next) while he waits there
    queue_place: int | None = None
    #: TRN-1: the supervisor (an employee) joining or in the talk, and how he takes part
    supervisor: int | None = None
    supervise_mode: str | None = None
    #: the talker's post-call pause (the distribution's `wrapup_seconds` of the forward that
    #: rang him): the board shows him in wrap-up this long after his talk ends (not sent)
    wrapup_seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        # field by field: `asdict` copies recursively, and this runs for every change of
        # every call (wrapup_seconds is the board's own, not sent)
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "number": self.number,
            "started_at": self.started_at,
            "step": self.step,
            "ringing": list(self.ringing),
            "talker": self.talker,
            "answered_at": self.answered_at,
            "queue_place": self.queue_place,
            "supervisor": self.supervisor,
            "supervise_mode": self.supervise_mode,
        }


class SuperviseMode(enum.StrEnum):
    """TRN-1: how a supervisor takes part in a call he joins."""

    LISTEN = "listen"  # he hears both; nobody hears him
    WHISPER = "whisper"  # the employee hears him; the caller does not
    BARGE = "barge"  # everyone hears everyone


@dataclass(frozen=True, slots=True)
class SuperviseRequest:
    """TRN-1 from the live view: ring the phones of the supervisor `employee_id` (called `name`
    in the call's details); when he answers he joins the call `call_id` in `mode`."""

    call_id: str
    employee_id: int
    name: str
    mode: SuperviseMode

    def as_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "employee_id": self.employee_id,
            "name": self.name,
            "mode": self.mode.value,
        }

    @classmethod
    def from_json(cls, data: Any) -> SuperviseRequest:
        """ValueError for anything but a request written by `as_json`."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        call_id, employee_id, name = data.get("call_id"), data.get("employee_id"), data.get("name")
        if type(call_id) is not str or type(employee_id) is not int or type(name) is not str:
            raise ValueError("bad supervise request")
        return cls(call_id, employee_id, name, SuperviseMode(str(data.get("mode"))))


class SuperviseAnswer(enum.StrEnum):
    """The switch's answer to a `SuperviseRequest`."""

    RINGING = "ringing"  # his phones are being rung
    NO_CALL = "no_call"  # no such call of the account here: it ended (or never was)
    NOT_TALKING = "not_talking"  # nobody talks with the caller yet (or a transfer is under way)
    TAKEN = "taken"  # a supervisor or a trainer is in the call, or his phones ring
    OWN_CALL = "own_call"  # he is the employee in the talk
    NO_PHONE = "no_phone"  # none of his phones is reachable (no registered SIP line)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class EmployeeView:
    """What an employee (role employee, ACC-2) may see of the stream: the calls that ring him or
    that he talks in and his own state, as in the calls report. It starts from a snapshot (an
    employee's stream never resumes: the calls he was shown are not known to the switch), then
    tells him of the end of a call he was shown, and of no other call."""

    def __init__(self, employee_id: int) -> None:
        self.employee_id = employee_id
        self._shown: set[str] = set()

    def _mine(self, call: dict[str, Any]) -> bool:
        return call.get("talker") == self.employee_id or self.employee_id in call.get("ringing", ())

    def filter(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The message as he may see it; None: nothing of it."""
        match message.get("type"):
            case "snapshot":
                calls = [c for c in message["calls"] if self._mine(c)]
                self._shown = {c["call_id"] for c in calls}
                employees = [
                    e for e in message["employees"] if e["employee_id"] == self.employee_id
                ]
                return {**message, "calls": calls, "employees": employees}
            case "call":
                call_id = message["call"]["call_id"]
                if self._mine(message["call"]):
                    self._shown.add(call_id)
                    return message
                if call_id in self._shown:  # he no longer takes part: it leaves his view
                    self._shown.discard(call_id)
                    return {"type": "ended", "seq": message["seq"], "call_id": call_id}
                return None
            case "ended":
                if message["call_id"] in self._shown:
                    self._shown.discard(message["call_id"])
                    return message
                return None
            case "employee":
                return message if message["employee"]["employee_id"] == self.employee_id else None
        return None


@dataclass(frozen=True, slots=True)
class _Shown:
    """An employee's state as last sent (`until`: the end of his wrap-up, Unix seconds)."""

    state: EmployeeState
    until: float | None = None

    def as_json(self, employee_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {"employee_id": employee_id, "state": self.state.value}
        if self.until is not None:
            out["until"] = self.until
        return out


_OFFLINE = _Shown(EmployeeState.OFFLINE)


@dataclass(slots=True)
class _Account:
    seq: int = 0
    calls: dict[str, LiveCallState] = field(default_factory=dict)
    states: dict[int, _Shown] = field(default_factory=dict)
    dirty_calls: set[str] = field(default_factory=set)
    dirty_employees: set[int] = field(default_factory=set)
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    #: the SIP lines with a binding on this node (kept before the roster is known)
    registered: set[int] = field(default_factory=set)
    #: None: the configuration is not known (calls only, as without a roster)
    roster: Roster | None = None
    #: the roster's employees off schedule as of the last `tick`
    off: frozenset[int] = frozenset()
    #: employee → the end of his wrap-up (Unix seconds)
    wrapups: dict[int, float] = field(default_factory=dict)


class LiveBoard:
    """Every account's current calls and employee states on one switch node.

    Time comes in (`now`, Unix seconds): a talk's end starts the talker's wrap-up; `tick(now)`
    ends the wrap-ups due and re-reads the schedules; `next_timer()` says when a wrap-up ends.
    """

    def __init__(self) -> None:
        self._accounts: dict[int, _Account] = {}

    def _account(self, account_id: int) -> _Account:
        found = self._accounts.get(account_id)
        if found is None:
            found = self._accounts[account_id] = _Account()
        return found

    @property
    def dirty(self) -> bool:
        return any(a.dirty_calls or a.dirty_employees for a in self._accounts.values())

    # -- what the switch tells -------------------------------------------------------------------

    def put_call(self, account_id: int, call: LiveCallState, now: float = 0.0) -> bool:
        """The call's state now; True when it differs from what the board had."""
        account = self._account(account_id)
        before = account.calls.get(call.call_id)
        if before == call:
            return False
        account.calls[call.call_id] = call
        account.dirty_calls.add(call.call_id)
        account.dirty_employees.update(_people(before))
        account.dirty_employees.update(_people(call))
        if before is not None and before.talker is not None and before.talker != call.talker:
            _wrap_up(account, before, now)
        if call.talker is not None:
            account.wrapups.pop(call.talker, None)  # talking again: the pause is over
        return True

    def end_call(self, account_id: int, call_id: str, now: float = 0.0) -> bool:
        account = self._account(account_id)
        before = account.calls.pop(call_id, None)
        if before is None:
            return False
        account.dirty_calls.add(call_id)
        account.dirty_employees.update(_people(before))
        _wrap_up(account, before, now)
        return True

    def set_line(self, account_id: int, line_id: int, registered: bool) -> bool:
        """A SIP line got its first binding (True) or lost its last; True when that changes
        an employee's state (the roster is known and names the line's employee)."""
        account = self._account(account_id)
        if (line_id in account.registered) == registered:
            return False
        if registered:
            account.registered.add(line_id)
        else:
            account.registered.discard(line_id)
        owners = account.roster.owners(line_id) if account.roster is not None else []
        account.dirty_employees.update(owners)
        return bool(owners)

    def has_roster(self, account_id: int) -> bool:
        found = self._accounts.get(account_id)
        return found is not None and found.roster is not None

    def set_roster(self, account_id: int, roster: Roster, now: float) -> None:
        """The account's configuration (first known, or changed) at `now`."""
        account = self._account(account_id)
        if account.roster is not None:
            account.dirty_employees.update(account.roster.employees)
        account.roster = roster
        account.off = roster.off_schedule(now)
        account.dirty_employees.update(roster.employees)

    def tick(self, now: float, *, schedules: bool = True) -> bool:
        """End the wrap-ups due at `now` and (`schedules`) re-read who is off schedule; True
        when an employee's state may have changed."""
        changed = False
        for account in self._accounts.values():
            due = [e for e, until in account.wrapups.items() if until <= now]
            for employee_id in due:
                del account.wrapups[employee_id]
            account.dirty_employees.update(due)
            changed = changed or bool(due)
            if schedules and account.roster is not None:
                off = account.roster.off_schedule(now)
                if off != account.off:
                    account.dirty_employees.update(off ^ account.off)
                    account.off = off
                    changed = True
        return changed

    def next_timer(self) -> float | None:
        """When the first wrap-up ends (Unix seconds); None: nobody is in one."""
        return min((u for a in self._accounts.values() for u in a.wrapups.values()), default=None)

    # -- what subscribers get --------------------------------------------------------------------

    def flush(self) -> dict[int, list[dict[str, Any]]]:
        """The events of every change since the last flush, per account, numbered."""
        out: dict[int, list[dict[str, Any]]] = {}
        for account_id, account in self._accounts.items():
            if not (account.dirty_calls or account.dirty_employees):
                continue
            events: list[dict[str, Any]] = []
            for call_id in sorted(account.dirty_calls):
                call = account.calls.get(call_id)
                account.seq += 1
                if call is None:
                    events.append({"type": "ended", "seq": account.seq, "call_id": call_id})
                else:
                    events.append({"type": "call", "seq": account.seq, "call": call.as_json()})
            in_calls = _states(account) if account.dirty_employees else {}
            for employee_id in sorted(account.dirty_employees):
                shown = _shown(account, employee_id, in_calls)
                if account.states.get(employee_id, _OFFLINE) == shown:
                    continue
                if shown.state is EmployeeState.OFFLINE:
                    account.states.pop(employee_id, None)
                else:
                    account.states[employee_id] = shown
                account.seq += 1
                events.append(
                    {"type": "employee", "seq": account.seq, "employee": shown.as_json(employee_id)}
                )
            account.dirty_calls.clear()
            account.dirty_employees.clear()
            account.history.extend(events)
            if events:
                out[account_id] = events
        return out

    def snapshot(self, account_id: int) -> dict[str, Any]:
        """The account's state as of its last flush (flush first for the latest). `presence`:
        the board knows the employees' registrations and schedules (an employee it does not
        list is offline); without it, only their calls."""
        account = self._account(account_id)
        return {
            "type": "snapshot",
            "seq": account.seq,
            "calls": [
                c.as_json() for c in sorted(account.calls.values(), key=lambda c: c.started_at)
            ],
            "employees": [s.as_json(e) for e, s in sorted(account.states.items())],
            "presence": account.roster is not None,
        }

    def since(self, account_id: int, seq: int) -> list[dict[str, Any]] | None:
        """The events after `seq`; None when some of them are no longer kept (or `seq` is not
        one this board gave: another switch run), so a fresh snapshot is needed."""
        account = self._account(account_id)
        if seq > account.seq:
            return None
        if seq == account.seq:
            return []
        history = account.history
        if not history or history[0]["seq"] > seq + 1:
            return None
        return [e for e in history if e["seq"] > seq]


def _people(call: LiveCallState | None) -> Iterable[int]:
    if call is None:
        return ()
    others = (call.talker, call.supervisor)
    return (*call.ringing, *(e for e in others if e is not None))


def _wrap_up(account: _Account, call: LiveCallState, now: float) -> None:
    """The talker of `call` stopped talking in it at `now`: his post-call pause begins."""
    if call.talker is not None and call.wrapup_seconds > 0:
        account.wrapups[call.talker] = now + call.wrapup_seconds
        account.dirty_employees.add(call.talker)


def _shown(account: _Account, employee_id: int, in_calls: dict[int, EmployeeState]) -> _Shown:
    """The precedence of docs/decisions.md: talking > ringing > wrap-up > off schedule >
    registered > offline."""
    state = in_calls.get(employee_id)
    if state is not None:
        return _Shown(state)
    until = account.wrapups.get(employee_id)
    if until is not None:
        return _Shown(EmployeeState.WRAP_UP, until)
    if employee_id in account.off:
        return _Shown(EmployeeState.OFF_SCHEDULE)
    roster = account.roster
    if roster is not None and not account.registered.isdisjoint(roster.lines.get(employee_id, ())):
        return _Shown(EmployeeState.REGISTERED)
    return _OFFLINE


def _states(account: _Account) -> dict[int, EmployeeState]:
    states: dict[int, EmployeeState] = {}
    for call in account.calls.values():
        # a supervisor (TRN-1) is rung, then takes part as the talker does
        ringing = list(call.ringing)
        talking = [call.talker] if call.talker is not None else []
        if call.supervisor is not None:
            (talking if call.supervise_mode is not None else ringing).append(call.supervisor)
        for employee_id in ringing:
            if states.get(employee_id) is not EmployeeState.TALKING:
                states[employee_id] = EmployeeState.RINGING
        for employee_id in talking:
            states[employee_id] = EmployeeState.TALKING
    return states
