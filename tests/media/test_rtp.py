"""RTP/RTCP wire format, one-port demultiplexing, and the pure sender, pacer and latch."""

from __future__ import annotations

import contextlib
import itertools
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.media.rtp import (
    NTP_UNIX_OFFSET,
    Latch,
    LatchState,
    Pacer,
    PacketKind,
    ReportBlock,
    RtcpBye,
    RtcpPacket,
    RtcpParseError,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpType,
    RtcpUnknown,
    RtpExtension,
    RtpPacket,
    RtpParseError,
    RtpSender,
    classify,
    is_rtcp,
    ntp_from_unix,
    ntp_middle32,
    parse_rtcp,
    samples_for,
    serialize_rtcp,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)

# --- RTP golden packets


PCMU_PACKET = bytes.fromhex("80 00 1f 40 00 01 e2 40 de ad be ef") + b"\xff" * 160


def test_parse_plain_pcmu_packet() -> None:
    packet = RtpPacket.parse(PCMU_PACKET)
    assert packet == RtpPacket(
        payload_type=0, sequence=8000, timestamp=123456, ssrc=0xDEADBEEF, payload=b"\xff" * 160
    )
    assert packet.serialize() == PCMU_PACKET


FULL_PACKET = bytes.fromhex(
    "b2"  # V=2, P=1, X=1, CC=2
    "e5"  # M=1, PT=101
    "ff ff"  # sequence 65535
    "ff ff ff ff"  # timestamp 2^32 - 1
    "00 00 00 2a"  # SSRC 42
    "00 00 00 01 00 00 00 02"  # CSRC 1, 2
    "be de 00 01 10 aa 00 00"  # one-byte extension profile, one word of elements
    "0a 00 01 e0"  # payload: event 10 (*), duration 480
    "00 00 03"  # three bytes of padding, the last one its count
)


def test_parse_packet_with_every_option() -> None:
    packet = RtpPacket.parse(FULL_PACKET)
    assert packet == RtpPacket(
        payload_type=101,
        sequence=0xFFFF,
        timestamp=0xFFFF_FFFF,
        ssrc=42,
        payload=bytes.fromhex("0a 00 01 e0"),
        marker=True,
        csrc=(1, 2),
        extension=RtpExtension(profile=0xBEDE, data=bytes.fromhex("10 aa 00 00")),
        padding=3,
    )
    assert packet.serialize() == FULL_PACKET


def test_empty_payload_and_empty_extension() -> None:
    packet = RtpPacket(8, 1, 2, 3, extension=RtpExtension(0x1000, b""))
    assert RtpPacket.parse(packet.serialize()) == packet
    assert len(packet.serialize()) == 16


def test_padding_may_be_the_whole_rest() -> None:
    data = bytes.fromhex("a0 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04")
    assert RtpPacket.parse(data) == RtpPacket(0, 1, 2, 3, padding=4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (PCMU_PACKET[:11], "too short"),
        (b"\x40" + PCMU_PACKET[1:], "version 1"),
        (b"\x00" + PCMU_PACKET[1:], "version 0"),
        (b"\x81" + PCMU_PACKET[1:12], "CSRC"),
        (b"\x8f" + PCMU_PACKET[1:40], "CSRC"),
        (b"\x90" + PCMU_PACKET[1:12] + b"\xbe\xde", "extension header"),
        (b"\x90" + PCMU_PACKET[1:12] + b"\xbe\xde\x00\x02\x00\x00\x00\x00", "overruns"),
        (b"\xa0" + PCMU_PACKET[1:12] + b"\x01\x02\x00", "padding length 0"),
        (b"\xa0" + PCMU_PACKET[1:12] + b"\x05", "padding length 5"),
        (b"\xa0" + PCMU_PACKET[1:12], "padding length 239"),
    ],
)
def test_malformed_rtp_raises_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError, match=message):
        RtpPacket.parse(data)


