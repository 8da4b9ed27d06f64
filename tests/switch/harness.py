"""A running vpbx (SIP + HTTP) for real-peer tests: a fresh database, an account configured
through the domain services, and the server on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone
from tests.peers.ports import free_port
from vpbx.app import Application, build, serve, utc_now
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account, issue_token
from vpbx.services.entities import EntityService
from vpbx.settings import Settings
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade

TRUNK_IP = "127.0.0.2"  # SIPp as the provider sends from here; phones use 127.0.0.1
NUMBER = "74951112233"


@dataclass
class Setup:
    """What `configure` made, for a test's own additions (`customize`)."""

    account_id: int
    staff: list[dict[str, Any]]
    group_id: int
    scenario_id: int
    number_id: int


Customize = Callable[[EntityService, Setup], Awaitable[None]]


@dataclass
class Line:
    login: str
    password: str
    employee_id: int
    extension: str
    line_id: int


@dataclass
class RunningPbx:
    sip_port: int
    http_port: int
    database_url: str
    account_id: int
    lines: list[Line] = field(default_factory=list)
    number: str = NUMBER
    application: Application | None = None
    token: str | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (to inspect its state)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def wait_registered(self, index: int, timeout: float = 15) -> None:
        """Until the registrar holds a binding of line `index`."""
        assert self.application is not None
        registrar = self.application.pbx.registrar
        login = self.lines[index].login

        async def bound() -> bool:
            return bool(registrar.bindings.current(login, asyncio.get_running_loop().time()))

        deadline = time.monotonic() + timeout
        while not self.run(bound()):
            assert time.monotonic() < deadline, f"line {login} did not register"
            time.sleep(0.1)

    def admin_token(self) -> str:
        """A bearer token of an admin of the test account (issued directly in the database)."""
        if self.token is None:
            self.token = self.user_token("admin")
        return self.token

    def user_token(self, role: str, employee_id: int | None = None) -> str:
        """A bearer token of a new cabinet user of the test account with `role`, linked to
        `employee_id` (issued directly in the database)."""

        async def issue() -> str:
            engine = make_async_engine(self.database_url)
            try:
                async with engine.begin() as conn:
                    now = utc_now()
                    user = await conn.execute(
                        sa.insert(t.users)
                        .values(
                            account_id=self.account_id,
                            login=f"{role}{time.monotonic_ns()}",
                            password_hash="-",
                            role=role,
                            full_name="",
                            employee_id=employee_id,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(t.users.c.id)
                    )
                    return await issue_token(conn, now, user.scalar_one())
            finally:
                await engine.dispose()

        return asyncio.run(issue())


async def configure(
    url: str,
    employees: int,
    trunk: dict[str, Any],
    in_only: set[int],
    trainer: tuple[int, int] | None = None,
    customize: Customize | None = None,
) -> tuple[int, list[Line]]:
    """An account with a trunk, `employees` employees with SIP lines in one group, a scenario
    forwarding to the group and the virtual number ruled to it."""
    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            now = utc_now()
            account_id = await create_account(conn, Account(name="Test"), now)
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), utc_now)
            await svc.create(
                "trunks", {"name": "Provider", "host": TRUNK_IP, "allow_ips": [TRUNK_IP], **trunk}
            )
            staff = []
            for index in range(employees):
                out = await svc.create(
                    "employees",
                    {
                        "last_name": f"Employee{index + 1}",
                        "extension": str(101 + index),
                        "phones": [{"kind": "sip", "ring_timeout": 20}],
                    },
                )
                staff.append(out.model_dump())
            group = await svc.create(
                "groups", {"name": "All", "member_ids": [e["id"] for e in staff]}
            )
            scenario = await svc.create(
                "scenarios",
                {
                    "name": "Forward",
                    "entry": "fwd",
                    "operations": [
                        {
                            "key": "fwd",
                            "kind": "forward",
                            "targets": [{"group_id": group.model_dump()["id"]}],
                        }
                    ],
                },
            )
            number = await svc.create(
                "numbers",
                {"number": NUMBER, "rules": [{"scenario_id": scenario.model_dump()["id"]}]},
            )
            if trainer is not None:
                pupil, coach = trainer
                await svc.update(
                    "employees",
                    staff[pupil]["id"],
                    {"trainer_id": staff[coach]["id"], "auto_call_trainer": True},
                )
            for index, employee in enumerate(staff):
                mode = "in_only" if index in in_only else "in_out"
                await svc.update(
                    "sip-lines",
                    employee["phones"][0]["sip_line_id"],
                    {"mode": mode, "caller_id_number_id": number.model_dump()["id"]},
                )
            if customize is not None:
                setup = Setup(
                    account_id,
                    staff,
                    group.model_dump()["id"],
                    scenario.model_dump()["id"],
                    number.model_dump()["id"],
                )
                await customize(svc, setup)
            lines = []
            for employee in staff:
                line_id = employee["phones"][0]["sip_line_id"]
                row = (
                    await conn.execute(sa.select(t.sip_lines).where(t.sip_lines.c.id == line_id))
                ).one()
                lines.append(
                    Line(row.login, row.password, employee["id"], employee["extension"], row.id)
                )
            return account_id, lines
    finally:
        await engine.dispose()


