"""A callback through a scenario whose first operation needs the caller (CB-2's exception, the
manual's «если первая операция (например, Меню, Переадресация на внутренний номер и т.п.)
предполагает действия со стороны Абонента, то дозвон идет сперва на сторону Абонента»), sans-IO.

The client is rung first, through the trunk, shown the virtual number (`OriginateLogic` with the
client as its first leg). When he answers his leg becomes the call's own side (`TakeEmployee`,
his keys heard) and the scenario runs with him as with a caller of that number (`CallLogic`
started in the scenario): menus, extensions, forwards, voicemail, as for an incoming call, but
its forwards run as an outbound dialing (QUE-7: the queue only holds him, every free phone
rings). A CallAPI «номер → сценарий» call (API-1, `Purpose.CALLAPI`) is the same call, but
its forwards queue in the global FIFO where «Очередь» is on (QUE-6's exception), as an incoming
caller does. The call details go on in one list. Attempts whose client does not answer fail as
`CLIENT_NO_ANSWER`; once he answered, the callback is done (he was reached), whatever the
scenario then does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from vpbx.scenario.call_logic import CallLogic, CallSummary
from vpbx.scenario.engine import Step
from vpbx.scenario.originate import (
    OriginateLogic,
    OriginatePlan,
    Outcome,
    Purpose,
    TakeEmployee,
    WhisperToEmployee,
)
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = ["ClientFirstLogic"]


class ClientFirstLogic:
    """One callback that rings the client first, then runs `plan.scenario_id` with him;
    `plan.caller_id` is the virtual number he is shown and the scenario's number."""

    def __init__(
        self, config: ConfigSnapshot, plan: OriginatePlan, *, call_id: str, started_at: dt.datetime
    ) -> None:
        assert plan.scenario_id is not None
        self.config = config
        self.plan = plan
        self.call_id = call_id
        # the client answers first: an outside number as the first leg, nothing whispered
        first = dataclasses.replace(plan, number=plan.client, whisper_default="")
        self.first = OriginateLogic(config, first, call_id=call_id, started_at=started_at)
        self.scenario: CallLogic | None = None
        self.client_answered_at: dt.datetime | None = None

    # -- what the scheduler reads (as of an OriginateLogic) -------------------------------------

    @property
    def outcome(self) -> Outcome | None:
        if self.client_answered_at is not None:
            return Outcome.TALKED
        if self.first.outcome is Outcome.EMPLOYEE_NO_ANSWER:
            return Outcome.CLIENT_NO_ANSWER  # his was the first leg
        return self.first.outcome

    @property
    def reason(self) -> str:
        if self.client_answered_at is not None:
            return "абонент ответил: сценарий с ним"
        return self.first.reason

    @property
    def employee_id(self) -> int | None:
        """The employee the scenario connected him with, if any."""
        answered = self.scenario.answer_so_far() if self.scenario is not None else None
        return answered[1] if answered is not None else None

    # -- CallCore ------------------------------------------------------------------------------

    @property
    def details(self) -> list[Step]:
        return self.scenario.details if self.scenario is not None else self.first.details

    @property
    def ended(self) -> bool:
        return self.scenario.ended if self.scenario is not None else self.first.ended

    @property
    def tagging(self) -> bool:
        return self.scenario.tagging if self.scenario is not None else False

    @property
    def talking(self) -> bool:
        return self.scenario.talking if self.scenario is not None else False

    @property
    def in_distribution(self) -> bool:
        return self.scenario.in_distribution if self.scenario is not None else False

    def next_timer(self) -> dt.datetime | None:
        return self.scenario.next_timer() if self.scenario is not None else None

    def start(self, now: dt.datetime) -> Sequence[Any]:
        out = self.first.start(now)
        if self.first.details:  # the first line says who is called first: the client
            opened = self.first.details[0]
            label = f" ({self.plan.label})" if self.plan.label else ""
            what = "звонок CallAPI" if self._callapi else "автоперезвон"
            text = f"{what}{label}: сначала абонент {self.plan.client}, затем сценарий с ним"
            self.first.details[0] = dataclasses.replace(opened, text=text)
        return out

    def handle(self, event: Any, now: dt.datetime) -> Sequence[Any]:
        if self.scenario is not None:
            return self.scenario.handle(event, now)
        out = list(self.first.handle(event, now))
        if not any(isinstance(command, WhisperToEmployee) for command in out):
            return out
        # the client answered (the first leg's whisper is where an employee would hear his)
        kept = [c for c in out if not isinstance(c, WhisperToEmployee)]
        return [*kept, *self._client_answered(now)]

    def fail(self, now: dt.datetime, why: str) -> Sequence[Any]:
        if self.scenario is not None:
            return self.scenario.fail(now, why)
        return self.first.fail(now, why)

    def finish(self, now: dt.datetime) -> Sequence[Any]:
        if self.scenario is not None:
            return self.scenario.finish(now)
        return self.first.finish(now)

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        if self.client_answered_at is None:
            return None
        return self.client_answered_at, self.employee_id

    def summary(self, ended_at: dt.datetime) -> CallSummary:
        if self.scenario is None:
            return self.first.summary(ended_at)
        inner = self.scenario.summary(ended_at)
        # an outgoing call's row: answered when the client was reached; our side shows the
        # virtual number he was called from
        status = inner.status if inner.status == "voicemail" else "answered"
        waited = (self.client_answered_at or ended_at) - self.first.started_at
        return dataclasses.replace(
            inner,
            status=status,
            caller=self.plan.caller_id,
            answered_at=self.client_answered_at,
            wait_seconds=max(0.0, waited.total_seconds()),
        )

    # -- the client answered ---------------------------------------------------------------------

    def _client_answered(self, now: dt.datetime) -> list[Any]:
        assert self.plan.scenario_id is not None
        self.client_answered_at = now
        scenario = CallLogic(
            self.config,
            call_id=self.call_id,
            account_id=self.plan.account_id,
            number=self.plan.caller_id,
            number_id=self.plan.number_id,
            trunk_id=self.plan.trunk_id,
            caller=self.plan.client,
            started_at=now,
        )
        # one list of details for the whole call: what the first leg logged comes first (but
        # the whisper line: he is the client, nothing was whispered)
        first = [step for step in self.first.details if step.kind != "whisper"]
        scenario.details[:0] = first
        self.scenario = scenario
        return [
            TakeEmployee(listen_keys=True),
            # QUE-7: the PBX dialled the client first on its own (a callback, a lead): an
            # outbound dialing, whose queue only holds him while every free phone rings.
            # QUE-6: a CallAPI call started with a scenario is the manual's exception to
            # "outgoing calls never queue": he takes his place in the global FIFO queue
            *scenario.start_scenario(self.plan.scenario_id, now, dialer=not self._callapi),
        ]

    @property
    def _callapi(self) -> bool:
        """API-1 «номер → сценарий» rather than a callback."""
        return self.plan.purpose is Purpose.CALLAPI
