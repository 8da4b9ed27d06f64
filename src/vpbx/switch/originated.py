"""The switch's side of calls the PBX places itself (CB-1 auto-callback, API-1 CallAPI).

`Originator.place(plan)` makes an originated `B2BCall` (no INVITE came in: every leg is ours)
and drives it with an `OriginateLogic` through `OriginatedCall`, a `LiveCall` that also carries
out the originator's own commands: the whisper played to the leg that answered first, that leg
taken as the call's own side, and the caller ID chosen for the client by the CID rules of the
employee's line (`CallerIdPicker`, as for his own outgoing calls). The core decides; the call
details are its own; the report row is written by the call store as for any call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpbx.media.session import Pcm
from vpbx.scenario import call_io as io
from vpbx.scenario.callback_scenario import ClientFirstLogic
from vpbx.scenario.originate import (
    SESSION_TYPES,
    CallerIdChosen,
    ChooseCallerId,
    OriginateLogic,
    OriginatePlan,
    Outcome,
    Purpose,
    TakeEmployee,
    WhisperDone,
    WhisperToEmployee,
)
from vpbx.scenario.record_by_phone import RecordByPhoneLogic
from vpbx.switch.b2bua import B2BCall, CallState
from vpbx.switch.runner import Called, LiveCall, ScenarioRunner

__all__ = ["OriginatedCall", "Originator", "Placed"]

log = logging.getLogger("vpbx.switch.originated")


@dataclass(frozen=True, slots=True)
class Placed:
    """What became of a call the PBX placed: its report row, how it ended and why."""

    switch_call_id: str
    call_id: int | None
    outcome: Outcome
    reason: str
    employee_id: int | None = None


class OriginatedCall(LiveCall):
    """A `LiveCall` driven by an `OriginateLogic`."""

    def __init__(
        self, runner: ScenarioRunner, originator: Originator, call: B2BCall, plan: OriginatePlan
    ) -> None:
        called = Called(
            plan.called or plan.client,
            "outgoing",
            SESSION_TYPES[plan.purpose],
            number_id=plan.number_id,
            trunk_id=plan.trunk_id,
        )
        super().__init__(runner, call, called, "")
        self.plan = plan
        self.originator = originator
        self.origin: OriginateLogic | ClientFirstLogic | None = None
        self.placed: asyncio.Future[Placed] = asyncio.get_running_loop().create_future()

    async def _begin(self) -> None:
        config, _needs_facts = await self.runner.snapshots.get(self.account_id)
        self.config = config
        # FILE-1: a call that records a sound file rings like the others, then records
        core = RecordByPhoneLogic if self.plan.purpose is Purpose.RECORD else OriginateLogic
        # CB-2: a callback through a scenario that needs the client rings him first
        make: Callable[..., OriginateLogic | ClientFirstLogic] = (
            ClientFirstLogic if self.plan.scenario_id is not None else core
        )
        self.logic = self.origin = make(
            config, self.plan, call_id=self.call.id, started_at=self.call.started_at
        )
        await self._execute(self.origin.start(self.now()))

    async def _command(self, command: Any) -> None:
        match command:
            case WhisperToEmployee():
                self.runner.spawn(self._whisper(command))
            case TakeEmployee(listen_keys=listen):
                self._stop_playback()
                self.call.take_caller()
                if listen:
                    self.call.listen_digits(lambda digit: self.post(io.Digit(digit.digit)))
            case ChooseCallerId():
                self.tell(await self.originator.caller_id(self, command))
            case _:
                await super()._command(command)

    async def _whisper(self, whisper: WhisperToEmployee) -> None:
        prompts = self.runner.prompts
        played: list[Pcm] = []
        if whisper.file_id is not None:
            played = await prompts.files(self.account_id, (whisper.file_id,))
        if whisper.text:  # after the file: the call data said after a recorded whisper
            played = [*played, *await prompts.text(whisper.text)]
        winner = self.call.winner
        if played and winner is not None and winner.session is not None:
            await winner.session.play(played).wait()
        if self.call.state is not CallState.ENDED:
            self.tell(WhisperDone())

    def tell(self, event: WhisperDone | CallerIdChosen) -> None:
        """The originator's own events join the call's queue (its core handles them)."""
        self.queue.put_nowait(event)  # type: ignore[arg-type]

    async def _cleanup(self) -> None:
        try:
            await super()._cleanup()
        finally:
            origin = self.origin
            row = self.saved.result() if self.saved.done() and not self.saved.exception() else None
            outcome = origin.outcome if origin is not None and origin.outcome else Outcome.FAILED
            reason = origin.reason if origin is not None else "звонок не начался"
            employee = origin.employee_id if origin is not None else None
            if not self.placed.done():
                self.placed.set_result(Placed(self.call.id, row, outcome, reason, employee))


class Originator:
    """Places calls for the callback scheduler and CallAPI, on the node's runner."""

    def __init__(self, runner: ScenarioRunner) -> None:
        self.runner = runner

    def place(self, plan: OriginatePlan, row_id: int | None = None) -> OriginatedCall:
        """Start the call at once; `OriginatedCall.placed` says how it ended. `row_id`: its
        report row exists already (CallAPI)."""
        pbx = self.runner.pbx
        call = pbx.originate(plan.account_id, plan.client)
        live = OriginatedCall(self.runner, self, call, plan)
        call.controller = live
        self.runner.start_live(live, row_id)
        log.info(
            "call placed",
            extra={"call": call.id, "purpose": plan.purpose.value, "client": plan.client},
        )
        return live

    async def caller_id(self, live: OriginatedCall, choose: ChooseCallerId) -> CallerIdChosen:
        """CID-1..3 for the client: the mode and rules of the employee's SIP line."""
        config = live.config
        employee = config.employees.get(choose.employee_id or 0) if config else None
        line_ids = [p.sip_line_id for p in employee.phones if p.sip_line_id] if employee else []
        if config is None or employee is None or not line_ids:
            return CallerIdChosen(why="у сотрудника нет SIP-линии: номер аккаунта по умолчанию")
        directory = self.runner.pbx.directory
        logins = await directory.line_logins(line_ids[:1])
        line = await directory.line(logins[line_ids[0]]) if line_ids[0] in logins else None
        if line is None:
            return CallerIdChosen(why="линия сотрудника не найдена: номер аккаунта по умолчанию")
        choice = await self.runner.pbx.caller_ids.choose(line, config, employee.id, choose.number)
        if choice.refusal:
            return CallerIdChosen(refusal=choice.refusal)
        if choice.number is None:
            return CallerIdChosen(why=choice.why)
        number = choice.number
        return CallerIdChosen(number.number, number.trunk_id, number.id, choice.why)
