"""What the switch's call driver (`vpbx.switch.runner.LiveCall`) needs of a call's core: the
logic of a call to a virtual number (`CallLogic`) and of a call the PBX places itself
(`vpbx.scenario.originate.OriginateLogic`) both have this shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from vpbx.scenario.call_logic import CallSummary
from vpbx.scenario.engine import Step

__all__ = ["CallCore"]


class CallCore(Protocol):
    @property
    def details(self) -> list[Step]: ...

    @property
    def ended(self) -> bool: ...

    @property
    def tagging(self) -> bool: ...

    @property
    def talking(self) -> bool: ...

    @property
    def in_distribution(self) -> bool: ...

    def next_timer(self) -> dt.datetime | None: ...

    #: the events are `vpbx.scenario.call_io.Input` (and the core's own); so are the commands
    def handle(self, event: Any, now: dt.datetime) -> Sequence[Any]: ...

    def fail(self, now: dt.datetime, why: str) -> Sequence[Any]: ...

    def finish(self, now: dt.datetime) -> Sequence[Any]: ...

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None: ...

    def summary(self, ended_at: dt.datetime) -> CallSummary: ...
