"""What a vpbx process counts for Prometheus (`/metrics`), built once per process in `app.py`.

`Metrics` holds the counters other parts increment (`metrics.security_events.labels(kind=...)
.inc()`); it is created in the composition root and passed in, never imported as a global.
The switch's live state (calls, registrations, RTP, SIP traffic) is not pushed into Prometheus
objects on every packet: the hot paths bump plain integers (`SipCounters`, the sessions' own
`SessionStats`) and `SwitchCollector` reads them when someone scrapes, so counting costs a call
nothing measurable.

The switch's loop is watched two ways: `LoopWatch` samples its lag twice a second (a histogram),
and `LoopStalls` catches every stall longer than a few milliseconds (a 5 ms tick's lateness,
the worst of each second kept) with the garbage collector's pauses beside them; the cores
(`StallMeter`, `GcMeter`) take the time as an argument and are tested on a fake clock.

The API runs in several uvicorn workers: each would count only what it served, and a scrape
lands on one of them. With `multiprocess_dir` (the supervisor sets PROMETHEUS_MULTIPROC_DIR for
the API's processes, see `vpbx.supervisor`), the workers write their counters to files there and
the exposition adds them up.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from vpbx.media.session import RtpSession, SessionStats
from vpbx.sip.errors import ParseError
from vpbx.sip.message import Message, Request

__all__ = [
    "CONTENT_TYPE",
    "GcMeter",
    "GcPause",
    "LoopStalls",
    "LoopWatch",
    "Metrics",
    "RtpCounters",
    "SipCounters",
    "StallCollector",
    "StallMeter",
    "SwitchCollector",
    "SwitchMetrics",
]

log = logging.getLogger("vpbx.metrics")

#: the Prometheus text format's media type (version 0.0.4)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Methods counted by name; anything else is "other", so a scanner inventing methods cannot grow
#: the label set (and the memory of every scrape) without bound.
KNOWN_METHODS = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    }
)

#: seconds: from "nothing to notice" (1 ms) to "every call is broken" (5 s)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: seconds between the stall watch's ticks: a stall of S seconds shows as a tick late by more
#: than S − STALL_TICK and at most S; 200 callbacks a second cost the loop ~0.1 % of a core
STALL_TICK = 0.005
#: whole seconds whose worst lateness is kept: a benchmark takes the worst of any window it
#: timed within the last ten minutes
STALL_SECONDS_KEPT = 600
#: collections at least this long are kept one by one, to tell what caused a stall
GC_NOTABLE = 0.001
#: with the small generations `vpbx.app.tune_garbage_collector` sets, 100 calls/s make a few
#: notable collections a second: 4,096 cover a benchmark's minute and more
GC_PAUSES_KEPT = 4096


class Metrics:
    """The counters of one process, in a registry of their own (no process-wide default)."""

    def __init__(self, namespace: str = "vpbx", multiprocess_dir: Path | None = None) -> None:
        self.namespace = namespace
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.security_events = Counter(
            "security_events",
            "Security events: refused logins, bans, replayed digests, refused destinations…",
            ["kind"],
            namespace=namespace,
            registry=self.registry,
        )

    def security_event(self, kind: str) -> None:
        """One more event of `kind` (a short snake_case word, e.g. "login_failed")."""
        self.security_events.labels(kind=kind).inc()

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The Prometheus text of this process (of all the API's workers in multiprocess mode)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class SwitchMetrics(Metrics):
    """The switch process's counters: the common ones, its loop's lag and the notifications it
    heard (calls, registrations, SIP and RTP come from `SwitchCollector`)."""

    def __init__(self, namespace: str = "vpbx") -> None:
        super().__init__(namespace)
        self.config_notifications = Counter(
            "config_notifications",
            "Configuration-change notifications received (local socket or Redis)",
            ["channel"],
            namespace=namespace,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "event_loop_lag_seconds",
            "How late the event loop ran a timer (a stalled loop delays every call's RTP)",
            namespace=namespace,
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )


def multiprocess_dir_from_environment() -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR as prometheus-client reads it when it is imported."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return Path(value) if value else None


class SipCounters:
    """SIP messages by direction, method and status, as plain integers (read at scrape time)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def received(self, message: Message) -> None:
        self.counts[("in", *_method_status(message))] += 1

    def sent(self, message: Message) -> None:
        self.counts[("out", *_method_status(message))] += 1


