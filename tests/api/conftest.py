"""A real vpbx API server per backend, and helpers to drive it over HTTP.

The `api` fixture (session scope, ids `sqlite` and `postgres`) migrates a fresh database, issues an
operator token, serves `create_api` with uvicorn on 127.0.0.1 (a free port) in a background
thread with its own event loop, and hands the tests an `Api`: an httpx client plus helpers to
create accounts, users and a rich account (`seed_rich`, payloads in `tests/api/rich.py`).

Every test module shares the backend's server (starting one, and building its OpenAPI document,
takes seconds), so tests keep to their own accounts (`new_account`) and never assume they are
alone in the installation; the order of tests does not matter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import logging
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from tests.api import rich
from tests.dbs import database_params, make_test_database
from vpbx.api.app import PREFIX, create_api
from vpbx.services import accounts
from vpbx.services.auth import AuthPolicy
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine, make_sync_engine
from vpbx.storage.migrate import upgrade

_counter = itertools.count(1)


def unique() -> str:
    """7 digits, different on every call in this test run."""
    return f"{next(_counter) % 10_000_000:07d}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _KeepErrors(logging.Filter):
    """Takes the exceptions the server thread logs, unformatted, away from the log handlers.

    Formatting a traceback parses source lines with `ast` (the carets), and on CPython 3.11 two
    threads doing that at once can fail with "SystemError: AST constructor recursion depth
    mismatch" (it crashed pytest while it formatted a failure as the server logged a 500). The
    records are formatted later, in the test's thread (`LiveServer.errors`).
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.threadName == self.thread_name and record.exc_info:
            self.records.append(record)
            return False
        return True


class LiveServer:
    """uvicorn serving the API in a thread with its own event loop (and its own async engine)."""

    _serial = itertools.count(1)

    def __init__(self, db_url: str, files_dir: Path) -> None:
        self.db_url = db_url
        self.files_dir = files_dir
        self.operator_token = ""
        self.port = 0
        self._thread_name = f"vpbx-api-test-{next(self._serial)}"
        self._errors = _KeepErrors(self._thread_name)
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> LiveServer:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
        # listening socket's proto says TCP; with proto 0 every response waits ~40 ms (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(self._errors)
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._started() and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._started():
            self.__exit__(None, None, None)
            raise RuntimeError(f"the API server did not start: {self._error!r}")
        return self

    def _started(self) -> bool:
        return self._server is not None and self._server.started

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        engine = make_async_engine(self.db_url)
        try:
            async with engine.begin() as conn:
                self.operator_token = await accounts.issue_token(
                    conn, utcnow(), None, label="tests/api", operator=True
                )
            # Every test (and any property-based run) signs in from 127.0.0.1: a per-source
            # limit would lock them all out of this shared server after a hundred failures. The
            # per-source limit is tested on its own (tests/domain/test_login_throttle.py).
            policy = AuthPolicy(per_source=1_000_000)
            app = create_api(engine, utcnow, files_dir=self.files_dir, auth_policy=policy)
            # log_config=None: no dictConfig of the whole process's logging by a test server.
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

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), "the API server did not stop"
        if self._sock is not None:
            self._sock.close()
        logging.getLogger("uvicorn.error").removeFilter(self._errors)

    def errors(self, wait: float = 0.0) -> list[str]:
        """The tracebacks of the exceptions the server logged (a 500 each), oldest first.

        `wait`: seconds to wait for one to arrive (it is logged after the 500 was sent).
        """
        deadline = time.monotonic() + wait
        while not self._errors.records and time.monotonic() < deadline:
            time.sleep(0.01)
        return [
            "".join(traceback.format_exception(*r.exc_info)) if r.exc_info else r.getMessage()
            for r in self._errors.records
        ]


_VALIDATE = """
import json, sys
from openapi_spec_validator import validate
with open(sys.argv[1], encoding="utf-8") as spec:
    validate(json.load(spec))
"""