def test_every_truncation_raises_only_parse_error() -> None:
    for end in range(len(FULL_PACKET)):
        try:
            RtpPacket.parse(FULL_PACKET[:end])
        except RtpParseError:
            continue


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(-1, 0, 0, 0),
        RtpPacket(0, 0x10000, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))),
        RtpPacket(0, 0, 0, 0, csrc=(1 << 32,)),
        RtpPacket(0, 0, 0, 0, extension=RtpExtension(0, b"abc")),
        RtpPacket(0, 0, 0, 0, extension=RtpExtension(0x10000, b"")),
        RtpPacket(0, 0, 0, 0, padding=256),
        RtpPacket(0, 0, 0, 0, padding=-1),
    ],
)
def test_serialize_rejects_fields_that_do_not_fit(packet: RtpPacket) -> None:
    with pytest.raises(ValueError, match=r"range|most|words"):
        packet.serialize()


rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension=st.none()
    | st.builds(RtpExtension, profile=u16, data=st.binary(max_size=40).map(lambda b: b * 4)),
    padding=st.integers(0, 255),
)


@given(rtp_packets)
def test_rtp_roundtrip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(packet.serialize()) == packet


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_rtp_parse_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    # Whatever parses re-serialises to an equivalent packet (padding content is not kept).
    assert RtpPacket.parse(packet.serialize()) == packet


@given(rtp_packets, st.data())
def test_rtp_truncations_raise_only_parse_error(packet: RtpPacket, data: st.DataObject) -> None:
    wire = packet.serialize()
    end = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(RtpParseError):
        RtpPacket.parse(wire[:end])


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(RtpParseError, ValueError)
    assert issubclass(RtcpParseError, RtpParseError)


# --- RTCP


def _block(ssrc: int = 0x11223344, lost: int = 3) -> ReportBlock:
    return ReportBlock(
        ssrc=ssrc,
        fraction_lost=0x40,
        packets_lost=lost,
        highest_sequence=0x0001_0005,
        jitter=17,
        lsr=0x12345678,
        dlsr=0x00010000,
    )


SR_BYTES = bytes.fromhex(
    "81 c8 00 0c"  # V=2, RC=1, SR, length 12 words
    "de ad be ef"  # sender SSRC
    "e8 00 00 00 80 00 00 00"  # NTP
    "00 00 03 e8"  # RTP timestamp 1000
    "00 00 00 32"  # 50 packets
    "00 00 1f 40"  # 8000 octets
    "11 22 33 44 40 00 00 03 00 01 00 05 00 00 00 11 12 34 56 78 00 01 00 00"
)


def test_sender_report_golden() -> None:
    sr = RtcpSenderReport(
        ssrc=0xDEADBEEF,
        ntp_timestamp=0xE800_0000_8000_0000,
        rtp_timestamp=1000,
        packet_count=50,
        octet_count=8000,
        reports=(_block(),),
    )
    assert sr.serialize() == SR_BYTES
    assert parse_rtcp(SR_BYTES) == [sr]


def test_receiver_report_with_negative_cumulative_loss() -> None:
    rr = RtcpReceiverReport(ssrc=7, reports=(_block(lost=-1), _block(ssrc=9, lost=-0x800000)))
    wire = rr.serialize()
    assert wire[:4] == bytes.fromhex("82 c9 00 0d")
    assert wire[13:16] == b"\xff\xff\xff"
    assert parse_rtcp(wire) == [rr]


def test_compound_sr_sdes_bye() -> None:
    sdes = RtcpUnknown(RtcpType.SDES, 1, bytes.fromhex("de ad be ef 01 04 76 70 62 78 00 00"))
    bye = RtcpBye(sources=(0xDEADBEEF,), reason="hangup")
    sr = RtcpSenderReport(0xDEADBEEF, ntp_from_unix(1.5), 160, 1, 160)
    wire = serialize_rtcp([sr, sdes, bye])
    assert parse_rtcp(wire) == [sr, sdes, bye]
    assert is_rtcp(wire)


def test_bye_layout() -> None:
    wire = RtcpBye(sources=(1, 2), reason="bye").serialize()
    assert wire == bytes.fromhex("82 cb 00 03 00 00 00 01 00 00 00 02 03 62 79 65")
    assert RtcpBye().serialize() == bytes.fromhex("80 cb 00 00")
    assert parse_rtcp(bytes.fromhex("80 cb 00 00")) == [RtcpBye()]


