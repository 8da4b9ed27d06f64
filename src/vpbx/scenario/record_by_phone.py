"""FILE-1 «Записать сообщение»: the PBX calls a phone and records a sound file, sans-IO.

The admin names the file and whom to call: an employee of the account (his phones rung as
the originator rings an employee, through the node's distribution) or an outside number
(through the trunk). The ringing is `OriginateLogic`'s; this class takes over at the answer:
the leg that answered becomes the call's own side (`TakeEmployee`, its keys listened to), it
hears what to do (TTS), a beep, and is recorded until `#`, a hang-up or the longest length
(the voicemail's limits, SCN-VM). The recording is filed as a sound file of the account under
the admin's name (`StopRecording` of kind sound), «Сообщение сохранено» is said and the call
ends. Not answered, busy, refused, or nothing said: the call ends with that reason and no
file. `outcome`/`reason` tell the scheduler that placed it (`vpbx.switch.callbacks`), whose
task is the state the API answers.

Same shape as `OriginateLogic`; the switch (`vpbx.switch.originated`) carries the commands out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from vpbx.domain.callback_plan import DueTask
from vpbx.domain.entities.misc import FileKind
from vpbx.domain.entities.scenarios import DEFAULT_RECORD_SECONDS
from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario.call_logic import CallSummary
from vpbx.scenario.originate import (
    Command,
    Input,
    OriginateLogic,
    OriginatePlan,
    Outcome,
    Phase,
    Purpose,
    TakeEmployee,
)
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = [
    "INSTRUCTION",
    "NOTHING",
    "RECORD",
    "SAVED",
    "RecordByPhoneLogic",
    "Stage",
    "recording_plan",
]

#: the kind of the callback task that places such a call (`vpbx.services.callbacks`)
RECORD = "record"

INSTRUCTION = (
    "Запишите сообщение после сигнала. Чтобы закончить, нажмите решётку или положите трубку."
)
SAVED = "Сообщение сохранено."
NOTHING = "Ничего не записано."
#: the key that ends the recording
FINISH_KEY = "#"


#: the longest `called` of a report row
_CALLED_LIMIT = 100


def recording_plan(task: DueTask) -> OriginatePlan:
    """The call a `record` task places: the employee's phones, or the outside number (its
    caller ID the account's first virtual number, as for any first leg to the PSTN)."""
    return OriginatePlan(
        task.account_id,
        "",  # nobody is rung second
        Purpose.RECORD,
        employee_id=task.employee_id,
        number=(task.caller or None) if task.employee_id is None else None,
        label=f"задача #{task.id}",
        called=task.record_name[:_CALLED_LIMIT],
        record_name=task.record_name,
        record_seconds=task.record_seconds,
    )


class Stage(enum.Enum):
    """Where the call is once the phone answered."""

    INSTRUCTION = "instruction"  # he hears what to do
    RECORDING = "recording"  # after the beep, until #, a hang-up or the longest length
    SAVING = "saving"  # the switch files the recording; `RecordingSaved` follows
    TELLING = "telling"  # «Сообщение сохранено» (or «Ничего не записано»), then the end


