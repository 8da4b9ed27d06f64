"""A callback task survives `kill -9` of `vpbx run` and runs exactly once (issue 15, CB-1..3).

`vpbx run` (the supervisor, the switch, the API) runs as a process group; employee 101's
baresip phone is registered to it and answers by itself; a callback task of the account's rule
falls due 2 s later. The whole group is killed with SIGKILL before that (no handler runs); the
task falls due while the PBX is down. `vpbx run` starts again on the same database and ports:
its scheduler finds the task due, rings the employee, and the client is dialled through the
trunk once: the provider's SIPp, listening for two calls all along, gets exactly one INVITE for
the client, and the task is done after one attempt with one callback row in the report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.peers.ports import free_range
from tests.peers.rtp_pcap import tone, write_rtp_pcap
from tests.peers.sipp import SippServer, sipp_args
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    configure,
    line_phone,
    tone_file,
)
from tests.switch.live import sound, wait_bound
from tests.test_crash_restart import _kill_group, _reaped, _start_vpbx
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import make_sync_engine
from vpbx.storage.migrate import upgrade

pytestmark = pytest.mark.peers

CLIENT = "74957000009"


def _environment(workdir: Path, url: str, base: int) -> dict[str, str]:
    return {
        **os.environ,
        "VPBX_DATA_DIR": str(workdir),
        "VPBX_DATABASE_URL": url,
        "VPBX_SIP_HOST": "127.0.0.1",
        "VPBX_SIP_PORT": str(base),
        "VPBX_HTTP_PORT": str(base + 1),
        "VPBX_METRICS_PORT": str(base + 2),
        "VPBX_PUBLIC_HOST": "127.0.0.1",
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
        "VPBX_LOG_LEVEL": "INFO",
        "VPBX_SIP_TLS_PORT": "0",
        "VPBX_HTTP_WORKERS": "1",
    }


def _provider(workdir: Path, port: int) -> SippServer:
    """The provider answering up to two calls (it should get one) for 25 s."""
    workdir.mkdir()
    write_rtp_pcap(workdir / "provider.pcap", [tone(700.0, 5.0)])
    args = sipp_args(
        "provider_answers.xml",
        None,
        calls=2,
        rate=10,
        transport="u1",
        timeout=25,
        extra=["-mi", TRUNK_IP, "-mp", str(free_range(4))],
        port=port,
        ip=TRUNK_IP,
    )
    process = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = SippServer(process, workdir, TRUNK_IP, port)
    wait_bound(TRUNK_IP, port)
    return server


def _wait_registered(log: Callable[[], str], timeout: float = 15) -> None:
    """baresip's `-v` log says 200 OK to its REGISTER (TESTING.md)."""
    deadline = time.monotonic() + timeout
    while "200 OK" not in log():
        assert time.monotonic() < deadline, "the phone did not register"
        time.sleep(0.1)


def test_a_task_due_while_the_pbx_was_killed_runs_once_after_the_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vpbx.db'}"
    upgrade(url)
    base = free_range(4)
    provider_port = free_range(1)
    rule_id: list[int] = []

    async def rule(svc: EntityService, setup: Setup) -> None:
        whisper = await sound(svc, tmp_path, "whisper", 1500.0, 1.0)
        created = await svc.create(
            "callback-rules",
            {
                "name": "Пропущенные",
                "how": {"method": "employee", "employee_id": setup.staff[0]["id"]},
                "whisper": {"file_id": whisper},
            },
        )
        rule_id.append(created.model_dump()["id"])

    account_id, lines = asyncio.run(
        configure(url, 1, {"port": provider_port}, set(), customize=rule)
    )
    env = _environment(tmp_path, url, base)
    pbx = RunningPbx(base, base + 1, url, account_id, lines)
    engine = make_sync_engine(url)
    vpbx = _start_vpbx(tmp_path, env, base, base + 1, "vpbx-1")
    vpbx_2 = None
    phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", 440.0))
    provider = None
    with _reaped(vpbx):
        try:
            _wait_registered(phone.log)
            now = dt.datetime.now(dt.UTC)
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(t.callback_tasks).values(
                        account_id=account_id,
                        kind="callback",
                        rule_id=rule_id[0],
                        caller=CLIENT,
                        status="pending",
                        attempts_made=0,
                        next_attempt_at=now + dt.timedelta(seconds=2),
                        last_result="правило «Пропущенные»: первая попытка",
                        created_at=now,
                        updated_at=now,
                    )
                )
            _kill_group(vpbx, 9)
            assert vpbx.returncode == -9
            time.sleep(3.0)  # the task falls due while the PBX is down
            provider = _provider(tmp_path / "provider", provider_port)
            vpbx_2 = _start_vpbx(tmp_path, env, base, base + 1, "vpbx-2")
            phone.wait_event("CALL_ESTABLISHED", 20)  # auto-answered: the callback rings him
            time.sleep(4.0)  # the whisper, the client's ring and answer, a little talk
            phone.command("hangup")
            phone.wait_event("CALL_CLOSED", 10)
            result = provider.finish(40)  # it waits for a second call until its timeout
            messages = result.messages()
            invites = re.findall(r"^INVITE sip:(\d+)@", messages, re.M)
            assert invites == [CLIENT], messages[-3000:]
            with engine.connect() as conn:
                task = conn.execute(sa.select(t.callback_tasks)).mappings().one()
                rows = conn.execute(
                    sa.select(t.calls.c.status, t.calls.c.called).where(
                        t.calls.c.session_type == "Автоперезвон"
                    )
                ).all()
            assert (task["status"], task["attempts_made"]) == ("done", 1), dict(task)
            assert [tuple(r) for r in rows] == [("answered", CLIENT)], rows
            assert f"sip:{NUMBER}@" in messages.split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
        finally:
            phone.stop()
            if provider is not None:
                provider.__exit__()
            if vpbx_2 is not None:
                _kill_group(vpbx_2, 15)
            engine.dispose()