def _method_status(message: Message) -> tuple[str, str]:
    if isinstance(message, Request):
        method = message.method
        status = ""
    else:
        status = str(message.status)
        try:
            method = message.cseq.method
        except ParseError:
            method = "other"
    return (method if method in KNOWN_METHODS else "other"), status


_STAT_FIELDS = tuple(f.name for f in fields(SessionStats))


class RtpCounters:
    """Totals of every RTP session the switch opened: the live ones are read when asked, a
    closed one is folded into the totals (and forgotten) by `sweep`, which the loop watch runs
    twice a second so closed sessions are not kept alive by the counting."""

    def __init__(self) -> None:
        self._live: set[RtpSession] = set()
        self._closed = dict.fromkeys(_STAT_FIELDS, 0)

    def track(self, session: RtpSession) -> None:
        self._live.add(session)

    def sweep(self) -> None:
        for session in [s for s in self._live if s.closed]:
            self._live.discard(session)
            for name, value in session.stats.as_dict().items():
                self._closed[name] += value

    def totals(self) -> dict[str, int]:
        self.sweep()
        totals = dict(self._closed)
        for session in self._live:
            for name, value in session.stats.as_dict().items():
                totals[name] += value
        return totals

    @property
    def live(self) -> int:
        return len(self._live)


class SwitchCollector(Collector):
    """Calls, registrations, SIP traffic and RTP of the switch, read at scrape time."""

    def __init__(
        self,
        *,
        calls_active: Callable[[], int],
        calls_started: Callable[[], int],
        registrations: Callable[[], int],
        sip: SipCounters,
        rtp: RtpCounters,
        namespace: str = "vpbx",
    ) -> None:
        self.calls_active = calls_active
        self.calls_started = calls_started
        self.registrations = registrations
        self.sip = sip
        self.rtp = rtp
        self.prefix = f"{namespace}_"

    def describe(self) -> Iterable[Metric]:
        # No descriptions up front: the registry must not call `collect` when this collector is
        # registered (the switch is not running yet then).
        return []

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        yield GaugeMetricFamily(f"{p}calls_active", "Calls in progress", self.calls_active())
        yield CounterMetricFamily(f"{p}calls", "Calls the switch took", self.calls_started())
        yield GaugeMetricFamily(
            f"{p}registrations", "Contacts of SIP lines currently registered", self.registrations()
        )
        sip = CounterMetricFamily(
            f"{p}sip_messages",
            "SIP messages by direction, method and status (status empty for requests)",
            labels=["direction", "method", "status"],
        )
        for (direction, method, status), count in sorted(self.sip.counts.items()):
            sip.add_metric([direction, method, status], count)
        yield sip
        totals = self.rtp.totals()
        packets = CounterMetricFamily(
            f"{p}rtp_packets", "RTP packets sent and received", labels=["direction"]
        )
        packets.add_metric(["sent"], totals["sent_packets"])
        packets.add_metric(
            ["received"], totals["received_packets"] + totals["received_dtmf_packets"]
        )
        yield packets
        dropped = CounterMetricFamily(
            f"{p}rtp_packets_dropped",
            "RTP packets received and dropped, by reason",
            labels=["reason"],
        )
        for name in _STAT_FIELDS:
            if name.startswith("dropped_"):
                dropped.add_metric([name.removeprefix("dropped_")], totals[name])
        yield dropped
        yield CounterMetricFamily(
            f"{p}rtp_frames_skipped",
            "Outgoing 20 ms frames skipped because the event loop was late (lost audio)",
            totals["frames_skipped"],
        )
        yield CounterMetricFamily(
            f"{p}rtp_send_errors", "RTP packets the socket refused", totals["send_errors"]
        )
        yield GaugeMetricFamily(f"{p}rtp_sessions", "RTP sessions open", self.rtp.live)


