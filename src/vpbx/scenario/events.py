"""Events the switch (or the simulator) feeds into a `Call`: frozen, slotted dataclasses.

Every event carries no clock of its own: the time is the `now` passed to `Call.handle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Answered",
    "CallArrived",
    "CallerHungUp",
    "DialFailed",
    "Digit",
    "Event",
    "HttpResponse",
    "PlaybackDone",
    "RecordingDone",
    "TalkEnded",
    "TimerFired",
]


@dataclass(frozen=True, slots=True)
class CallArrived:
    """A call to virtual number `number` from `caller` (digits, international, no `+`)."""

    number: str
    caller: str


@dataclass(frozen=True, slots=True)
class Digit:
    """One DTMF key: 0-9, *, #."""

    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    """Everything the last `Play` asked for has been played (or was stopped)."""


@dataclass(frozen=True, slots=True)
class RecordingDone:
    """The `Record` finished; `file_id` is None when nothing was recorded."""

    file_id: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Answered:
    """The distribution connected an employee's phone (or an external number of a CRM forward)."""

    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class DialFailed:
    """Every phone was tried and nobody answered (busy, no answer, unavailable…)."""

    reason: str = "no_answer"
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TalkEnded:
    """The conversation ended; `by` is "employee" or "caller"."""

    by: str = "employee"


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller hung up (in any state)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """The answer to an `HttpRequest` with the same `request_id`; `error` set when none came."""

    request_id: int
    status: int | None = None
    body: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The deadline from `Call.get_timer()` has passed (the same as calling `handle_timer`)."""


Event = (
    CallArrived
    | Digit
    | PlaybackDone
    | RecordingDone
    | Answered
    | DialFailed
    | TalkEnded
    | CallerHungUp
    | HttpResponse
    | TimerFired
)

#: used by type hints of JSON-ish payloads
Json = dict[str, Any]