def test_bye_reason_with_bad_utf8_is_replaced_not_fatal() -> None:
    wire = bytes.fromhex("81 cb 00 02 00 00 00 05 01 ff 00 00")
    assert parse_rtcp(wire) == [RtcpBye(sources=(5,), reason="\ufffd")]


def test_padding_on_the_last_packet_is_removed() -> None:
    rr = RtcpReceiverReport(ssrc=1).serialize()
    padded = bytes([rr[0] | 0x20]) + rr[1:3] + bytes([rr[3] + 1]) + rr[4:] + b"\x00\x00\x00\x04"
    assert parse_rtcp(padded) == [RtcpReceiverReport(ssrc=1)]


def test_unaligned_opaque_body_round_trips_via_padding() -> None:
    app = RtcpUnknown(RtcpType.APP, 0, b"\x00\x00\x00\x01name\x07")
    wire = app.serialize()
    assert len(wire) % 4 == 0
    assert wire[0] & 0x20
    assert parse_rtcp(wire) == [app]


def test_ntp_helpers() -> None:
    assert ntp_from_unix(0.0) == NTP_UNIX_OFFSET << 32
    assert ntp_from_unix(1.5) == (NTP_UNIX_OFFSET + 1) << 32 | 0x8000_0000
    assert ntp_middle32(0x1122_3344_5566_7788) == 0x3344_5566


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x80\xc9\x00", "truncated"),
        (b"\x40\xc9\x00\x01\x00\x00\x00\x01", "version"),
        (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "overruns"),
        (b"\x81\xc9\x00\x01\x00\x00\x00\x01", "RR too short"),
        (b"\x80\xc8\x00\x01\x00\x00\x00\x01", "SR too short"),
        (b"\x82\xcb\x00\x01\x00\x00\x00\x01", "BYE too short"),
        (b"\x81\xcb\x00\x02\x00\x00\x00\x01\x09abc", "reason overruns"),
        (b"\xa0\xc9\x00\x00", "padding length 0"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "padding length 0"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x05", "padding length 5"),
        (SR_BYTES + b"\x80", "truncated"),
    ],
)
def test_malformed_rtcp(data: bytes, message: str) -> None:
    with pytest.raises(RtcpParseError, match=message):
        parse_rtcp(data)


@pytest.mark.parametrize(
    "packet",
    [
        RtcpReceiverReport(ssrc=1, reports=(_block(),) * 32),
        RtcpReceiverReport(ssrc=1 << 32),
        RtcpReceiverReport(ssrc=1, reports=(_block(lost=0x800000),)),
        RtcpReceiverReport(ssrc=1, reports=(_block(ssrc=-5),)),
        RtcpSenderReport(1, 1 << 64, 0, 0, 0),
        RtcpBye(reason="x" * 256),
        RtcpBye(sources=(1 << 32,)),
        RtcpUnknown(256, 0, b""),
        RtcpUnknown(205, 32, b""),
    ],
)
def test_rtcp_serialize_rejects_fields_that_do_not_fit(packet: RtcpPacket) -> None:
    with pytest.raises(ValueError, match=r"range|longer"):
        packet.serialize()


report_blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=u8,
    packets_lost=st.integers(-0x800000, 0x7FFFFF),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
blocks = st.lists(report_blocks, max_size=31).map(tuple)
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(RtcpSenderReport, u32, st.integers(0, (1 << 64) - 1), u32, u32, u32, blocks),
    st.builds(RtcpReceiverReport, u32, blocks),
    st.builds(
        RtcpBye,
        st.lists(u32, max_size=31).map(tuple),
        st.text(max_size=60).filter(lambda t: len(t.encode()) <= 255),
    ),
    st.builds(
        RtcpUnknown,
        st.integers(0, 255).filter(lambda t: t not in (200, 201, 203)),
        st.integers(0, 31),
        st.binary(max_size=64),
    ),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_rtcp_compound_roundtrip(packets: list[RtcpPacket]) -> None:
    assert parse_rtcp(serialize_rtcp(packets)) == packets


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_rtcp_parse_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtcpParseError:
        return
    assert parse_rtcp(serialize_rtcp(packets)) == packets