class SpecCheck:
    """openapi-spec-validator run on a served OpenAPI document in a process of its own.

    Validating the document takes several seconds of CPU; started as soon as the server is up, it
    runs beside the tests instead of in front of one of them (`test_openapi` waits for it).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(spec, file)
        self._path = Path(file.name)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _VALIDATE, str(self._path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._result: tuple[int, str] | None = None

    def result(self, timeout: float = 300) -> tuple[int, str]:
        """(exit status, the validator's error output): 0 when the document is valid."""
        if self._result is None:
            try:
                _, err = self._proc.communicate(timeout=timeout)
            finally:
                self._path.unlink(missing_ok=True)
            self._result = (self._proc.returncode, err.decode(errors="replace"))
        return self._result

    def close(self) -> None:
        if self._result is None:
            self._proc.kill()
            self.result()


#: One check per distinct document: both backends' servers serve the same one.
_SPEC_CHECKS: dict[str, SpecCheck] = {}


def spec_check(spec: dict[str, Any]) -> SpecCheck:
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    if digest not in _SPEC_CHECKS:
        _SPEC_CHECKS[digest] = SpecCheck(spec)
    return _SPEC_CHECKS[digest]


class Api:
    """The served API: base URL, the operator token, an HTTP client and account helpers."""

    def __init__(self, kind: str, db_url: str, server: LiveServer, client: httpx.Client) -> None:
        self.kind = kind
        self.db_url = db_url
        self.base_url = f"http://127.0.0.1:{server.port}"
        self.api_url = self.base_url + PREFIX
        self.operator_token = server.operator_token
        self.server = server
        self.client = client
        self.db = make_sync_engine(db_url, poolclass=sa.pool.NullPool)
        self._openapi: dict[str, Any] | None = None

    # -- HTTP ------------------------------------------------------------------------------------

    @staticmethod
    def headers(token: str | None, account_id: int | None = None) -> dict[str, str]:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if account_id is not None:
            headers["X-Account-Id"] = str(account_id)
        return headers

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        account_id: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """`path` is relative to /api/v1 (e.g. "/employees")."""
        headers = self.headers(token, account_id) | kwargs.pop("headers", {})
        return self.client.request(method, self.api_url + path, headers=headers, **kwargs)

    def get(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, token, **kw)

    def put(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, token, **kw)

    def patch(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, token, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, token, **kw)

    def explain(self, response: httpx.Response) -> str:
        """The request and its answer; for a 500 the end of the server's traceback too."""
        text = f"{response.request.method} {response.request.url}: {response.status_code} "
        text += response.text
        if response.status_code >= 500:
            for error in self.server.errors(wait=1.0)[-1:]:
                text += "\nserver traceback (end):\n" + "\n".join(error.splitlines()[-12:])
        return text

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        if response.status_code != status:
            raise AssertionError(f"expected {status}: {self.explain(response)}")
        return response.json() if response.content else None

    def openapi(self) -> dict[str, Any]:
        """The served OpenAPI document (fetched once per server; callers must not change it)."""
        if self._openapi is None:
            self._openapi = self.ok(self.get("/openapi.json"))
        return self._openapi

    # -- accounts and users ----------------------------------------------------------------------

    def login(self, login: str, password: str) -> str:
        body = self.ok(self.post("/auth/login", json={"login": login, "password": password}))
        token: str = body["token"]
        return token

    def new_account(self, name: str, **settings: Any) -> tuple[int, str]:
        """A new account (as the operator) with an admin user; (account id, admin token)."""
        account = self.ok(
            self.post("/accounts", self.operator_token, json={"name": name, **settings}), 201
        )
        login, password = f"admin{unique()}@{account['id']}", f"admin-pass-{secrets.token_hex(4)}"
        self.ok(
            self.post(
                "/users",
                self.operator_token,
                account_id=account["id"],
                json={"login": login, "password": password, "role": "admin", "full_name": name},
            ),
            201,
        )
        return account["id"], self.login(login, password)

    def account_id(self, token: str) -> int:
        account_id: int = self.ok(self.get("/account", token))["id"]
        return account_id

    def user(self, account_token: str, role: str, employee_id: int | None = None) -> str:
        """A new cabinet user of the token's account (created by its admin); his token."""
        login, password = f"{role}{unique()}", f"{role}-pass-{secrets.token_hex(4)}"
        body: dict[str, Any] = {"login": login, "password": password, "role": role}
        if employee_id is not None:
            body["employee_id"] = employee_id
        self.ok(self.post("/users", account_token, json=body), 201)
        return self.login(login, password)

    # -- data --------------------------------------------------------------------------------

    def create(
        self, resource: str, token: str, body: Mapping[str, Any], account_id: int | None = None
    ) -> dict[str, Any]:
        """POST one entity; fmc-lines go through the operator acting in the token's account."""
        if resource in rich.OPERATOR_CREATES:
            account_id = account_id or self.account_id(token)
            response = self.post(
                f"/{resource}", self.operator_token, account_id=account_id, json=body
            )
        else:
            response = self.post(f"/{resource}", token, json=body)
        created: dict[str, Any] = self.ok(response, 201)
        return created

    def seed_rich(self, token: str, mark: str | None = None) -> dict[str, int]:
        """At least one entity of every resource of the catalogue in the token's account.

        Everything the API writes goes through the API (as the admin `token`, fmc-lines as the
        operator); calls (with a call step) and callback tasks are inserted into the database.
        Returns {resource name: id}. `mark` is put into names and texts (default: random).
        """
        mark = mark or f"rich{secrets.token_hex(3)}"
        account_id = self.account_id(token)
        ids: dict[str, int] = {}
        number = unique()
        for resource in rich.ORDER:
            body = rich.build(resource, ids, mark, number)
            ids[resource] = self.create(resource, token, body, account_id)["id"]
        employee = ids["employees"]
        now = utcnow()
        ids["calls"] = self.insert(t.calls, rich.call_row(account_id, ids, mark, now, employee))
        self.insert(t.call_steps, rich.call_step_row(ids["calls"], mark, now))
        ids["callback-tasks"] = self.insert(
            t.callback_tasks, rich.callback_task_row(account_id, ids, now)
        )
        return ids

    def insert(self, table: sa.Table, values: Mapping[str, Any]) -> int:
        """Insert one row directly (what the switch writes); its id."""
        with self.db.begin() as conn:
            new_id = conn.execute(sa.insert(table).values(**values).returning(table.c.id))
            return int(new_id.scalar_one())

    def count(self, resource: str, token: str, account_id: int | None = None) -> int:
        total: int = self.ok(self.get(f"/{resource}", token, account_id=account_id))["total"]
        return total

    def close(self) -> None:
        self.db.dispose()


@pytest.fixture(scope="session", params=database_params())
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    kind: str = request.param
    with make_test_database(kind, tmp_path_factory.mktemp(f"api-{kind}")) as url:
        upgrade(url)
        files = tmp_path_factory.mktemp(f"api-files-{kind}")
        with LiveServer(url, files) as server, httpx.Client(timeout=30) as client:
            served = Api(kind, url, server, client)
            spec_check(served.openapi())
            try:
                yield served
            finally:
                served.close()


@pytest.fixture(scope="session", autouse=True)
def _stop_spec_checks() -> Iterator[None]:
    yield
    for check in _SPEC_CHECKS.values():
        check.close()
