"""DTMF: RFC 4733 telephone events (send and receive), SIP INFO bodies, in-band detection."""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DTMF_FREQUENCIES",
    "DTMF_KEYS",
    "DtmfDigit",
    "DtmfPacket",
    "DtmfParseError",
    "DtmfReceiver",
    "DtmfReceiverState",
    "DtmfRelay",
    "TelephoneEvent",
    "detect_inband",
    "digit_to_event",
    "dtmf_packets",
    "event_to_digit",
    "parse_dtmf_info",
    "parse_dtmf_relay",
]

# Event codes 0–15 of RFC 4733 §3.2, in order: the index is the code.
DTMF_KEYS: Final = "0123456789*#ABCD"

_ROWS: Final = (697, 770, 852, 941)
_COLUMNS: Final = (1209, 1336, 1477, 1633)
_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")

# Key → (low, high) frequency in Hz.
DTMF_FREQUENCIES: Final[Mapping[str, tuple[int, int]]] = {
    key: (_ROWS[r], _COLUMNS[c]) for r, line in enumerate(_KEYPAD) for c, key in enumerate(line)
}

_EVENT: Final = struct.Struct("!BBH")
_MAX_DURATION: Final = 0xFFFF
_TS_MASK: Final = 0xFFFF_FFFF


class DtmfParseError(ValueError):
    """A telephone-event payload or a SIP INFO body does not carry a valid DTMF key."""


def event_to_digit(event: int) -> str:
    """The key of an event code 0–15."""
    if not 0 <= event < 16:
        raise ValueError(f"event {event} is not a DTMF key")
    return DTMF_KEYS[event]


def digit_to_event(digit: str) -> int:
    """The event code of a key (0–9, *, #, A–D; letters in either case)."""
    code = DTMF_KEYS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF key: {digit!r}")
    return code


# --- RFC 4733 payload ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 event report (the 4-byte telephone-event payload)."""

    event: int
    end: bool = False
    volume: int = 10  # power level as -dBm0, 0–63
    duration: int = 0  # timestamp units since the event (segment) began
    reserved: bool = False  # the R bit: senders send 0, kept only for exact round trips

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        """Parse the first report of a payload; raise DtmfParseError if it is too short."""
        if len(data) < 4:
            raise DtmfParseError(f"telephone-event payload too short: {len(data)} bytes")
        event, flags, duration = _EVENT.unpack_from(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration, bool(flags & 0x40))

    def serialize(self) -> bytes:
        if not 0 <= self.volume <= 0x3F:
            raise ValueError(f"volume out of range: {self.volume}")
        flags = (0x80 if self.end else 0) | (0x40 if self.reserved else 0) | self.volume
        try:
            return _EVENT.pack(self.event, flags, self.duration)
        except struct.error as exc:
            raise ValueError(f"telephone-event field out of range: {exc}") from None

    @property
    def digit(self) -> str | None:
        """The DTMF key, or None for other events (flash, modem tones…)."""
        return DTMF_KEYS[self.event] if self.event < 16 else None


# --- Sender ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """One RTP packet of an outgoing event: send `offset` seconds after the key press."""

    payload: bytes
    marker: bool
    timestamp: int
    offset: float


def dtmf_packets(
    digit: str,
    duration_ms: float,
    *,
    timestamp: int = 0,
    volume: int = 10,
    rate: int = 8000,
    interval_ms: float = 50,
    end_repeats: int = 3,
) -> list[DtmfPacket]:
    """The packets that signal one key press of `duration_ms` (RFC 4733 §2.5.1).

    The first packet (marker set) goes out one interval after the press and reports that
    interval, then an update every interval, then `end_repeats` identical end packets one
    interval apart. All carry the event's start `timestamp`. Events longer than the 16-bit
    duration field (8.2 s at 8 kHz) are split into segments (§2.5.1.3): the last report of a
    segment has duration 0xFFFF and the next segment's timestamp is 0xFFFF later, unmarked.
    """
    code = digit_to_event(digit)
    total = round(duration_ms * rate / 1000)
    step = round(interval_ms * rate / 1000)
    if total < 1 or step < 1:
        raise ValueError("duration and interval must each last at least one sample")
    if end_repeats < 1:
        raise ValueError("at least one end packet is needed")
    times = set(range(step, total, step))
    times.update(range(_MAX_DURATION, total, _MAX_DURATION))  # segment boundaries
    reports = sorted(times) or [total]

    def report(t: int, end: bool) -> tuple[bytes, int]:
        segment = (t - 1) // _MAX_DURATION
        payload = TelephoneEvent(code, end, volume, t - segment * _MAX_DURATION).serialize()
        return payload, (timestamp + segment * _MAX_DURATION) & _TS_MASK

    packets = []
    for i, t in enumerate(reports):
        payload, ts = report(t, False)
        packets.append(DtmfPacket(payload, i == 0, ts, t / rate))
    payload, ts = report(total, True)
    for i in range(end_repeats):
        packets.append(DtmfPacket(payload, False, ts, total / rate + i * step / rate))
    return packets