class RecordByPhoneLogic(OriginateLogic):
    """One call that records a sound file, from its first ring to its report row."""

    def __init__(
        self,
        config: ConfigSnapshot,
        plan: OriginatePlan,
        *,
        call_id: str,
        started_at: dt.datetime,
    ) -> None:
        super().__init__(config, plan, call_id=call_id, started_at=started_at)
        self.stage: Stage | None = None
        self.file_id: int | None = None
        self.recorded_seconds = 0.0
        self._deadline: dt.datetime | None = None
        self._left = False
        self._verdict: tuple[Outcome, str] | None = None

    @property
    def ended(self) -> bool:
        # while the switch files the recording the call is not over, even when he hung up
        return self.phase is Phase.OVER and self.stage is not Stage.SAVING

    @property
    def seconds(self) -> int:
        """The longest recording."""
        return self.plan.record_seconds or DEFAULT_RECORD_SECONDS

    def next_timer(self) -> dt.datetime | None:
        return self._deadline if self.stage is Stage.RECORDING else None

    def handle(self, event: Input, now: dt.datetime) -> list[Command]:
        if self.stage is None or self.phase is Phase.OVER:
            return super().handle(event, now)
        match event:
            case io.PlaybackDone():
                if self.stage is Stage.INSTRUCTION:
                    return self._record(now)
                if self.stage is Stage.TELLING:
                    return self._end(now)
                return []
            case io.Digit(digit=digit):
                if self.stage is Stage.RECORDING and digit == FINISH_KEY:
                    return self._stop(now, "нажата #: запись закончена")
                return []
            case io.TimerFired():
                if self.stage is Stage.RECORDING and self._deadline and now >= self._deadline:
                    return self._stop(now, f"запись закончена: достигнуто {self.seconds} с")
                return []
            case io.RecordingSaved(file_id=file_id, seconds=seconds):
                return self._saved(file_id, seconds, now)
            case io.CallerHungUp():
                return self._hung_up(now)
            case io.CalleeHungUp():
                return []
        # late answers and failures of other forks, the distribution's messages
        return super().handle(event, now)

    def fail(self, now: dt.datetime, why: str) -> list[Command]:
        self.stage = None
        return super().fail(now, why)

    def finish(self, now: dt.datetime) -> list[Command]:
        self.stage = None
        return super().finish(now)

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        if self.employee_answered_at is None:
            return None
        return self.employee_answered_at, self.employee_id

    def summary(self, ended_at: dt.datetime) -> CallSummary:
        summary = super().summary(ended_at)
        answered = self.employee_answered_at
        if answered is None:
            return summary
        return dataclasses.replace(
            summary,
            status="answered",
            answered_at=answered,
            wait_seconds=max(0.0, (answered - self.started_at).total_seconds()),
            recording_file_ids=(self.file_id,) if self.file_id is not None else (),
        )

    # -- the steps after the answer ------------------------------------------------------------

    def _intent(self) -> str:
        return f"запись сообщения «{self.plan.record_name}»: вызов {self._first_label()}"

    def _first_answered(self, now: dt.datetime) -> list[Command]:
        # the phone that answered is the call's own side from now on (no longer a ring); nobody
        # else is rung
        self.rings = {}
        self.phase = Phase.TALKING
        self.talking = True
        self._talk_started = now
        self.stage = Stage.INSTRUCTION
        self._log(now, "record_instruction", f"инструкция: «{INSTRUCTION}»")
        return [TakeEmployee(listen_keys=True), io.PlayToCaller(act.Play(text=INSTRUCTION))]

    def _record(self, now: dt.datetime) -> list[Command]:
        self.stage = Stage.RECORDING
        self._deadline = now + dt.timedelta(seconds=self.seconds)
        self._log(
            now,
            "recording",
            f"сигнал и запись сообщения «{self.plan.record_name}» (до {self.seconds} с, "
            "# — закончить)",
            max_seconds=self.seconds,
        )
        return [io.StartRecording(self.seconds, beep=True)]

    def _stop(self, now: dt.datetime, why: str) -> list[Command]:
        self.stage = Stage.SAVING
        self._deadline = None
        self._log(now, "recording_stop", why)
        return [
            io.StopRecording(
                self.plan.record_name,
                self._caller_label(),
                "",
                self.employee_id,
                kind=FileKind.SOUND,
            )
        ]

    def _saved(self, file_id: int | None, seconds: float, now: dt.datetime) -> list[Command]:
        if self.stage is not Stage.SAVING:
            return []
        self.recorded_seconds = seconds
        if file_id is None:
            self._log(now, "recording_saved", f"ничего не записано ({seconds:.1f} с)")
            verdict = (Outcome.NOTHING_RECORDED, "ничего не записано")
            said = NOTHING
        else:
            self.file_id = file_id
            self._log(
                now,
                "recording_saved",
                f"звуковой файл «{self.plan.record_name}» сохранён ({seconds:.1f} с)",
                file_id=file_id,
                seconds=round(seconds, 3),
            )
            verdict = (Outcome.RECORDED, f"записано {seconds:.1f} с")
            said = SAVED
        self._verdict = verdict
        if self._left:
            self.stage = None
            return self._over(now, *verdict)
        self.stage = Stage.TELLING
        return [io.PlayToCaller(act.Play(text=said))]

    def _end(self, now: dt.datetime) -> list[Command]:
        self.stage = None
        assert self._verdict is not None
        return self._over(now, *self._verdict)

    def _hung_up(self, now: dt.datetime) -> list[Command]:
        self._left = True
        match self.stage:
            case Stage.INSTRUCTION:
                self.stage = None
                who = "сотрудник" if self.employee_id is not None else "абонент"
                return self._over(now, Outcome.EMPLOYEE_LEFT, f"{who} положил трубку до записи")
            case Stage.RECORDING:
                return self._stop(now, "положена трубка: запись закончена")
            case Stage.TELLING:
                return self._end(now)
        return []  # SAVING: `RecordingSaved` ends the call
