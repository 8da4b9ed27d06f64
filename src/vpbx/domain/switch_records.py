"""What the switch reports of calls and stores of registrations: plain values (no I/O). The switch
builds them; the storage side (`vpbx.services.call_log`, `vpbx.services.registrations`) writes
and reads them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRecord", "CallStart", "InterruptedCall", "StepRecord", "StoredBinding"]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One line of the call details: what the engine did or saw, when, and on which leg."""

    at: dt.datetime  # aware
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    leg: str = ""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A finished call as the switch reports it."""

    account_id: int
    started_at: dt.datetime
    direction: str  # "incoming" | "outgoing" | "internal"
    status: str  # "answered" | "missed" | "voicemail" | "blocked" | "failed"
    caller: str
    called: str
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    session_type: str = ""
    number_id: int | None = None
    scenario_id: int | None = None
    employee_id: int | None = None
    wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    rating: int | None = None
    recording_file_ids: tuple[int, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    #: the caller's contact as the switch already knows it (from its configuration snapshot);
    #: None: looked up in the address book when written
    contact_name: str | None = None
    #: the switch's own id of the call (see `CallStart`)
    switch_call_id: str = ""


@dataclass(frozen=True, slots=True)
class CallStart:
    """A call as the switch knows it when it arrives: its row is written at once (status
    `active`) so a crash of the switch leaves a trace of it."""

    account_id: int
    started_at: dt.datetime
    direction: str
    caller: str
    called: str
    session_type: str = ""
    number_id: int | None = None
    #: the switch's own id of the call (names its work files, e.g. a voicemail being recorded)
    switch_call_id: str = ""


@dataclass(frozen=True, slots=True)
class InterruptedCall:
    """A call whose switch died: closed as `interrupted` at the next start."""

    call_id: int
    account_id: int
    switch_call_id: str
    caller: str
    called: str
    number_id: int | None
    employee_id: int | None


@dataclass(frozen=True, slots=True)
class StoredBinding:
    """One contact of a line as stored: `source` is "transport:host:port" (where it came from)."""

    contact: str
    user_agent: str
    source: str
    expires_at: dt.datetime  # aware, UTC
    row_id: int = 0
    line_id: int = 0
    login: str = ""

    @property
    def transport(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def address(self) -> tuple[str, int]:
        """The source host and port (an IPv6 host keeps its colons)."""
        _, rest = self.source.split(":", 1)
        host, port = rest.rsplit(":", 1)
        return host, int(port)