class LoopWatch:
    """Measures how late the loop wakes a sleeper (its lag) every `interval` seconds; between two
    measures it runs `tick` (the RTP sweep). `last` is the latest lag, for /health. `stalls`, when
    given, is started and stopped with it (the fine-grained watch of the loop's worst stalls)."""

    def __init__(
        self,
        metrics: SwitchMetrics,
        tick: Callable[[], None] | None = None,
        interval: float = 0.5,
        stalls: LoopStalls | None = None,
    ) -> None:
        self.metrics = metrics
        self.tick = tick
        self.interval = interval
        self.stalls = stalls
        self.last = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-watch")
        if self.stalls is not None:
            self.stalls.start()

    async def stop(self) -> None:
        if self.stalls is not None:
            self.stalls.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.last = max(0.0, loop.time() - start - self.interval)
            self.metrics.loop_lag.observe(self.last)
            if self.tick is not None:
                try:
                    self.tick()
                except Exception:  # counting must never stop the watch
                    log.exception("loop watch tick failed")


class StallMeter:
    """How late the loop runs a tick due every `interval` seconds (sans-IO, time passed in).

    A timer pulled as in aioquic: `get_timer()` is when the next tick is due, `handle_timer(now)`
    records how late it ran and schedules the next one `interval` after it. A loop blocked for S
    seconds (a long callback, a garbage collection, the process descheduled) makes the tick
    due during it late by more than S − interval and at most S. Besides the worst since start,
    the worst of each whole second (of the clock `now` comes from) is kept, so a reader that
    timed its own window on the same clock takes the worst within it."""

    def __init__(self, interval: float = STALL_TICK, keep: int = STALL_SECONDS_KEPT) -> None:
        self.interval = interval
        self.ticks = 0
        self.worst = 0.0
        self.worst_at = math.nan
        self._due: float | None = None
        # [second, worst lateness in it]: a list, updated in place while the second lasts
        self._seconds: collections.deque[list[float]] = collections.deque(maxlen=keep)

    def start(self, now: float) -> None:
        self._due = now + self.interval

    def get_timer(self) -> float | None:
        return self._due

    def handle_timer(self, now: float) -> None:
        if self._due is None:
            return
        late = max(0.0, now - self._due)
        self.ticks += 1
        if late > self.worst:
            self.worst, self.worst_at = late, now
        second = math.floor(now)
        last = self._seconds[-1] if self._seconds else None
        if last is not None and last[0] == second:
            last[1] = max(last[1], late)
        else:
            self._seconds.append([second, late])
        self._due = now + self.interval

    def seconds(self) -> list[tuple[int, float]]:
        """(second, worst lateness in it) for every second a tick ran in, oldest first."""
        return [(int(second), late) for second, late in self._seconds]


@dataclass(frozen=True, slots=True)
class GcPause:
    """One collection of the garbage collector: when it ended, its generation, how long the
    process was stopped and how many unreachable objects it found."""

    at: float
    generation: int
    seconds: float
    collected: int


