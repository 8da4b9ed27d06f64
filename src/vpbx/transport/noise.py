"""Malformed traffic from outside is counted and summarised, not logged datagram by datagram.

A scanner or a flood of garbage must not turn into a log line per packet (that was ~400 MB of
log in 40 s, and the writes cost the event loop as much as the parsing). `NoiseLog.record` logs
the first problem of a quiet period in full (an admin sees an example with its reason), then
only counts; every `interval` seconds while noise lasts, one summary line gives the count, the
commonest reasons and the noisiest sources. `total` keeps counting for metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

# Distinct reasons and sources remembered per interval: a flood from forged addresses must not
# grow these tables without bound; what does not fit is still counted in the total.
_MAX_KEYS = 1000
_TOP = 5


class NoiseLog:
    """One line for the first malformed message of a quiet period, then a summary per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        summary: str = "malformed sip traffic",
        level: int = logging.INFO,
        schedule: Callable[[float, Callable[[], None]], asyncio.TimerHandle] | None = None,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.summary = summary
        self.level = level  # of the first line of a period (summaries are warnings)
        self.total = 0
        self._schedule = schedule
        self._reasons: Counter[str] = Counter()
        self._sources: Counter[str] = Counter()
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def record(self, message: str, reason: str, source: str, **details: object) -> None:
        """Count one malformed or refused message; log it only when nothing was logged lately."""
        self.total += 1
        if self._timer is None:
            self.logger.log(
                self.level, message, extra={"reason": reason, "peer": source, **details}
            )
            self._timer = self._call_later(self._flush)
            return
        self._count += 1
        key = reason[:80]
        if key in self._reasons or len(self._reasons) < _MAX_KEYS:
            self._reasons[key] += 1
        if source in self._sources or len(self._sources) < _MAX_KEYS:
            self._sources[source] += 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush_counts()

    def _call_later(self, callback: Callable[[], None]) -> asyncio.TimerHandle | None:
        if self._schedule is not None:
            return self._schedule(self.interval, callback)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None  # no loop (a unit test calling in directly): every message is logged
        return loop.call_later(self.interval, callback)

    def _flush(self) -> None:
        self._timer = None
        if self._flush_counts():
            # Noise is still arriving: keep summarising; a quiet interval ends the period.
            self._timer = self._call_later(self._flush)

    def _flush_counts(self) -> bool:
        if not self._count:
            return False
        self.logger.warning(
            self.summary,
            extra={
                "count": self._count,
                "seconds": self.interval,
                "total": self.total,
                "reasons": dict(self._reasons.most_common(_TOP)),
                "sources": dict(self._sources.most_common(_TOP)),
            },
        )
        self._count = 0
        self._reasons.clear()
        self._sources.clear()
        return True
