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

One loop without asyncio, and Linux's batched socket calls (`sendmmsg`, `recvmmsg` through
ctypes; Python has neither): at 1,000 calls this is 100,000 sends and 100,000 receives a
second on one core, which costs a few µs a packet in the kernel alone, so Python's share per
packet must stay small. Packets due together go out in one call, each from its own prepared
buffer to its own prepared address; a send's timestamp is taken just before its batch (the
batch's own time, at most a fraction of a millisecond, counts against the relay), a receive's
just after its batch. `python -m vpbx.bench.rtpload` reads the spec as JSON on stdin and
prints the report as JSON (`run_load` is the same in-process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
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
_HEADER = struct.Struct("!BBHII")  # RTP: V=2, PT, sequence, timestamp, SSRC
_STAMP = struct.Struct("!HI")  # at offset 2: sequence and timestamp of this period
_PAYLOAD = struct.Struct("!IIq")  # at offset 12: call, direction, send time (ns)
_TIME = struct.Struct("!q")  # at offset 20: the send time
#: the sockets' kernel buffers: one socket takes every call's packets of its end
SOCKET_BUFFER = 8 * 1024 * 1024
#: a send later than this against its schedule counts as the generator falling behind
LATE_NS = 2_000_000
#: Linux's SO_RCVBUFFORCE and SO_SNDBUFFORCE (Python's socket module does not name them)
_SO_RCVBUFFORCE = 33
_SO_SNDBUFFORCE = 32
#: packets one recvmmsg call takes at most, and the room for each
RECV_BATCH = 64
RECV_ROOM = 2048


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _Msghdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_Iovec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class _Mmsghdr(ctypes.Structure):
    _fields_ = (("hdr", _Msghdr), ("len", ctypes.c_uint))


class _SockaddrIn(ctypes.Structure):
    _fields_ = (
        ("family", ctypes.c_ushort),
        ("port", ctypes.c_uint16),  # network order
        ("addr", ctypes.c_uint8 * 4),
        ("zero", ctypes.c_uint8 * 8),
    )

    def set(self, address: tuple[str, int]) -> None:
        self.family = socket.AF_INET
        self.port = socket.htons(address[1])
        self.addr[:] = list(socket.inet_aton(address[0]))

    def get(self) -> tuple[str, int]:
        return socket.inet_ntoa(bytes(self.addr)), socket.ntohs(self.port)


class _Messages:
    """`count` messages (mmsghdr), each with its own `room`-byte buffer and IPv4 address."""

    def __init__(self, count: int, room: int) -> None:
        self.room = room
        self.buffers = (ctypes.c_char * (room * count))()
        self.iovecs = (_Iovec * count)()
        self.names = (_SockaddrIn * count)()
        self.headers = (_Mmsghdr * count)()
        self.base = ctypes.addressof(self.headers)
        self.size = ctypes.sizeof(_Mmsghdr)
        start = ctypes.addressof(self.buffers)
        for index in range(count):
            self.iovecs[index].base = start + room * index
            self.iovecs[index].len = room
            header = self.headers[index].hdr
            header.name = ctypes.addressof(self.names[index])
            header.namelen = ctypes.sizeof(_SockaddrIn)
            header.iov = ctypes.pointer(self.iovecs[index])
            header.iovlen = 1

    def at(self, index: int) -> int:
        """The address of message `index` (what sendmmsg and recvmmsg take)."""
        return self.base + self.size * index


def _libc_calls() -> tuple[Any, Any]:
    """libc's sendmmsg and recvmmsg (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    sendmmsg, recvmmsg = libc.sendmmsg, libc.recvmmsg
    sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    recvmmsg.argtypes = (
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    )
    return sendmmsg, recvmmsg


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


class _Load:
    """The state of one run (see the module's doc); `run` is the loop."""

    def __init__(self, spec: LoadSpec) -> None:
        if not spec.targets:
            raise ValueError("a load of no calls")
        self.spec = spec
        self.calls = calls = len(spec.targets)
        self.report = LoadReport(calls)
        self.socks = [_socket(spec.ends[0]), _socket(spec.ends[1])]
        self.fds = [sock.fileno() for sock in self.socks]
        self.sendmmsg, self.recvmmsg = _libc_calls()
        # Stream k < calls is call k from end 0, stream calls + k is call k from end 1; each
        # has its message, buffer and destination ready, the header's SSRC and the payload's
        # call and direction written once.
        self.streams = streams = 2 * calls
        self.out = _Messages(streams, PACKET_BYTES)
        self.ready = [True] * calls + [False] * calls  # end 1 sends once it has learned where
        for k in range(streams):
            end, call = divmod(k, calls)
            ssrc = 0x5EED0000 + (end << 16) + call  # the same for a call whatever N is
            _HEADER.pack_into(self.out.buffers, k * PACKET_BYTES, 0x80, 0, 0, 0, ssrc)
            _PAYLOAD.pack_into(self.out.buffers, k * PACKET_BYTES + 12, call, end, 0)
            payload_rest = ctypes.addressof(self.out.buffers) + k * PACKET_BYTES + 28
            ctypes.memset(payload_rest, 0xFF, PACKET_BYTES - 28)  # µ-law silence
            if end == 0:
                self.out.names[k].set(spec.targets[call])
        self.inbox = [_Messages(RECV_BATCH, RECV_ROOM), _Messages(RECV_BATCH, RECV_ROOM)]
        self.to_learn = calls
        self.latencies = [array("q"), array("q")]
        self.late = 0
        self.max_lag = 0
        self.numbers = (0, 0)  # the sequence number and timestamp of the current period
        self.window = (0, 0)  # the measured window, monotonic ns

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def send(self, first: int, count: int, due: int) -> None:
        """Streams first..first+count-1 (all of one end, all ready), due at `due`."""
        buffers = self.out.buffers
        seq, timestamp = self.numbers
        stamp = time.monotonic_ns()
        for k in range(first, first + count):
            _STAMP.pack_into(buffers, k * PACKET_BYTES + 2, seq, timestamp)
            _TIME.pack_into(buffers, k * PACKET_BYTES + 20, stamp)
        end = first // self.calls
        fd = self.fds[end]
        done = 0
        while done < count:
            sent = self.sendmmsg(fd, self.out.at(first + done), count - done, 0)
            # an error (a full buffer, an ICMP error pending on the socket) costs one packet:
            # counted as sent, so as lost
            done += sent if sent > 0 else 1
        if self.window[0] <= stamp < self.window[1]:
            self.report.sent[end] += count
            lag = stamp - due
            if lag > LATE_NS:
                self.late += count
            self.max_lag = max(self.max_lag, lag)

    def receive(self, end: int) -> None:
        """Everything queued on end `end`'s socket."""
        inbox = self.inbox[end]
        fd = self.fds[end]
        buffers = inbox.buffers
        received, latencies = self.report.received, self.latencies
        measure_from, measure_to = self.window
        while True:
            count = self.recvmmsg(fd, inbox.base, RECV_BATCH, socket.MSG_DONTWAIT, None)
            if count < 0:
                failure = ctypes.get_errno()
                if failure == errno.ECONNREFUSED:
                    continue  # an ICMP error reported once: the packets queued are still there
                if failure in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                raise OSError(failure, os.strerror(failure))
            if count == 0:
                return
            arrived = time.monotonic_ns()
            for index in range(count):
                call, direction, stamp = _PAYLOAD.unpack_from(buffers, index * RECV_ROOM + 12)
                if direction > 1:
                    continue  # not the load's own packet (a relay's RTCP, a stray stream)
                if end == 1 and self.to_learn and call < self.calls:
                    self.learn(call, inbox.names[index].get())
                if measure_from <= stamp < measure_to:
                    received[direction] += 1
                    latencies[direction].append(arrived - stamp)
            if count < RECV_BATCH:
                return

    def learn(self, call: int, source: tuple[str, int]) -> None:
        k = self.calls + call
        if not self.ready[k]:
            self.out.names[k].set(source)
            self.ready[k] = True
            self.to_learn -= 1

    def run(self) -> LoadReport:
        spec, report = self.spec, self.report
        poller = select.epoll()
        for fd in self.fds:
            poller.register(fd, select.EPOLLIN)
        clock = time.monotonic_ns
        # Sequence numbers and timestamps count periods of the monotonic clock, so a call's
        # streams go on where the previous run left them (a relay drops a stream that jumps
        # back, as it would a late packet) with a gap for the time between the runs.
        start = (clock() // PERIOD_NS + 3) * PERIOD_NS
        measure_from = start + int(spec.warmup * 1e9)
        measure_to = measure_from + int(spec.seconds * 1e9)
        stop_at = measure_to + int(spec.drain * 1e9)
        self.window = (measure_from, measure_to)
        streams, calls, ready = self.streams, self.calls, self.ready
        phases = [k * PERIOD_NS // streams for k in range(streams)]
        k, cycle = 0, start
        self.numbers = _numbers(cycle)
        cpu0 = time.process_time()
        watched: list[float] = []  # the watched CPU when the window opened, when it closed
        try:
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
                # the streams due by now, in runs of ready streams of one end
                while now < measure_to and cycle + phases[k] <= now:
                    due = cycle + phases[k]
                    if ready[k]:
                        first, limit = k, calls if k < calls else streams
                        k += 1
                        while k < limit and ready[k] and cycle + phases[k] <= now:
                            k += 1
                        self.send(first, k - first, due)
                    else:
                        k += 1
                    if k == streams:
                        k = 0
                        cycle += PERIOD_NS
                        self.numbers = _numbers(cycle)
                self.receive(0)
                self.receive(1)
                wait = (min(cycle + phases[k], stop_at) - clock()) / 1e9
                if wait > 0.0002:
                    poller.poll(wait)
        finally:
            poller.close()
        report.learned = calls - self.to_learn
        report.late_sends = self.late
        report.max_lag_us = self.max_lag / 1000
        report.cpu_seconds = time.process_time() - cpu0
        report.window = spec.seconds
        if len(watched) == 2:
            report.watched_cpu_seconds = watched[1] - watched[0]
        for direction in (0, 1):
            p50, p99, top = _percentiles(self.latencies[direction])
            report.p50_us[direction] = p50
            report.p99_us[direction] = p99
            report.max_us[direction] = top
        return report


def run_load(spec: LoadSpec) -> LoadReport:
    load = _Load(spec)
    try:
        return load.run()
    finally:
        load.close()


def spec_json(spec: LoadSpec) -> str:
    return json.dumps(asdict(spec))


def main() -> None:
    spec = LoadSpec.from_json(json.loads(sys.stdin.read()))
    sys.stdout.write(json.dumps(asdict(run_load(spec))) + "\n")


if __name__ == "__main__":
    main()
