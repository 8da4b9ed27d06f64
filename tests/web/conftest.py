"""The cabinet in Debian's Chromium (pytest-playwright), against a real `vpbx run`.

The cabinet is built once per session (scripts/web.sh build: a no-op when web/dist is up to date;
a file lock keeps two pytest-xdist workers from building at once). One `vpbx run` with a fresh
SQLite database serves a whole session (an xdist worker): starting one took 19-29 s of a CI
worker's time, once per module before. Each test module gets an account of its own on it, a
copy of the demo account (`seed_demo` with the module's admin login and number), so what a
module counts and lists is only its own."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.paths import ROOT
from tests.peers.baresip import BaresipPhone
from tests.switch.harness import tone_file
from tests.test_processes import Served, vpbx_run
from vpbx.seed import DEMO_PASSWORD, seed_demo
from vpbx.storage.db import make_async_engine
from vpbx.switch.clock import utc_now

CHROMIUM = Path("/usr/bin/chromium")
WEB_DIST = ROOT / "web" / "dist"
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Instead of pytest-base-url's (a class-bound session fixture pytest 9 warns about, which
    this suite makes an error); the tests name their server's URL."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    assert CHROMIUM.exists(), "chromium is not installed: `make test` installs the Debian package"
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}, "locale": "ru-RU"}


@pytest.fixture(scope="session")
def cabinet_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lock = tmp_path_factory.getbasetemp().parent / "cabinet-build.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        done = subprocess.run(
            [str(ROOT / "scripts" / "web.sh"), "build"], capture_output=True, text=True, check=False
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (WEB_DIST / "index.html").is_file()
    return WEB_DIST


@dataclass
class Tenant(Served):
    """The shared server as one test module sees it: its own copy of the demo account."""

    account_id: int
    login: str
    number: str  # the copy's virtual number (the demo's is 74950000001)

    @property
    def admin(self) -> tuple[str, str]:
        return self.login, DEMO_PASSWORD

    def token(self) -> str:
        login = httpx.post(
            f"{self.http}/api/v1/auth/login",
            json={"login": self.login, "password": DEMO_PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        token: str = login.json()["token"]
        return token


_TENANTS = itertools.count(1)


@pytest.fixture(scope="session")
def server(cabinet_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Every module of the worker needs this one start: twice the usual minute on a loaded machine
    folder = tmp_path_factory.mktemp("vpbx")
    with vpbx_run(folder, startup=120, web_dir=str(cabinet_build)) as server:
        yield server


@pytest.fixture(scope="module")
def served(server: Served) -> Tenant:
    """A new copy of the demo account on the session's server, written to its database as
    `vpbx run` seeds the demo (nothing of it is cached yet by the switch or the API)."""
    n = next(_TENANTS)
    login, number = f"admin{n}@demo", f"7499000{n:04d}"

    async def seed() -> int:
        engine = make_async_engine(f"sqlite:///{server.data_dir / 'vpbx.db'}")
        try:
            async with engine.begin() as conn:
                return (await seed_demo(conn, utc_now, login=login, number=number)).account_id
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running in this thread
    with ThreadPoolExecutor(1) as pool:
        account_id = pool.submit(lambda: asyncio.run(seed())).result()
    return Tenant(
        server.process,
        server.http,
        server.status,
        server.sip_port,
        server.data_dir,
        account_id,
        login,
        number,
    )


@pytest.fixture
def admin_token(served: Served) -> str:
    return served.token()


def api(served: Served, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{served.http}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def screenshot(page: Page, name: str) -> None:
    """A picture of the screen for docs/screenshots (shown in README.md)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=3000)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def employee_with_phone(
    client: httpx.Client,
    tmp_path: Path,
    served: Served,
    last_name: str,
    answermode: str = "auto",
    hz: float = 900.0,
) -> tuple[int, BaresipPhone]:
    """A new employee whose SIP line a baresip phone has registered with (`answermode` auto:
    it answers at once; manual: the test answers with its `accept` command); the phone says a
    tone of `hz`."""
    employee = client.post("/employees", json={"last_name": last_name, "phones": [{"kind": "sip"}]})
    assert employee.status_code == 201, employee.text
    line_id = employee.json()["phones"][0]["sip_line_id"]
    login = client.get(f"/sip-lines/{line_id}").json()["login"]
    secret = client.post(f"/sip-lines/{line_id}/reveal-secret").json()["secrets"]["password"]
    phone = BaresipPhone(
        tmp_path / "phone",
        f"<sip:{login}@127.0.0.1:{served.sip_port}>;auth_pass={secret};answermode={answermode};"
        "audio_codecs=PCMU,PCMA;regint=300",
        tone_file(tmp_path / "tone.wav", hz, seconds=20),
    )
    phone.start()
    deadline = time.monotonic() + 20
    while not client.get(f"/sip-lines/{line_id}/registration").json()["registered"]:
        assert time.monotonic() < deadline, "the employee's phone did not register"
        time.sleep(0.2)
    return employee.json()["id"], phone