@given(st.lists(rtcp_packets, min_size=1, max_size=3), st.data())
def test_rtcp_truncations_raise_only_parse_error(
    packets: list[RtcpPacket], data: st.DataObject
) -> None:
    wire = serialize_rtcp(packets)
    end = data.draw(st.integers(0, len(wire) - 1))
    with contextlib.suppress(RtcpParseError):
        parse_rtcp(wire[:end])


# --- Demultiplexing


@pytest.mark.parametrize("packet_type", [200, 201, 202, 203, 204, 205, 206, 207])
def test_rtcp_types_classify_as_rtcp(packet_type: int) -> None:
    wire = RtcpUnknown(packet_type, 0, b"\x00\x00\x00\x01").serialize()
    assert classify(wire) is PacketKind.RTCP
    assert is_rtcp(wire)


@pytest.mark.parametrize("marker", [False, True])
@pytest.mark.parametrize("payload_type", [0, 8, 9, 13, 18, 63, 96, 101, 127])
def test_usable_rtp_payload_types_classify_as_rtp(payload_type: int, marker: bool) -> None:
    wire = RtpPacket(payload_type, 1, 2, 3, b"x", marker=marker).serialize()
    assert classify(wire) is PacketKind.RTP
    assert not is_rtcp(wire)


@pytest.mark.parametrize("payload_type", [72, 73, 74, 75, 76])
def test_payload_types_72_to_76_with_marker_collide_with_rtcp(payload_type: int) -> None:
    # Why RFC 5761 forbids them on a muxed port: with the marker set they are SR..APP.
    wire = RtpPacket(payload_type, 1, 2, 3, marker=True).serialize()
    assert wire[1] == payload_type + 128
    assert classify(wire) is PacketKind.RTCP


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", bytes.fromhex("00 01 00 00 21 12 a4 42"), bytes.fromhex("16 fe fd 00")],
)
def test_non_rtp_datagrams_classify_as_other(data: bytes) -> None:
    assert classify(data) is PacketKind.OTHER
    assert not is_rtcp(data)


@given(st.binary(max_size=20))
def test_is_rtcp_agrees_with_classify(data: bytes) -> None:
    assert is_rtcp(data) == (classify(data) is PacketKind.RTCP)


# --- RtpSender


def test_sender_numbering_and_first_marker() -> None:
    sender = RtpSender(0x1234, 0, sequence=100, timestamp=5000)
    first = sender.next_packet(b"a" * 160)
    second = sender.next_packet(b"b" * 160)
    assert (first.sequence, first.timestamp, first.marker) == (100, 5000, True)
    assert (second.sequence, second.timestamp, second.marker) == (101, 5160, False)
    assert first.ssrc == second.ssrc == sender.ssrc == 0x1234
    assert (sender.sequence, sender.timestamp) == (102, 5320)
    assert (sender.packet_count, sender.octet_count) == (2, 320)


def test_sender_wraps_sequence_and_timestamp() -> None:
    sender = RtpSender(1, 8, sequence=0xFFFE, timestamp=0xFFFF_FFFF - 200)
    packets = [sender.next_packet(b"") for _ in range(4)]
    assert [p.sequence for p in packets] == [0xFFFE, 0xFFFF, 0, 1]
    assert [p.timestamp for p in packets] == [
        0xFFFF_FFFF - 200,
        0xFFFF_FFFF - 40,
        119,
        279,
    ]
    assert all(p.payload_type == 8 for p in packets)
    for p in packets:
        assert RtpPacket.parse(p.serialize()) == p


def test_sender_continuity_across_prompt_changes() -> None:
    sender = RtpSender(99, 0, sequence=65530, timestamp=4_294_960_000)
    prompts = [b"\x01" * 160] * 3 + [b"\x02" * 160] * 4 + [b"\xff" * 160] * 5
    packets = [sender.next_packet(payload) for payload in prompts]
    assert {p.ssrc for p in packets} == {99}
    for before, after in itertools.pairwise(packets):
        assert after.sequence == (before.sequence + 1) % 65536
        assert after.timestamp == (before.timestamp + 160) % (1 << 32)
    assert [p.marker for p in packets] == [True] + [False] * 11


