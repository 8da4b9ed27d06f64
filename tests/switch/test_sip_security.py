"""The attacks of issue 11 on SIP, re-run against a live vpbx over real sockets.

Each test here failed on the code before the fix (commit 5a8b3ed): a captured Proxy-Authorization
replayed from another address placed a call through the outbound trunk; answers to malformed
requests went wherever their Via pointed; a host name in such a Via raised inside the event
loop; every garbage datagram wrote a log line; failures forged over UDP for one login locked
the whole source address out; 200 to OPTIONS had no To tag.
"""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import TESTDATA
from tests.peers.sipp import run_sipp, start_sipp
from tests.sip.test_rfc4475 import EXPECTED, ParseReject, Reject
from tests.switch.harness import TRUNK_IP, RunningPbx, Setup, running_pbx
from vpbx.services.entities import EntityService
from vpbx.sip.digest import build_authorization

ATTACKER_IP = "127.0.0.5"  # another loopback address: "another machine" for the PBX
OUTSIDE = "79161234567"

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def udp_socket(ip: str = "127.0.0.1", port: int = 0, timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.settimeout(timeout)
    return sock


def request(
    method: str,
    uri: str,
    sock_addr: tuple[str, int],
    *,
    user: str = "probe",
    call_id: str | None = None,
    cseq: int = 1,
    via: str | None = None,
    extra: list[str] | None = None,
    body: str = "",
) -> bytes:
    host, port = sock_addr
    lines = [
        f"{method} {uri} SIP/2.0",
        via or f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{host}>;tag={uuid.uuid4().hex[:8]}",
        f"To: <{uri}>" if method != "REGISTER" else f"To: <sip:{user}@127.0.0.1>",
        f"Call-ID: {call_id or uuid.uuid4().hex}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{user}@{host}:{port}>",
        *(extra or []),
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def final_answer(sock: socket.socket, timeout: float = 3.0) -> bytes:
    """The first final (>= 200) response arriving at `sock`, or b"" when none does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return b""
        status = re.match(rb"SIP/2\.0 (\d{3})", data)
        if status is not None and int(status.group(1)) >= 200:
            return data
    return b""


def transaction_of(message: bytes) -> bytes | None:
    """The branch of a message's first Via (what the server's transactions are keyed by, after
    RFC 3261 §17.2.3: two torture requests sharing a branch and sent-by are one transaction,
    and the second gets the first's answer again), None when it has none."""
    found = re.search(
        rb"(?im)^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch[ \t]*=[ \t]*([^;,\s]+)", message
    )
    return found.group(1) if found else None


def answer_to(sock: socket.socket, wanted: bytes | None, timeout: float) -> bytes:
    """The first final response at `sock` of transaction `wanted` (any, when None)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answer = final_answer(sock, timeout=left)
        if not answer or wanted is None or transaction_of(answer) == wanted:
            return answer
    return b""


def header(response: bytes, name: str) -> str:
    found = re.search(rf"^{name}:\s*(.*?)\r$", response.decode(), re.M | re.I)
    assert found is not None, f"no {name} in {response!r}"
    return found.group(1)


def status_of(response: bytes) -> int:
    found = re.match(rb"SIP/2\.0 (\d{3})", response)
    assert found is not None, response
    return int(found.group(1))


def authorize(
    challenge_response: bytes, method: str, uri: str, login: str, password: str, nc: int = 1
) -> str:
    name = "Proxy-Authenticate" if status_of(challenge_response) == 407 else "WWW-Authenticate"
    return build_authorization(
        header(challenge_response, name), method, uri, login, password, uuid.uuid4().hex[:8], nc
    )


def register(
    pbx: RunningPbx, sock: socket.socket, login: str, password: str | None
) -> tuple[bytes, bytes]:
    """REGISTER, and with `password` the authenticated REGISTER after the 401: both answers."""
    uri = f"sip:127.0.0.1:{pbx.sip_port}"
    call_id = uuid.uuid4().hex
    addr = sock.getsockname()
    sock.sendto(
        request("REGISTER", uri, addr, user=login, call_id=call_id), ("127.0.0.1", pbx.sip_port)
    )
    first = final_answer(sock)
    if password is None or not first.startswith(b"SIP/2.0 401"):
        return first, b""
    auth = authorize(first, "REGISTER", uri, login, password)
    sock.sendto(
        request(
            "REGISTER",
            uri,
            addr,
            user=login,
            call_id=call_id,
            cseq=2,
            extra=[f"Authorization: {auth}"],
        ),
        ("127.0.0.1", pbx.sip_port),
    )
    return first, final_answer(sock)


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path, employees=2) as running:
        yield running


# -- digest replay: toll fraud ------------------------------------------------------------------


def test_a_captured_proxy_authorization_replayed_elsewhere_places_no_call(tmp_path: Path) -> None:
    """Issue 11: the Proxy-Authorization of an INVITE from 101 to 102, replayed from another
    address with Request-URI 79161234567, went out through the outbound trunk under 101's
    caller ID. Now the digest-uri must name the Request-URI and a nonce-count serves once."""
    provider = start_sipp("uas", tmp_path / "provider", ip=TRUNK_IP, timeout=30)
    with provider, running_pbx(tmp_path, employees=2, trunk={"port": provider.port}) as pbx:
        line = pbx.lines[0]
        server = ("127.0.0.1", pbx.sip_port)
        # The victim's phone calls extension 102 and answers the 407 (what a sniffer captures).
        victim = udp_socket()
        to_102 = f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}"
        call_id = uuid.uuid4().hex
        victim.sendto(
            request(
                "INVITE", to_102, victim.getsockname(), user=line.login, call_id=call_id, body=SDP
            ),
            server,
        )
        challenge = final_answer(victim)
        assert status_of(challenge) == 407
        captured = authorize(challenge, "INVITE", to_102, line.login, line.password)
        victim.sendto(
            request(
                "INVITE",
                to_102,
                victim.getsockname(),
                user=line.login,
                call_id=call_id,
                cseq=2,
                extra=[f"Proxy-Authorization: {captured}"],
                body=SDP,
            ),
            server,
        )
        assert (
            status_of(final_answer(victim)) == 480
        )  # 102 has no phone registered: but it was let in

        # The attacker replays the captured header from another address, to an outside number.
        attacker = udp_socket(ATTACKER_IP)
        outside = f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}"
        attacker.sendto(
            request(
                "INVITE",
                outside,
                attacker.getsockname(),
                user=line.login,
                extra=[f"Proxy-Authorization: {captured}"],
                body=SDP,
            ),
            server,
        )
        answer = final_answer(attacker, timeout=5)
        assert status_of(answer) == 407, answer
        # ... and to the very extension it was made for: the nonce-count was used.
        attacker.sendto(
            request(
                "INVITE",
                to_102,
                attacker.getsockname(),
                user=line.login,
                extra=[f"Proxy-Authorization: {captured}"],
                body=SDP,
            ),
            server,
        )
        replay = final_answer(attacker)
        assert status_of(replay) == 407, replay
        assert "stale=true" in header(replay, "Proxy-Authenticate")
        assert pbx.application is not None
        events = pbx.application.metrics.registry.get_sample_value(
            "vpbx_security_events_total", {"kind": "sip_digest_replay"}
        )
        assert events == 1.0  # counted for /metrics (the other replay failed on its uri)
        time.sleep(1)
        victim.close()
        attacker.close()
    result = provider.finish(timeout=5)
    assert f"INVITE sip:{OUTSIDE}" not in result.messages(), "the replayed call reached the trunk"


def test_an_expired_nonce_with_the_right_password_is_answered_stale(pbx: RunningPbx) -> None:
    assert pbx.application is not None
    registrar = pbx.application.pbx.registrar
    registrar.nonce_lifetime = registrar.counts.lifetime = 0.5
    line = pbx.lines[0]
    phone = udp_socket()
    uri = f"sip:127.0.0.1:{pbx.sip_port}"
    addr = phone.getsockname()
    phone.sendto(request("REGISTER", uri, addr, user=line.login), ("127.0.0.1", pbx.sip_port))
    challenge = final_answer(phone)
    time.sleep(1)
    for password, stale in ((line.password, True), ("wrong", False)):
        auth = authorize(challenge, "REGISTER", uri, line.login, password)
        phone.sendto(
            request("REGISTER", uri, addr, user=line.login, extra=[f"Authorization: {auth}"]),
            ("127.0.0.1", pbx.sip_port),
        )
        answer = final_answer(phone)
        assert status_of(answer) == 401
        assert ("stale=true" in header(answer, "WWW-Authenticate")) is stale
    phone.close()


# -- per-line address allow-list ----------------------------------------------------------------


def test_a_line_limited_to_addresses_refuses_its_password_from_elsewhere(tmp_path: Path) -> None:
    async def limit(svc: EntityService, setup: Setup) -> None:
        line_id = setup.staff[0]["phones"][0]["sip_line_id"]
        await svc.update("sip-lines", line_id, {"allowed_addresses": ["127.0.0.0/30"]})

    with running_pbx(tmp_path, employees=1, customize=limit) as pbx:
        line = pbx.lines[0]
        stranger = udp_socket(ATTACKER_IP)
        wrong = udp_socket(ATTACKER_IP)
        _, from_elsewhere = register(pbx, stranger, line.login, line.password)
        _, wrong_password = register(pbx, wrong, line.login, "not-the-password")
        # Refused exactly like a wrong password: nothing tells the line's password was right.
        assert status_of(from_elsewhere) == status_of(wrong_password) == 401
        office = udp_socket("127.0.0.1")
        _, allowed = register(pbx, office, line.login, line.password)
        assert status_of(allowed) == 200, allowed
        for sock in (stranger, wrong, office):
            sock.close()


# -- bans that spoofed UDP cannot turn against an office -----------------------------------------


def test_forged_udp_failures_for_one_login_do_not_lock_out_the_office(pbx: RunningPbx) -> None:
    """Issue 11: ten failures forged over UDP from an office's address banned the address; now
    the login is ignored from there over UDP only, while other logins and TCP still work."""
    victim, colleague = pbx.lines[0], pbx.lines[1]
    forger = udp_socket("127.0.0.1")
    for _ in range(10):
        _first, failed = register(pbx, forger, victim.login, "guess")
        assert status_of(failed) == 401
    assert register(pbx, forger, victim.login, "guess")[1] == b""  # this login is now ignored
    forger.close()
    # A colleague behind the same address registers over UDP ...
    phone = udp_socket("127.0.0.1")
    assert status_of(register(pbx, phone, colleague.login, colleague.password)[1]) == 200
    phone.close()
    # ... and the victim's own phone over TCP, which nobody can forge.
    assert status_of(tcp_register(pbx, victim.login, victim.password)) == 200


def tcp_register(pbx: RunningPbx, login: str, password: str) -> bytes:
    uri = f"sip:127.0.0.1:{pbx.sip_port};transport=tcp"
    with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=5) as tcp:
        addr = tcp.getsockname()
        call_id = uuid.uuid4().hex

        def send(cseq: int, extra: list[str]) -> bytes:
            data = request(
                "REGISTER", uri, addr, user=login, call_id=call_id, cseq=cseq, extra=extra
            )
            data = data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP", 1)
            tcp.sendall(data)
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                chunk = tcp.recv(65535)
                assert chunk, "the server closed the connection"
                buffer += chunk
            return buffer

        challenge = send(1, [])
        assert status_of(challenge) == 401, challenge
        auth = authorize(challenge, "REGISTER", uri, login, password)
        return send(2, [f"Authorization: {auth}"])


# -- where answers go ---------------------------------------------------------------------------


def test_answers_to_malformed_requests_go_to_the_source_not_the_via(pbx: RunningPbx) -> None:
    server = ("127.0.0.1", pbx.sip_port)
    sender = udp_socket()
    target = udp_socket(timeout=0.5)  # a third party the Via points at
    target_port = target.getsockname()[1]
    forged_via = (
        f"Via: SIP/2.0/UDP 127.0.0.1:{target_port};received=127.0.0.1;rport={target_port};"
        f"branch=z9hG4bK{uuid.uuid4().hex}"
    )
    uri = f"sip:probe@127.0.0.1:{pbx.sip_port}"
    # Refused by validation (an extension we do not support: 420).
    sender.sendto(
        request("OPTIONS", uri, sender.getsockname(), via=forged_via, extra=["Require: 100rel-x"]),
        server,
    )
    assert status_of(final_answer(sender)) == 420
    # Unparsable (Content-Length beyond the datagram: 400).
    broken = request("OPTIONS", uri, sender.getsockname(), via=forged_via.replace("bK", "bKa"))
    sender.sendto(broken.replace(b"Content-Length: 0", b"Content-Length: 500"), server)
    assert status_of(final_answer(sender)) == 400
    # An unknown URI scheme (416).
    sender.sendto(
        request(
            "OPTIONS", "urn:x-weird:1", sender.getsockname(), via=forged_via.replace("bK", "bKb")
        ),
        server,
    )
    assert status_of(final_answer(sender)) == 416
    assert final_answer(target, timeout=1) == b"", "an answer was reflected to the Via"
    sender.close()
    target.close()


def test_a_received_written_by_the_sender_does_not_steer_the_answer(pbx: RunningPbx) -> None:
    """A valid OPTIONS whose top Via already claims `received=` a third party: the answer goes
    to where the request came from, and the 200 carries a To tag (RFC 3261 §8.2.6.2)."""
    sender = udp_socket("127.0.0.1")
    port = sender.getsockname()[1]
    third_party = udp_socket("127.0.0.9", port, timeout=0.5)
    via = f"Via: SIP/2.0/UDP 127.0.0.1:{port};received=127.0.0.9;branch=z9hG4bK{uuid.uuid4().hex}"
    uri = f"sip:127.0.0.1:{pbx.sip_port}"
    sender.sendto(
        request("OPTIONS", uri, ("127.0.0.1", port), via=via), ("127.0.0.1", pbx.sip_port)
    )
    answer = final_answer(sender)
    assert status_of(answer) == 200, answer
    assert ";tag=" in header(answer, "To")
    assert final_answer(third_party, timeout=0.5) == b""
    sender.close()
    third_party.close()


def test_a_host_name_in_the_via_of_a_malformed_request_is_answered_to_the_source(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    """A Via naming a host (not an address) on a request we cannot parse: the answer used to be
    sent to that name, which uvloop refuses with an exception inside the event loop (and the
    default loop would resolve it, blocking every call)."""
    sender = udp_socket()
    uri = f"sip:probe@127.0.0.1:{pbx.sip_port}"
    via = f"Via: SIP/2.0/UDP attacker.example.invalid:5060;branch=z9hG4bK{uuid.uuid4().hex}"
    broken = request("OPTIONS", uri, sender.getsockname(), via=via)
    sender.sendto(
        broken.replace(b"Content-Length: 0", b"Content-Length: 500"), ("127.0.0.1", pbx.sip_port)
    )
    assert status_of(final_answer(sender)) == 400
    sender.close()
    result = run_sipp("options.xml", f"127.0.0.1:{pbx.sip_port}", tmp_path / "after", timeout=10)
    assert result.returncode == 0, result.stdout + result.errors()


# -- noise ----------------------------------------------------------------------------------------


def test_a_flood_of_garbage_is_summarised_not_logged_per_datagram(
    pbx: RunningPbx, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11: every garbage datagram wrote a log line (~400 MB of log in 40 s)."""
    caplog.set_level(logging.INFO, logger="vpbx")
    assert pbx.application is not None
    transport = pbx.application.endpoint.transport
    before = getattr(transport, "noise", None)
    flood = udp_socket()
    garbage = [
        b"\x00\x01garbage that is no SIP\r\n\r\n",
        b"INVITE x\r\n\r\n",
        b"SIP/2.0 999\r\n\r\n",
    ]
    for i in range(10_000):
        flood.sendto(garbage[i % 3] + str(i).encode(), ("127.0.0.1", pbx.sip_port))
        if i % 500 == 499:
            time.sleep(0.02)  # let the server read: the socket buffer would drop the rest
    flood.close()
    result = run_sipp("options.xml", f"127.0.0.1:{pbx.sip_port}", tmp_path / "options", timeout=10)
    assert result.returncode == 0, result.stdout + result.errors()
    lines = [r for r in caplog.records if r.name.startswith("vpbx.sip")]
    assert len(lines) <= 3, f"{len(lines)} log lines, e.g. {lines[0].getMessage()}"
    assert before is not None
    assert transport.noise.total > 5_000, "the flood did not even reach the server"


# -- RFC 4475 over the wire -----------------------------------------------------------------------


def test_every_refused_torture_request_gets_the_status_the_rfc_names(pbx: RunningPbx) -> None:
    """The RFC 4475 requests that must be refused, sent to the live server: each answer reaches
    the sender (not the Via of the message) with exactly the status of the shared README's
    expectations (unksm2: 400, RFC 4475 §3.3.4 "A registrar would reject this request with a
    400 Bad Request response")."""
    sender = udp_socket()
    statuses: dict[str, int | None] = {}
    wanted: dict[str, int] = {}
    for name, expected in EXPECTED.items():
        if not isinstance(expected, Reject | ParseReject):
            continue
        data = (TESTDATA / "rfc4475" / f"{name}.dat").read_bytes()
        if not data.startswith(b"SIP/2.0"):
            wanted[name] = expected.status
            sender.sendto(data, ("127.0.0.1", pbx.sip_port))
            # An answer that came late (a loaded CI machine) must not be taken for the next
            # request's, as it once was, shifting every status after it: answers are matched
            # to their request by transaction (the Via branch).
            answer = answer_to(sender, transaction_of(data), timeout=5)
            statuses[name] = status_of(answer) if answer else None
    sender.close()
    assert statuses == wanted
    assert wanted["unksm2"] == 400
