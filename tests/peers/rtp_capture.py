"""What a peer's media port received: tcpdump writes a pcap, a small reader decodes its RTP.

    with RtpCapture(tmp_path / "in.pcap", port=media_port) as capture:
        ...  # the call
    heard = capture.received()  # Received: samples (int16, 8 kHz), digits, packets

tcpdump runs as root here (it needs the capture capability); it writes to its stdout, which is
a file this process opened, so no privilege drop or AppArmor rule stands between it and the
file. No scapy: the reader knows classic pcap (both byte orders, µs and ns) with Ethernet,
Linux cooked (v1, v2), raw IP and BSD loopback link types, IPv4 and IPv6, UDP.
"""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from vpbx.media.g711 import alaw_decode, ulaw_decode

EVENT_NAMES = "0123456789*#ABCD"


def tcpdump_binary() -> str:
    found = shutil.which("tcpdump")
    assert found, "tcpdump is not installed: `make test` installs the Debian package tcpdump"
    return found


@dataclass(frozen=True)
class UdpPacket:
    at: float  # capture time, seconds since the epoch
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def _ip_text(raw: bytes) -> str:
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    return ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))


def _network_offset(linktype: int, frame: bytes) -> int | None:
    """Where the IP header starts in a frame of this link type (None: not IP)."""
    if linktype == 1:  # Ethernet (what tcpdump -i lo writes on Linux)
        offset, ethertype = 14, struct.unpack_from("!H", frame, 12)[0]
        while ethertype in (0x8100, 0x88A8):  # VLAN tags
            ethertype = struct.unpack_from("!H", frame, offset + 2)[0]
            offset += 4
        return offset if ethertype in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux cooked v1 (-i any)
        return 16 if struct.unpack_from("!H", frame, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == 276:  # Linux cooked v2
        return 20 if struct.unpack_from("!H", frame, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (12, 101):  # raw IP
        return 0
    if linktype == 0:  # BSD loopback
        return 4
    raise AssertionError(f"pcap link type {linktype} is not supported by this reader")


def _udp(frame: bytes, offset: int) -> tuple[str, int, str, int, bytes] | None:
    version = frame[offset] >> 4
    if version == 4:
        header = (frame[offset] & 0x0F) * 4
        if frame[offset + 9] != 17:
            return None
        total = struct.unpack_from("!H", frame, offset + 2)[0]
        src, dst = frame[offset + 12 : offset + 16], frame[offset + 16 : offset + 20]
        udp = frame[offset + header : offset + total]
    elif version == 6:
        if frame[offset + 6] != 17:  # no extension headers expected on loopback
            return None
        length = struct.unpack_from("!H", frame, offset + 4)[0]
        src, dst = frame[offset + 8 : offset + 24], frame[offset + 24 : offset + 40]
        udp = frame[offset + 40 : offset + 40 + length]
    else:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp, 0)
    return _ip_text(src), sport, _ip_text(dst), dport, udp[8:length]


def read_udp_pcap(path: Path) -> list[UdpPacket]:
    """Every UDP datagram of a classic pcap file, in capture order."""
    data = path.read_bytes()
    if len(data) < 24:
        return []  # tcpdump stopped before writing its header: nothing captured
    magic = data[:4]
    formats = {
        b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
        b"\xa1\xb2\xc3\xd4": (">", 1e-6),
        b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
        b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    }
    assert magic in formats, f"{path} is not a classic pcap file (magic {magic.hex()})"
    order, unit = formats[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    packets = []
    position = 24
    while position + 16 <= len(data):
        seconds, fraction, caplen, length = struct.unpack_from(order + "IIII", data, position)
        frame = data[position + 16 : position + 16 + caplen]
        position += 16 + caplen
        if caplen < length or len(frame) < caplen:
            continue  # truncated (the snap length, or tcpdump stopped mid-write)
        offset = _network_offset(linktype, frame)
        if offset is None:
            continue
        found = _udp(frame, offset)
        if found is not None:
            packets.append(UdpPacket(seconds + fraction * unit, *found))
    return packets


@dataclass(frozen=True)
class RtpPacket:
    at: float
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes, at: float = 0.0) -> RtpPacket | None:
    """One RTP packet (None for anything that is not RTP version 2, e.g. RTCP)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data, 0)
    if 200 <= second <= 204:  # RTCP SR/RR/SDES/BYE/APP on the same port (rtcp-mux)
        return None
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        words = struct.unpack_from("!H", data, offset + 2)[0]
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20 and end > offset:  # padding
        end -= data[-1]
    return RtpPacket(
        at, second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, data[offset:end]
    )


@dataclass
class Received:
    """The RTP a port received: decoded G.711 audio and the RFC 4733 keys."""

    packets: list[RtpPacket] = field(default_factory=list)
    samples: npt.NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    digits: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.samples) / 8000


def _in_sequence_order(packets: list[RtpPacket]) -> list[RtpPacket]:
    """Arrival order of the streams (an SSRC change starts a new run); within one run, the
    extended sequence number (reordering and 16-bit wrap undone)."""
    runs: list[list[tuple[int, RtpPacket]]] = []
    last_ssrc: int | None = None
    extended = 0
    for packet in packets:
        if packet.ssrc != last_ssrc:
            runs.append([])
            last_ssrc, extended = packet.ssrc, packet.sequence
        else:
            delta = (packet.sequence - extended) & 0xFFFF
            extended += delta - 0x10000 if delta >= 0x8000 else delta
        runs[-1].append((extended, packet))
    return [packet for run in runs for _, packet in sorted(run, key=lambda item: item[0])]


def decode_rtp(
    packets: list[RtpPacket], *, event_payload_type: int | None = None, pcmu: int = 0, pcma: int = 8
) -> Received:
    """PCMU/PCMA payloads to int16 samples at 8 kHz, concatenated in sequence order; one digit
    per telephone-event (SSRC, timestamp). The event payload type is taken as given or, by
    default, any dynamic PT (96-127) whose payloads are 4-byte RFC 4733 events."""
    ordered = _in_sequence_order(packets)
    chunks: list[npt.NDArray[np.int16]] = []
    digits: list[str] = []
    seen_events: set[tuple[int, int]] = set()
    for packet in ordered:
        pt = packet.payload_type
        if pt == pcmu:
            chunks.append(ulaw_decode(packet.payload))
        elif pt == pcma:
            chunks.append(alaw_decode(packet.payload))
        elif pt == event_payload_type or (
            event_payload_type is None and 96 <= pt <= 127 and len(packet.payload) == 4
        ):
            event = packet.payload[0]
            if event < len(EVENT_NAMES) and (packet.ssrc, packet.timestamp) not in seen_events:
                seen_events.add((packet.ssrc, packet.timestamp))
                digits.append(EVENT_NAMES[event])
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return Received(ordered, samples.astype(np.int16, copy=False), digits)


def read_rtp_pcap(path: Path, *, port: int | None = None) -> list[RtpPacket]:
    """The RTP packets of a pcap (to destination `port` only, if given), in capture order."""
    out = []
    for udp in read_udp_pcap(path):
        if port is not None and udp.dport != port:
            continue
        packet = parse_rtp(udp.payload, udp.at)
        if packet is not None:
            out.append(packet)
    return out


class RtpCapture:
    """tcpdump on loopback recording the UDP datagrams sent to `port` (of `host`, if given),
    running for the `with` block; `received()` decodes them afterwards."""

    def __init__(
        self, path: Path, port: int, *, host: str | None = None, interface: str = "lo"
    ) -> None:
        self.path = path
        self.port = port
        self.host = host
        self.interface = interface
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def filter(self) -> str:
        rule = f"udp and dst port {self.port}"
        return rule + (f" and dst host {self.host}" if self.host else "")

    def start(self, timeout: float = 10) -> RtpCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # --immediate-mode: packets reach the file as they arrive, so what came in just before
        # the capture stops (the last ~0.7 s of a call, otherwise still in the kernel buffer)
        # is not lost
        args = [tcpdump_binary(), "-i", self.interface, "-n", "-s", "0", "-U", "--immediate-mode"]
        args += ["-w", "-"]
        with self.path.open("wb") as out:
            self.process = subprocess.Popen(
                [*args, self.filter], stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"tcpdump did not start listening (root needed): {self.log()}")
        return self

    def _read_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            self._stderr.append(line)
            if "listening on" in line:
                self._ready.set()
        self._ready.set()  # exited: start() then sees the process gone and the log

    def log(self) -> str:
        return "".join(self._stderr)

    def stop(self, timeout: float = 10) -> None:
        """SIGINT (tcpdump flushes and exits), then wait; kill as a last resort."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            # Packets sent just before the stop are still on their way through loopback.
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> RtpCapture:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def packets(self) -> list[RtpPacket]:
        return read_rtp_pcap(self.path, port=self.port)

    def received(self, *, event_payload_type: int | None = None) -> Received:
        return decode_rtp(self.packets(), event_payload_type=event_payload_type)
