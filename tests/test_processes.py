"""`vpbx run` as two supervised processes (the switch; the API in uvicorn workers), over real
HTTP, SIP and signals: configuration changes reach the switch at once, /health and /metrics,
supervision (one dies → the other stops, SIGTERM stops both, a stalled switch is reported).

A start of `vpbx run` costs ~13 s of CPU on the 2-core CI: the tests that only look at it, or
stop a process for a moment and let it go, share one (`shared_run`) and leave it as they found
it (no call up, nothing stopped); what they count is relative to what they read before their
own action. The tests that kill or stop it for good each start their own."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.ports import free_port

VPBX = [sys.executable, "-m", "vpbx"]
DEMO_NUMBER = "74950000001"
#: the switch's caches live this long without a notification (directory, snapshots)
CACHE_TTL = 5.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    http: str
    status: str
    sip_port: int
    data_dir: Path

    def token(self) -> str:
        login = httpx.post(
            f"{self.http}/api/v1/auth/login",
            json={"login": "admin@demo", "password": "demo-admin-2026"},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        token: str = login.json()["token"]
        return token

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.http}/health", timeout=5)

    def switch_health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.status}/health", timeout=5).json()
        return body


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def vpbx_run(tmp_path: Path, startup: float = 60, **settings: str) -> Iterator[Served]:
    """`vpbx run` serving within `startup` seconds, with `settings` as VPBX_* variables."""
    http_port, sip_port, status_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "VPBX_DATA_DIR": str(tmp_path),
        "VPBX_HTTP_PORT": str(http_port),
        "VPBX_SIP_PORT": str(sip_port),
        "VPBX_SIP_HOST": "127.0.0.1",
        "VPBX_METRICS_PORT": str(status_port),
        "VPBX_SIP_TLS_PORT": str(free_port()),  # not the default 5061 another test may hold
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
        "VPBX_LOG_LEVEL": "INFO",
        "VPBX_LOG_JSON": "true",
    }
    env.pop("VPBX_DATABASE_URL", None)
    env |= {f"VPBX_{k.upper()}": v for k, v in settings.items()}
    stderr = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen(
        [*VPBX, "run"], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    served = Served(
        process,
        f"http://127.0.0.1:{http_port}",
        f"http://127.0.0.1:{status_port}",
        sip_port,
        tmp_path,
    )
    try:
        deadline = time.monotonic() + startup
        while True:
            with contextlib.suppress(httpx.TransportError):
                if served.health().status_code == 200:
                    break
            assert process.poll() is None, (tmp_path / "stderr.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"vpbx run did not serve within {startup:.0f} s"
            time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=40)
        if process.poll() is None:
            process.kill()
            process.communicate()
        stderr.close()


def log_of(served: Served) -> str:
    return (served.data_dir / "stderr.log").read_text()


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `vpbx run` for the tests that take it. Under `pytest -n N` each worker that gets
    some of them starts its own, up to N. (`--dist loadgroup` with an `xdist_group` mark would
    keep them on one worker, but with pytest 9.2 pytest-xdist 3.8 does not group: its issue
    1386.)"""
    with vpbx_run(tmp_path_factory.mktemp("shared-run")) as served:
        yield served


def sample(text: str, pattern: str) -> float:
    """The value of the one /metrics sample `pattern` matches (its group 1), 0 if none does: a
    counter not yet incremented has no sample."""
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:g} s: {what}"
        time.sleep(0.1)


# -- SIP by hand: an INVITE from a trunk address -------------------------------------------------


