"""The web cabinet's figures (issue 14): its first load, its initial download, the calls report.

One `vpbx run` on PostgreSQL serves a copy of the cabinet's build (`scripts/web.sh build`, then
web/dist copied, so a rebuild by someone else during the run changes nothing) and the API:

- first load: headless Chromium (Debian's, through Playwright) opens `/` over loopback in a new
  browser context each time (an empty cache, new connections) and waits for the sign-in form's
  password field to be visible; the figure is `performance.now()` then (navigation start →
  form shown, at frame granularity), median and p95 of `LOADS` runs. Reference, same server,
  same runs interleaved: a static page that fetches the very JS and CSS files the sign-in page
  loaded (same bytes, same gzip, same server) without running them and then shows a form: the
  rest of the first load is parsing, running and rendering the app.
- initial download: the JS and CSS the sign-in page loaded (Chromium's network log, bytes on
  the wire, gzip as served) against the target; reference: every JS and CSS file of the build,
  gzipped, as if nothing were loaded lazily.
- calls report: `CALLS` call rows in `ACCOUNTS` accounts written by one INSERT … SELECT over
  generate_series (then VACUUM ANALYZE, as autovacuum would after such a load), then `REQUESTS`
  `GET /api/v1/calls` (sequential, one keep-alive connection, after 10 unmeasured) with what the
  cabinet's report sends by default (`tab=all&limit=50&offset=0`: no period, newest first) and
  with an employee and/or a status filter, for the biggest account; p95 of the client's wall
  time. Reference: the same requests for an account with `SMALL_CALLS` calls on the same server.
  EXPLAIN ANALYZE of the page and of its COUNT is logged for each.
- dashboards (CDR-3): on the same calls, their daily rollups made as the first dashboard read
  after such a load makes them (`refresh_rollups`: every local day before today, timed and
  logged, then VACUUM ANALYZE), then `REQUESTS` `GET /api/v1/dashboards` for today (by the
  hour, from the calls), the last 30 days and the last 366 days (by the day: the rollups of
  the ended days, the calls of today) of the biggest account, p95 of the client's wall time;
  reference: the same periods of the small account. EXPLAIN ANALYZE of its three statements
  (buckets, totals or wait bins, employees) is logged.

`python -m vpbx.bench.cabinet` runs it alone and merges its rows into docs/benchmarks.{json,md};
VPBX_BENCH_CABINET="loads,requests,calls" sizes it down (e.g. "3,20,20000" to check the bench).
The PostgreSQL server is VPBX_BENCH_POSTGRES_URL (default: the `test` database at 127.0.0.1);
the bench works in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gzip
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import sqlalchemy as sa

from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows

__all__ = [
    "BENCHMARKS",
    "CabinetCampaign",
    "Tenant",
    "cabinet_campaign",
    "cabinet_method",
    "dashboard_cases",
    "dashboard_result",
    "measure_dashboards",
    "roll_up",
    "seed_calls",
]

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOADS = 20
REQUESTS = 200
CALLS = 1_000_000
SMALL_CALLS = 1_000
#: the big account's share of the calls; the rest goes to two others, and SMALL_CALLS to the last
SHARES = (0.6, 0.25)
EMPLOYEES = 50
WARM_UP = 10
JS_TARGET_KB = 400
REPORT_TARGET_MS = 300
#: the zone of the bench's accounts (made with the default time zone), for "today"
ACCOUNT_ZONE = ZoneInfo("Europe/Moscow")
PREFIX = "cabinet:"
#: the sign-in form is shown: its password field is laid out
FORM_SHOWN = """() => {
  const el = document.querySelector('input[autocomplete="current-password"]');
  return el !== null && el.offsetParent !== null ? performance.now() : null;
}"""
REFERENCE_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>reference</title>
<script>
Promise.all(%s.map((u) => fetch(u).then((r) => r.arrayBuffer()))).then(() => {
  const form = document.createElement('form');
  form.innerHTML = '<input autocomplete="current-password">';
  document.body.append(form);
});
</script></head><body></body></html>
"""


