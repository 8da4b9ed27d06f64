"""SDP parsing/serialization (RFC 4566) and offer/answer for audio (RFC 3264)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.sdp import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Attribute,
    Codec,
    Connection,
    MediaDescription,
    NoAcceptableMedia,
    Origin,
    SdpError,
    SessionDescription,
    answer,
    offer,
    parse_sdp,
)

FULL = (
    b"v=0\r\n"
    b"o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    b"s=SDP Seminar\r\n"
    b"i=A Seminar on the session description protocol\r\n"
    b"u=http://www.example.com/seminars/sdp.pdf\r\n"
    b"e=j.doe@example.com (Jane Doe)\r\n"
    b"p=+1 617 555-6011\r\n"
    b"c=IN IP4 224.2.17.12/127\r\n"
    b"b=AS:128\r\n"
    b"t=2873397496 2873404696\r\n"
    b"r=7d 1h 0 25h\r\n"
    b"z=2882844526 -1h 2898848070 0\r\n"
    b"k=prompt\r\n"
    b"a=recvonly\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"i=voice\r\n"
    b"c=IN IP4 224.2.17.13/127\r\n"
    b"b=AS:64\r\n"
    b"k=prompt\r\n"
    b"a=ptime:30\r\n"
    b"m=video 51372/2 RTP/AVP 99\r\n"
    b"a=rtpmap:99 h263-1998/90000\r\n"
)


def _offer_bytes(media: str, session_attrs: str = "", conn: str = "192.0.2.10") -> bytes:
    text = f"v=0\r\no=alice 1 1 IN IP4 {conn}\r\ns=-\r\nc=IN IP4 {conn}\r\nt=0 0\r\n"
    return (text + session_attrs + media).encode()


def test_full_example_round_trips_byte_for_byte() -> None:
    sd = parse_sdp(FULL)
    assert sd.origin == Origin(
        username="jdoe",
        session_id=2890844526,
        session_version=2890842807,
        address="10.47.16.5",
    )
    assert sd.name == "SDP Seminar"
    assert sd.connection == Connection(address="224.2.17.12/127")
    assert sd.connection is not None
    assert sd.connection.host == "224.2.17.12"
    assert sd.timings[0].repeats == ("7d 1h 0 25h",)
    assert sd.direction == "recvonly"
    audio, video = sd.media
    assert audio.title == "voice"
    assert audio.ptime == 30
    assert sd.direction_of(audio) == "recvonly"
    assert sd.connection_for(audio) == Connection(address="224.2.17.13/127")
    assert video.port_count == 2
    assert video.rtpmap(99) == ("h263-1998", 90000, 1)
    assert sd.to_bytes() == FULL
    assert parse_sdp(sd.to_bytes()) == sd


def test_lf_line_ends_and_any_order_inside_a_section_are_accepted() -> None:
    sd = parse_sdp(
        b"v=0\no=- 1 2 IN IP4 h\ns=-\nt=0 0\nm=audio 5 RTP/AVP 0\na=sendonly\nc=IN IP4 192.0.2.1\n"
    )
    assert sd.media[0].connection == Connection(address="192.0.2.1")
    assert sd.media[0].direction == "sendonly"
    # Re-serialized in RFC order with CRLF.
    assert b"c=IN IP4 192.0.2.1\r\na=sendonly\r\n" in sd.to_bytes()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"o=- 1 1 IN IP4 h\r\n",  # no v= first
        b"v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n",
        b"v=0\r\no=- 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n",  # o= with five fields
        b"v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n",  # non-numeric session id
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n",  # no t=
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm =video 1 RTP/AVP 31\r\n",  # dblreq
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nc=IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nX=unknown\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nq=unknown type\r\n",
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\na=\r\n",
    ],
)
def test_malformed_sdp_is_an_sdp_error_with_status_400(data: bytes) -> None:
    with pytest.raises(SdpError) as info:
        parse_sdp(data)
    assert isinstance(info.value, ParseError)
    assert info.value.status == 400


@settings(deadline=None)
@given(st.binary(max_size=400))
def test_parse_sdp_raises_only_sdp_error(data: bytes) -> None:
    try:
        sd = parse_sdp(data)
    except SdpError:
        return
    assert parse_sdp(sd.to_bytes()) == sd


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\0"), min_size=1, max_size=20
).filter(lambda s: s.strip() == s and s != "")
_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
_attributes = st.builds(Attribute, _word, st.none() | _text)


@st.composite
def _descriptions(draw: st.DrawFn) -> SessionDescription:
    def media() -> MediaDescription:
        return MediaDescription(
            media=draw(st.sampled_from(["audio", "video", "text"])),
            port=draw(st.integers(0, 65535)),
            port_count=draw(st.none() | st.integers(1, 4)),
            proto=draw(st.sampled_from(["RTP/AVP", "RTP/SAVP", "udptl"])),
            formats=tuple(draw(st.lists(_word, min_size=1, max_size=4))),
            title=draw(st.none() | _text),
            connection=draw(st.none() | st.builds(Connection, address=_word)),
            attributes=tuple(draw(st.lists(_attributes, max_size=4))),
        )

    return SessionDescription(
        origin=Origin(
            username=draw(_word),
            session_id=draw(st.integers(0, 2**63)),
            session_version=draw(st.integers(0, 2**63)),
            address=draw(_word),
        ),
        name=draw(_text),
        info=draw(st.none() | _text),
        connection=draw(st.none() | st.builds(Connection, address=_word)),
        bandwidths=tuple(draw(st.lists(st.just("AS:64"), max_size=1))),
        attributes=tuple(
            draw(st.lists(st.builds(Attribute, _word, st.none() | _text), max_size=3))
        ),
        media=tuple(media() for _ in range(draw(st.integers(0, 3)))),
    )


@settings(deadline=None)
@given(_descriptions())
def test_generated_descriptions_round_trip(sd: SessionDescription) -> None:
    assert parse_sdp(sd.to_bytes()) == sd


def test_to_bytes_refuses_line_breaks() -> None:
    sd = offer(DEFAULT_CODECS, "192.0.2.1", 4000)
    with pytest.raises(LocalError):
        SessionDescription(origin=sd.origin, name="a\r\nb").to_bytes()


# -- offer / answer ------------------------------------------------------------------------------


def _answer(
    data: bytes,
    supported_codecs: tuple[Codec, ...] = DEFAULT_CODECS,
    *,
    direction: str = "sendrecv",
    session_id: int = 0,
    session_version: int = 0,
) -> SessionDescription:
    result = answer(
        parse_sdp(data),
        supported_codecs,
        "198.51.100.7",
        30000,
        direction=direction,
        session_id=session_id,
        session_version=session_version,
    )
    # Every answer we build is valid SDP that round-trips.
    assert parse_sdp(result.to_bytes()) == result
    return result


def test_answer_picks_first_offered_supported_codec_and_keeps_dtmf_payload_type() -> None:
    result = _answer(
        _offer_bytes(
            "m=audio 49170 RTP/AVP 18 8 0 96\r\n"
            "a=rtpmap:18 G729/8000\r\n"
            "a=rtpmap:96 telephone-event/8000\r\n"
            "a=fmtp:96 0-15\r\n"
        ),
        session_id=42,
        session_version=7,
    )
    (audio,) = result.media
    assert audio.port == 30000
    assert audio.formats == ("8", "96")
    assert audio.rtpmap(8) == ("PCMA", 8000, 1)
    assert audio.rtpmap(96) == ("telephone-event", 8000, 1)
    assert audio.fmtp(96) == "0-16"
    assert audio.direction == "sendrecv"
    assert audio.ptime == 20
    assert result.connection == Connection(address="198.51.100.7")
    assert result.origin.session_id == 42
    assert result.origin.session_version == 7
    assert result.origin.address == "198.51.100.7"


def test_answer_honours_the_offerer_preference_between_pcmu_and_pcma() -> None:
    assert _answer(_offer_bytes("m=audio 1 RTP/AVP 0 8\r\n")).media[0].formats == ("0",)
    assert _answer(_offer_bytes("m=audio 1 RTP/AVP 8 0\r\n")).media[0].formats == ("8",)


def test_dynamic_payload_type_for_a_known_codec_is_kept() -> None:
    result = _answer(_offer_bytes("m=audio 1 RTP/AVP 112\r\na=rtpmap:112 pcmu/8000\r\n"))
    assert result.media[0].formats == ("112",)
    assert result.media[0].rtpmap(112) == ("PCMU", 8000, 1)


def test_unsupported_streams_are_rejected_with_port_zero_and_order_kept() -> None:
    result = _answer(
        _offer_bytes(
            "m=video 3227 RTP/AVP 31\r\n"
            "a=rtpmap:31 H261/90000\r\n"
            "m=audio 49170 RTP/SAVP 0\r\n"  # SRTP: not supported
            "m=audio 49172 RTP/AVP 0\r\n"
            "m=audio 49174 RTP/AVP 8\r\n"  # a second audio stream: we handle one
            "m=image 49176 udptl t38\r\n"
        )
    )
    assert [(m.media, m.port, m.formats) for m in result.media] == [
        ("video", 0, ("31",)),
        ("audio", 0, ("0",)),
        ("audio", 30000, ("0",)),
        ("audio", 0, ("8",)),
        ("image", 0, ("t38",)),
    ]
    assert result.media[3].attributes == ()


@pytest.mark.parametrize(
    ("offered", "wanted", "expected"),
    [
        ("a=sendrecv\r\n", "sendrecv", "sendrecv"),
        ("", "sendrecv", "sendrecv"),
        ("a=sendonly\r\n", "sendrecv", "recvonly"),
        ("a=recvonly\r\n", "sendrecv", "sendonly"),
        ("a=inactive\r\n", "sendrecv", "inactive"),
        ("a=sendrecv\r\n", "sendonly", "sendonly"),  # we put the call on hold
        ("a=sendonly\r\n", "sendonly", "inactive"),  # both sides hold
        ("a=recvonly\r\n", "recvonly", "inactive"),
    ],
)
def test_direction_is_mirrored_and_intersected(offered: str, wanted: str, expected: str) -> None:
    media = f"m=audio 1 RTP/AVP 0\r\n{offered}"
    assert _answer(_offer_bytes(media), direction=wanted).media[0].direction == expected


def test_session_level_direction_applies_to_streams() -> None:
    result = _answer(_offer_bytes("m=audio 1 RTP/AVP 0\r\n", session_attrs="a=sendonly\r\n"))
    assert result.media[0].direction == "recvonly"


def test_rfc2543_hold_with_zero_connection_address() -> None:
    result = _answer(_offer_bytes("m=audio 1 RTP/AVP 0\r\n", conn="0.0.0.0"))
    assert result.media[0].direction == "recvonly"


def test_answer_copies_the_offer_timing_and_uses_ip6_for_ipv6_addresses() -> None:
    sd = parse_sdp(_offer_bytes("m=audio 1 RTP/AVP 0\r\n").replace(b"t=0 0", b"t=3149328700 0"))
    result = answer(sd, DEFAULT_CODECS, "2001:db8::7", 4000)
    assert result.timings == sd.timings
    assert result.connection == Connection(addr_type="IP6", address="2001:db8::7")


@pytest.mark.parametrize(
    "media",
    [
        "m=audio 1 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
        "m=audio 1 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n",  # DTMF alone
        "m=audio 0 RTP/AVP 0\r\n",  # stream already disabled by the offerer
        "m=video 1 RTP/AVP 31\r\n",
        "m=audio 1 RTP/AVP 96\r\n",  # dynamic type without rtpmap: unknown
        "m=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/16000\r\n",  # wrong clock rate
    ],
)
def test_nothing_supported_raises_no_acceptable_media(media: str) -> None:
    with pytest.raises(NoAcceptableMedia) as info:
        _answer(_offer_bytes(media))
    assert info.value.status == 488


def test_only_the_codecs_passed_are_used() -> None:
    data = _offer_bytes("m=audio 1 RTP/AVP 0 8\r\n")
    assert _answer(data, supported_codecs=(PCMA,)).media[0].formats == ("8",)
    with pytest.raises(NoAcceptableMedia):
        _answer(data, supported_codecs=(TELEPHONE_EVENT,))
    g722 = Codec(name="G722", payload_type=9)
    assert _answer(_offer_bytes("m=audio 1 RTP/AVP 9\r\n"), supported_codecs=(g722,)).media[
        0
    ].formats == ("9",)


def test_offer_lists_codecs_in_order_and_round_trips() -> None:
    sd = offer((PCMA, PCMU, TELEPHONE_EVENT), "192.0.2.1", 4000, session_id=5, session_version=1)
    data = sd.to_bytes()
    assert b"m=audio 4000 RTP/AVP 8 0 101\r\n" in data
    assert b"a=fmtp:101 0-16\r\n" in data
    assert parse_sdp(data) == sd
    # And we can answer our own offer.
    assert answer(sd, DEFAULT_CODECS, "192.0.2.2", 5000).media[0].formats == ("8", "101")


def test_invalid_direction_is_a_local_error() -> None:
    with pytest.raises(LocalError):
        offer(DEFAULT_CODECS, "192.0.2.1", 4000, direction="sideways")
    with pytest.raises(LocalError):
        _answer(_offer_bytes("m=audio 1 RTP/AVP 0\r\n"), direction="sideways")
