"""Call logic for media tests: answers the caller, plays a prompt, collects keys.

It drives a live B2BCall through the same `CallController` interface the scenario engine's
runner uses; the engine itself is tested on its own (tests/scenario).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vpbx.media.dtmf import DtmfDigit
from vpbx.switch.b2bua import B2BCall, LegRole, OutLeg
from vpbx.switch.directory import NumberInfo


@dataclass
class RecordCaller:
    """Answer and record the caller for `seconds` into `path` (a prompt recorded by phone)."""

    path: Path
    seconds: float = 2.0
    done: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, call: B2BCall, number: NumberInfo) -> RecordCaller:
        call.answer_caller()
        recorder = call.record(self.path)

        def finish() -> None:
            recorder.stop()
            self.done.set()
            call.hangup_all()

        asyncio.get_running_loop().call_later(self.seconds, finish)
        return self

    def leg_answered(self, call: B2BCall, leg: OutLeg) -> None:
        call.connect()

    def leg_failed(self, call: B2BCall, leg: OutLeg, status: int) -> None:
        call.hangup_all()

    def hung_up(self, call: B2BCall, role: LegRole) -> None:
        self.done.set()


@dataclass
class AnswerPlayCollect:
    """Answer, play `prompt` (if any), and write every key the caller presses to `digits`."""

    prompt: np.ndarray | None = None
    digits: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, call: B2BCall, number: NumberInfo) -> AnswerPlayCollect:
        call.answer_caller()
        if self.prompt is not None:
            call.play([self.prompt])
        call.listen_digits(self._digit)
        return self

    def _digit(self, digit: DtmfDigit) -> None:
        self.digits.append(digit.digit)

    def leg_answered(self, call: B2BCall, leg: OutLeg) -> None:
        call.connect()

    def leg_failed(self, call: B2BCall, leg: OutLeg, status: int) -> None:
        call.hangup_all()

    def hung_up(self, call: B2BCall, role: LegRole) -> None:
        self.ended.set()
