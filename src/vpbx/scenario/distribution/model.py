"""Inputs, events, actions and call-detail records of distribution (frozen, slotted dataclasses)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from vpbx.domain.entities.scenarios import Strategy

__all__ = [
    "Action",
    "Answered",
    "CallEnded",
    "CallKind",
    "CallerHungUp",
    "Cancel",
    "Detail",
    "DetailKind",
    "EmployeeTarget",
    "Event",
    "ForwardRequest",
    "GiveUp",
    "Held",
    "PhoneTarget",
    "Queued",
    "Ring",
    "RingEnded",
    "RingResult",
    "Settings",
    "Skip",
    "SkipReason",
    "Step",
    "Strategy",
]


class CallKind(enum.StrEnum):
    """Where the call comes from; decides whether it may queue (QUE-6, QUE-7)."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"
    CALLAPI_SCENARIO = "callapi_scenario"
    TRANSFER = "transfer"
    DIALER = "dialer"


class SkipReason(enum.StrEnum):
    """DST-7: why a phone (or a whole employee) was not rung."""

    CALLS_OFF = "calls_off"
    OUTSIDE_SCHEDULE = "outside_schedule"
    GROUP_SCHEDULE = "group_schedule"
    WRAP_UP = "wrap_up"
    LINE_LIMIT = "line_limit"
    UNAVAILABLE = "unavailable"
    QUEUE_HELD = "queue_held"
    NOT_IN_TURN = "not_in_turn"
    ZERO_PERCENT = "zero_percent"

    @property
    def text(self) -> str:
        """The wording shown in the call details."""
        return _SKIP_TEXT[self]


_SKIP_TEXT = {
    SkipReason.CALLS_OFF: "Статус звонков выключен",
    SkipReason.OUTSIDE_SCHEDULE: "Вне графика активности сотрудника",
    SkipReason.GROUP_SCHEDULE: "Вне графика активности группы",
    SkipReason.WRAP_UP: "После разговора звонить не ранее, чем через заданное время",
    SkipReason.LINE_LIMIT: "Все линии номера заняты",
    SkipReason.UNAVAILABLE: "Номер недоступен в группе",
    SkipReason.QUEUE_HELD: "Другие абоненты находятся в очереди",
    SkipReason.NOT_IN_TURN: "Звонок по очереди направлен другому сотруднику",
    SkipReason.ZERO_PERCENT: "Процент звонков на номер равен 0",
}


class RingResult(enum.StrEnum):
    """How one offer to one phone ended without an answer."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    FAILED = "failed"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class PhoneTarget:
    """One phone of an employee as the engine resolved it (EMP-3, GRP-2).

    `available` is False for an unregistered SIP line, a disconnected FMC line or a row switched
    off in the group's distribution table («Номер недоступен в группе»).
    """

    phone_id: str
    lines: int = 1
    ring_timeout: float = 20.0
    kind: str = "sip"
    available: bool = True
    percent: float = 0.0


@dataclass(frozen=True, slots=True)
class EmployeeTarget:
    """One employee with his phones in ring order; activity evaluated by the engine at `now`."""

    employee_id: int
    phones: tuple[PhoneTarget, ...]
    calls_enabled: bool = True
    in_schedule: bool = True
    group_active: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved knobs of one Forward operation (see `strategies.resolve_settings`)."""

    strategy: Strategy = Strategy.PRIORITY
    simultaneous_lines: int = 1
    ring_timeout: float | None = None
    percentage: bool = False
    queue: bool = False
    wrapup_seconds: float = 0.0
    initial_lines: int = 5
    add_line_every: float = 5.0


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    """What the engine's Forward operation hands over for one call.

    `targets` are the employees in configured priority order (a group's distribution table:
    employees in the order of their first row, each employee's phones in table order).
    `join_queue` is the «Вставать в очередь» flag of the employee a TRANSFER goes to.
    """

    call_id: str
    account_id: int
    scenario_id: int
    operation_key: str
    caller: str
    targets: tuple[EmployeeTarget, ...]
    settings: Settings = Settings()
    kind: CallKind = CallKind.INCOMING
    join_queue: bool = False


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Answered:
    """The phone rang for the call answered it, or `picked_by` (employee, phone) took the
    call from it (88 + extension, EMP-5): then the talk, the wrap-up and the line count go to
    the one who picked up."""

    call_id: str
    employee_id: int
    phone_id: str
    picked_by: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class RingEnded:
    """A phone stopped ringing without an answer (busy, no answer, rejected, unreachable)."""

    call_id: str
    employee_id: int
    phone_id: str
    result: RingResult = RingResult.NO_ANSWER


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The conversation with the employee is over; talk time = now − answer time."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller left before anybody answered (while ringing or queued), or, with
    `answered_elsewhere`, an outside number rung beside the phones took the call."""

    call_id: str
    answered_elsewhere: bool = False


Event = Answered | RingEnded | CallEnded | CallerHungUp


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Ring:
    """Offer the call to one phone; the distributor's own timer ends it after `timeout` s."""

    call_id: str
    employee_id: int
    phone_id: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop ringing one phone (`reason`: timeout, answered_elsewhere, caller_hung_up)."""

    call_id: str
    employee_id: int
    phone_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A phone (or, with `phone_id` None, all phones of an employee) not rung, and why."""

    employee_id: int
    phone_id: str | None
    reason: SkipReason

    @property
    def text(self) -> str:
        return self.reason.text


@dataclass(frozen=True, slots=True)
class Queued:
    """The caller joined the queue of `queue_key` at `position` (1 = next); QUE-4/QUE-5."""

    call_id: str
    queue_key: str
    position: int
    ahead: tuple[str, ...]
    estimated_wait: float | None


@dataclass(frozen=True, slots=True)
class Held:
    """QUE-7: an outbound-dialer call is held; employees keep being rung in parallel."""

    call_id: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Nobody can take the call: the operation follows its `no_answer` exit."""

    call_id: str
    skipped: tuple[Skip, ...]


Action = Ring | Cancel | Queued | Held | GiveUp


class DetailKind(enum.StrEnum):
    OFFERED = "offered"
    SKIPPED = "skipped"
    RING_ENDED = "ring_ended"
    ANSWERED = "answered"
    QUEUED = "queued"
    HELD = "held"
    GAVE_UP = "gave_up"
    HUNG_UP = "hung_up"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Detail:
    """One line of the call details (CDR-2): what distribution decided and why."""

    at: float
    call_id: str
    kind: DetailKind
    employee_id: int | None = None
    phone_id: str | None = None
    text: str = ""
    ahead: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """What one call of the distributor returns: actions to execute and details to log."""

    actions: tuple[Action, ...] = ()
    details: tuple[Detail, ...] = field(default=())