@contextmanager
def running_pbx(
    tmp_path: Path,
    employees: int = 1,
    trunk: dict[str, Any] | None = None,
    in_only: set[int] | None = None,
    trainer: tuple[int, int] | None = None,
    customize: Customize | None = None,
    settings: dict[str, Any] | None = None,
) -> Iterator[RunningPbx]:
    """`customize` changes the configuration before the PBX starts; `settings` adds VPBX_*
    settings (e.g. SMTP)."""
    url = f"sqlite:///{tmp_path / 'vpbx.db'}"
    upgrade(url)
    account_id, lines = asyncio.run(
        configure(url, employees, trunk or {}, in_only or set(), trainer, customize)
    )
    sip_port, http_port = free_port(), free_port()
    config = Settings(
        # No TLS listener unless a test asks for one on a free port: 5061 is shared.
        **{"sip_tls_port": 0, **(settings or {})},
        data_dir=tmp_path,
        database_url=url,
        sip_host="127.0.0.1",
        sip_port=sip_port,
        http_port=http_port,
        public_host="127.0.0.1",
        generate_system_messages=False,  # tests that need them generate them themselves
    )
    running = RunningPbx(sip_port, http_port, url, account_id, lines)
    loop = asyncio.new_event_loop()
    running.loop = loop
    application = build(config)
    running.application = application
    stop = asyncio.Event()
    server = loop.create_task(serve(application, stop))

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(server)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (application.endpoint.transport.bound and port_open(http_port)):
        assert thread.is_alive(), "vpbx stopped while starting"
        assert time.monotonic() < deadline, "vpbx did not start within 20 s"
        time.sleep(0.05)
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        assert not thread.is_alive(), "vpbx did not stop"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tone_file(path: Path, frequency: float, seconds: float = 40) -> Path:
    """An 8 kHz WAV of one tone: what a test phone "says" (padded: baresip hangs up at its end)."""
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (np.sin(2 * np.pi * frequency * t) * 8000).astype(np.int16)
    soundfile.write(path, samples, 8000, subtype="PCM_16")
    return path


def line_phone(
    pbx: RunningPbx,
    workdir: Path,
    index: int,
    source: Path,
    *,
    codecs: str = "PCMU,PCMA",
    answermode: str = "auto",
) -> BaresipPhone:
    """A baresip phone registered as SIP line `index` of the test account."""
    line = pbx.lines[index]
    account = (
        f"<sip:{line.login}@127.0.0.1:{pbx.sip_port};transport=udp>;auth_pass={line.password};"
        f"answermode={answermode};audio_codecs={codecs};regint=300"
    )
    device = BaresipPhone(workdir / f"phone{index}", account, source)
    device.start()
    return device
