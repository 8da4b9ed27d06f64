"""What a vpbx process counts for Prometheus (`/metrics`), built once per process in `app.py`.

`Metrics` holds the counters other parts increment (`metrics.security_events.labels(kind=...)
.inc()`); it is created in the composition root and passed in, never imported as a global.
The switch's live state (calls, registrations, RTP, SIP traffic) is not pushed into Prometheus
objects on every packet: the hot paths bump plain integers (`SipCounters`, the sessions' own
`SessionStats`) and `SwitchCollector` reads them when someone scrapes, so counting costs a call
nothing measurable.

The API runs in several uvicorn workers: each would count only what it served, and a scrape
lands on one of them. With `multiprocess_dir` (the supervisor sets PROMETHEUS_MULTIPROC_DIR for
the API's processes, see `vpbx.supervisor`), the workers write their counters to files there and
the exposition adds them up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from vpbx.media.session import RtpSession, SessionStats
from vpbx.sip.errors import ParseError
from vpbx.sip.message import Message, Request

__all__ = [
    "CONTENT_TYPE",
    "LoopWatch",
    "Metrics",
    "RtpCounters",
    "SipCounters",
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
    measures it runs `tick` (the RTP sweep). `last` is the latest lag, for /health."""

    def __init__(
        self,
        metrics: SwitchMetrics,
        tick: Callable[[], None] | None = None,
        interval: float = 0.5,
    ) -> None:
        self.metrics = metrics
        self.tick = tick
        self.interval = interval
        self.last = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
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