# --- Receiver --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A key the peer pressed.

    `start_ts` is the RTP timestamp of the event's start, `duration_samples` its length in
    timestamp units, `at` the arrival time of the packet that ended it (the first end packet,
    or the last packet seen when every end packet was lost).
    """

    digit: str
    start_ts: int
    duration_samples: int
    at: float


class DtmfReceiverState(enum.Enum):
    IDLE = "idle"
    IN_EVENT = "in_event"


@dataclass(slots=True)
class _Event:
    """The event being received (mutable: updated by every packet)."""

    code: int
    start_ts: int
    segment_ts: int  # timestamp of the current segment (changes only for > 0xFFFF events)
    duration: int  # duration field of the newest packet of the current segment
    base: int  # samples before the current segment and from duration-field wraps
    last_seq: int  # newest sequence number seen
    last_arrival: float
    timestamps: list[int]


def _newer16(a: int, b: int) -> bool:
    """Sequence number a comes after b (RFC 1982 serial arithmetic, 16 bits)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


def _older32(a: int, b: int) -> bool:
    """Timestamp a comes before b (serial arithmetic, 32 bits)."""
    return 0 < ((b - a) & _TS_MASK) < 0x8000_0000


class DtmfReceiver:
    """Turns RFC 4733 packets of one RTP stream into digits, each reported exactly once.

    An event is identified by its RTP timestamp. A digit is reported when:

    * an end packet (E bit) arrives: its two retransmissions, and any late, duplicated or
      reordered packet of the same event, are then ignored;
    * every end packet was lost: when a newer event starts, or when `flush` finds the event
      silent for `timeout` seconds.

    Long presses send many updates with growing durations: still one digit. Events longer
    than the 16-bit duration field continue as RFC 4733 segments (next timestamp = previous
    + duration, no marker) or, from some senders, as a duration field that wraps to small
    values on the same timestamp; both are accumulated into one digit. Sequence numbers are
    compared modulo 2^16 and timestamps modulo 2^32, so wrap-arounds are harmless. A marked
    packet reusing a finished event's timestamp with a newer sequence number starts a new
    event (senders that do not advance the timestamp between presses). Call `reset` when the
    stream's SSRC changes.
    """

    __slots__ = ("_current", "_finished", "_finished_order", "_timeout")

    def __init__(self, timeout: float = 0.5) -> None:
        self._timeout = timeout
        self._current: _Event | None = None
        # Timestamp → highest sequence number seen, for events already reported.
        self._finished: dict[int, int] = {}
        self._finished_order: deque[int] = deque()

    @property
    def state(self) -> DtmfReceiverState:
        return DtmfReceiverState.IDLE if self._current is None else DtmfReceiverState.IN_EVENT

    def reset(self) -> None:
        """Forget everything (a new SSRC: timestamps and sequence numbers start over)."""
        self._current = None
        self._finished.clear()
        self._finished_order.clear()

    def get_timer(self) -> float | None:
        """When `flush` would report the current event if nothing more arrives."""
        current = self._current
        return None if current is None else current.last_arrival + self._timeout

    def flush(self, now: float) -> list[DtmfDigit]:
        """Report the current event if it has been silent for `timeout` (its end was lost)."""
        current = self._current
        if current is None or now - current.last_arrival < self._timeout:
            return []
        return [self._finish(current, current.last_arrival)]

    def feed(
        self, packet_timestamp: int, seq: int, marker: bool, payload: bytes, arrival: float
    ) -> list[DtmfDigit]:
        """Take one telephone-event packet; return the digits it completes (usually none)."""
        if len(payload) < 4:
            return []  # malformed: a peer's garbage must not break digit collection
        code, flags, duration = _EVENT.unpack_from(payload)
        if code > 15:
            return []  # flash, modem and line tones are not digits
        end = bool(flags & 0x80)
        ts = packet_timestamp & _TS_MASK
        seq &= 0xFFFF

        finished_seq = self._finished.get(ts)
        if finished_seq is not None:
            if not (marker and _newer16(seq, finished_seq)):
                if _newer16(seq, finished_seq):
                    self._finished[ts] = seq
                return []  # a retransmitted end or a straggler of a reported event
            # Same timestamp, newer marked packet: the sender reused it for a new press.
            del self._finished[ts]

        digits: list[DtmfDigit] = []
        current = self._current
        if current is not None:
            if ts == current.segment_ts:
                self._update(current, duration, seq, arrival)
                if end:
                    digits.append(self._finish(current, arrival))
                return digits
            if ts in current.timestamps:
                return []  # late report of an earlier segment: nothing new
            if not marker and code == current.code and self._continues(current, ts):
                current.base += (ts - current.segment_ts) & _TS_MASK
                current.segment_ts = ts
                current.timestamps.append(ts)
                current.duration = duration
                current.last_seq = seq
                current.last_arrival = arrival
                if end:
                    digits.append(self._finish(current, arrival))
                return digits
            if not marker and _older32(ts, current.start_ts):
                return []  # a straggler from before the current event that we never saw
            # A newer event: the current one's end packets were all lost.
            digits.append(self._finish(current, current.last_arrival))

        current = _Event(code, ts, ts, duration, 0, seq, arrival, [ts])
        self._current = current
        if end:
            digits.append(self._finish(current, arrival))
        return digits

    @staticmethod
    def _update(current: _Event, duration: int, seq: int, arrival: float) -> None:
        current.last_arrival = arrival
        if not _newer16(seq, current.last_seq):
            return  # duplicate or reordered: an older report adds nothing
        if current.duration - duration > 0x8000:
            # Same timestamp, newer packet, duration fell from high to low: the 16-bit field
            # wrapped during a very long press.
            current.base += 0x10000
            current.duration = duration
        elif duration > current.duration:
            current.duration = duration
        current.last_seq = seq

    @staticmethod
    def _continues(current: _Event, ts: int) -> bool:
        """Whether an unmarked report with the same code and timestamp ts is a next segment."""
        delta = (ts - current.segment_ts) & _TS_MASK
        # RFC 4733 §2.5.1.3: the next segment starts where the previous one's 0xFFFF ended;
        # tolerate the lost final report of the previous segment (reports are ~50 ms apart).
        return delta == current.duration or (
            delta == _MAX_DURATION and current.duration >= _MAX_DURATION - 4000
        )

    def _finish(self, current: _Event, at: float) -> DtmfDigit:
        self._current = None
        for ts in current.timestamps:
            self._finished[ts] = current.last_seq
            self._finished_order.append(ts)
        # Remember only recent events: stragglers arrive within a jitter buffer's reach.
        while len(self._finished_order) > 32:
            self._finished.pop(self._finished_order.popleft(), None)
        return DtmfDigit(
            DTMF_KEYS[current.code], current.start_ts, current.base + current.duration, at
        )


