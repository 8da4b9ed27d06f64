"""Connection limits (issue 11): idle TCP connections cannot take the descriptors calls need.

The attack: ~20,000 idle TCP connections to port 5060 used up every file descriptor of the
process and new calls failed ("could not bind any RTP port pair"). Here it is bounded: the
descriptor limit of the test process is lowered so that ~1,000 connections from an attacker
process would exhaust it, and a call between two phones must still connect.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

from tests.peers.ports import free_port, free_range
from tests.peers.sipp import SCENARIOS, run_sipp
from tests.switch.harness import NUMBER, TRUNK_IP, RunningPbx, line_phone, running_pbx
from vpbx.media.errors import MediaError
from vpbx.media.session import RtpSession
from vpbx.transport.limits import connection_cap, raise_descriptor_limit


def closed_by_server(sock: socket.socket, wait: float) -> bool:
    """The server closed (or reset) `sock` within `wait` seconds (what it sent is skipped)."""
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(2000) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def connect_from(source: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def options(port: int, local_port: int) -> bytes:
    return (
        f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{local_port};branch=z9hG4bK{time.monotonic_ns()}\r\n"
        "From: <sip:probe@127.0.0.1>;tag=probe\r\n"
        "To: <sip:ping@127.0.0.1>\r\n"
        f"Call-ID: limits-{time.monotonic_ns()}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_connections_over_the_per_source_cap_are_closed(tmp_path: Path) -> None:
    settings = {"sip_tcp_per_source": 5, "sip_tcp_partial_timeout": 30.0}
    with running_pbx(tmp_path, settings=settings) as pbx:
        socks = [connect_from("127.0.0.1", pbx.sip_port) for _ in range(8)]
        try:
            closed = [closed_by_server(sock, 0.5) for sock in socks]
            assert closed.count(True) == 3, closed
            # Another address has its own allowance.
            other = connect_from("127.0.0.5", pbx.sip_port)
            with other:
                assert not closed_by_server(other, 0.3)
            # A connection that is kept still talks SIP.
            kept = socks[closed.index(False)]
            kept.settimeout(5)
            kept.sendall(options(pbx.sip_port, kept.getsockname()[1]))
            assert kept.recv(2000).startswith(b"SIP/2.0 200")
        finally:
            for sock in socks:
                sock.close()
        # Closed connections give their place back (once the server has seen them close).
        deadline = time.monotonic() + 5
        while True:
            with connect_from("127.0.0.1", pbx.sip_port) as again:
                if not closed_by_server(again, 0.3):
                    break
            assert time.monotonic() < deadline, "the freed places were not given back"


def test_a_connection_without_a_complete_message_gets_the_short_timeout(
    tmp_path: Path,
) -> None:
    settings = {"sip_tcp_partial_timeout": 1.0, "sip_tcp_idle_timeout": 60.0}
    with running_pbx(tmp_path, settings=settings) as pbx:
        silent = connect_from("127.0.0.1", pbx.sip_port)
        pinging = connect_from("127.0.0.1", pbx.sip_port)
        talking = connect_from("127.0.0.1", pbx.sip_port)
        with silent, pinging, talking:
            talking.settimeout(5)
            talking.sendall(options(pbx.sip_port, talking.getsockname()[1]))
            assert talking.recv(2000).startswith(b"SIP/2.0 200")
            started = time.monotonic()
            # Keep-alive pings are not messages: they do not earn the long timeout.
            pinging.sendall(b"\r\n\r\n")
            assert closed_by_server(silent, 5)
            assert time.monotonic() - started < 4
            assert closed_by_server(pinging, 3)
            # The one that sent a message has the idle timeout (60 s), not the short one.
            assert not closed_by_server(talking, 1.5)


ATTACKER = textwrap.dedent(
    """
    import resource, socket, sys, time
    port, count, sources = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    for index in range(count):
        # Non-blocking: a server that stopped accepting must not stall the attack (or the test).
        sock = socket.socket()
        sock.bind((f"127.0.1.{index % sources + 1}", 0))
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        held.append(sock)
        if index % 50 == 49:
            time.sleep(0.05)  # paced so the listen backlog does not overflow (SYN retries)
    time.sleep(600)
    """
)


@contextlib.contextmanager
def descriptor_limit(extra: int) -> Iterator[int]:
    """The soft descriptor limit of this process lowered to what is open now + `extra`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    base = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (base + extra, hard))
    try:
        yield base
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_connections_cannot_take_the_descriptors_a_call_needs(
    tmp_path: Path, tone_wav: Path
) -> None:
    rtp = free_range(200)
    with descriptor_limit(700) as base:
        settings = {
            "rtp_port_min": rtp,
            "rtp_port_max": rtp + 199,
            # What is open already (the test process) plus room for the database and files.
            "sip_fd_reserve": base + 150,
            "sip_tcp_per_source": 50,
            "sip_tcp_partial_timeout": 60.0,
        }
        with running_pbx(tmp_path, employees=2, settings=settings) as pbx:
            caller = line_phone(pbx, tmp_path, 0, tone_wav)
            callee = line_phone(pbx, tmp_path, 1, tone_wav)
            attacker = subprocess.Popen(
                [sys.executable, "-c", ATTACKER, str(pbx.sip_port), "1200", "40"]
            )
            try:
                pbx.wait_registered(0)
                pbx.wait_registered(1)
                # The attacker needs ~1.2 s to open its connections.
                time.sleep(4)
                # What failed under the attack: "could not bind any RTP port pair".
                bind_rtp(pbx)
                # The switch kept what calls need: SIP over UDP answers, and a call connects.
                result = run_sipp("options.xml", f"127.0.0.1:{pbx.sip_port}", tmp_path / "o")
                assert result.returncode == 0, result.stdout + result.errors()
                caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
                callee.wait_event("CALL_ESTABLISHED", timeout=20)
                caller.wait_event("CALL_ESTABLISHED", timeout=20)
                caller.command("hangup")
                callee.wait_event("CALL_CLOSED")
                assert_capped(pbx)
            finally:
                attacker.kill()
                attacker.wait()
                caller.stop()
                callee.stop()