def invite(source_ip: str, sip_port: int, number: str) -> bytes:
    call_id = uuid.uuid4().hex
    sdp = (
        f"v=0\r\no=- 1 1 IN IP4 {source_ip}\r\ns=-\r\nc=IN IP4 {source_ip}\r\nt=0 0\r\n"
        "m=audio 19998 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    return (
        f"INVITE sip:{number}@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source_ip}:{{port}};branch=z9hG4bK{call_id[:16]};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:79161234567@{source_ip}>;tag={call_id[:8]}\r\n"
        f"To: <sip:{number}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:79161234567@{source_ip}:{{port}}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def header(message: bytes, name: str) -> str:
    found = re.search(rb"^" + name.encode() + rb"[ \t]*:[ \t]*(.*?)\r$", message, re.M | re.I)
    assert found is not None, (name, message[:500])
    return found.group(1).decode()


def next_response(
    sock: socket.socket, cseq: str, wait: float, final: bool = False
) -> tuple[int, bytes] | None:
    """The next response to `cseq` ("1 INVITE") other than 100 (or a final one), and its text."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            break
        found = re.match(rb"SIP/2\.0 (\d{3})", data)
        if found is None or header(data, "CSeq") != cseq:
            continue
        status = int(found.group(1))
        if status != 100 and (status >= 200 or not final):
            return status, data
    return None


def in_dialog(method: str, request: bytes, to: str, cseq: int, branch: str | None) -> bytes:
    """`method` in the INVITE `request`'s call (its From, Call-ID, Request-URI), with `to` and
    a new branch (or the INVITE's own if None: CANCEL and the ACK of a non-2xx)."""
    via = header(request, "Via")
    if branch is not None:
        via = re.sub(r"branch=[^;]+", f"branch=z9hG4bK{branch}", via)
    uri = request.split(b" ", 2)[1].decode()
    return (
        f"{method} {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
        f"From: {header(request, 'From')}\r\nTo: {to}\r\n"
        f"Call-ID: {header(request, 'Call-ID')}\r\nCSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def first_answer(
    source_ip: str, sip_port: int, number: str, wait: float = 2.0, hang_up: bool = False
) -> int:
    """The first status other than 100 the switch answers an INVITE from `source_ip` with.
    `hang_up`: the call is then ended (ACK and BYE after a 2xx, CANCEL before a final answer),
    so that a server other tests share is not left with it for the 32 s of an unACKed 200."""
    target = ("127.0.0.1", sip_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source_ip, 0))
        port = sock.getsockname()[1]
        request = invite(source_ip, sip_port, number).replace(b"{port}", str(port).encode())
        sock.sendto(request, target)
        answer = next_response(sock, "1 INVITE", wait)
        if answer is None:
            return 0
        status, data = answer
        if hang_up and 200 <= status < 300:
            to = header(data, "To")
            sock.sendto(in_dialog("ACK", request, to, 1, uuid.uuid4().hex[:16]), target)
            sock.sendto(in_dialog("BYE", request, to, 2, uuid.uuid4().hex[:16]), target)
            bye = next_response(sock, "2 BYE", 5.0)
            assert bye is not None, "the BYE was not answered"
            assert bye[0] == 200, bye[1][:500]
        elif hang_up and status < 200:
            sock.sendto(in_dialog("CANCEL", request, header(request, "To"), 1, None), target)
            final = next_response(sock, "1 INVITE", 5.0, final=True)
            assert final is not None, "no final answer to the INVITE after its CANCEL"
            sock.sendto(in_dialog("ACK", request, header(final[1], "To"), 1, None), target)
        return status


# -- the tests -----------------------------------------------------------------------------------


def test_switch_and_api_are_separate_processes_under_one_supervisor(shared_run: Served) -> None:
    served = shared_run
    body = served.health().json()
    supervisor = served.process.pid
    switch_pid, api_pid = body["switch"]["pid"], body["api"]["pid"]
    assert body["status"] == "ok"
    assert switch_pid != api_pid
    assert parent(switch_pid) == supervisor
    # the API answering is a uvicorn worker: its manager is the supervisor's child
    assert parent(parent(api_pid)) == supervisor
    assert sorted(children(supervisor)) == sorted([switch_pid, parent(api_pid)])
    # VPBX_HTTP_WORKERS=2 by default: two workers answer
    pids = {served.health().json()["api"]["pid"] for _ in range(40)}
    assert len(children(parent(api_pid))) >= 2
    assert pids <= set(children(parent(api_pid)))


def test_a_change_saved_over_http_reaches_the_very_next_call(shared_run: Served) -> None:
    """A trunk's allow-list widened through the API admits the next INVITE from the new address
    at once: the switch's cached trunk list (5 s TTL) is dropped by the notification."""
    served = shared_run
    headers = {"Authorization": f"Bearer {served.token()}"}
    trunk = httpx.post(
        f"{served.http}/api/v1/trunks",
        headers=headers,
        json={"name": "Provider", "host": "127.0.0.5", "allow_ips": ["127.0.0.5"]},
        timeout=10,
    )
    assert trunk.status_code == 201, trunk.text
    # the switch reads (and caches) the trunks: 127.0.0.3 is not one of them
    assert first_answer("127.0.0.3", served.sip_port, DEMO_NUMBER) == 403
    switch = served.switch_health()
    before, calls = switch["config_notifications"], switch["calls"]
    cached_at = time.monotonic()
    changed = httpx.patch(
        f"{served.http}/api/v1/trunks/{trunk.json()['id']}",
        headers=headers,
        json={"allow_ips": ["127.0.0.5", "127.0.0.3"]},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    answer = first_answer("127.0.0.3", served.sip_port, DEMO_NUMBER, hang_up=True)
    assert time.monotonic() - cached_at < CACHE_TTL - 1  # well before the cache expired
    assert answer != 403, f"the switch still used its cached trunks (answer {answer})"
    assert answer in (180, 183, 200)
    assert served.switch_health()["config_notifications"] > before
    metrics = httpx.get(f"{served.status}/metrics", timeout=5).text
    assert re.search(r'vpbx_config_notifications_total\{channel="local"\} [1-9]', metrics)
    wait_until(lambda: served.switch_health()["calls"] == calls, 5, "the call hung up ended")


OPTIONS_IN = r'^vpbx_sip_messages_total\{direction="in",method="OPTIONS",status=""\} (\S+)$'
OPTIONS_OUT = r'^vpbx_sip_messages_total\{direction="out",method="OPTIONS",status="200"\} (\S+)$'


def test_health_and_metrics_report_the_switch(shared_run: Served) -> None:
    served = shared_run
    calls = served.switch_health()["calls"]
    before = httpx.get(f"{served.http}/metrics", timeout=5).text
    options_round_trip(served.sip_port)
    switch = served.switch_health()
    assert switch["status"] == "ok"
    assert switch["calls"] == calls  # an OPTIONS is no call
    assert switch["loop_lag_ms"] < 1000
    text = httpx.get(f"{served.http}/metrics", timeout=5)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    for family in (
        "vpbx_calls_active",
        "vpbx_calls_total",
        "vpbx_registrations",
        "vpbx_rtp_packets_total",
        "vpbx_rtp_packets_dropped_total",
        "vpbx_event_loop_lag_seconds_bucket",
    ):
        assert re.search(rf"^{family}\b", body, re.M), family
    # the API's /metrics carries the switch's counters: this test's OPTIONS, once each way
    assert sample(body, OPTIONS_IN) == sample(before, OPTIONS_IN) + 1
    assert sample(body, OPTIONS_OUT) == sample(before, OPTIONS_OUT) + 1
    # the switch's own endpoint serves the same families
    assert "vpbx_calls_active" in httpx.get(f"{served.status}/metrics", timeout=5).text


def test_a_stalled_switch_makes_health_answer_503(shared_run: Served) -> None:
    served = shared_run
    switch_pid = served.health().json()["switch"]["pid"]
    os.kill(switch_pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = served.health()
        assert answer.status_code == 503
        assert answer.json()["status"] == "switch_down"
        assert answer.json()["switch"] is None
        assert time.monotonic() - started < 3  # a balancer is not kept waiting
    finally:
        os.kill(switch_pid, signal.SIGCONT)
    assert served.health().status_code == 200
    # /health shows the stop as the loop's lag until the watch measures again (every 0.5 s):
    # the next test on this server must not read it
    wait_until(lambda: served.switch_health()["loop_lag_ms"] < 200, 5, "the loop lag settled")


def options_round_trip(sip_port: int) -> float:
    """Seconds from an OPTIONS sent to its 200 received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.settimeout(2)
        branch = uuid.uuid4().hex
        started = time.monotonic()
        sock.sendto(
            (
                f"OPTIONS sip:127.0.0.1:{sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag={branch[:6]}\r\n"
                f"To: <sip:127.0.0.1>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", sip_port),
        )
        assert sock.recv(65535).startswith(b"SIP/2.0 200")
        return time.monotonic() - started


def test_an_api_that_hangs_does_not_stop_sip(shared_run: Served) -> None:
    """Every API process frozen (as a 10 MB import or a hashing flood would keep it busy):
    the switch still answers SIP at once, and its own status endpoint still serves."""
    served = shared_run
    api_manager = parent(served.health().json()["api"]["pid"])
    frozen = [*children(api_manager), api_manager]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"{served.http}/health", timeout=1)
        assert max(options_round_trip(served.sip_port) for _ in range(20)) < 0.5
        assert served.switch_health()["status"] == "ok"
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert served.health().status_code == 200


def test_when_the_switch_dies_the_api_is_stopped_and_the_exit_logged(tmp_path: Path) -> None:
    with vpbx_run(tmp_path) as served:
        body = served.health().json()
        switch_pid, api_pid = body["switch"]["pid"], body["api"]["pid"]
        os.kill(switch_pid, signal.SIGKILL)
        assert served.process.wait(40) == 1
        assert not alive(api_pid)
        with pytest.raises(httpx.TransportError):
            served.health()
        assert re.search(r'"role": "switch".*"status": -9', log_of(served))


def test_sigterm_stops_both_processes(tmp_path: Path) -> None:
    with vpbx_run(tmp_path) as served:
        body = served.health().json()
        pids = [body["switch"]["pid"], body["api"]["pid"], parent(body["api"]["pid"])]
        served.process.terminate()
        assert served.process.wait(40) == 0
        assert not any(alive(pid) for pid in pids)
        log = log_of(served)
        assert "switch stopping" in log
        assert not (served.data_dir / "switch.sock").exists()


def test_the_in_process_composition_reports_its_own_switch(tmp_path: Path) -> None:
    """The tests' harness (switch and API on one loop) keeps /health and /metrics."""
    from tests.switch.harness import running_pbx

    with running_pbx(tmp_path) as pbx:
        base = f"http://127.0.0.1:{pbx.http_port}"
        body = httpx.get(f"{base}/health", timeout=5).json()
        assert body["status"] == "ok"
        assert body["switch"]["pid"] == body["api"]["pid"] == os.getpid()
        assert body["switch"]["calls"] == 0
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert re.search(r"^vpbx_calls_active 0\.0$", metrics, re.M)
        assert metrics.count("# TYPE vpbx_calls_active ") == 1  # not twice


@pytest.mark.peers
def test_metrics_count_a_live_call_its_registrations_and_its_rtp(tmp_path: Path) -> None:
    """Two baresip phones registered and bridged: the gauges and counters of /metrics move."""
    from tests.switch.harness import line_phone, running_pbx, tone_file

    def sample(text: str, pattern: str) -> float:
        found = re.search(pattern, text, re.M)
        assert found is not None, pattern
        return float(found.group(1))

    with running_pbx(tmp_path, employees=2) as pbx:
        metrics_url = f"http://127.0.0.1:{pbx.http_port}/metrics"
        phones = [
            line_phone(pbx, tmp_path, i, tone_file(tmp_path / f"t{i}.wav", 500.0 + 400 * i))
            for i in range(2)
        ]
        try:
            pbx.wait_registered(0)
            pbx.wait_registered(1)
            assert sample(httpx.get(metrics_url).text, r"^vpbx_registrations (\S+)$") == 2
            phones[0].command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
            phones[1].wait_event("CALL_ESTABLISHED", timeout=20)
            phones[0].wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(2)
            during = httpx.get(metrics_url).text
            phones[0].command("hangup")
            phones[1].wait_event("CALL_CLOSED")
            phones[0].wait_event("CALL_CLOSED")
            time.sleep(1)  # the sessions closed are folded into the totals
            after = httpx.get(metrics_url).text
        finally:
            for device in phones:
                device.stop()
    assert sample(during, r"^vpbx_calls_active (\S+)$") == 1
    assert sample(during, r"^vpbx_rtp_sessions (\S+)$") >= 2
    assert sample(after, r"^vpbx_calls_active (\S+)$") == 0
    assert sample(after, r"^vpbx_calls_total (\S+)$") == 1
    # 2 s of talk through the anchor: each phone sends 50 packets a second to its leg, and each
    # leg relays as many to the other phone
    assert sample(after, r'^vpbx_rtp_packets_total\{direction="received"\} (\S+)$') > 150
    assert sample(after, r'^vpbx_rtp_packets_total\{direction="sent"\} (\S+)$') > 150
    assert sample(after, r"^vpbx_rtp_sessions (\S+)$") == 0
    invites = r'^vpbx_sip_messages_total\{direction="in",method="INVITE",status=""\} (\S+)$'
    assert sample(after, invites) >= 1
    registers = r'^vpbx_sip_messages_total\{direction="out",method="REGISTER",status="200"\} (\S+)$'
    assert sample(after, registers) >= 2
