"""RTP captures written at test time for SIPp's `play_pcap_audio`.

One stream (one SSRC, continuous sequence numbers and timestamps, a packet every 20 ms) built
from segments: `[silence(1.0), digit("2"), tone(500, 8.0)]`. Audio is PCMU (PT 0); keys are
RFC 4733 telephone-events (PT 101): a packet every 20 ms while the key is held (the first with
the marker bit), then three end packets (E bit, final duration), all with the event's start
timestamp; the stream's timestamps keep running through the event, so audio after it continues
where the clock is.

How SIPp 3.6 reads such a file (src/prepare_pcap.c, send_packets.c): libpcap, link type
Ethernet (1) or Linux cooked (113); IPv4 or IPv6; UDP only; the UDP length field gives the
payload size; the lowest destination port of the file is its "base" (every packet here goes to
one port). It replays each UDP payload from a raw socket, source = its media IP and port,
destination = the remote's SDP media address, spaced by the differences of the pcap timestamps.
It does not rewrite RTP headers: what is written here is what the far end receives.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vpbx.media.g711 import ulaw_encode

RATE = 8000
PTIME = 0.02
FRAME = int(RATE * PTIME)  # 160 samples, 160 timestamp units per packet
PCMU = 0
TELEPHONE_EVENT = 101
EVENTS = {**{str(n): n for n in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}

LINKTYPE_ETHERNET = 1  # as Debian's /usr/share/sip-tester/*.pcap


@dataclass(frozen=True)
class Tone:
    frequency: float
    seconds: float
    amplitude: float = 8000.0


@dataclass(frozen=True)
class Silence:
    seconds: float


@dataclass(frozen=True)
class Digits:
    """RFC 4733 keys: each held `seconds`, then `gap` seconds of silence after every key."""

    keys: str
    seconds: float = 0.1
    gap: float = 0.1
    volume: int = 10


@dataclass(frozen=True)
class Samples:
    """Recorded audio (8 kHz int16), e.g. a spoken prompt."""

    pcm: npt.NDArray[np.int16]

    @property
    def seconds(self) -> float:
        return len(self.pcm) / RATE


Segment = Tone | Silence | Digits | Samples


def samples(pcm: npt.NDArray[np.int16]) -> Samples:
    return Samples(pcm.astype(np.int16))


def tone(frequency: float, seconds: float, amplitude: float = 8000.0) -> Tone:
    return Tone(frequency, seconds, amplitude)


def silence(seconds: float) -> Silence:
    return Silence(seconds)


def digits(keys: str, seconds: float = 0.1, gap: float = 0.1) -> Digits:
    for key in keys:
        assert key.upper() in EVENTS, f"not a DTMF key: {key!r}"
    return Digits(keys.upper(), seconds, gap)


digit = digits  # digit("2") reads better for one key


@dataclass(frozen=True)
class RtpPacket:
    at: float  # send time, seconds from the start of the stream
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    payload: bytes
    ssrc: int

    @property
    def data(self) -> bytes:
        """The RTP datagram (12-byte header, no CSRC or extension)."""
        second = (0x80 if self.marker else 0) | self.payload_type
        header = struct.pack("!BBHII", 0x80, second, self.sequence, self.timestamp, self.ssrc)
        return header + self.payload


def _pcm_payloads(samples: npt.NDArray[np.int16]) -> Iterator[bytes]:
    pad = (-len(samples)) % FRAME
    padded = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
    for start in range(0, len(padded), FRAME):
        yield ulaw_encode(padded[start : start + FRAME])


def rtp_packets(
    segments: Sequence[Segment], *, ssrc: int = 0x5EB1E5, first_sequence: int = 1000
) -> list[RtpPacket]:
    """The packets of one stream, in order, with their send times."""
    out: list[RtpPacket] = []
    base_ts = 0x10000

    def add(payload_type: int, marker: bool, timestamp: int, payload: bytes) -> None:
        slot = len(out)  # one packet per 20 ms slot: the send time and the RTP clock
        sequence = (first_sequence + slot) & 0xFFFF
        out.append(
            RtpPacket(
                slot * PTIME, payload_type, marker, sequence, timestamp & 0xFFFFFFFF, payload, ssrc
            )
        )

    def audio(samples: npt.NDArray[np.int16]) -> None:
        for payload in _pcm_payloads(samples):
            add(PCMU, False, base_ts + len(out) * FRAME, payload)

    for segment in segments:
        if isinstance(segment, Tone):
            t = np.arange(round(RATE * segment.seconds)) / RATE
            wave = np.sin(2 * np.pi * segment.frequency * t) * segment.amplitude
            audio(wave.astype(np.int16))
        elif isinstance(segment, Silence):
            audio(np.zeros(round(RATE * segment.seconds), dtype=np.int16))
        elif isinstance(segment, Samples):
            audio(segment.pcm)
        else:
            held = max(1, round(segment.seconds / PTIME))  # packets while the key is down
            volume = segment.volume & 0x3F
            for key in segment.keys:
                event = EVENTS[key]
                start = base_ts + len(out) * FRAME
                for n in range(1, held):
                    progress = struct.pack("!BBH", event, volume, n * FRAME)
                    add(TELEPHONE_EVENT, n == 1, start, progress)
                end = struct.pack("!BBH", event, 0x80 | volume, held * FRAME)
                for n in range(3):
                    add(TELEPHONE_EVENT, held == 1 and n == 0, start, end)
                audio(np.zeros(round(RATE * segment.gap), dtype=np.int16))
    return out


def duration(segments: Sequence[Segment]) -> float:
    """Seconds the stream lasts (its last packet's send time + one packet)."""
    packets = rtp_packets(segments)
    return packets[-1].at + PTIME if packets else 0.0


def _ipv4_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(datagram: bytes, ident: int, src: str, dst: str, sport: int, dport: int) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(datagram), 0) + datagram
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            ident & 0xFFFF,
            0,
            64,
            17,
            0,
            bytes(int(p) for p in src.split(".")),
            bytes(int(p) for p in dst.split(".")),
        )
    )
    ip[10:12] = struct.pack("!H", _ipv4_checksum(bytes(ip)))
    ethernet = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + bytes(ip) + udp


def write_rtp_pcap(
    path: Path,
    segments: Sequence[Segment],
    *,
    src: str = "10.0.0.2",
    dst: str = "10.0.0.1",
    sport: int = 40000,
    dport: int = 40000,
) -> list[RtpPacket]:
    """Write the stream as a classic pcap (Ethernet, IPv4, UDP) and return its packets.

    SIPp keeps only the UDP payloads, the timestamps and the destination port offsets, so the
    addresses and ports here do not matter."""
    packets = rtp_packets(segments)
    start = 1_700_000_000.0
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
    for index, packet in enumerate(packets):
        frame = _frame(packet.data, index, src, dst, sport, dport)
        micros = round((start + packet.at) * 1_000_000)
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return packets
