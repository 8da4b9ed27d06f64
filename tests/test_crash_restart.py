"""`kill -9` of `vpbx run` during 50 calls, then a restart: nothing is lost (issue 11).

The rig is the call benchmark's (vpbx.bench.calls): an account whose number forwards to a group
of 10 employees, every employee's SIP line registered with digest auth by SIPp from one port
where one SIPp UAS answers all their calls, and the provider's trunk (SIPp from 127.0.0.2)
calling the number. 50 long calls are up when the whole process group of `vpbx run` (the
supervisor, the switch and the API) is killed with SIGKILL: no handler runs, as in a power cut
or the OOM killer. Then `vpbx run` starts again and

* a new call from the trunk reaches an employee whose phone did not register again (before the
  fix: 480, the registrations lived in memory only);
* the API says every line is «зарегистрирован»;
* each of the 50 calls has its row in the calls report, «прерван», with the step that says so
  (before the fix: no row at all).

A second test kills `vpbx run` the moment a REGISTER is answered 200: the binding survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.dbs import database_fixture
from tests.peers.sipp import SCENARIOS, sipp_binary
from vpbx.bench.calls import (
    NUMBER,
    PBX_IP,
    RTP_PORTS,
    TRUNK_IP,
    _configure,
    _employees_uas,
    _free_block,
    _port_open,
    _register,
    _wait_listening,
)
from vpbx.storage import tables as t
from vpbx.storage.db import make_sync_engine
from vpbx.storage.migrate import upgrade

pytestmark = pytest.mark.peers
db_url = database_fixture()

CALLS = 50


def _environment(workdir: Path, url: str, sip_port: int, http_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "VPBX_DATA_DIR": str(workdir),
        "VPBX_DATABASE_URL": url,
        "VPBX_SIP_HOST": PBX_IP,
        "VPBX_SIP_PORT": str(sip_port),
        "VPBX_HTTP_PORT": str(http_port),
        "VPBX_PUBLIC_HOST": PBX_IP,
        "VPBX_RTP_PORT_MIN": str(RTP_PORTS[0]),
        "VPBX_RTP_PORT_MAX": str(RTP_PORTS[1]),
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
        "VPBX_LOG_LEVEL": "WARNING",
        "VPBX_METRICS_PORT": str(http_port + 1),  # the switch's status port (base + 2)
        "VPBX_SIP_TLS_PORT": "0",  # no TLS phones here; nor a clash with another run on 5061
    }


def _start_vpbx(
    workdir: Path, env: dict[str, str], sip_port: int, http_port: int, name: str
) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("wb") as log:
        # its own process group: the crash below kills every process of `vpbx run` at once
        process = subprocess.Popen(
            [sys.executable, "-m", "vpbx", "run"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not (_port_open(sip_port) and _port_open(http_port)):
        assert process.poll() is None, (workdir / f"{name}.log").read_text(errors="replace")
        assert time.monotonic() < deadline, f"vpbx did not start within 60 s ({name})"
        time.sleep(0.1)
    return process


def _group_alive(pgid: int) -> bool:
    """A process of group `pgid` still runs (a zombie has let go of its sockets: not counted)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal every process of `vpbx run`, and wait until all of them are gone: the supervisor
    exits first, and an API worker still dying holds the HTTP port (a restart started then
    found it in use, its API exited and took the switch with it — seen under a loaded CI)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    deadline = time.monotonic() + 30
    while _group_alive(process.pid):
        assert time.monotonic() < deadline, f"processes of group {process.pid} outlived it"
        time.sleep(0.05)


