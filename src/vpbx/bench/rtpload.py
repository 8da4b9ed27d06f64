"""A timestamping RTP load for the relay benchmark: both ends of N calls in one process.

End 0 (the caller's side) sends call i's stream to `targets[i]` (the relay's port for it); end
1 (the callee's side) learns where to send call i from the first packet of that call it
receives, as a phone behind symmetric RTP would, so nothing about the relay's callee-side
ports need be known. Every stream is 50 packets/s of 160-byte µ-law payloads (PT 0, a proper
RTP sequence and timestamp, one SSRC per stream), the 2N streams spread evenly over the 20 ms
period. Each payload starts with the call, the direction and the monotonic send time in
nanoseconds: relays rewrite headers, not payloads, so the receiving end measures the one-way
time through the relay (`CLOCK_MONOTONIC` is one clock for every process).

A run is `warmup` seconds of load, `seconds` measured, then `drain` seconds of receiving only:
a packet counts as delivered if it was sent inside the measured window and arrives by the end
of the drain. The generator also reports how late its own sends were against their schedule,
so a run where the load itself could not keep up is recognised as such.

Plain non-blocking sockets and one loop without asyncio: at 1,000 calls this is 100,000
sends and 100,000 receives a second, which Python only manages without a framework's per-packet
cost. `python -m vpbx.bench.rtpload` reads the spec as JSON on stdin and prints the report as
JSON (`run_load` is the same in-process).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time
from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

from vpbx.bench.calls import _cpu_seconds

__all__ = ["LoadReport", "LoadSpec", "run_load"]

PERIOD_NS = 20_000_000
PAYLOAD_BYTES = 160
PACKET_BYTES = 12 + PAYLOAD_BYTES
#: from offset 2: RTP sequence, timestamp, SSRC; then the payload's call, direction, send time
_STAMP = struct.Struct("!HIIIIq")
_PAYLOAD = struct.Struct("!IIq")
#: the sockets' kernel buffers: one socket takes every call's packets of its end
SOCKET_BUFFER = 8 * 1024 * 1024
#: a send later than this against its schedule counts as the generator falling behind
LATE_NS = 2_000_000
#: Linux's SO_RCVBUFFORCE and SO_SNDBUFFORCE (Python's socket module does not name them)
_SO_RCVBUFFORCE = 33
_SO_SNDBUFFORCE = 32


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """`ends`: the two (host, port) the load binds; `targets[i]`: where end 0 sends call i;
    `watch`: a process (the relay) whose CPU is read at the measured window's edges."""

    ends: tuple[tuple[str, int], tuple[str, int]]
    targets: tuple[tuple[str, int], ...]
    warmup: float = 2.0
    seconds: float = 5.0
    drain: float = 0.5
    watch: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        a, b = data["ends"]
        return cls(
            ((str(a[0]), int(a[1])), (str(b[0]), int(b[1]))),
            tuple((str(h), int(p)) for h, p in data["targets"]),
            float(data["warmup"]),
            float(data["seconds"]),
            float(data["drain"]),
            None if data.get("watch") is None else int(data["watch"]),
        )


@dataclass(slots=True)
class LoadReport:
    """Per direction (0: caller → callee, 1: callee → caller), inside the measured window."""

    calls: int
    sent: list[int] = field(default_factory=lambda: [0, 0])
    received: list[int] = field(default_factory=lambda: [0, 0])
    p50_us: list[float] = field(default_factory=lambda: [0.0, 0.0])
    p99_us: list[float] = field(default_factory=lambda: [0.0, 0.0])
    max_us: list[float] = field(default_factory=lambda: [0.0, 0.0])
    learned: int = 0  # calls whose callee-side address was learned
    late_sends: int = 0  # sends more than LATE_NS behind their schedule
    max_lag_us: float = 0.0
    cpu_seconds: float = 0.0  # the generator's own, over the whole run
    watched_cpu_seconds: float = 0.0  # the watched process's, over the measured window
    window: float = 0.0

    def delivered(self, direction: int) -> float:
        sent = self.sent[direction]
        return self.received[direction] / sent if sent else 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadReport:
        return cls(**data)


