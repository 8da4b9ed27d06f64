"""Which code ran while the switch's loop was late: a diagnostic for the loop-stall target.

The stall meter (`vpbx.metrics.StallMeter`) says how late the loop ran its tick, not why. While
the loop is stuck it cannot look at itself, so a thread does: every `period` it compares the
meter's next due tick with the clock, and while the loop is more than `threshold` late it
samples the loop thread's stack (`sys._current_frames`). When the loop catches up, the episode
is logged once — how late, how many samples, the most frequent stacks (innermost frames of our
own code first) — at WARNING under ``vpbx.stall_trace``. A sample that finds the loop thread
in no Python frame (in C: a syscall, the collector, or the process descheduled) says so.

Off by default (`VPBX_STALL_TRACE_MS`, 0): the thread takes the interpreter lock 500 times a
second, which is itself a little load.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

__all__ = ["StallTracer", "stack_key"]

log = logging.getLogger("vpbx.stall_trace")

PERIOD: Final = 0.002
FRAMES: Final = 8  # per stack, innermost first
STACKS_LOGGED: Final = 3
NO_PYTHON: Final = ("(no Python frame: C code, the collector or descheduled)",)


def stack_key(frame: FrameType | None, depth: int = FRAMES) -> tuple[str, ...]:
    """The innermost `depth` frames as "file:line function", the loop's own frames dropped
    (asyncio/uvloop dispatch says nothing about what was slow). Read from the frames alone:
    no source lines (`traceback` reads files, and with the loop thread holding the
    interpreter lock every read costs this thread a switch interval)."""
    if frame is None:
        return NO_PYTHON
    lines: list[str] = []
    while frame is not None and len(lines) < depth:
        code = frame.f_code
        name = code.co_filename
        if "/asyncio/" not in name and "/uvloop/" not in name:
            short = name.rsplit("/site-packages/", 1)[-1].rsplit("/src/", 1)[-1]
            lines.append(f"{short}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return tuple(lines) or NO_PYTHON


class StallTracer:
    """Samples the loop thread's stack while `due()` (the next tick of the stall meter) lies
    more than `threshold` seconds in the past; logs each episode when it ends."""

    def __init__(
        self,
        due: Callable[[], float | None],
        threshold: float,
        *,
        period: float = PERIOD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.due = due
        self.threshold = threshold
        self.period = period
        self.clock = clock
        self.episodes = 0
        self._loop_thread = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """From the loop's thread: that is the thread sampled."""
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stall-trace", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None

    def _run(self) -> None:
        stacks: collections.Counter[tuple[str, ...]] = collections.Counter()
        episode_due: float | None = None
        worst = 0.0
        while not self._stop.wait(self.period):
            due = self.due()
            late = self.clock() - due if due is not None else 0.0
            if due is not None and late > self.threshold:
                if due != episode_due and stacks:
                    self._report(worst, stacks)  # a new episode began before we saw the end
                    stacks = collections.Counter()
                if due != episode_due:
                    episode_due, worst = due, 0.0
                worst = max(worst, late)
                frame = sys._current_frames().get(self._loop_thread)
                stacks[stack_key(frame)] += 1
            elif stacks:
                self._report(worst, stacks)
                stacks = collections.Counter()
                episode_due = None

    def _report(self, late: float, stacks: collections.Counter[tuple[str, ...]]) -> None:
        self.episodes += 1
        log.warning(
            "loop stall traced",
            extra={
                "late_ms": round(late * 1000, 1),
                "samples": sum(stacks.values()),
                "stacks": [
                    {"samples": count, "frames": list(frames)}
                    for frames, count in stacks.most_common(STACKS_LOGGED)
                ],
            },
        )
