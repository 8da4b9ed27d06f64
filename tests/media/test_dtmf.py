"""RFC 4733 events, the DTMF receiver state machine, SIP INFO bodies and in-band detection."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.media.dtmf import (
    DTMF_FREQUENCIES,
    DTMF_KEYS,
    DtmfDigit,
    DtmfPacket,
    DtmfParseError,
    DtmfReceiver,
    DtmfReceiverState,
    DtmfRelay,
    TelephoneEvent,
    detect_inband,
    digit_to_event,
    dtmf_packets,
    event_to_digit,
    parse_dtmf_info,
    parse_dtmf_relay,
)
from vpbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from vpbx.media.tones import BUSY_RU, RINGBACK_RU, cadence_frames, dtmf_sequence, dtmf_tone

# --- Event codes and payload


def test_event_codes() -> None:
    assert [event_to_digit(code) for code in range(16)] == list("0123456789*#ABCD")
    assert DTMF_KEYS[10:12] == "*#"
    assert digit_to_event("*") == 10
    assert digit_to_event("#") == 11
    assert digit_to_event("a") == digit_to_event("A") == 12
    assert digit_to_event("D") == 15
    for bad in ("", "E", "12", " "):
        with pytest.raises(ValueError, match="not a DTMF key"):
            digit_to_event(bad)
    with pytest.raises(ValueError, match="not a DTMF key"):
        event_to_digit(16)


def test_keypad_frequencies() -> None:
    assert DTMF_FREQUENCIES["1"] == (697, 1209)
    assert DTMF_FREQUENCIES["#"] == (941, 1477)
    assert DTMF_FREQUENCIES["D"] == (941, 1633)
    assert sorted(DTMF_FREQUENCIES) == sorted(DTMF_KEYS)


def test_telephone_event_golden() -> None:
    wire = bytes.fromhex("05 8a 03 20")
    event = TelephoneEvent.parse(wire)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.digit == "5"
    assert event.serialize() == wire
    assert TelephoneEvent.parse(bytes.fromhex("0b 4a 00 a0 ff")) == TelephoneEvent(
        11, False, 10, 160, reserved=True
    )
    assert TelephoneEvent(16).digit is None


@given(
    st.builds(
        TelephoneEvent,
        st.integers(0, 255),
        st.booleans(),
        st.integers(0, 63),
        st.integers(0, 0xFFFF),
        st.booleans(),
    )
)
def test_telephone_event_roundtrip(event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(event.serialize()) == event


@given(st.binary(max_size=8))
def test_telephone_event_parse_raises_only_its_error(data: bytes) -> None:
    try:
        TelephoneEvent.parse(data)
    except DtmfParseError:
        assert len(data) < 4


@pytest.mark.parametrize(
    "event",
    [TelephoneEvent(256), TelephoneEvent(1, volume=64), TelephoneEvent(1, duration=0x10000)],
)
def test_telephone_event_rejects_out_of_range(event: TelephoneEvent) -> None:
    with pytest.raises(ValueError, match="range"):
        event.serialize()


# --- Sender


def _events(packets: list[DtmfPacket]) -> list[TelephoneEvent]:
    return [TelephoneEvent.parse(p.payload) for p in packets]


def test_dtmf_packets_layout() -> None:
    packets = dtmf_packets("5", 200, timestamp=1000)
    events = _events(packets)
    assert [e.duration for e in events] == [400, 800, 1200, 1600, 1600, 1600]
    assert [e.end for e in events] == [False] * 3 + [True] * 3
    assert {e.event for e in events} == {5}
    assert {e.volume for e in events} == {10}
    assert [p.marker for p in packets] == [True] + [False] * 5
    assert {p.timestamp for p in packets} == {1000}
    assert [p.offset for p in packets] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert packets[3].payload == packets[4].payload == packets[5].payload


def test_short_press_still_has_a_start_packet() -> None:
    packets = dtmf_packets("#", 40, interval_ms=50)
    events = _events(packets)
    assert [(p.marker, e.end, e.duration) for p, e in zip(packets, events, strict=True)] == [
        (True, False, 320),
        (False, True, 320),
        (False, True, 320),
        (False, True, 320),
    ]


def test_long_press_is_split_into_segments() -> None:
    packets = dtmf_packets("0", 20_000, timestamp=0xFFFF_FFF0)  # 160 000 samples
    events = _events(packets)
    assert max(e.duration for e in events) == 0xFFFF
    segment_starts = list(dict.fromkeys(p.timestamp for p in packets))
    start = 0xFFFF_FFF0
    assert segment_starts == [start, (start + 0xFFFF) % 2**32, (start + 2 * 0xFFFF) % 2**32]
    # Each segment's last non-end report is the full 0xFFFF, except the last segment's.
    for ts in segment_starts[:2]:
        assert max(
            e.duration for p, e in zip(packets, events, strict=True) if p.timestamp == ts
        ) == (0xFFFF)
    assert events[-1].end
    assert events[-1].duration == 160_000 - 2 * 0xFFFF
    assert sum(p.marker for p in packets) == 1


def test_dtmf_packets_validation() -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_packets("x", 100)
    with pytest.raises(ValueError, match="at least one sample"):
        dtmf_packets("1", 0)
    with pytest.raises(ValueError, match="end packet"):
        dtmf_packets("1", 100, end_repeats=0)


# --- Receiver


@dataclass(frozen=True, slots=True)
class Rx:
    """One received telephone-event packet."""

    timestamp: int
    seq: int
    marker: bool
    payload: bytes
    arrival: float


def stream(
    keys: str,
    *,
    seq: int = 0,
    ts: int = 0,
    press_ms: float = 120,
    gap_ms: float = 100,
    t0: float = 10.0,
) -> list[list[Rx]]:
    """Packets per key, numbered like one RTP stream (sequence per packet, timestamp clock)."""
    result: list[list[Rx]] = []
    now = t0
    for key in keys:
        packets = dtmf_packets(key, press_ms, timestamp=ts)
        group = []
        for p in packets:
            group.append(Rx(p.timestamp, seq, p.marker, p.payload, now + p.offset))
            seq = (seq + 1) & 0xFFFF
        result.append(group)
        ts = (ts + round((press_ms + gap_ms) * 8)) & 0xFFFF_FFFF
        now += (press_ms + gap_ms) / 1000 + 0.1
    return result


def feed_all(receiver: DtmfReceiver, packets: list[Rx]) -> list[DtmfDigit]:
    digits: list[DtmfDigit] = []
    for p in packets:
        digits += receiver.feed(p.timestamp, p.seq, p.marker, p.payload, p.arrival)
    return digits


def flat(groups: list[list[Rx]]) -> list[Rx]:
    return [p for group in groups for p in group]


def test_one_digit_from_three_end_packets() -> None:
    receiver = DtmfReceiver()
    packets = flat(stream("7", ts=4000, press_ms=200))
    results = [receiver.feed(p.timestamp, p.seq, p.marker, p.payload, p.arrival) for p in packets]
    assert [len(r) for r in results] == [0, 0, 0, 1, 0, 0]
    assert results[3] == [DtmfDigit("7", 4000, 1600, packets[3].arrival)]
    assert receiver.state is DtmfReceiverState.IDLE


def test_state_while_pressed() -> None:
    receiver = DtmfReceiver()
    first = flat(stream("1"))[0]
    receiver.feed(first.timestamp, first.seq, first.marker, first.payload, first.arrival)
    assert receiver.state is DtmfReceiverState.IN_EVENT
    assert receiver.get_timer() == pytest.approx(first.arrival + 0.5)


def test_digit_sequence_with_duplicates_everywhere() -> None:
    packets = flat(stream("1#9*0D"))
    doubled = [p for p in packets for _ in range(2)]
    digits = feed_all(DtmfReceiver(), doubled)
    assert "".join(d.digit for d in digits) == "1#9*0D"


def test_repeated_key_is_reported_per_press() -> None:
    digits = feed_all(DtmfReceiver(), flat(stream("5555")))
    assert [d.digit for d in digits] == ["5"] * 4
    assert len({d.start_ts for d in digits}) == 4


def test_lost_end_packets_reported_when_next_event_starts() -> None:
    groups = stream("12")
    first_without_end = [p for p in groups[0] if not TelephoneEvent.parse(p.payload).end]
    receiver = DtmfReceiver()
    assert feed_all(receiver, first_without_end) == []
    start_of_2 = groups[1][0]
    digits = receiver.feed(
        start_of_2.timestamp, start_of_2.seq, True, start_of_2.payload, start_of_2.arrival
    )
    assert digits == [DtmfDigit("1", 0, 800, first_without_end[-1].arrival)]
    assert [d.digit for d in feed_all(receiver, groups[1][1:])] == ["2"]


def test_lost_end_packets_reported_by_flush_after_timeout() -> None:
    packets = [p for p in flat(stream("9")) if not TelephoneEvent.parse(p.payload).end]
    receiver = DtmfReceiver(timeout=0.5)
    assert feed_all(receiver, packets) == []
    last = packets[-1].arrival
    assert receiver.get_timer() == pytest.approx(last + 0.5)
    assert receiver.flush(last + 0.3) == []
    assert receiver.flush(last + 0.5) == [DtmfDigit("9", 0, 800, last)]
    assert receiver.flush(last + 5) == []
    assert receiver.get_timer() is None
    # A late end packet of the flushed event does not report it again.
    end = TelephoneEvent(9, True, 10, 960).serialize()
    assert receiver.feed(0, packets[-1].seq + 1, False, end, last + 0.6) == []


def test_only_end_packets_received() -> None:
    ends = [p for p in flat(stream("3")) if TelephoneEvent.parse(p.payload).end]
    digits = feed_all(DtmfReceiver(), ends)
    assert [d.digit for d in digits] == ["3"]


def test_long_press_with_many_updates_is_one_digit() -> None:
    packets = flat(stream("4", press_ms=3000))
    assert len(packets) > 60
    digits = feed_all(DtmfReceiver(), packets)
    assert digits == [DtmfDigit("4", 0, 24000, packets[-3].arrival)]


def test_very_long_press_over_segments_is_one_digit() -> None:
    packets = flat(stream("8", press_ms=20_000, ts=0xFFFF_0000, seq=65000))
    digits = feed_all(DtmfReceiver(), packets)
    assert digits == [DtmfDigit("8", 0xFFFF_0000, 160_000, packets[-3].arrival)]


def test_very_long_press_with_lost_segment_boundary_report() -> None:
    packets = [
        p
        for p in flat(stream("8", press_ms=10_000))
        if TelephoneEvent.parse(p.payload).duration != 0xFFFF
    ]
    digits = feed_all(DtmfReceiver(), packets)
    assert [(d.digit, d.duration_samples) for d in digits] == [("8", 80_000)]


def test_duration_field_wrapping_on_the_same_timestamp() -> None:
    # Some senders let the 16-bit duration wrap instead of starting a new segment.
    receiver = DtmfReceiver()
    digits: list[DtmfDigit] = []
    seq = 65500
    for i, samples in enumerate(range(400, 100_001, 400)):
        payload = TelephoneEvent(2, False, 10, samples & 0xFFFF).serialize()
        digits += receiver.feed(777, seq, i == 0, payload, i * 0.05)
        seq = (seq + 1) & 0xFFFF
    end = TelephoneEvent(2, True, 10, 100_000 & 0xFFFF).serialize()
    for k in range(3):
        digits += receiver.feed(777, seq + k, False, end, 6.0 + k * 0.05)
    assert digits == [DtmfDigit("2", 777, 100_000, 6.0)]


def test_reordered_updates_do_not_confuse_duration() -> None:
    packets = flat(stream("6", press_ms=300))
    reordered = [packets[0], packets[2], packets[1], packets[4], packets[3], *packets[5:]]
    digits = feed_all(DtmfReceiver(), reordered)
    assert [(d.digit, d.duration_samples) for d in digits] == [("6", 2400)]


def test_sequence_wrap_inside_an_event() -> None:
    packets = flat(stream("A", press_ms=400, seq=65530))
    assert packets[0].seq == 65530
    assert packets[-1].seq < 10
    digits = feed_all(DtmfReceiver(), packets)
    assert [(d.digit, d.duration_samples) for d in digits] == [("A", 3200)]


def test_timestamp_reused_by_next_press() -> None:
    # A sender that does not advance the timestamp between presses: the marked start of the
    # next press has a newer sequence number than anything of the previous one.
    groups = stream("12")
    second = [Rx(0, p.seq, p.marker, p.payload, p.arrival) for p in groups[1]]
    digits = feed_all(DtmfReceiver(), groups[0] + second)
    assert [d.digit for d in digits] == ["1", "2"]


def test_late_duplicate_start_after_end_is_ignored() -> None:
    packets = flat(stream("1"))
    digits = feed_all(DtmfReceiver(), [*packets, packets[0]])
    assert [d.digit for d in digits] == ["1"]


def test_stragglers_from_an_unseen_older_event_are_ignored() -> None:
    groups = stream("12")
    receiver = DtmfReceiver()
    feed_all(receiver, groups[1][:2])
    late = groups[0][1]  # an unmarked update of "1", which we never saw start
    assert receiver.feed(late.timestamp, late.seq, False, late.payload, late.arrival) == []
    assert [d.digit for d in feed_all(receiver, groups[1][2:])] == ["2"]


def test_non_digit_events_and_garbage_are_ignored() -> None:
    receiver = DtmfReceiver()
    flash = TelephoneEvent(16, True, 10, 800).serialize()
    assert receiver.feed(0, 1, True, flash, 0.0) == []
    assert receiver.feed(0, 2, True, b"\x01\x02", 0.0) == []
    assert receiver.state is DtmfReceiverState.IDLE


def test_reset_forgets_finished_events() -> None:
    packets = flat(stream("1"))
    receiver = DtmfReceiver()
    assert len(feed_all(receiver, packets)) == 1
    receiver.reset()
    assert len(feed_all(receiver, packets)) == 1  # a new SSRC may reuse the numbers


def _mangle_ends(group: list[Rx], rng: random.Random, drop_all: bool) -> list[Rx]:
    body = [p for p in group if not TelephoneEvent.parse(p.payload).end]
    ends = [p for p in group if TelephoneEvent.parse(p.payload).end]
    if drop_all:
        return body
    mangled = [p for p in ends for _ in range(rng.randint(1, 3))]
    rng.shuffle(mangled)
    return body + mangled


@settings(max_examples=200)
@given(
    keys=st.text(alphabet=DTMF_KEYS, min_size=1, max_size=8),
    seq=st.integers(65535 - 40, 65535),
    ts=st.integers(0xFFFF_FFFF - 20_000, 0xFFFF_FFFF),
    press_ms=st.sampled_from([40, 60, 100, 250]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_duplication_and_reordering_of_end_packets(
    keys: str, seq: int, ts: int, press_ms: int, seed: int
) -> None:
    rng = random.Random(seed)
    groups = stream(keys, seq=seq, ts=ts, press_ms=press_ms)
    packets = [p for group in groups for p in _mangle_ends(group, rng, drop_all=False)]
    receiver = DtmfReceiver()
    digits = feed_all(receiver, packets)
    assert receiver.flush(packets[-1].arrival + 10) == []
    assert "".join(d.digit for d in digits) == keys


@settings(max_examples=100)
@given(
    keys=st.text(alphabet=DTMF_KEYS, min_size=1, max_size=8),
    seq=st.integers(65535 - 40, 65535),
    lost=st.lists(st.booleans(), min_size=8, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_lost_end_packets_still_yield_the_sequence(
    keys: str, seq: int, lost: list[bool], seed: int
) -> None:
    rng = random.Random(seed)
    groups = stream(keys, seq=seq, ts=123)
    packets = [
        p for i, group in enumerate(groups) for p in _mangle_ends(group, rng, drop_all=lost[i])
    ]
    receiver = DtmfReceiver()
    digits = feed_all(receiver, packets)
    digits += receiver.flush(packets[-1].arrival + 10)
    assert "".join(d.digit for d in digits) == keys


# --- SIP INFO


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Signal=5\r\nDuration=160", DtmfRelay("5", 160)),
        ("Signal=5\r\nDuration=160\r\n", DtmfRelay("5", 160)),
        ("signal= *\nduration= 250\n", DtmfRelay("*", 250)),
        ("Signal=#", DtmfRelay("#", None)),
        ("Signal=11\r\nDuration=100", DtmfRelay("#", 100)),
        ("Signal=10", DtmfRelay("*", None)),
        ("Signal=b", DtmfRelay("B", None)),
        (b"Signal=0\r\nDuration=80", DtmfRelay("0", 80)),
    ],
)
def test_parse_dtmf_relay(body: str | bytes, expected: DtmfRelay) -> None:
    assert parse_dtmf_relay(body) == expected


@pytest.mark.parametrize(
    "body",
    ["", "Duration=160", "Signal=", "Signal=16", "Signal=E", "Signal=5\r\nDuration=x", b"\xff"],
)
def test_parse_dtmf_relay_rejects(body: str | bytes) -> None:
    with pytest.raises(DtmfParseError):
        parse_dtmf_relay(body)


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160", "5"),
        ("Application/DTMF-Relay; charset=utf-8", b"Signal=#\r\n", "#"),
        ("application/dtmf", "5", "5"),
        ("application/dtmf", " *\r\n", "*"),
        ("application/dtmf", "11", "#"),
        ("APPLICATION/DTMF", b"d", "D"),
    ],
)
def test_parse_dtmf_info(content_type: str, body: str | bytes, digit: str) -> None:
    assert parse_dtmf_info(content_type, body) == digit


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "5"), ("application/dtmf", ""), ("application/dtmf", "55 5")],
)
def test_parse_dtmf_info_rejects(content_type: str, body: str) -> None:
    with pytest.raises(DtmfParseError):
        parse_dtmf_info(content_type, body)


# --- In-band detection


def test_detects_all_keys_at_minimum_timing() -> None:
    assert detect_inband(dtmf_sequence(DTMF_KEYS, on=0.04, off=0.04)) == DTMF_KEYS


@pytest.mark.parametrize("amplitude", [0.01, 0.05, 0.2, 0.45])
def test_detects_over_a_range_of_levels(amplitude: float) -> None:
    assert detect_inband(dtmf_sequence("147*", amplitude=amplitude)) == "147*"


def test_detects_through_g711() -> None:
    pcm = dtmf_sequence("2580#", on=0.06, off=0.06, amplitude=0.1)
    assert detect_inband(ulaw_decode(ulaw_encode(pcm))) == "2580#"
    assert detect_inband(alaw_decode(alaw_encode(pcm))) == "2580#"


def test_detects_in_noise() -> None:
    rng = np.random.default_rng(3)
    pcm = dtmf_sequence("369", amplitude=0.1).astype(np.float64)
    noisy = pcm + rng.normal(0, 0.1 * 32767 / 10, pcm.size)  # ~20 dB SNR
    assert detect_inband(np.clip(noisy, -32768, 32767).astype(np.int16)) == "369"


def test_repeated_key_needs_a_pause_and_long_press_is_one_key() -> None:
    assert detect_inband(dtmf_sequence("1111", on=0.05, off=0.05)) == "1111"
    assert detect_inband(dtmf_tone("1", 2.0)) == "1"


def test_rejects_too_short_tones_and_non_dtmf_audio() -> None:
    assert detect_inband(dtmf_tone("5", 0.02)) == ""
    assert detect_inband(np.zeros(8000, dtype=np.int16)) == ""
    assert detect_inband(np.zeros(10, dtype=np.int16)) == ""
    assert detect_inband(cadence_frames(RINGBACK_RU, 100)) == ""
    assert detect_inband(cadence_frames(BUSY_RU, 100)) == ""
    rng = np.random.default_rng(5)
    assert detect_inband(rng.normal(0, 3000, 40000).astype(np.int16)) == ""
    # A chord of three tones from the keypad grid is not a key press.
    chord = dtmf_tone("1", 0.5, 0.15) + dtmf_tone("9", 0.5, 0.15)
    assert detect_inband(chord) == ""


def test_ignores_quiet_keys_below_min_level() -> None:
    pcm = dtmf_sequence("5", amplitude=0.0005)
    assert detect_inband(pcm) == ""
    assert detect_inband(pcm, min_level=5) == "5"


@settings(max_examples=40, deadline=None)
@given(
    keys=st.text(alphabet=DTMF_KEYS, min_size=1, max_size=6),
    on=st.floats(0.045, 0.15),
    off=st.floats(0.05, 0.15),
    amplitude=st.floats(0.02, 0.4),
    lead=st.integers(0, 500),
)
def test_detects_random_sequences(
    keys: str, on: float, off: float, amplitude: float, lead: int
) -> None:
    pcm = np.concatenate([np.zeros(lead, dtype=np.int16), dtmf_sequence(keys, on, off, amplitude)])
    assert detect_inband(ulaw_decode(ulaw_encode(pcm))) == keys