def bind_rtp(pbx: RunningPbx) -> None:
    """An RTP session opens on the switch (a port pair bound, as for a new call leg)."""
    assert pbx.application is not None
    media = pbx.application.pbx.media

    async def bind() -> int:
        session = await media.open("probe")
        port = session.local_port
        await session.aclose()
        return port

    assert pbx.run(bind()) > 0


def assert_capped(pbx: RunningPbx) -> None:
    assert pbx.application is not None
    transport = pbx.application.endpoint.transport
    assert transport.connections <= transport.limits.total
    assert transport.refused > 0
    # Each refusal is a security event of /metrics.
    assert 'kind="sip_connection_cap"' in pbx.application.metrics.exposition().decode()


def test_the_connection_cap_keeps_the_rtp_range_and_the_reserve_free() -> None:
    assert connection_cap(20_000, 10_001, 512) == 20_000 - 10_001 - 512
    # A limit that cannot hold the RTP range: SIP keeps a quarter, RTP the rest.
    assert connection_cap(4096, 10_001, 512) == 1024


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    try:
        assert raise_descriptor_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_tls_connection_that_never_completes_its_handshake_is_closed(tmp_path: Path) -> None:
    settings = {"sip_tls_port": free_port(), "sip_tcp_partial_timeout": 1.0}
    with running_pbx(tmp_path, settings=settings) as pbx:
        assert pbx.application is not None
        port = pbx.application.endpoint.transport.tls_port
        with connect_from("127.0.0.1", port) as stalled:
            started = time.monotonic()
            assert closed_by_server(stalled, 5)
            assert time.monotonic() - started < 4


def test_a_call_finding_every_rtp_port_in_use_gets_503_with_retry_after(tmp_path: Path) -> None:
    """Issue 17: the port pool exhausted → 503 with Retry-After, not a hang (nor a 500)."""
    rtp = free_range(8)
    settings = {"rtp_port_min": rtp, "rtp_port_max": rtp + 7}
    with running_pbx(tmp_path, settings=settings) as pbx:
        assert pbx.application is not None
        media = pbx.application.pbx.media

        async def take_every_port() -> list[RtpSession]:
            held: list[RtpSession] = []
            with contextlib.suppress(MediaError):
                while len(held) < 100:
                    held.append(await media.open(f"hog{len(held)}"))
            return held

        async def release(held: list[RtpSession]) -> None:
            for session in held:
                await session.aclose()

        held = pbx.run(take_every_port())
        assert 1 <= len(held) <= 4, len(held)
        stock = (SCENARIOS / "trunk_refused.xml").read_text(encoding="iso-8859-1")
        refused = stock.replace(
            '<recv response="403"/>',
            '<recv response="503"><action><ereg regexp="[0-9]+" search_in="hdr" '
            'header="Retry-After:" check_it="true" assign_to="wait"/></action></recv>'
            '<Reference variables="wait"/>',
        )
        assert refused != stock
        scenario = tmp_path / "refused_503.xml"
        scenario.write_text(refused, encoding="iso-8859-1")
        try:
            result = run_sipp(
                scenario,
                f"127.0.0.1:{pbx.sip_port}",
                tmp_path / "sipp",
                extra=["-i", TRUNK_IP, "-s", NUMBER],
                timeout=15,
            )
            assert result.returncode == 0, result.stdout[-2000:] + result.errors()
            messages = result.messages()
            assert "SIP/2.0 503" in messages, messages
            assert "Retry-After: 5" in messages, messages
        finally:
            pbx.run(release(held))
        assert media.pairs_in_use == 0  # nothing leaked by the refusal (free or parked)
