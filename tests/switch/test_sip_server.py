"""The SIP server under real peers: torture messages over UDP and TCP, OPTIONS from SIPp,
registration of baresip phones, and trunk calls from SIPp to a registered baresip phone."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.paths import TESTDATA
from tests.peers.sipp import run_sipp, start_sipp
from tests.switch.harness import TRUNK_IP, RunningPbx, line_phone, running_pbx

RFC4475 = TESTDATA / "rfc4475"


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path, employees=2) as running:
        yield running


def options_ok(pbx: RunningPbx, workdir: Path, transport: str = "u1") -> None:
    result = run_sipp(
        "options.xml", f"127.0.0.1:{pbx.sip_port}", workdir, transport=transport, timeout=10
    )
    assert result.returncode == 0, result.stdout + result.errors()


def torture_messages() -> list[Path]:
    files = sorted(RFC4475.glob("*.dat"))
    assert len(files) >= 40, f"RFC 4475 messages missing in {RFC4475}"
    return files


def test_torture_messages_over_udp_and_tcp_leave_the_server_answering(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    answers: dict[str, bytes] = {}
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.3)
    try:
        for path in torture_messages():
            udp.sendto(path.read_bytes(), ("127.0.0.1", pbx.sip_port))
            try:
                answers[path.name] = udp.recv(65535)
            except TimeoutError:
                answers[path.name] = b""
    finally:
        udp.close()
    for path in torture_messages():
        with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=2) as tcp:
            tcp.sendall(path.read_bytes())
            tcp.settimeout(0.3)
            with contextlib.suppress(TimeoutError, ConnectionError):
                tcp.recv(65535)
    # The server survived everything and still answers, on both transports.
    options_ok(pbx, tmp_path / "udp")
    options_ok(pbx, tmp_path / "tcp", transport="t1")
    # Answers to valid messages go to their Via (not to us); refused ones come back to the source
    # (their statuses are checked in test_sip_security.py), e.g. badvers's 505.
    assert answers["badvers.dat"].startswith(b"SIP/2.0 505")


def test_half_a_message_over_tcp_is_cut_off_without_affecting_others(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    assert pbx.application is not None
    pbx.application.endpoint.transport.partial_timeout = 0.5
    with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=5) as tcp:
        tcp.sendall(
            b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n"
        )
        options_ok(pbx, tmp_path / "during")
        tcp.settimeout(5)
        assert tcp.recv(100) == b""  # the server closed the connection
    with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=5) as huge:
        huge.sendall(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nX-Filler: " + b"a" * 70000 + b"\r\n")
        huge.settimeout(5)
        assert huge.recv(1000) == b""  # oversized: no framing possible, the connection is closed
    with socket.create_connection(("127.0.0.1", pbx.sip_port), timeout=5) as garbage:
        garbage.sendall(b"\x00\x01 this is not SIP at all\r\n\r\n")
        garbage.settimeout(5)
        data = garbage.recv(1000)
        assert data == b"" or data.startswith(b"SIP/2.0 4")
    options_ok(pbx, tmp_path / "after")


def registration(pbx: RunningPbx, line_id: int) -> dict[str, object]:
    """SIP-2 as the cabinet sees it, through the API."""
    token = pbx.admin_token()
    response = httpx.get(
        f"http://127.0.0.1:{pbx.http_port}/api/v1/sip-lines/{line_id}/registration",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def wait_registered(pbx: RunningPbx, index: int, timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        state = registration(pbx, pbx.lines[index].line_id)
        if state["registered"]:
            return state
        assert time.monotonic() < deadline, f"line {pbx.lines[index].login} did not register"
        time.sleep(0.2)


def test_phones_register_and_the_api_shows_it(
    pbx: RunningPbx, tmp_path: Path, tone_wav: Path
) -> None:
    assert registration(pbx, pbx.lines[1].line_id)["state"].startswith("не зарегистрирован")
    device = line_phone(pbx, tmp_path, 0, tone_wav)
    try:
        state = wait_registered(pbx, 0)
        assert state["state"].startswith("зарегистрирован")
        bindings = state["bindings"]
        assert isinstance(bindings, list)
        assert len(bindings) == 1
        assert "baresip" in bindings[0]["user_agent"].lower()
        assert not registration(pbx, pbx.lines[1].line_id)["registered"]
    finally:
        device.stop()


def test_a_regenerated_password_ends_the_registration_made_with_the_old_one(
    pbx: RunningPbx, tmp_path: Path, tone_wav: Path
) -> None:
    """SIP-1: a phone whose line gets a new password stops being rung at once (its binding is
    dropped from the switch and the database), not when its registration expires; the other
    line's registration is kept."""
    assert pbx.application is not None
    registrar = pbx.application.pbx.registrar
    phones = [line_phone(pbx, tmp_path, index, tone_wav) for index in (0, 1)]

    async def rung(index: int) -> int:
        line = pbx.lines[index]
        now = asyncio.get_running_loop().time()
        return len(registrar.locations(line.login, line.line_id, now))

    try:
        for index in (0, 1):
            wait_registered(pbx, index)
        assert pbx.run(rung(0)) == 1
        response = httpx.post(
            f"http://127.0.0.1:{pbx.http_port}/api/v1/sip-lines/"
            f"{pbx.lines[0].line_id}/regenerate-secret",
            headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 5
        while pbx.run(rung(0)):
            assert time.monotonic() < deadline, "the old registration is still rung"
            time.sleep(0.05)
        state = registration(pbx, pbx.lines[0].line_id)
        assert not state["registered"], state
        # baresip re-registers with the old password: refused, the line stays unregistered
        phones[0].stop()
        phones[0] = line_phone(pbx, tmp_path / "again", 0, tone_wav)
        time.sleep(1.5)
        assert pbx.run(rung(0)) == 0
        assert pbx.run(rung(1)) == 1
        assert registration(pbx, pbx.lines[1].line_id)["registered"]
    finally:
        for phone in phones:
            phone.stop()


def test_trunk_call_reaches_the_registered_phone_and_both_sides_hang_up(
    pbx: RunningPbx, tmp_path: Path, tone_wav: Path
) -> None:
    device = line_phone(pbx, tmp_path, 0, tone_wav)
    try:
        wait_registered(pbx, 0)
        result = run_sipp(
            "trunk_call.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-s", pbx.number, "-i", TRUNK_IP, "-mi", TRUNK_IP],
            timeout=30,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        device.wait_event("CALL_ESTABLISHED")
        device.wait_event("CALL_CLOSED")
    finally:
        device.stop()


def test_the_phone_hangs_up_and_the_trunk_gets_the_bye(
    pbx: RunningPbx, tmp_path: Path, tone_wav: Path
) -> None:
    device = line_phone(pbx, tmp_path, 0, tone_wav)
    try:
        pbx.wait_registered(0)
        sipp = start_sipp(
            "trunk_call_callee_hangs_up.xml",
            tmp_path / "sipp",
            target=f"127.0.0.1:{pbx.sip_port}",
            extra=["-s", pbx.number, "-mi", TRUNK_IP],
            ip=TRUNK_IP,
        )
        with sipp:
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(1)
            device.command("hangup")
            result = sipp.finish(timeout=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        device.wait_event("CALL_CLOSED")
    finally:
        device.stop()


def test_a_virtual_number_called_from_outside_the_trunks_is_refused(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    result = run_sipp(
        "expect_403.xml",
        f"127.0.0.1:{pbx.sip_port}",
        tmp_path / "sipp",
        extra=["-s", pbx.number],
        timeout=15,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()


def test_a_phone_calls_another_by_extension(
    pbx: RunningPbx, tmp_path: Path, tone_wav: Path
) -> None:
    caller = line_phone(pbx, tmp_path, 0, tone_wav)
    callee = line_phone(pbx, tmp_path, 1, tone_wav)
    try:
        pbx.wait_registered(0)
        pbx.wait_registered(1)
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        callee.wait_event("CALL_ESTABLISHED", timeout=20)
        caller.wait_event("CALL_ESTABLISHED", timeout=20)
        caller.command("hangup")
        callee.wait_event("CALL_CLOSED")
    finally:
        caller.stop()
        callee.stop()


def raw_register(
    pbx: RunningPbx, sock: socket.socket, login: str, authorization: str | None
) -> bytes:
    port = sock.getsockname()[1]
    lines = [
        f"REGISTER sip:127.0.0.1:{pbx.sip_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{time.monotonic_ns()};rport",
        f"From: <sip:{login}@127.0.0.1>;tag=probe",
        f"To: <sip:{login}@127.0.0.1>",
        f"Call-ID: probe-{time.monotonic_ns()}",
        "CSeq: 1 REGISTER",
        f"Contact: <sip:{login}@127.0.0.1:{port}>",
        "Max-Forwards: 70",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", pbx.sip_port))
    try:
        return sock.recv(65535)
    except TimeoutError:
        return b""


def shape(response: bytes) -> list[str]:
    """A response without what must differ (nonce, tags, Call-ID, branch): its visible shape."""
    text = response.decode()
    text = re.sub(r'nonce="[^"]*"', 'nonce="N"', text)
    text = re.sub(r"tag=[^;\s>]+", "tag=T", text)
    text = re.sub(r"branch=[^;\s]+", "branch=B", text)
    text = re.sub(r"Call-ID: .*", "Call-ID: C", text)
    text = re.sub(r"sip:\d+@", "sip:USER@", text)
    return text.splitlines()


def test_unknown_login_and_wrong_password_look_the_same_and_guessing_gets_ignored(
    pbx: RunningPbx,
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1)
    try:
        challenge = raw_register(pbx, sock, pbx.lines[0].login, None)
        assert challenge.startswith(b"SIP/2.0 401")
        nonce = re.search(rb'nonce="([^"]+)"', challenge).group(1).decode()  # type: ignore[union-attr]

        def attempt(login: str) -> bytes:
            auth = (
                f'Digest username="{login}", realm="vpbx", nonce="{nonce}", '
                f'uri="sip:127.0.0.1:{pbx.sip_port}", response="{"0" * 32}", algorithm=MD5'
            )
            return raw_register(pbx, sock, login, auth)

        wrong_password = attempt(pbx.lines[0].login)
        unknown_login = attempt("9999999")
        assert wrong_password.startswith(b"SIP/2.0 401")
        assert shape(wrong_password) == shape(unknown_login)
        answers = [attempt(pbx.lines[0].login) for _ in range(9)]  # 10 failures of the login
        assert all(a.startswith(b"SIP/2.0 401") for a in answers)
        assert attempt(pbx.lines[0].login) == b""  # the login is now ignored from this source
        # Only that login from this source (tests/switch/test_sip_security.py: spoofed UDP must
        # not lock out an office): a request without credentials is still challenged.
        assert raw_register(pbx, sock, pbx.lines[0].login, None).startswith(b"SIP/2.0 401")
    finally:
        sock.close()
    # Other sources are still served.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.3", 0))
        other.settimeout(1)
        assert raw_register(pbx, other, pbx.lines[0].login, None).startswith(b"SIP/2.0 401")
