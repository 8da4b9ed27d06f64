"""Actions a `Call` asks the switch to perform: frozen, slotted dataclasses.

The engine never performs them; the switch (live) or the simulator executes them and reports
back with events. `Hangup` and `Reject` are terminal: after one of them the call is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Action",
    "Answer",
    "Bridge",
    "CancelDial",
    "CollectDigits",
    "Dial",
    "DialTarget",
    "Hangup",
    "HttpRequest",
    "OfferTagging",
    "Play",
    "Record",
    "Reject",
    "SendMail",
    "StopPlayback",
    "StoreRating",
]


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the caller's leg (200 OK)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the call without answering (blacklist); terminal."""

    reason: str


@dataclass(frozen=True, slots=True)
class Play:
    """Play files of the file base, then TTS text, then system messages, in that order.

    `loop` repeats until stopped (ringback replacement); `barge_in` lets a key stop it.
    """

    file_ids: tuple[int, ...] = ()
    text: str = ""
    system: str = ""
    loop: bool = False
    barge_in: bool = False


@dataclass(frozen=True, slots=True)
class StopPlayback:
    pass


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Start passing keys to the engine. The engine runs its own timers (`get_timer`)."""

    max_digits: int
    inter_digit_timeout: float
    terminators: str = "#"


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller (voicemail) for at most `max_seconds`, after a beep."""

    max_seconds: int
    beep: bool = True


@dataclass(frozen=True, slots=True)
class SendMail:
    """Voicemail mail (SCN-VM): sent even when nothing was recorded (`file_id` None)."""

    to: tuple[str, ...]
    subject: str
    file_id: int | None = None


@dataclass(frozen=True, slots=True)
class DialTarget:
    """Who to ring: a group, an employee (optionally one phone), or an external number."""

    group_id: int | None = None
    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class Dial:
    """Hand the call to the distribution (issue 6); it answers `Answered` or `DialFailed`.

    `strategy` and the knobs come from the operation; `ring_timeout` limits the whole attempt
    for single-employee operations (personal manager). `operator_*` is played to the employee
    on answer, before the caller is connected.
    """

    targets: tuple[DialTarget, ...]
    operation: str
    scenario_id: int | None = None
    strategy: str = "priority"
    simultaneous_lines: int | None = None
    ring_timeout: int | None = None
    percentage: bool = False
    queue: bool = False
    wrapup_seconds: int = 0
    initial_lines: int = 5
    add_line_every: int = 5
    ringback_file_ids: tuple[int, ...] = ()
    queue_message_file_id: int | None = None
    operator_message_file_id: int | None = None
    operator_message_text: str = ""


@dataclass(frozen=True, slots=True)
class CancelDial:
    """Stop ringing (the caller hung up while the distribution was working)."""


@dataclass(frozen=True, slots=True)
class Bridge:
    """Connect the caller with the leg that answered."""

    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """Interactive processing (IVX-1); answered by `HttpResponse(request_id)`."""

    request_id: int
    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class StoreRating:
    """RATE-1: the caller's key 1..5 for the last employee who talked."""

    employee_id: int | None
    rating: int


@dataclass(frozen=True, slots=True)
class OfferTagging:
    """SCN-TAG: the employee is offered to tag the call after the talk (post-call processing)."""

    employee_id: int | None


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call (every leg); terminal. `reason` is a stable code, details say more."""

    reason: str
    status: str = "missed"
    extra: tuple[str, ...] = field(default=())


Action = (
    Answer
    | Reject
    | Play
    | StopPlayback
    | CollectDigits
    | Record
    | SendMail
    | Dial
    | CancelDial
    | Bridge
    | HttpRequest
    | StoreRating
    | OfferTagging
    | Hangup
)