def _size() -> tuple[int, int, int]:
    custom = os.environ.get("VPBX_BENCH_CABINET", "")
    if custom:
        loads, requests, calls = (int(x) for x in custom.split(","))
        return loads, requests, calls
    return LOADS, REQUESTS, CALLS


def _p95(values: list[float]) -> float:
    return float(np.percentile(np.asarray(values), 95)) if values else float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ReportCase:
    """One request of the calls report (or of the dashboards), on the big account and on the
    small one."""

    label: str
    params: dict[str, str]
    path: str = "/calls"
    times_ms: list[float] = field(default_factory=list)
    reference_ms: list[float] = field(default_factory=list)
    total: int = 0
    reference_total: int = 0
    explain: str = ""


@dataclass
class CabinetCampaign:
    log: list[str] = field(default_factory=list)
    loads_ms: list[float] = field(default_factory=list)
    reference_loads_ms: list[float] = field(default_factory=list)
    initial: dict[str, int] = field(default_factory=dict)  # URL path → bytes on the wire
    build_gzip: int = 0
    calls: int = 0
    big_calls: int = 0
    cases: list[ReportCase] = field(default_factory=list)
    dashboards: list[ReportCase] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.log.append(line)
        print(f"cabinet: {line}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the build


def _build(workdir: Path) -> Path:
    """web/dist brought up to date and copied; the reference page is added to the copy."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "web.sh"), "build"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError("scripts/web.sh build failed: " + (done.stdout + done.stderr)[-3000:])
    web = workdir / "web"
    shutil.copytree(ROOT / "web" / "dist", web)
    return web


def _gzip_size(path: Path) -> int:
    packed = path.with_name(path.name + ".gz")
    if packed.is_file():  # what the server sends (scripts/web.sh compresses with -9)
        return packed.stat().st_size
    return len(gzip.compress(path.read_bytes(), 9))


def _build_gzip(web: Path) -> int:
    return sum(
        _gzip_size(path)
        for path in (web / "assets").iterdir()
        if path.suffix in (".js", ".css") and path.is_file()
    )


# ------------------------------------------------------------------------------ the server


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    base = sa.make_url(os.environ.get("VPBX_BENCH_POSTGRES_URL", POSTGRES_URL))
    schema = f"vpbx_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextlib.contextmanager
def _vpbx(workdir: Path, url: str, web: Path) -> Iterator[str]:
    http_port = _free_port()
    env = {
        **os.environ,
        "VPBX_DATA_DIR": str(workdir),
        "VPBX_DATABASE_URL": url,
        "VPBX_WEB_DIR": str(web),
        "VPBX_HTTP_PORT": str(http_port),
        "VPBX_SIP_HOST": "127.0.0.1",
        "VPBX_SIP_PORT": str(_free_port()),
        "VPBX_SIP_TLS_PORT": "0",
        "VPBX_METRICS_PORT": str(_free_port()),
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
        "VPBX_LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{http_port}"
    vpbx = Path(sys.executable).with_name("vpbx")
    with (workdir / "vpbx.log").open("wb") as log:
        process = subprocess.Popen(
            [str(vpbx), "run"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"vpbx exited with {process.returncode}: see {workdir}")
            if time.monotonic() > deadline:
                raise RuntimeError("vpbx did not serve within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ the data


@dataclass(frozen=True, slots=True)
class Tenant:
    account_id: int
    token: str
    employee_ids: list[int]
    calls: int


async def _tenants(url: str, sizes: list[int], employees: int = EMPLOYEES) -> list[Tenant]:
    """Accounts with `employees` employees and an admin each (and his API token)."""
    from vpbx.domain.actor import Actor, Role
    from vpbx.domain.entities.misc import Account
    from vpbx.services import accounts
    from vpbx.services.entities import EntityService
    from vpbx.storage.db import make_async_engine

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    engine = make_async_engine(url)
    tenants: list[Tenant] = []
    try:
        async with engine.begin() as conn:
            for n, calls in enumerate(sizes):
                account_id = await accounts.create_account(conn, Account(name=f"Bench {n}"), now())
                svc = EntityService(conn, Actor(Role.ADMIN, account_id), now)
                staff = [
                    int(
                        (
                            await svc.create(
                                "employees",
                                {
                                    "last_name": f"Сотрудник {k}",
                                    "extension": str(100 + k),
                                    "phones": [{"kind": "sip"}],
                                },
                            )
                        ).model_dump()["id"]
                    )
                    for k in range(employees)
                ]
                user = await svc.create(
                    "users",
                    {"login": f"bench{n}@bench", "password": secrets.token_hex(8), "role": "admin"},
                )
                token = await accounts.issue_token(
                    conn, now(), int(user.model_dump()["id"]), label="bench cabinet"
                )
                tenants.append(Tenant(account_id, token, staff, calls))
    finally:
        await engine.dispose()
    return tenants


#: One statement for every account: rows interleaved in time order as a switch writes them,
#: over the last year; 70 % answered, 18 % missed, 4 % voicemail, 3 % blocked, 2 % failed,
#: 3 % interrupted; 60 % incoming, 35 % outgoing, 5 % internal; an employee on answered,
#: voicemail and outgoing calls; waits of 0-90 s; a rating on a third of the answered calls.
FILL = """
INSERT INTO calls (account_id, started_at, answered_at, ended_at, direction, session_type,
  status, caller, called, employee_id, contact_name, wait_seconds, talk_seconds, rating, tag_ids,
  recording_file_ids, created_at, updated_at, node)
SELECT account_id, t, CASE WHEN status = 'answered' THEN t + make_interval(secs => wait) END,
  t + make_interval(secs => wait + talk), direction, '', status,
  CASE WHEN direction = 'incoming' THEN '7916' || lpad((g::bigint * 7919 % 10000000)::text, 7, '0')
       ELSE '74950000001' END,
  CASE WHEN direction = 'incoming' THEN '74950000001'
       ELSE '7495' || lpad((g::bigint * 104729 % 10000000)::text, 7, '0') END,
  CASE WHEN status IN ('answered', 'voicemail') OR direction = 'outgoing'
       THEN ids[1 + floor(p * cardinality(ids))::int] END,
  '', wait, talk,
  CASE WHEN status = 'answered' AND w < 0.33 THEN 1 + floor(w * 15)::int END,
  '[]', '[]', t, t, 'bench'
FROM (
  SELECT a.account_id, e.ids, s.g, s.t, s.p, s.w, round(s.w * 90) AS wait,
    CASE WHEN s.r < 0.70 THEN 'answered' WHEN s.r < 0.88 THEN 'missed'
         WHEN s.r < 0.92 THEN 'voicemail' WHEN s.r < 0.95 THEN 'blocked'
         WHEN s.r < 0.97 THEN 'failed' ELSE 'interrupted' END AS status,
    CASE WHEN s.d < 0.60 THEN 'incoming' WHEN s.d < 0.95 THEN 'outgoing'
         ELSE 'internal' END AS direction,
    CASE WHEN s.r < 0.70 THEN floor(s.p * 600) ELSE 0 END AS talk
  FROM unnest(CAST(:accounts AS bigint[]), CAST(:counts AS int[])) AS a(account_id, n)
  CROSS JOIN LATERAL (
    SELECT array_agg(id ORDER BY id) AS ids FROM employees WHERE account_id = a.account_id
  ) AS e
  CROSS JOIN LATERAL (
    SELECT g, now() - random() * interval '365 days' AS t, random() AS r, random() AS d,
      random() AS p, random() AS w
    FROM generate_series(1, a.n) AS g
  ) AS s
  ORDER BY s.t
) AS generated
"""


def _fill(url: str, tenants: list[Tenant]) -> float:
    from vpbx.storage.db import make_sync_engine

    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setseed(0.14)"))
            conn.execute(
                sa.text(FILL),
                {
                    "accounts": [t.account_id for t in tenants],
                    "counts": [t.calls for t in tenants],
                },
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) calls")
        return time.perf_counter() - start
    finally:
        engine.dispose()


def seed_calls(
    url: str, sizes: list[int], employees: int = EMPLOYEES
) -> tuple[list[Tenant], float]:
    """Accounts with `sizes` calls each (and their admins' tokens); the seconds the calls took
    to write."""
    tenants = asyncio.run(_tenants(url, sizes, employees))
    return tenants, _fill(url, tenants)


async def _roll_up(url: str, tenants: list[Tenant]) -> None:
    from vpbx.services.calendar import account_zone
    from vpbx.services.dashboards import refresh_rollups
    from vpbx.storage.db import make_async_engine

    engine = make_async_engine(url)
    try:
        for tenant in tenants:
            async with engine.begin() as conn:
                zone = await account_zone(conn, tenant.account_id)
                await refresh_rollups(conn, tenant.account_id, zone, dt.datetime.now(dt.UTC))
    finally:
        await engine.dispose()


def roll_up(url: str, tenants: list[Tenant]) -> float:
    """The accounts' daily rollups made as the first dashboard read after the load would make
    them (then VACUUM ANALYZE, as autovacuum would); the seconds it took."""
    from vpbx.storage.db import make_sync_engine

    start = time.perf_counter()
    asyncio.run(_roll_up(url, tenants))
    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("call_rollups", "call_employee_rollups", "call_wait_rollups"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    finally:
        engine.dispose()
    return time.perf_counter() - start


async def _explain(url: str, tenant: Tenant, case: ReportCase) -> str:
    """EXPLAIN ANALYZE of what the request runs, as vpbx.services runs it — the report's page and
    its COUNT, or the dashboard's buckets, totals (or wait bins) and employees: the execution
    times and the plans in one line."""
    from vpbx.domain.actor import Actor, Role
    from vpbx.domain.entities.misc import CallStatus
    from vpbx.services.dashboards import DashboardFilter, dashboard_queries
    from vpbx.services.entities import EntityService
    from vpbx.services.reports import CallFilter, CallTab, call_query, count_of
    from vpbx.storage.db import make_async_engine

    params = case.params
    engine = make_async_engine(url)
    try:
        async with engine.connect() as conn:
            svc = EntityService(
                conn, Actor(Role.ADMIN, tenant.account_id), lambda: dt.datetime.now(dt.UTC)
            )
            statements: list[tuple[str, sa.Select[Any]]]
            if case.path == "/dashboards":
                flt = DashboardFilter(
                    start=dt.datetime.fromisoformat(params["from"]),
                    end=dt.datetime.fromisoformat(params["to"]),
                )
                statements = list((await dashboard_queries(svc, flt)).statements())
            else:
                report = CallFilter(
                    tab=CallTab(params.get("tab", "all")),
                    employee_id=int(params["employee_id"]) if "employee_id" in params else None,
                    status=CallStatus(params["status"]) if "status" in params else None,
                )
                query = await call_query(svc, report, None)
                limit, offset = int(params.get("limit", "50")), int(params.get("offset", "0"))
                # the page, and its total as the report counts it
                statements = [
                    ("page", query.limit(limit).offset(offset)),
                    ("count", count_of(query)),
                ]
            found = []
            for what, stmt in statements:
                sql = str(
                    stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                )
                plan = [
                    row[0]
                    for row in await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                ]
                took = next(
                    (line.split(":", 1)[1].strip() for line in plan if "Execution Time" in line),
                    "?",
                )
                nodes = [
                    re.sub(r"\s+\(.*", "", line.strip().lstrip("-> ").strip())
                    for line in plan
                    if "->" in line or line is plan[0]
                ]
                found.append(f"{what} {took} ({' → '.join(nodes[:6])})")
            return "; ".join(found)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------ measuring


def _first_loads(campaign: CabinetCampaign, base: str, web: Path, loads: int) -> None:
    from playwright.sync_api import Request, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:

            def load(url: str, network: dict[str, int] | None = None) -> float:
                context = browser.new_context(
                    viewport={"width": 1280, "height": 800}, locale="ru-RU"
                )
                try:
                    page = context.new_page()
                    requests: list[Request] = []
                    page.on("requestfinished", lambda request: requests.append(request))
                    page.goto(url, wait_until="commit")
                    shown = page.wait_for_function(FORM_SHOWN, polling="raf", timeout=30_000)
                    took = float(shown.json_value())
                    if network is not None:
                        for request in requests:
                            path = httpx.URL(request.url).path
                            if path.endswith((".js", ".css")):
                                network[path] = request.sizes()["responseBodySize"]
                    return took
                finally:
                    context.close()

            load(f"{base}/", campaign.initial)  # warms the server's file cache, not the browser's
            assets = json.dumps(sorted(campaign.initial))
            (web / "bench-reference.html").write_text(REFERENCE_PAGE % assets)
            for _ in range(loads):
                campaign.loads_ms.append(load(f"{base}/"))
                campaign.reference_loads_ms.append(load(f"{base}/bench-reference.html"))
        finally:
            browser.close()


def _report(cases: Sequence[ReportCase], base: str, big: Tenant, small: Tenant, n: int) -> None:
    """Time `n` requests of each case (after WARM_UP unmeasured) on both accounts."""

    def run(tenant: Tenant, case: ReportCase, params: dict[str, str], times: list[float]) -> int:
        total = 0
        headers = {"Authorization": f"Bearer {tenant.token}"}
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=60) as client:
            for k in range(WARM_UP + n):
                start = time.perf_counter()
                answer = client.get(case.path, params=params)
                took = (time.perf_counter() - start) * 1000
                answer.raise_for_status()
                body = answer.json()
                total = int(body["totals"]["total"] if "totals" in body else body["total"])
                if k >= WARM_UP:
                    times.append(took)
        return total

    for case in cases:
        params = dict(case.params)
        small_params = dict(params)
        if "employee_id" in params:  # the same rank of employee in the small account
            rank = big.employee_ids.index(int(params["employee_id"]))
            small_params["employee_id"] = str(small.employee_ids[rank])
        case.total = run(big, case, params, case.times_ms)
        case.reference_total = run(small, case, small_params, case.reference_ms)


def cases(big: Tenant) -> list[ReportCase]:
    default = {"tab": "all", "limit": "50", "offset": "0"}  # what the cabinet sends
    employee = str(big.employee_ids[len(big.employee_ids) // 2])
    return [
        ReportCase("the cabinet's default (tab all, 50 newest, no period)", default),
        ReportCase("one employee", default | {"employee_id": employee}),
        ReportCase("status missed", default | {"status": "missed"}),
        ReportCase(
            "one employee, status answered",
            default | {"employee_id": employee, "status": "answered"},
        ),
    ]


def dashboard_cases(today: dt.date) -> list[ReportCase]:
    """The cabinet's dashboard periods, in the accounts' zone: today by the hour, the last 30
    and 366 days by the day (the longest period the API takes)."""

    def period(days: int) -> dict[str, str]:
        start = today - dt.timedelta(days=days - 1)
        end = today + dt.timedelta(days=1)
        return {"from": f"{start}T00:00:00", "to": f"{end}T00:00:00"}

    return [
        ReportCase("today, by the hour", period(1), "/dashboards"),
        ReportCase("last 30 days, by the day", period(30), "/dashboards"),
        ReportCase("last 366 days, by the day", period(366), "/dashboards"),
    ]


def _measure(
    campaign: CabinetCampaign,
    what: str,
    cases: Sequence[ReportCase],
    url: str,
    base: str,
    big: Tenant,
    small: Tenant,
    n: int,
) -> None:
    """Time the cases on both accounts, EXPLAIN them, and log a line each."""
    _report(cases, base, big, small, n)
    for case in cases:
        case.explain = asyncio.run(_explain(url, big, case))
        campaign.say(
            f"{what}, {case.label}: p50 {statistics.median(case.times_ms):.1f} ms, "
            f"p95 {_p95(case.times_ms):.1f} ms, max {max(case.times_ms):.1f} ms "
            f"(total {case.total:,}); on the {SMALL_CALLS:,}-call account p95 "
            f"{_p95(case.reference_ms):.1f} ms (total {case.reference_total:,}); "
            f"EXPLAIN ANALYZE: {case.explain}"
        )


def measure_dashboards(
    campaign: CabinetCampaign, url: str, base: str, big: Tenant, small: Tenant, n: int
) -> None:
    """The dashboards' rows: `n` requests of each period on both accounts, their EXPLAIN."""
    campaign.dashboards = dashboard_cases(dt.datetime.now(ACCOUNT_ZONE).date())
    _measure(campaign, "dashboard", campaign.dashboards, url, base, big, small, n)


@functools.cache
def cabinet_campaign() -> CabinetCampaign:
    campaign = CabinetCampaign()
    loads, requests, calls = _size()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}")
    workdir = Path(tempfile.mkdtemp(prefix="vpbx-bench-cabinet-"))
    try:
        web = _build(workdir)
        campaign.build_gzip = _build_gzip(web)
        with _postgres_schema() as url:
            big_calls = round(calls * SHARES[0])
            rest = calls - big_calls - SMALL_CALLS
            sizes = [big_calls, round(calls * SHARES[1]), rest - round(calls * SHARES[1])]
            sizes.append(SMALL_CALLS)
            with _vpbx(workdir, url, web) as base:
                tenants, took = seed_calls(url, sizes)
                campaign.calls, campaign.big_calls = sum(sizes), big_calls
                campaign.say(
                    f"{sum(sizes):,} calls in {len(sizes)} accounts "
                    f"({', '.join(f'{s:,}' for s in sizes)}) "
                    f"written by one INSERT … SELECT and VACUUM ANALYZE in {took:.1f} s"
                )
                rolled = roll_up(url, tenants)
                campaign.say(
                    f"the dashboards' daily rollups of those calls made in {rolled:.1f} s "
                    "(every local day before today, each account; then VACUUM ANALYZE)"
                )
                big, small = tenants[0], tenants[-1]
                campaign.cases = cases(big)
                _measure(campaign, "report", campaign.cases, url, base, big, small, requests)
                measure_dashboards(campaign, url, base, big, small, requests)
                _first_loads(campaign, base, web, loads)
                campaign.say(
                    f"first load, {loads} runs: median "
                    f"{statistics.median(campaign.loads_ms):.0f} ms, "
                    f"p95 {_p95(campaign.loads_ms):.0f} ms; reference page median "
                    f"{statistics.median(campaign.reference_loads_ms):.0f} ms, p95 "
                    f"{_p95(campaign.reference_loads_ms):.0f} ms"
                )
                files = ", ".join(f"{Path(p).name} {b:,} B" for p, b in campaign.initial.items())
                campaign.say(
                    f"the sign-in page loaded {files}; the whole build's JS and CSS gzipped: "
                    f"{campaign.build_gzip:,} B"
                )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        campaign.say(f"load average after: {load}")
    finally:
        if os.environ.get("VPBX_BENCH_KEEP"):
            campaign.say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return campaign


def cabinet_method() -> tuple[str, ...]:
    loads, requests, calls = _size()
    return (
        "Cabinet (`vpbx.bench.cabinet`, the `cabinet:` rows): one `vpbx run` on PostgreSQL 15 "
        "(its API in 2 uvicorn workers) serves a copy of the cabinet's build (`scripts/web.sh "
        "build`) and the API over loopback. First load: Debian's headless Chromium (Playwright) "
        f"opens `/` {loads} times, each in a new browser context (empty cache, new connections), "
        "and waits for the sign-in form's password field to be laid out; the figure is "
        "`performance.now()` then (navigation start → form shown, to the frame). Reference, "
        "interleaved with those runs: a static page on the same server that fetches the very "
        "JS and CSS files the sign-in page loaded (same bytes and gzip) without running them, "
        "then shows a form — the difference is parsing, running and rendering the app. Initial "
        "download: the JS and CSS the sign-in page loaded, bytes on the wire (gzip, as served; "
        "Chromium's network log; kB = 1,000 bytes), against the whole build's JS and CSS "
        f"gzipped as if nothing were lazy. Calls report: {calls:,} call rows in 4 accounts "
        f"(the measured one has {round(calls * SHARES[0]):,}, {EMPLOYEES} employees, a year of "
        "calls) written by one INSERT … SELECT over generate_series, then VACUUM ANALYZE (as "
        f"autovacuum does after such a load); {requests} sequential `GET /api/v1/calls` on one "
        f"keep-alive connection after {WARM_UP} unmeasured, with the query the report page "
        "sends by default (`tab=all&limit=50&offset=0`: no period, newest first, with the "
        "total for the pager) and with filters; p95 of the client's wall time. Reference: the "
        f"same requests for the account with {SMALL_CALLS:,} calls. The log gives EXPLAIN "
        "ANALYZE of each page's query and of its COUNT. Dashboards (CDR-3), on the same calls "
        f"(waits of 0-90 s, a third of the answered calls rated): {requests} sequential `GET "
        "/api/v1/dashboards` of the measured account for today (by the hour, from the calls), "
        "the last 30 days and the last 366 days (by the day: the daily rollups of the ended "
        "days, made after the load as the first read makes them, and the calls of today), "
        "incoming calls, every figure computed by SQL; p95 of the client's wall time; "
        "reference: the same periods on the "
        f"{SMALL_CALLS:,}-call account; the log gives EXPLAIN ANALYZE of its three "
        "statements (buckets, totals or wait bins, employees). What this run saw:",
    )


def _p95_row(campaign: CabinetCampaign, case: ReportCase, what: str, target: str | None) -> Result:
    value, reference = _p95(case.times_ms), _p95(case.reference_ms)
    return Result(
        f"cabinet: {what} p95, {case.label}, PostgreSQL, "
        f"{campaign.calls:,} calls ({campaign.big_calls:,} in this account)",
        value,
        "ms",
        f"the same request on an account with {SMALL_CALLS:,} calls",
        reference,
        value / reference if reference else None,
        target,
    )


def _case_row(n: int) -> Result:
    campaign = cabinet_campaign()
    return _p95_row(campaign, campaign.cases[n], "calls report page", f"< {REPORT_TARGET_MS} ms")


def dashboard_result(campaign: CabinetCampaign, case: ReportCase) -> Result:
    """A dashboard period's row (no target: the issue asks for the figure)."""
    return _p95_row(campaign, case, "dashboard", None)


def _dashboard_row(n: int) -> Result:
    campaign = cabinet_campaign()
    return dashboard_result(campaign, campaign.dashboards[n])


def bench_first_load_median() -> Result:
    campaign = cabinet_campaign()
    value = statistics.median(campaign.loads_ms)
    reference = statistics.median(campaign.reference_loads_ms)
    return Result(
        f"cabinet: first load of / → sign-in form shown, headless Chromium, loopback, cold "
        f"cache, median of {len(campaign.loads_ms)}",
        value,
        "ms",
        "a static page fetching the same JS and CSS from the same server, not running them",
        reference,
        value / reference if reference else None,
        None,
    )


def bench_first_load_p95() -> Result:
    campaign = cabinet_campaign()
    value, reference = _p95(campaign.loads_ms), _p95(campaign.reference_loads_ms)
    return Result(
        f"cabinet: first load of / → sign-in form shown, p95 of {len(campaign.loads_ms)}",
        value,
        "ms",
        "the same static page, p95",
        reference,
        value / reference if reference else None,
        None,
    )


def bench_initial_js() -> Result:
    campaign = cabinet_campaign()
    value = sum(campaign.initial.values()) / 1000
    reference = campaign.build_gzip / 1000
    return Result(
        "cabinet: JS + CSS the sign-in page loads, gzipped as served",
        value,
        "kB",
        "every JS and CSS file of the build, gzipped (nothing lazy)",
        reference,
        value / reference if reference else None,
        f"< {JS_TARGET_KB} kB",
    )


BENCHMARKS: tuple[Callable[[], Result], ...] = (
    bench_first_load_median,
    bench_first_load_p95,
    bench_initial_js,
    *(functools.partial(_case_row, n) for n in range(4)),
    *(functools.partial(_dashboard_row, n) for n in range(3)),
)


if __name__ == "__main__":
    found = [bench() for bench in BENCHMARKS]
    merge_rows(found, PREFIX, cabinet_method(), cabinet_campaign().log)
    for row in found:
        print(json.dumps(asdict(row), ensure_ascii=False))
