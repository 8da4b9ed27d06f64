"""The cabinet in Debian's Chromium (pytest-playwright), against a real `vpbx run`.

The cabinet is built once per session (scripts/web.sh build: a no-op when web/dist is up to date;
a file lock keeps two pytest-xdist workers from building at once), and one `vpbx run` with a
fresh SQLite database serves every test of a module."""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.paths import ROOT
from tests.peers.baresip import BaresipPhone
from tests.switch.harness import tone_file
from tests.test_processes import Served, vpbx_run

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


@pytest.fixture(scope="module")
def served(cabinet_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with vpbx_run(tmp_path_factory.mktemp("vpbx"), web_dir=str(cabinet_build)) as server:
        yield server


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
    client: httpx.Client, tmp_path: Path, served: Served, last_name: str, answermode: str = "auto"
) -> tuple[int, BaresipPhone]:
    """A new employee whose SIP line a baresip phone has registered with (`answermode` auto:
    it answers at once; manual: the test answers with its `accept` command)."""
    employee = client.post("/employees", json={"last_name": last_name, "phones": [{"kind": "sip"}]})
    assert employee.status_code == 201, employee.text
    line_id = employee.json()["phones"][0]["sip_line_id"]
    login = client.get(f"/sip-lines/{line_id}").json()["login"]
    secret = client.post(f"/sip-lines/{line_id}/reveal-secret").json()["secrets"]["password"]
    phone = BaresipPhone(
        tmp_path / "phone",
        f"<sip:{login}@127.0.0.1:{served.sip_port}>;auth_pass={secret};answermode={answermode};"
        "audio_codecs=PCMU,PCMA;regint=300",
        tone_file(tmp_path / "tone.wav", 900, seconds=20),
    )
    phone.start()
    deadline = time.monotonic() + 20
    while not client.get(f"/sip-lines/{line_id}/registration").json()["registered"]:
        assert time.monotonic() < deadline, "the employee's phone did not register"
        time.sleep(0.2)
    return employee.json()["id"], phone