def _trunk(
    workdir: Path, target: str, port: int, media_port: int, calls: int, pause_ms: int
) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        sipp_binary(),
        target,
        "-sf",
        str(SCENARIOS / "trunk_long_call.xml"),
        "-s",
        NUMBER,
        "-i",
        TRUNK_IP,
        "-p",
        str(port),
        "-mi",
        TRUNK_IP,
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-r",
        "25",
        "-l",
        str(calls),
        "-d",
        str(pause_ms),
        "-nostdin",
        "-trace_err",
        "-trace_logs",
        "-timeout",
        "120s",
        "-timeout_error",
    ]
    with (workdir / "sipp.out").open("wb") as out:
        return subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def _answered(workdir: Path) -> set[str]:
    found: set[str] = set()
    for log in workdir.glob("*_logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("answered "):
                found.add(line.split(" ", 1)[1].strip())
    return found


def _wait_api(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the API answers (its port can be open before its workers serve)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/health")
            return
        except httpx.TransportError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text(errors="replace")[-3000:]) from error
            time.sleep(0.2)


@contextlib.contextmanager
def _reaped(*processes: subprocess.Popen[bytes] | None) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def test_kill_9_during_50_calls_loses_no_registration_and_no_call(
    tmp_path: Path, db_url: str
) -> None:
    url = db_url  # SQLite (the default) and PostgreSQL
    upgrade(url)
    lines = asyncio.run(_configure(url))
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        account_id = conn.execute(sa.select(t.accounts.c.id)).scalar_one()
        line_ids: dict[str, int] = {
            r.login: r.id for r in conn.execute(sa.select(t.sip_lines.c.login, t.sip_lines.c.id))
        }
    token = asyncio.run(_operator_token(url))
    base = _free_block(16)
    sip_port, http_port, uas_port = base, base + 1, base + 4
    target = f"{PBX_IP}:{sip_port}"
    env = _environment(tmp_path, url, sip_port, http_port)
    api = f"http://{PBX_IP}:{http_port}/api/v1"
    headers = {"Authorization": f"Bearer {token}", "X-Account-Id": str(account_id)}

    vpbx = _start_vpbx(tmp_path, env, sip_port, http_port, "vpbx-1")
    employees = trunk = again = None
    try:
        _register(tmp_path, lines, uas_port, target)
        employees = _employees_uas(tmp_path, uas_port, base + 6)
        _wait_listening(employees, uas_port, "employees' SIPp")
        trunk_dir = tmp_path / "trunk"
        trunk = _trunk(trunk_dir, target, base + 10, base + 12, CALLS, 600_000)
        deadline = time.monotonic() + 60
        while len(_answered(trunk_dir)) < CALLS:
            assert trunk.poll() is None, (trunk_dir / "sipp.out").read_text(errors="replace")
            assert time.monotonic() < deadline, f"{len(_answered(trunk_dir))} calls answered"
            time.sleep(0.2)
        time.sleep(1.5)  # the calls talk for a moment (a heartbeat and their details written)

        _kill_group(vpbx, signal.SIGKILL)
        assert vpbx.returncode == -signal.SIGKILL
        again = _start_vpbx(tmp_path, env, sip_port, http_port, "vpbx-2")

        # A new call reaches a phone that did not register again.
        fresh_dir = tmp_path / "fresh"
        spare = _free_block(8)  # the first trunk's SIPp holds media ports base+12..15
        fresh = _trunk(fresh_dir, target, spare, spare + 2, 1, 1000)
        with _reaped(fresh):
            fresh.wait(60)
        assert fresh.returncode == 0, (fresh_dir / "sipp.out").read_text(errors="replace")[:3000]
        assert len(_answered(fresh_dir)) == 1

        # The API: every line registered (nobody registered again since the crash).
        with httpx.Client(base_url=api, headers=headers, timeout=10) as client:
            _wait_api(client, again, tmp_path / "vpbx-2.log")
            for login, line_id in line_ids.items():
                state = client.get(f"/sip-lines/{line_id}/registration").json()
                assert state["registered"] is True, (login, state)
                assert state["state"].startswith("зарегистрирован")
            # Every call cut off has its row, «прерван».
            deadline = time.monotonic() + 20
            while True:
                page = client.get("/calls", params={"status": "interrupted", "limit": 100})
                assert page.status_code == 200, page.text
                if page.json()["total"] >= CALLS or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            calls = page.json()["items"]
            assert len(calls) == CALLS
            assert all(c["called"] == NUMBER and c["ended_at"] for c in calls)
            # their last known state: answered by an employee, talking until the crash
            assert all(c["answered_at"] and c["employee_id"] for c in calls), calls[0]
            assert all(c["talk_seconds"] > 0 for c in calls), calls[0]
            csv = client.get("/calls/export.csv", params={"status": "interrupted"})
            assert csv.status_code == 200, csv.text
            assert csv.text.count("Прерван") == CALLS
        with engine.connect() as conn:
            interrupted = conn.execute(
                sa.select(sa.func.count()).where(t.calls.c.status == "interrupted")
            ).scalar_one()
            marks = conn.execute(
                sa.select(sa.func.count()).where(t.call_steps.c.kind == "interrupted")
            ).scalar_one()
        assert interrupted == CALLS
        assert marks == CALLS

    finally:
        with _reaped(trunk, employees):
            pass
        for process in (again, vpbx):
            if process is not None and process.poll() is None:
                _kill_group(process, signal.SIGTERM)
        engine.dispose()


async def _operator_token(url: str) -> str:
    from vpbx.app import utc_now
    from vpbx.services.accounts import issue_token
    from vpbx.storage.db import make_async_engine

    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await issue_token(conn, utc_now(), None, label="test", operator=True)
    finally:
        await engine.dispose()


def test_a_register_answered_200_survives_a_kill_9_right_after(tmp_path: Path) -> None:
    """The binding is committed before the 200 goes out: SIPp exits on the 200 and the whole of
    `vpbx run` is killed at once, yet the restarted switch rings that phone."""
    url = f"sqlite:///{tmp_path / 'vpbx.db'}"
    upgrade(url)
    lines = asyncio.run(_configure(url))
    base = _free_block(16)
    sip_port, http_port, uas_port = base, base + 1, base + 4
    target = f"{PBX_IP}:{sip_port}"
    env = _environment(tmp_path, url, sip_port, http_port)
    vpbx = _start_vpbx(tmp_path, env, sip_port, http_port, "vpbx-1")
    employees = again = None
    try:
        _register(tmp_path, lines[:1], uas_port, target)  # returns on the 200
        _kill_group(vpbx, signal.SIGKILL)
        assert vpbx.returncode == -signal.SIGKILL
        again = _start_vpbx(tmp_path, env, sip_port, http_port, "vpbx-2")
        employees = _employees_uas(tmp_path, uas_port, base + 6)
        _wait_listening(employees, uas_port, "employees' SIPp")
        call_dir = tmp_path / "call"
        call = _trunk(call_dir, target, base + 10, base + 12, 1, 1000)
        with _reaped(call):
            call.wait(60)
        assert call.returncode == 0, (call_dir / "sipp.out").read_text(errors="replace")[:3000]
    finally:
        with _reaped(employees):
            pass
        for process in (again, vpbx):
            if process is not None and process.poll() is None:
                _kill_group(process, signal.SIGTERM)
