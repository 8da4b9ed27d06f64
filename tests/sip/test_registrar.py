"""Registrar bindings (RFC 3261 §10.3) and the guard against password guessing, fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vpbx.sip.message import Request
from vpbx.sip.parser import parse_message
from vpbx.sip.registrar import AuthGuard, Bindings, Outcome

SOURCE = ("127.0.0.1", 5062)


def register(
    contact: str, *, expires: str | None = None, cseq: int = 1, call_id: str = "c1"
) -> Request:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK" + str(cseq) + call_id,
        "From: <sip:1000001@127.0.0.1>;tag=a",
        "To: <sip:1000001@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: {contact}",
        "User-Agent: baresip",
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def test_binding_lives_until_its_expiry() -> None:
    bindings = Bindings()
    result = bindings.apply(
        "1000001", register("<sip:a@127.0.0.1:5062>", expires="120"), 0.0, SOURCE, "udp"
    )
    assert result.outcome is Outcome.OK
    assert [b.remaining(0.0) for b in result.bindings] == [120]
    assert bindings.current("1000001", 119.9)
    assert not bindings.current("1000001", 120.0)
    assert bindings.expire(120.0) == ["1000001"]


def test_several_contacts_per_line_and_unregister_one() -> None:
    bindings = Bindings()
    bindings.apply("L", register("<sip:a@h1>", expires="300"), 0.0, SOURCE, "udp")
    bindings.apply(
        "L", register("<sip:b@h2>;expires=600", cseq=1, call_id="c2"), 1.0, SOURCE, "tcp"
    )
    assert {str(b.uri) for b in bindings.current("L", 2.0)} == {"sip:a@h1", "sip:b@h2"}
    bindings.apply("L", register("<sip:a@h1>", expires="0", cseq=2), 3.0, SOURCE, "udp")
    assert [str(b.uri) for b in bindings.current("L", 4.0)] == ["sip:b@h2"]


def test_star_removes_all_and_needs_expires_zero() -> None:
    bindings = Bindings()
    bindings.apply("L", register("<sip:a@h1>"), 0.0, SOURCE, "udp")
    assert (
        bindings.apply("L", register("*", expires="10", cseq=2), 1.0, SOURCE, "udp").status == 400
    )
    assert bindings.apply("L", register("*", expires="0", cseq=2), 1.0, SOURCE, "udp").status == 200
    assert bindings.current("L", 2.0) == ()


def test_too_brief_interval_is_423_and_old_cseq_is_refused() -> None:
    bindings = Bindings()
    assert (
        bindings.apply("L", register("<sip:a@h1>", expires="30"), 0.0, SOURCE, "udp").status == 423
    )
    bindings.apply("L", register("<sip:a@h1>", cseq=5), 0.0, SOURCE, "udp")
    assert bindings.apply("L", register("<sip:a@h1>", cseq=4), 1.0, SOURCE, "udp").status == 500


def test_guard_bans_after_ten_failures_within_a_minute_and_forgives_later() -> None:
    guard = AuthGuard(max_failures=10, window=60, ban_seconds=300)
    banned = [guard.failure("10.0.0.9", t * 5.0) for t in range(10)]
    assert banned == [False] * 9 + [True]
    assert guard.blocked("10.0.0.9", 46.0)
    assert not guard.blocked("10.0.0.8", 46.0)
    assert not guard.blocked("10.0.0.9", 45.0 + 300)


def test_failures_spread_over_more_than_the_window_do_not_ban() -> None:
    guard = AuthGuard(max_failures=10, window=60, ban_seconds=300)
    assert not any(guard.failure("h", t * 7.0) for t in range(30))
    assert not guard.blocked("h", 300.0)


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=60))
def test_guard_bans_exactly_when_ten_failures_fit_in_a_window(times: list[float]) -> None:
    guard = AuthGuard(max_failures=10, window=60, ban_seconds=1e9)
    times = sorted(times)
    banned_at = next((t for t in times if guard.failure("h", t)), None)
    first_dense = next(
        (times[i + 9] for i in range(len(times) - 9) if times[i + 9] - times[i] < 60), None
    )
    assert banned_at == first_dense