def _socket(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option, forced in (
        (socket.SO_RCVBUF, _SO_RCVBUFFORCE),
        (socket.SO_SNDBUF, _SO_SNDBUFFORCE),
    ):
        try:  # beyond net.core.rmem_max only with CAP_NET_ADMIN
            sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
    sock.bind(address)
    sock.setblocking(False)
    return sock


def _percentiles(values: array[int]) -> tuple[float, float, float]:
    if not values:
        return (0.0, 0.0, 0.0)
    ordered = sorted(values)
    last = len(ordered) - 1
    return (
        ordered[last * 50 // 100] / 1000,
        ordered[last * 99 // 100] / 1000,
        ordered[last] / 1000,
    )


def _numbers(cycle: int) -> tuple[int, int]:
    """The RTP sequence number and timestamp of the packets of the period starting at `cycle`."""
    period = cycle // PERIOD_NS
    return period & 0xFFFF, (period * PAYLOAD_BYTES) & 0xFFFFFFFF


def run_load(spec: LoadSpec) -> LoadReport:
    calls = len(spec.targets)
    report = LoadReport(calls)
    socks = [_socket(spec.ends[0]), _socket(spec.ends[1])]
    poller = select.epoll()
    for sock in socks:
        poller.register(sock.fileno(), select.EPOLLIN)
    try:
        # Stream k < calls is call k from end 0, stream calls + k is call k from end 1.
        streams = 2 * calls
        ends = [0] * calls + [1] * calls
        call_of = list(range(calls)) * 2
        dest: list[tuple[str, int] | None] = [*spec.targets, *([None] * calls)]
        ssrcs = [0x5EED0000 + k for k in range(streams)]
        bufs = [bytearray(b"\x80\x00" + bytes(10) + b"\xff" * PAYLOAD_BYTES) for _ in ends]
        phases = [k * PERIOD_NS // streams for k in range(streams)]
        latencies = [array("q"), array("q")]
        sent, received = report.sent, report.received
        rbuf = bytearray(2048)
        pack_into, unpack_from = _STAMP.pack_into, _PAYLOAD.unpack_from
        sendto = [sock.sendto for sock in socks]
        recv_into, recvfrom_into = socks[0].recv_into, socks[1].recvfrom_into
        clock = time.monotonic_ns
        # Sequence numbers and timestamps count periods of the monotonic clock, so a call's
        # streams go on where the previous run left them (a relay drops a stream that jumps
        # back, as it would a late packet) with a gap for the time between the runs.
        start = (clock() // PERIOD_NS + 3) * PERIOD_NS
        measure_from = start + int(spec.warmup * 1e9)
        measure_to = measure_from + int(spec.seconds * 1e9)
        stop_at = measure_to + int(spec.drain * 1e9)
        k, cycle = 0, start
        due = start
        seq, timestamp = _numbers(cycle)
        to_learn = calls
        late, max_lag = 0, 0
        cpu0 = time.process_time()
        watched: list[float] = []  # the watched CPU when the window opened, when it closed
        while True:
            now = clock()
            if now >= stop_at:
                break
            if (
                spec.watch is not None
                and len(watched) < 2
                and now >= (measure_from, measure_to)[len(watched)]
            ):
                watched.append(_cpu_seconds(spec.watch))
            if now < measure_to:
                while due <= now:
                    target = dest[k]
                    if target is not None:
                        buf = bufs[k]
                        end = ends[k]
                        stamp = clock()
                        pack_into(buf, 2, seq, timestamp, ssrcs[k], call_of[k], end, stamp)
                        # ICMP unreachable or a full buffer: counted as sent, so lost
                        # (no contextlib.suppress here: a context manager per packet costs)
                        try:  # noqa: SIM105
                            sendto[end](buf, target)
                        except OSError:
                            pass
                        if stamp >= measure_from:
                            sent[end] += 1
                            lag = stamp - due
                            if lag > LATE_NS:
                                late += 1
                            max_lag = max(max_lag, lag)
                    k += 1
                    if k == streams:
                        k = 0
                        cycle += PERIOD_NS
                        seq, timestamp = _numbers(cycle)
                    due = cycle + phases[k]
            # end 0 receives what end 1 sent (direction 1), end 1 what end 0 sent
            while True:
                try:
                    recv_into(rbuf)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue  # ICMP errors queued on the socket
                arrived = clock()
                call, direction, stamp = unpack_from(rbuf, 12)
                if measure_from <= stamp < measure_to:
                    received[direction] += 1
                    latencies[direction].append(arrived - stamp)
            while True:
                try:
                    _, source = recvfrom_into(rbuf)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                arrived = clock()
                call, direction, stamp = unpack_from(rbuf, 12)
                if to_learn and call < calls and dest[calls + call] is None:
                    dest[calls + call] = source
                    to_learn -= 1
                if measure_from <= stamp < measure_to:
                    received[direction] += 1
                    latencies[direction].append(arrived - stamp)
            wait = (min(due, stop_at) - clock()) / 1e9
            if wait > 0.0002:
                poller.poll(wait)
        report.learned = calls - to_learn
        report.late_sends = late
        report.max_lag_us = max_lag / 1000
        report.cpu_seconds = time.process_time() - cpu0
        report.window = spec.seconds
        if len(watched) == 2:
            report.watched_cpu_seconds = watched[1] - watched[0]
        for direction in (0, 1):
            p50, p99, top = _percentiles(latencies[direction])
            report.p50_us[direction] = p50
            report.p99_us[direction] = p99
            report.max_us[direction] = top
    finally:
        poller.close()
        for sock in socks:
            sock.close()
    return report


def spec_json(spec: LoadSpec) -> str:
    return json.dumps(asdict(spec))


def main() -> None:
    spec = LoadSpec.from_json(json.loads(sys.stdin.read()))
    sys.stdout.write(json.dumps(asdict(run_load(spec))) + "\n")


if __name__ == "__main__":
    main()