def test_talkspurt_marks_exactly_one_packet() -> None:
    sender = RtpSender(1)
    sender.next_packet(b"")
    sender.advance(800)  # 100 ms of suppressed silence
    sender.start_talkspurt()
    resumed = sender.next_packet(b"")
    after = sender.next_packet(b"")
    assert resumed.marker
    assert resumed.timestamp == 960
    assert not after.marker
    assert sender.next_packet(b"", marker=True).marker


def test_event_packets_keep_their_timestamp_while_the_clock_runs() -> None:
    sender = RtpSender(1, 0, timestamp=1000)
    sender.next_packet(b"audio")
    start = sender.timestamp
    event = [sender.next_packet(b"ev", 101, timestamp=start) for _ in range(3)]
    end = sender.next_packet(b"ev", 101, timestamp=start, samples=0)
    audio = sender.next_packet(b"audio")
    assert {p.timestamp for p in [*event, end]} == {start}
    assert {p.payload_type for p in [*event, end]} == {101}
    assert audio.timestamp == start + 3 * 160
    assert audio.payload_type == 0
    assert audio.sequence == event[0].sequence + 4


@given(
    st.lists(
        st.tuples(
            st.binary(max_size=200),
            st.none() | st.integers(min_value=0, max_value=127),
            st.booleans(),
            st.none() | st.integers(min_value=0, max_value=(1 << 33)),
            st.none() | st.integers(min_value=0, max_value=8000),
        ),
        max_size=8,
    ),
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=0, max_value=0xFFFF_FFFF),
)
def test_a_header_alone_is_what_the_packet_would_serialize_to(
    sends: list[tuple[bytes, int | None, bool, int | None, int | None]],
    sequence: int,
    timestamp: int,
) -> None:
    by_packet = RtpSender(7, 0, sequence=sequence, timestamp=timestamp)
    by_header = RtpSender(7, 0, sequence=sequence, timestamp=timestamp)
    for index, (payload, pt, marker, at, samples) in enumerate(sends):
        if index == 2:
            by_packet.start_talkspurt()
            by_header.start_talkspurt()
        packet = by_packet.next_packet(payload, pt, marker, timestamp=at, samples=samples)
        header = by_header.next_header(len(payload), pt, marker, timestamp=at, samples=samples)
        assert header + payload == packet.serialize()
    assert (by_header.sequence, by_header.timestamp) == (by_packet.sequence, by_packet.timestamp)
    assert by_header.octet_count == by_packet.octet_count
    assert by_header.packet_count == by_packet.packet_count


def test_a_header_refuses_a_payload_type_out_of_range() -> None:
    with pytest.raises(ValueError, match="payload type"):
        RtpSender(1).next_header(160, 128)


def test_sender_rejects_bad_ssrc() -> None:
    with pytest.raises(ValueError, match="SSRC"):
        RtpSender(1 << 32)


@pytest.mark.parametrize(
    ("ms", "rate", "samples"),
    [(20, 8000, 160), (30, 8000, 240), (10, 8000, 80), (20, 16000, 320), (20, 48000, 960)],
)
def test_samples_for(ms: float, rate: int, samples: int) -> None:
    assert samples_for(ms, rate) == samples


def test_samples_for_default_rate_and_errors() -> None:
    assert samples_for(20) == 160
    assert samples_for(0.125) == 1
    with pytest.raises(ValueError, match="whole number"):
        samples_for(0.1)
    with pytest.raises(ValueError, match="whole number"):
        samples_for(-20)


# --- Pacer


def test_pacer_deadlines() -> None:
    pacer = Pacer(100.0)
    assert pacer.deadline(0) == 100.0
    assert pacer.deadline(50) == pytest.approx(101.0)
    assert pacer.next_deadline == 100.0
    assert pacer.due(99.99) == 0
    assert pacer.due(100.0) == 1
    assert pacer.due(100.0) == 0
    assert pacer.due(100.019) == 0
    assert pacer.next_frame == 1
    assert pacer.due(100.02) == 1
    assert pacer.due(100.1) == 4  # a stall reports the backlog at once
    assert pacer.next_deadline == pacer.deadline(6)