class GcMeter:
    """Collections by generation: how many, the longest and the total pause, the objects they
    freed; and the notable ones (at least `notable` seconds) one by one (sans-IO: the times come
    from the `gc.callbacks` hook of `LoopStalls`)."""

    def __init__(self, notable: float = GC_NOTABLE, keep: int = GC_PAUSES_KEPT) -> None:
        self.notable = notable
        self.collections = [0, 0, 0]
        self.longest = [0.0, 0.0, 0.0]
        self.total = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        # Plain tuples, which the collector stops tracking (GcPause objects it would walk at
        # every collection of their generation).
        self._pauses: collections.deque[tuple[float, int, float, int]] = collections.deque(
            maxlen=keep
        )
        self._started: float | None = None

    @property
    def pauses(self) -> list[GcPause]:
        """The notable collections kept, oldest first."""
        return [GcPause(*pause) for pause in self._pauses]

    def started(self, now: float) -> None:
        self._started = now

    def stopped(self, generation: int, collected: int, now: float) -> None:
        if self._started is None or not 0 <= generation < len(self.collections):
            return
        pause, self._started = now - self._started, None
        self.collections[generation] += 1
        self.longest[generation] = max(self.longest[generation], pause)
        self.total[generation] += pause
        self.collected[generation] += collected
        if pause >= self.notable:
            self._pauses.append((now, generation, pause, collected))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class LoopStalls:
    """The switch's loop stalls and its garbage collector's pauses, measured by the process
    itself: a `StallMeter` ticked by a plain `call_later` callback (no task, no coroutine), and
    a `GcMeter` fed by `gc.callbacks` from `start` to `stop`. Times are `clock()`
    (`time.monotonic` by default: the system-wide clock, so another process can time a window
    and read its worst second from `report()`)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, interval: float = STALL_TICK
    ) -> None:
        self.clock = clock
        self.stalls = StallMeter(interval)
        self.gc = GcMeter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.stalls.start(self.clock())
        self._arm()
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _arm(self) -> None:
        due = self.stalls.get_timer()
        if self._loop is not None and due is not None:
            self._handle = self._loop.call_later(max(0.0, due - self.clock()), self._tick)

    def _tick(self) -> None:
        self.stalls.handle_timer(self.clock())
        self._arm()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc.started(self.clock())
        else:
            self.gc.stopped(info["generation"], info["collected"], self.clock())

    def summary(self) -> dict[str, Any]:
        """The few figures /health carries."""
        return {
            "loop_stall_max_ms": _ms(self.stalls.worst),
            "gc_collections": list(self.gc.collections),
            "gc_pause_max_ms": [_ms(p) for p in self.gc.longest],
        }

    def report(self) -> dict[str, Any]:
        """Everything, for the status endpoint's /loop: the worst lateness of each second kept,
        and the notable collections with their times (on `clock`)."""
        meter, collector = self.stalls, self.gc
        return {
            "now": self.clock(),
            "tick_ms": _ms(meter.interval),
            "ticks": meter.ticks,
            "stall_max_ms": _ms(meter.worst),
            "stall_max_at": None if math.isnan(meter.worst_at) else meter.worst_at,
            "seconds": [[second, _ms(late)] for second, late in meter.seconds()],
            "gc": {
                "collections": list(collector.collections),
                "pause_max_ms": [_ms(p) for p in collector.longest],
                "pause_total_ms": [_ms(p) for p in collector.total],
                "collected": list(collector.collected),
                "pauses": [
                    [p.at, p.generation, _ms(p.seconds), p.collected] for p in collector.pauses
                ],
            },
        }


class StallCollector(Collector):
    """The loop's worst stall and the collector's work, read at scrape time."""

    def __init__(self, stalls: LoopStalls, namespace: str = "vpbx") -> None:
        self.stalls = stalls
        self.prefix = f"{namespace}_"

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        p, meter = self.prefix, self.stalls.gc
        yield GaugeMetricFamily(
            f"{p}event_loop_stall_max_seconds",
            f"The longest the event loop was late to run its {_ms(self.stalls.stalls.interval):g} "
            "ms tick since the start",
            self.stalls.stalls.worst,
        )
        families = (
            (CounterMetricFamily, "gc_collections", "Garbage collections", meter.collections),
            (GaugeMetricFamily, "gc_pause_max_seconds", "Longest collection", meter.longest),
            (CounterMetricFamily, "gc_pause_seconds", "Time spent collecting", meter.total),
            (CounterMetricFamily, "gc_collected_objects", "Objects collected", meter.collected),
        )
        for family, name, text, values in families:
            metric = family(f"{p}{name}", f"{text}, by generation", labels=["generation"])
            for generation, value in enumerate(values):
                metric.add_metric([str(generation)], value)
            yield metric
