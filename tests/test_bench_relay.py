"""The relay benchmark's pure parts (`vpbx.bench.ng`'s bencode, the ladder of `vpbx.bench.relay`,
what makes a rung hold) and its load generator (`vpbx.bench.rtpload`) on a short run with no
relay in between."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.bench.calls import PBX_IP, TRUNK_IP, _free_block
from vpbx.bench.ng import BencodeError, decode, encode
from vpbx.bench.relay import (
    DELIVERED_OK,
    P99_LIMIT_MS,
    Ladder,
    Plan,
    Rung,
    climb,
    knee,
    media_address,
    next_rung,
)
from vpbx.bench.rtpload import LoadReport, LoadSpec, run_load

# ----------------------------------------------------------------------------- bencode

decoded_values = st.recursive(
    st.integers() | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(decoded_values)
def test_bencode_round_trips(value: object) -> None:
    assert decode(encode(value)) == value  # type: ignore[arg-type]


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=6))
def test_text_is_sent_as_utf8_with_the_keys_sorted_as_bytes(value: dict[str, str]) -> None:
    found = decode(encode(value))
    assert found == {k.encode(): v.encode() for k, v in value.items()}
    assert isinstance(found, dict)
    # the decoder keeps the order of the bytes: the order every bencode reader may insist on
    assert list(found) == sorted(k.encode() for k in value)


def test_an_ng_offer_encodes_as_rtpengine_expects() -> None:
    command = {"command": "offer", "call-id": "c1", "from-tag": "a", "flags": ["trust-address"]}
    assert encode(command) == (
        b"d7:call-id2:c17:command5:offer5:flagsl13:trust-addresse8:from-tag1:ae"
    )


def test_a_reply_with_unsorted_keys_is_read() -> None:
    # rtpengine writes "result" before "sdp" or after, as it comes
    assert decode(b"d6:result2:ok3:sdp3:v=0e") == {b"result": b"ok", b"sdp": b"v=0"}
    assert decode(b"d6:resulti-7e1:al1:xi0eee") == {b"result": -7, b"a": [b"x", 0]}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i01e",
        b"i-0e",
        b"ie",
        b"i12",
        b"3:ab",
        b"02:ab",
        b"l",
        b"d1:ae",
        b"di1e1:ae",
        b"d1:ai1e1:ai2ee",
        b"i1ei2e",
        b"x",
    ],
)
def test_malformed_bencode_is_refused(data: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(data)


@given(st.binary(max_size=30))
@settings(max_examples=300)
def test_arbitrary_bytes_decode_or_raise_only_bencode_error(data: bytes) -> None:
    try:
        value = decode(data)
    except BencodeError:
        return
    assert decode(encode(value)) == value


def test_booleans_are_not_integers() -> None:
    with pytest.raises(TypeError):
        encode(True)


# ----------------------------------------------------------------------------- the ladder


def climb_against(capacity: int, plan: Plan) -> list[int]:
    """The rungs `next_rung` tries against a relay that holds up to `capacity` calls."""
    held: dict[int, bool] = {}
    while (calls := next_rung(held, plan)) is not None:
        assert calls not in held
        held[calls] = calls <= capacity
    return list(held)


@given(st.integers(min_value=0, max_value=2500))
def test_the_ladder_finds_any_capacity_to_its_resolution(capacity: int) -> None:
    rungs = climb_against(capacity, Plan(start=100, step=100, top=2000, resolution=25))
    found = knee({calls: calls <= capacity for calls in rungs})
    if capacity >= 2000:
        assert found == 2000
    else:
        assert found <= capacity < found + 25
    # a short ladder: the climb, then two or three halvings
    assert len(rungs) <= min(capacity, 2000) // 100 + 1 + 3


def test_the_ladder_climbs_then_halves() -> None:
    plan = Plan(start=100, step=100, top=2000, resolution=25)
    assert climb_against(650, plan) == [
        100,
        200,
        300,
        400,
        500,
        600,
        700,
        650,
        675,
    ]
    assert climb_against(60, plan) == [100, 50, 75]


def late(calls: int) -> Rung:
    """A rung that failed because the load itself fell behind its schedule."""
    load = report(0.5, 50.0)
    load.late_sends = sum(load.sent)
    return Rung(calls, load)


def test_a_ladder_stops_where_the_load_generator_gives_out_after_a_second_try() -> None:
    tried: list[int] = []

    def measure_rung(calls: int) -> Rung:
        tried.append(calls)
        return late(calls) if calls >= 300 else Rung(calls, report(1.0, 1.0))

    ladder = climb("relay", measure_rung, Plan(start=100, step=100), lambda _: None)
    assert tried == [100, 200, 300, 300]
    assert ladder.knee == 200
    assert ladder.load_bound
    assert "300 calls" in ladder.stopped


def test_a_late_load_the_generator_carries_alone_is_the_relays_failure() -> None:
    """The relay fails at 300 and up with the generator's sends late (as rtpengine, its core
    saturated, at 950 and 1,000 calls): the load alone holds there, so the ladder halves on."""
    tried: list[int] = []
    alone: list[int] = []

    def measure_rung(calls: int) -> Rung:
        tried.append(calls)
        return late(calls) if calls >= 300 else Rung(calls, report(1.0, 1.0))

    def measure_alone(calls: int) -> Rung:
        alone.append(calls)
        return Rung(calls, report(1.0, 1.0))

    lines: list[str] = []
    plan = Plan(start=100, step=100, resolution=25)
    ladder = climb("relay", measure_rung, plan, lines.append, alone=measure_alone)
    assert tried == [100, 200, 300, 300, 250, 275]
    assert alone == [300]
    assert (ladder.knee, ladder.load_bound, ladder.stopped) == (275, False, "")
    assert "relay: the load alone held 300 calls: the relay failed the rung" in lines
    assert lines[-1] == "relay: knee 275 calls"


def test_a_late_load_that_fails_alone_too_stops_the_ladder_as_a_lower_bound() -> None:
    alone: list[int] = []

    def measure_alone(calls: int) -> Rung:
        alone.append(calls)
        return late(calls)

    ladder = climb(
        "relay",
        lambda calls: late(calls) if calls >= 300 else Rung(calls, report(1.0, 1.0)),
        Plan(start=100, step=100),
        lambda _: None,
        alone=measure_alone,
    )
    assert alone == [300]
    assert (ladder.knee, ladder.load_bound) == (200, True)
    assert "300 calls" in ladder.stopped


def test_a_hiccup_of_the_load_generator_is_measured_again_and_the_ladder_goes_on() -> None:
    tried: list[int] = []

    def measure_rung(calls: int) -> Rung:
        tried.append(calls)
        if tried.count(calls) == 1 and calls == 200:
            return late(calls)
        return Rung(calls, report(1.0, 1.0) if calls <= 400 else report(0.5, 1.0))

    lines: list[str] = []
    ladder = climb("relay", measure_rung, Plan(start=100, step=100), lines.append)
    assert tried == [100, 200, 200, 300, 400, 500, 450, 425]
    assert (ladder.knee, ladder.load_bound) == (400, False)
    assert any("measured again" in line for line in lines)
    assert lines[-1] == "relay: knee 400 calls"


def test_a_ladder_stops_climbing_when_its_time_is_up() -> None:
    ladder = climb(
        "relay", lambda calls: Rung(calls, report(1.0, 1.0)), Plan(), lambda _: None, seconds=0
    )
    assert (ladder.rungs, ladder.knee) == ({}, 0)
    assert ladder.stopped == "out of time after 0 s"


def test_the_knee_is_below_the_lowest_failure_even_when_results_are_not_monotonic() -> None:
    # a noisy rung above a failure does not count
    assert knee({100: True, 200: False, 300: True}) == 100
    assert knee({100: False}) == 0
    assert knee({}) == 0


# ----------------------------------------------------------------------------- a rung


def report(delivered: float, p99_ms: float) -> LoadReport:
    sent = 100_000
    return LoadReport(
        calls=500,
        sent=[sent, sent],
        received=[round(sent * delivered), sent],
        p99_us=[p99_ms * 1000, 100.0],
        watched_cpu_seconds=2.0,
        window=5.0,
    )


def test_a_rung_holds_with_enough_delivered_and_a_low_p99() -> None:
    assert Rung(500, report(DELIVERED_OK, P99_LIMIT_MS * 0.9)).held
    assert not Rung(500, report(DELIVERED_OK - 0.0005, 1.0)).held
    assert not Rung(500, report(1.0, P99_LIMIT_MS)).held
    assert not Rung(500, None, "set-up failed").held


def test_a_rung_says_what_vpbxs_loop_saw_when_it_has_a_watch() -> None:
    seen = "worst stall 104.0 ms (a generation-2 collection of 98.0 ms then)"
    assert Rung(500, report(1.0, 62.0), loop=seen).describe().endswith(f"; vpbx's loop: {seen}")
    assert "loop" not in Rung(500, report(1.0, 1.0)).describe()


def test_cpu_per_packet_is_the_relay_cpu_over_the_packets_delivered() -> None:
    rung = Rung(500, report(1.0, 1.0))
    assert rung.cpu_us_per_packet == pytest.approx(2.0 / 200_000 * 1e6)


def test_cpu_is_compared_at_the_knee_or_else_at_the_fewest_calls_measured() -> None:
    ladder = Ladder("vpbx", {100: Rung(100, report(1.0, 1.0)), 200: Rung(200, report(0.9, 1.0))})
    assert ladder.knee == 100
    assert ladder.cpu_rung is ladder.rungs[100]
    failing = Ladder("vpbx", {100: Rung(100, report(0.5, 1.0)), 50: Rung(50, None, "set-up")})
    assert failing.knee == 0
    assert failing.cpu_rung is failing.rungs[100]  # the one with a load measured
    assert Ladder("vpbx").cpu_rung is None


def test_the_audio_address_is_read_from_the_sdp() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 20040 RTP/AVP 0\r\n"
    )
    assert media_address(sdp) == ("127.0.0.1", 20040)
    with pytest.raises(ValueError, match="no audio address"):
        media_address("v=0\r\n")


# ----------------------------------------------------------------------------- the load


def test_the_load_plays_both_ends_and_learns_the_callee_side() -> None:
    """No relay: end 0 sends every call to end 1, which learns where to answer from the
    first packet of each call; every packet sent in the window arrives and is timed."""
    base = _free_block(4)
    ends = ((TRUNK_IP, base), (PBX_IP, base + 2))
    calls = 5
    found = run_load(LoadSpec(ends, (ends[1],) * calls, warmup=0.1, seconds=0.3, drain=0.2))
    assert found.learned == calls
    for direction in (0, 1):
        # 50 packets/s per stream over the window, give or take the edges
        assert found.sent[direction] == pytest.approx(calls * 50 * 0.3, abs=calls)
        assert found.delivered(direction) == 1.0
        assert 0 < found.p50_us[direction] <= found.p99_us[direction] <= found.max_us[direction]