@given(st.floats(0, 2e9, allow_nan=False), st.integers(0, 10**7))
def test_frame_is_due_exactly_at_its_deadline(start: float, n: int) -> None:
    pacer = Pacer(start)
    assert pacer.due(pacer.deadline(n)) == n + 1
    pacer = Pacer(start)
    if n:
        pacer.due(pacer.deadline(n - 1))
        assert pacer.due(pacer.deadline(n)) == 1


def test_pacer_does_not_drift_under_late_wakeups() -> None:
    rng = random.Random(7)
    start = 86_400.123
    pacer = Pacer(start, ptime=0.020)
    sent = 0
    now = start
    for _ in range(50_000):
        # Every wake-up is up to 3 ms late and sleeps are measured from the late wake-up.
        now = max(now, pacer.next_deadline) + rng.uniform(0, 0.003)
        sent += pacer.due(now)
    elapsed = now - start
    assert sent == int(elapsed / 0.020 + 1e-9) + 1
    assert pacer.deadline(50_000) == pytest.approx(start + 1000.0, abs=1e-6)


def test_pacer_rejects_bad_ptime() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0.0, ptime=0)


# --- Latch

A = ("192.0.2.10", 40000)
B = ("198.51.100.7", 5004)


def test_latch_takes_first_source_then_ignores_others() -> None:
    assert Latch().state is LatchState.OPEN
    latch = Latch()
    assert (latch.address, latch.ssrc) == (None, None)
    assert latch.accept(A, 1)
    assert latch.state is LatchState.LATCHED
    assert (latch.address, latch.ssrc) == (A, 1)
    assert latch.accept(A, 1)
    assert not latch.accept(B, 1)
    assert not latch.accept(B, 2)
    assert latch.address == A


def test_new_ssrc_is_accepted_after_n_consecutive_packets() -> None:
    latch = Latch(ssrc_switch_after=5)
    latch.accept(A, 1)
    results = [latch.accept(A, 2) for _ in range(6)]
    assert results == [False, False, False, False, True, True]
    assert latch.ssrc == 2
    assert not latch.accept(A, 1)  # the old source is now the foreign one


def test_interleaved_old_ssrc_restarts_the_count() -> None:
    latch = Latch(ssrc_switch_after=3)
    latch.accept(A, 1)
    assert not latch.accept(A, 2)
    assert not latch.accept(A, 2)
    assert latch.accept(A, 1)  # the current stream goes on: the candidate is forgotten
    assert not latch.accept(A, 2)
    assert not latch.accept(A, 2)
    assert latch.accept(A, 2)
    assert latch.ssrc == 2


def test_alternating_foreign_ssrcs_never_switch() -> None:
    latch = Latch(ssrc_switch_after=2)
    latch.accept(A, 1)
    assert not any(latch.accept(A, 2 + i % 2) for i in range(20))
    assert latch.ssrc == 1


def test_foreign_address_does_not_count_towards_a_switch() -> None:
    latch = Latch(ssrc_switch_after=2)
    latch.accept(A, 1)
    assert not latch.accept(A, 2)
    assert not latch.accept(B, 2)
    assert latch.accept(A, 2)


def test_reset_relatches() -> None:
    latch = Latch()
    latch.accept(A, 1)
    latch.reset()
    assert (latch.address, latch.ssrc) == (None, None)
    assert latch.accept(B, 9)
    assert (latch.address, latch.ssrc) == (B, 9)
    assert not latch.accept(A, 1)


def test_switch_after_one_means_immediate() -> None:
    latch = Latch(ssrc_switch_after=1)
    latch.accept(A, 1)
    assert latch.accept(A, 2)
    assert latch.ssrc == 2
    with pytest.raises(ValueError, match="at least 1"):
        Latch(ssrc_switch_after=0)


def test_struct_sizes_match_the_rfc() -> None:
    # Guards the layout constants the parser relies on.
    assert struct.calcsize("!BBHII") == 12
    assert struct.calcsize("!IQIII") == 24
    assert struct.calcsize("!IIIIII") == 24
