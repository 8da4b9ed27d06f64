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
    banned = [guard.failure("10.0.0.9", t * 5.0, "101") is not None for t in range(10)]
    assert banned == [False] * 9 + [True]
    assert guard.blocked("10.0.0.9", 46.0, "101")
    assert not guard.blocked("10.0.0.8", 46.0, "101")
    assert not guard.blocked("10.0.0.9", 45.0 + 300, "101")


def test_failures_spread_over_more_than_the_window_do_not_ban() -> None:
    guard = AuthGuard(max_failures=10, window=60, ban_seconds=300)
    assert not any(guard.failure("h", t * 7.0, "101") for t in range(30))
    assert not guard.blocked("h", 300.0, "101")


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=60))
def test_guard_bans_exactly_when_ten_failures_fit_in_a_window(times: list[float]) -> None:
    guard = AuthGuard(max_failures=10, window=60, ban_seconds=1e9)
    times = sorted(times)
    banned_at = next((t for t in times if guard.failure("h", t, "101")), None)
    first_dense = next(
        (times[i + 9] for i in range(len(times) - 9) if times[i + 9] - times[i] < 60), None
    )
    assert banned_at == first_dense


def test_spoofed_udp_failures_for_one_login_do_not_lock_out_the_office() -> None:
    """Issue 11: failures forged over UDP for login A from the office's NAT address used to ban
    the address; now only A over UDP from there is ignored."""
    guard = AuthGuard()
    office = "198.51.100.7"
    bans = [guard.failure(office, float(t), "101") for t in range(10)]
    assert bans[-1] is not None
    assert bans[-1].login == "101"
    assert guard.blocked(office, 10.0, "101")
    assert not guard.blocked(office, 10.0)  # requests without credentials still challenged
    assert not guard.blocked(office, 10.0, "102")  # another login from the same address
    assert not guard.blocked(office, 10.0, "101", reliable=True)  # A itself over TCP or TLS


def test_guessing_over_many_logins_from_one_source_gets_the_source_ignored() -> None:
    guard = AuthGuard(max_failures=10, max_source_failures=50)
    bans = [guard.failure("203.0.113.5", t * 0.5, f"{1000 + t}") for t in range(50)]
    assert bans[:49] == [None] * 49
    assert bans[49] is not None
    assert bans[49].login is None
    assert guard.blocked("203.0.113.5", 30.0)
    assert guard.blocked("203.0.113.5", 30.0, "any")
    assert not guard.blocked("203.0.113.5", 30.0, reliable=True)  # only its channel


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.floats(0, 1000)),
        max_size=200,
    )
)
def test_a_tcp_login_is_never_banned_by_udp_failures(events: list[tuple[str, bool, float]]) -> None:
    guard = AuthGuard(max_failures=3, max_source_failures=5, window=60, ban_seconds=100)
    for login, reliable, now in sorted(events, key=lambda e: e[2]):
        if not reliable:
            guard.failure("192.0.2.1", now, login)
    assert not any(guard.blocked("192.0.2.1", t, "a", reliable=True) for t in range(0, 1200, 7))


def test_the_guard_forgets_old_failures_of_forged_sources() -> None:
    guard = AuthGuard(window=60)
    for i in range(5000):
        guard.failure(f"10.{i // 250}.{i % 250}.1", i * 0.01, "x")
    assert len(guard) == 10000  # (source, login) and source: all within one window
    guard.failure("192.0.2.9", 200.0, "y")
    assert len(guard) == 2


# -- what a REGISTER changed (issue 17: a refresh is not news) -----------------------------------


def _places(bindings: Bindings, aor: str, now: float) -> dict[str, tuple[object, ...]]:
    """The live contacts of `aor` and how each is reached: what `changed` is about."""
    return {b.key: (b.source, b.transport, b.user_agent) for b in bindings.current(aor, now)}


def test_a_refresh_of_the_same_contact_is_not_a_change_but_a_move_is() -> None:
    bindings = Bindings()
    first = bindings.apply("L", register("<sip:a@h1>", expires="300"), 0.0, SOURCE, "udp")
    assert first.changed
    refresh = bindings.apply("L", register("<sip:a@h1>", cseq=2), 10.0, SOURCE, "udp")
    assert refresh.status == 200
    assert not refresh.changed
    assert [b.remaining(10.0) for b in refresh.bindings] == [3600]  # the expiry still moves
    moved = bindings.apply("L", register("<sip:a@h1>", cseq=3), 20.0, ("10.0.0.7", 5062), "udp")
    assert moved.changed
    over_tcp = bindings.apply("L", register("<sip:a@h1>", cseq=4), 30.0, ("10.0.0.7", 5062), "tcp")
    assert over_tcp.changed
    gone = bindings.apply("L", register("<sip:a@h1>", expires="0", cseq=5), 40.0, SOURCE, "udp")
    assert gone.changed
    assert gone.bindings == ()
    # a binding that had expired comes back as news
    again = bindings.apply("L", register("<sip:a@h1>", expires="60", cseq=6), 50.0, SOURCE, "udp")
    assert again.changed
    late = bindings.apply("L", register("<sip:a@h1>", expires="60", cseq=7), 200.0, SOURCE, "udp")
    assert late.changed


_CONTACT_POOL = ("<sip:a@h1>", "<sip:b@h2>", "<sip:c@h3;transport=tcp>", "<sip:a@h1:5070>")
_SOURCES = (SOURCE, ("10.0.0.7", 5062))
_operation = st.tuples(
    st.lists(
        st.tuples(
            st.sampled_from(_CONTACT_POOL), st.sampled_from(("", ";expires=0", ";expires=90"))
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from((None, "0", "60", "3600")),
    st.sampled_from(_SOURCES),
    st.sampled_from(("udp", "tcp")),
    st.floats(min_value=0, max_value=200, allow_nan=False),
    st.booleans(),  # Contact: * instead
)


@given(st.lists(_operation, min_size=1, max_size=25))
def test_changed_says_whether_the_live_contacts_or_their_ways_changed(
    operations: list[tuple[list[tuple[str, str]], str | None, tuple[str, int], str, float, bool]],
) -> None:
    """`changed` is exactly "the live contacts, with their source, transport and user agent,
    differ before and after", and every binding's key is its URI as text."""
    bindings = Bindings(min_expires=60)
    now = 0.0
    for cseq, (contacts, expires, source, transport, step, star) in enumerate(operations, 1):
        now += step
        before = _places(bindings, "L", now)
        if star:
            request = register("*", expires=expires, cseq=cseq)
        else:
            request = register(", ".join(c + p for c, p in contacts), expires=expires, cseq=cseq)
        result = bindings.apply("L", request, now, source, transport)
        after = _places(bindings, "L", now)
        if result.outcome is Outcome.OK:
            assert result.changed == (before != after)
        else:
            assert after == before
            assert not result.changed
        for binding in bindings.current("L", now):
            assert binding.key == str(binding.uri)
