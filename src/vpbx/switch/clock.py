"""The switch's two clocks. Timers, timeouts and SIP/RTP timing run on the event loop's clock
(`loop.time()`, passed in as `now`); the wall clock (`WallClock`, UTC) only dates things: report
rows, stored expiry times, the Date header. Components take the wall clock as an argument;
`utc_now` is the real one `vpbx.app` passes (and the default of tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

WallClock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = ["WallClock", "utc_now"]