# --- SIP INFO --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfRelay:
    """An application/dtmf-relay body: the key and, if given, its duration in milliseconds."""

    digit: str
    duration_ms: int | None


def _key(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value.isdigit():
        # Some gateways send event codes ("Signal=11" for #) instead of characters.
        code = int(value)
        if code < 16:
            return DTMF_KEYS[code]
        raise DtmfParseError(f"event {code} is not a DTMF key")
    try:
        return DTMF_KEYS[digit_to_event(value)]
    except ValueError:
        raise DtmfParseError(f"not a DTMF key: {value!r}") from None


def _text(body: str | bytes) -> str:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise DtmfParseError("DTMF body is not UTF-8") from None
    return body


def parse_dtmf_relay(body: str | bytes) -> DtmfRelay:
    """Parse application/dtmf-relay ("Signal=5\\r\\nDuration=160")."""
    fields: dict[str, str] = {}
    for line in _text(body).splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise DtmfParseError("dtmf-relay body has no Signal line")
    duration = None
    if raw := fields.get("duration"):
        if not raw.isdigit():
            raise DtmfParseError(f"bad dtmf-relay Duration: {raw!r}")
        duration = int(raw)
    return DtmfRelay(_key(fields["signal"]), duration)


def parse_dtmf_info(content_type: str, body: str | bytes) -> str:
    """The key carried by a SIP INFO: application/dtmf-relay or application/dtmf ("5")."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/dtmf-relay":
        return parse_dtmf_relay(body).digit
    if media_type == "application/dtmf":
        return _key(_text(body))
    raise DtmfParseError(f"not a DTMF content type: {content_type!r}")


# --- In-band detection -----------------------------------------------------------------------

_GOERTZEL_FREQUENCIES: Final = np.array(_ROWS + _COLUMNS, dtype=np.float64)


def detect_inband(pcm: npt.NDArray[Any], rate: int = 8000, *, min_level: float = 30.0) -> str:
    """The keys audible in PCM, in order, each press once (Goertzel over 8 DTMF frequencies).

    Blocks of 25.6 ms (205 samples at 8 kHz, the classic DTMF block) every 12.75 ms. A block
    holds a key when its RMS is at least `min_level`, the key's two tones carry at least 70 %
    of its energy, the twist between them is within 8 dB and each tone beats the other tones
    of its group by 6 dB. A key counts once it holds for two blocks in a row, so tones of
    40 ms and more are found and clicks are not; one dissenting block inside a press is
    bridged, while a pause of 40 ms or more separates two presses of the same key.
    """
    x = np.asarray(pcm, dtype=np.float64).ravel()
    size = round(205 * rate / 8000)
    hop = size // 2
    if x.size < size:
        return ""
    blocks = np.lib.stride_tricks.sliding_window_view(x, size)[::hop]
    blocks = blocks - blocks.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", blocks, blocks)

    # Goertzel recurrence for all blocks and all 8 frequencies at once.
    coeff = 2.0 * np.cos(2.0 * np.pi * _GOERTZEL_FREQUENCIES / rate)
    s1 = np.zeros((blocks.shape[0], coeff.size))
    s2 = np.zeros_like(s1)
    for i in range(size):
        s0 = blocks[:, i, None] + coeff * s1 - s2
        s2 = s1
        s1 = s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2

    rows = power[:, :4]
    columns = power[:, 4:]
    row = rows.argmax(axis=1)
    column = columns.argmax(axis=1)
    index = np.arange(power.shape[0])
    row_power = rows[index, row]
    column_power = columns[index, column]
    # A full-block tone of amplitude A has |X|^2 = (A*size/2)^2 and energy A^2*size/2.
    share = 2.0 * (row_power + column_power) / (size * np.maximum(energy, 1e-9))
    twist = row_power / np.maximum(column_power, 1e-9)
    rows_sorted = np.sort(rows, axis=1)
    columns_sorted = np.sort(columns, axis=1)
    valid = (
        (energy >= size * min_level**2)
        & (share >= 0.7)
        & (twist <= 10**0.8)
        & (twist >= 10**-0.8)
        & (rows_sorted[:, -2] * 4 <= row_power)
        & (columns_sorted[:, -2] * 4 <= column_power)
    )
    labels: list[str | None] = [
        _KEYPAD[r][c] if ok else None
        for r, c, ok in zip(row.tolist(), column.tolist(), valid.tolist(), strict=True)
    ]

    # Bridge one dissenting block inside a press (noise, a codec glitch).
    for i in range(1, len(labels) - 1):
        if (
            labels[i] != labels[i - 1]
            and labels[i - 1] is not None
            and labels[i - 1] == labels[i + 1]
        ):
            labels[i] = labels[i - 1]

    keys: list[str] = []
    run_label: str | None = None
    run_length = 0
    for label in [*labels, None]:
        if label == run_label:
            run_length += 1
            continue
        if run_label is not None and run_length >= 2:
            keys.append(run_label)
        run_label = label
        run_length = 1
    return "".join(keys)
