"""`create_api(on_change=...)`: the switch hears of every committed configuration write of an
account (generic writes, PUT /config, PUT /account, file uploads), and of nothing else.

A server of its own per backend (the shared `api` fixture has no callback), built like the shared
one but with `on_change` recording the account ids it is called with.
"""

from __future__ import annotations

import io
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.api.conftest import Api, LiveServer, unique, utcnow
from tests.dbs import database_params, make_test_database
from vpbx.api.app import create_api
from vpbx.services import accounts
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade


class Calls:
    """The account ids `on_change` was called with (from the server's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []

    def __call__(self, account_id: int) -> None:
        with self._lock:
            self._ids.append(account_id)

    def take(self, expected: int, wait: float = 5.0) -> list[int]:
        """Wait until `expected` calls arrived (they run after the response), then take them."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._ids) >= expected:
                    break
            time.sleep(0.01)
        with self._lock:
            taken, self._ids = self._ids, []
        return taken

    def quiet(self, wait: float = 0.5) -> list[int]:
        """What arrived within `wait` seconds (for checks that nothing does)."""
        time.sleep(wait)
        return self.take(0, wait=0)


class NotifyingServer(LiveServer):
    def __init__(self, db_url: str, files_dir: Path, calls: Calls) -> None:
        super().__init__(db_url, files_dir)
        self.calls = calls

    async def _main(self) -> None:
        engine = make_async_engine(self.db_url)
        try:
            async with engine.begin() as conn:
                self.operator_token = await accounts.issue_token(
                    conn, utcnow(), None, label="tests/on_change", operator=True
                )
            app = create_api(engine, utcnow, files_dir=self.files_dir, on_change=self.calls)
            config = uvicorn.Config(
                app, log_config=None, log_level="warning", lifespan="off", access_log=False
            )
            self._server = uvicorn.Server(config)
            assert self._sock is not None
            await self._server.serve(sockets=[self._sock])
        except BaseException as error:
            self._error = error
            raise
        finally:
            await engine.dispose()


@pytest.fixture(scope="module", params=database_params())
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Calls]]:
    kind: str = request.param
    calls = Calls()
    with make_test_database(kind, tmp_path_factory.mktemp(f"notify-{kind}")) as url:
        upgrade(url)
        files = tmp_path_factory.mktemp(f"notify-files-{kind}")
        with (
            NotifyingServer(url, files, calls) as server,
            httpx.Client(timeout=30) as client,
        ):
            api = Api(kind, url, server, client)
            try:
                yield api, calls
            finally:
                api.close()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\0" * 800)
    return out.getvalue()


def test_writes_tell_the_account_reads_and_refusals_do_not(served: tuple[Api, Calls]) -> None:
    api, calls = served
    account, admin = api.new_account(f"Notified {unique()}")
    other, other_admin = api.new_account(f"Quiet {unique()}")
    # Each account got its admin user: a write of the configuration (users are part of it).
    assert calls.take(2) == [account, other]
    supervisor = api.user(admin, "supervisor")
    assert calls.take(1) == [account]

    tag = api.ok(api.post("/tags", admin, json={"name": "VIP"}), 201)
    assert calls.take(1) == [account]
    api.ok(api.patch(f"/tags/{tag['id']}", admin, json={"color": "#000000"}))
    api.ok(api.put(f"/tags/{tag['id']}", admin, json={"name": "VIP 2"}))
    api.ok(api.delete(f"/tags/{tag['id']}", admin), 204)
    assert calls.take(3) == [account, account, account]

    api.ok(api.put("/account", admin, json={"name": "Renamed", "timezone": "Asia/Omsk"}))
    assert calls.take(1) == [account]
    config = api.get("/config", admin)
    assert config.status_code == 200
    imported = api.put(
        "/config", admin, content=config.content, headers={"Content-Type": "application/yaml"}
    )
    assert imported.status_code == 200, imported.text
    assert calls.take(1) == [account]
    sound = api.ok(api.post("/files", other_admin, json={"name": "hello"}), 201)
    assert calls.take(1) == [other]
    uploaded = api.put(
        f"/files/{sound['id']}/content",
        other_admin,
        content=_wav(),
        headers={"Content-Type": "audio/wav"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert calls.take(1) == [other]

    # Reads, refused writes and writes of history are not configuration changes.
    for response in (
        api.get("/tags", admin),
        api.get("/account", admin),
        api.get("/calls", admin),
        api.get("/calls/export.csv", admin),
        api.get("/config", admin),
        api.post("/tags", admin, json={"name": ""}),
        api.post("/tags", supervisor, json={"name": "nope"}),
        api.delete("/tags/987654321", admin),
        api.put(
            "/config",
            admin,
            content="- not a mapping",
            headers={"Content-Type": "application/yaml"},
        ),
    ):
        assert 200 <= response.status_code < 500, response.text
        if response.request.method != "GET":
            assert response.status_code >= 400, response.text
    lead = api.post("/leads", admin, json={"source": "site", "phone": "79161234567"})
    assert lead.status_code == 201, lead.text
    assert calls.quiet() == []
    # Deleting the account tells the switch too.
    api.ok(api.delete(f"/accounts/{other}", api.operator_token), 204)
    assert calls.take(1) == [other]
