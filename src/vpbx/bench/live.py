"""The live view of calls with 300 concurrent calls (CDR-4, issue 16's figure), real calls.

The rig is the calls bench's (`vpbx.bench.calls.pbx_rig`): `vpbx run` on SQLite with ten
employees whose SIP lines a SIPp UAS registers and answers (echoing RTP), a SIPp trunk that
calls the virtual number (Forward to the group, «по очереди») and streams G.711 until it hangs
up. A live-view client — what the cabinet's page does with `EventSource` — holds `GET
/api/v1/live/events` open with an admin's token while the trunk places `CALLS` calls at
`RATE`/s, each held `HOLD_MS` after its answer, so that all of them are up together; then, on
the same vpbx, `REFERENCE_CALLS` calls the same way.

The figures: for each call, the time from the moment the switch gives it (its `started_at`,
its `answered_at`: the switch's wall clock, the same machine's as the client's) to the arrival
of the first Server-Sent Event that shows the call, and the one that shows it answered; p95 of
each over the calls, and the most calls the client's view held at once (it must reach every
call). The path measured is the switch's board → its flush (50 ms coalescing, by design) →
the unix socket → the API process → SSE over loopback → the client's parser.

The browser: while all the calls are up, headless Chromium (Debian's, through Playwright)
signs in to the cabinet (a copy of `scripts/web.sh build` served by the same vpbx), opens
«Звонки сейчас» (/live) and waits until its table holds every call and shows their rows (above
50 calls the table draws only the rows in view): `performance.now()` then (navigation start →
table drawn); then it samples the animation frames for `FRAME_SECONDS`
(its durations tick every second): p95 of the frame intervals. The calls end after that.

`python -m vpbx.bench.live` runs it alone (≈ 1-2 minutes) and merges its rows into
docs/benchmarks.{json,md}. VPBX_BENCH_KEEP=1 keeps the working folder.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from vpbx.bench.cabinet import CHROMIUM, _build
from vpbx.bench.calls import LoadRun, Rig, pbx_rig, run_load
from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows

__all__ = ["BENCHMARKS", "LiveCampaign", "LiveRun", "live_campaign", "live_method"]

CALLS = 300
REFERENCE_CALLS = 10
RATE = 30.0  # calls/s
#: each call is held this long after its answer: the 300 are all up for about 80 s, which
#: the browser's part needs (signing in and drawing 300 rows took ~25 s here under load)
HOLD_MS = 90_000
#: how long animation frames are sampled on the live page, seconds
FRAME_SECONDS = 5
PREFIX = "live:"
LOGIN = "live@bench"
#: the page has drawn its table of every call: it holds them all (`data-calls`) and shows
#: their rows (each has a ticking duration) — all of them, or above 50 calls the ones in view
#: (the table draws only those: d394763)
ROWS_SHOWN = """(calls) => {
  const card = document.querySelector('[data-testid="live-calls"]');
  const held = card === null ? 0 : Number(card.getAttribute('data-calls'));
  const rows = document.querySelectorAll('[data-testid="duration"]').length;
  return held >= calls && rows >= Math.min(calls, 10) ? performance.now() : null;
}"""
#: the intervals between animation frames over the next `ms` milliseconds
FRAME_GAPS = """(ms) => new Promise((done) => {
  const gaps = [];
  const start = performance.now();
  let last = start;
  const step = (now) => {
    gaps.push(now - last);
    last = now;
    if (now - start < ms) requestAnimationFrame(step); else done(gaps);
  };
  requestAnimationFrame(step);
})"""


@dataclass
class LiveRun:
    """What the client saw of one load: per call, seconds from the switch's time to arrival."""

    calls: int
    shown_s: list[float] = field(default_factory=list)
    answered_s: list[float] = field(default_factory=list)
    ended: int = 0
    most_at_once: int = 0
    successful: int = 0
    #: the browser: navigation start → the table of every call drawn, and the frame intervals
    rows_drawn_ms: float = float("nan")
    frame_gaps_ms: list[float] = field(default_factory=list)


@dataclass
class LiveCampaign:
    log: list[str] = field(default_factory=list)
    runs: list[LiveRun] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.log.append(line)
        print(f"live: {line}", file=sys.stderr, flush=True)


async def _admin_token(url: str, password: str) -> str:
    """An admin of the rig's account (`LOGIN`, `password`) and his API token."""
    from vpbx.app import utc_now
    from vpbx.domain.actor import Actor, Role
    from vpbx.services import accounts
    from vpbx.services.entities import EntityService
    from vpbx.storage.db import make_async_engine

    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            svc = EntityService(conn, Actor(Role.ADMIN, 1), utc_now)
            user = await svc.create(
                "users",
                {"login": LOGIN, "password": password, "role": "admin"},
            )
            return await accounts.issue_token(
                conn, utc_now(), int(user.model_dump()["id"]), label="bench live"
            )
    finally:
        await engine.dispose()


class Viewer(threading.Thread):
    """A live-view client: reads the event stream, notes when each message arrived."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        try:
            with (
                httpx.Client(base_url=self.base, headers=headers, timeout=None) as client,
                client.stream("GET", "/api/v1/live/events") as answer,
            ):
                answer.raise_for_status()
                for line in answer.iter_lines():
                    if line.startswith("data:"):
                        arrived = time.time()
                        message = json.loads(line[5:])
                        self.received.append((arrived, message))
                        if message.get("type") == "snapshot":
                            self.ready.set()
                    if self.stopping.is_set():
                        return
        except BaseException as error:  # the main thread reports it
            self.error = error
            self.ready.set()


def _summary(run: LiveRun, received: list[tuple[float, dict[str, Any]]]) -> None:
    shown: dict[str, float] = {}
    answered: dict[str, float] = {}
    current: set[str] = set()
    for arrived, message in received:
        kind = message.get("type")
        if kind == "snapshot":
            current = {str(call["call_id"]) for call in message.get("calls", [])}
        elif kind == "call":
            call = message["call"]
            call_id = str(call["call_id"])
            current.add(call_id)
            if call_id not in shown:
                shown[call_id] = arrived - float(call["started_at"])
            if call.get("answered_at") is not None and call_id not in answered:
                answered[call_id] = arrived - float(call["answered_at"])
        elif kind == "ended":
            current.discard(str(message["call_id"]))
            run.ended += 1
        run.most_at_once = max(run.most_at_once, len(current))
    run.shown_s, run.answered_s = list(shown.values()), list(answered.values())


def _browse(run: LiveRun, base: str, password: str) -> None:
    """The cabinet's live page while the calls are up: rows drawn, then frame intervals."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="ru-RU")
            page = context.new_page()
            page.goto(f"{base}/login")
            page.get_by_label("Логин").fill(LOGIN)
            page.get_by_label("Пароль").fill(password)
            page.get_by_role("button", name="Войти", exact=True).click()
            page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
            page.goto(f"{base}/live", wait_until="commit")
            drawn = page.wait_for_function(ROWS_SHOWN, arg=run.calls, polling="raf", timeout=60_000)
            run.rows_drawn_ms = float(drawn.json_value())
            run.frame_gaps_ms = [
                float(gap) for gap in page.evaluate(FRAME_GAPS, FRAME_SECONDS * 1000)
            ]
        finally:
            browser.close()


def _measure(campaign: LiveCampaign, rig: Rig, token: str, password: str, calls: int) -> LiveRun:
    run = LiveRun(calls)
    base = f"http://127.0.0.1:{rig.http_port}"
    viewer = Viewer(base, token)
    viewer.start()
    if not viewer.ready.wait(30) or viewer.error is not None:
        raise RuntimeError(f"the live view did not connect: {viewer.error!r}")
    loads: list[LoadRun] = []
    trunk = threading.Thread(
        target=lambda: loads.append(run_load(rig, rate=RATE, calls=calls, call_ms=HOLD_MS))
    )
    started = time.monotonic()
    trunk.start()
    # every call placed and answered (the answers take well under a second here)
    time.sleep(calls / RATE + 3)
    try:
        _browse(run, base, password)
        browsed = time.monotonic() - started
    finally:
        trunk.join()
    time.sleep(2)  # the last ends reach the client
    viewer.stopping.set()
    (load,) = loads
    run.successful = load.successful
    _summary(run, list(viewer.received))
    campaign.runs.append(run)
    campaign.say(
        f"{calls} calls at {RATE:g}/s held {HOLD_MS / 1000:g} s: {load.successful} completed, "
        f"the view held {run.most_at_once} at once, {len(run.shown_s)} shown (p50 "
        f"{_ms(run.shown_s, 50):.0f} ms, p95 {_ms(run.shown_s, 95):.0f} ms, max "
        f"{_ms(run.shown_s, 100):.0f} ms after their start), {len(run.answered_s)} shown "
        f"answered (p50 {_ms(run.answered_s, 50):.0f} ms, p95 {_ms(run.answered_s, 95):.0f} "
        f"ms, max {_ms(run.answered_s, 100):.0f} ms after the answer), {run.ended} ended; "
        f"Chromium drew the table of {calls} calls {run.rows_drawn_ms:.0f} ms after navigation "
        "start, "
        f"then {len(run.frame_gaps_ms)} frames: p50 {_percentile(run.frame_gaps_ms, 50):.1f} "
        f"ms, p95 {_percentile(run.frame_gaps_ms, 95):.1f} ms, max "
        f"{_percentile(run.frame_gaps_ms, 100):.1f} ms (the browser done {browsed:.0f} s "
        "after the first call)"
    )
    return run


def _percentile(values: list[float], percentile: float) -> float:
    return float(np.percentile(np.asarray(values), percentile)) if values else float("nan")


def _ms(seconds: list[float], percentile: float) -> float:
    return _percentile(seconds, percentile) * 1000


@functools.cache
def live_campaign() -> LiveCampaign:
    campaign = LiveCampaign()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}")
    workdir = Path(tempfile.mkdtemp(prefix="vpbx-bench-live-"))
    try:
        # vpbx serves a copy of the cabinet's build (pbx_rig passes the environment on)
        os.environ["VPBX_WEB_DIR"] = str(_build(workdir))
        password = secrets.token_hex(8)
        try:
            with pbx_rig(workdir / "pbx") as rig:
                token = asyncio.run(_admin_token(rig.database_url, password))
                _measure(campaign, rig, token, password, REFERENCE_CALLS)
                _measure(campaign, rig, token, password, CALLS)
        finally:
            del os.environ["VPBX_WEB_DIR"]
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        campaign.say(f"load average after: {load}")
    finally:
        if os.environ.get("VPBX_BENCH_KEEP"):
            campaign.say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return campaign


def live_method() -> list[str]:
    return [
        "Live view (`vpbx.bench.live`, the `live:` rows): real calls — the calls bench's rig "
        "(`vpbx run` on SQLite, ten employees whose SIP lines a SIPp UAS registers and answers "
        "with RTP echoed, a SIPp trunk calling the virtual number: Forward to the group, G.711 "
        f"streamed) — while one live-view client holds `GET /api/v1/live/events` (SSE, an "
        f"admin's token) open: {CALLS} calls at {RATE:g}/s, each held {HOLD_MS / 1000:g} s "
        "after its answer so that all are up together; reference, on the same vpbx just "
        f"before: {REFERENCE_CALLS} calls the same way. Figure: per call, the time from the "
        "switch's `started_at` (and `answered_at`) — its wall clock, the client's machine — "
        "to the arrival of the first event showing the call (showing it answered), p95 over "
        "the calls; it includes the switch's 50 ms coalescing of changes. The log says how "
        "many calls the client's view held at once. The browser, while all the calls are up: "
        "headless Chromium (Debian's, Playwright) signs in to the cabinet served by the same "
        "vpbx (a copy of `scripts/web.sh build`), opens «Звонки сейчас» and waits until its "
        "table holds every call and shows their rows (above 50 calls only those in view) — "
        "`performance.now()` then is the figure (navigation start → table drawn) — then "
        f"samples the animation frames for {FRAME_SECONDS} s (durations tick "
        "every second; the log says when the browser was done, before the calls end): p95 of "
        "the frame intervals. What this run saw:"
    ]


def _row(what: str, values: Callable[[LiveRun], list[float]]) -> Result:
    campaign = live_campaign()
    reference, run = campaign.runs
    value, ref = _ms(values(run), 95), _ms(values(reference), 95)
    return Result(
        f"live: {what} p95, {run.calls} concurrent real calls (SIPp trunk → vpbx → SIPp "
        f"employees), SSE client, loopback",
        value,
        "ms",
        f"the same with {reference.calls} calls",
        ref,
        value / ref if ref else None,
        None,
    )


def bench_live_shown() -> Result:
    return _row("call start → shown in the live view", lambda run: run.shown_s)


def bench_live_answered() -> Result:
    return _row("answer → shown answered in the live view", lambda run: run.answered_s)


def _browser_row(what: str, unit_value: Callable[[LiveRun], float], name: str) -> Result:
    campaign = live_campaign()
    reference, run = campaign.runs
    value, ref = unit_value(run), unit_value(reference)
    return Result(
        f"live: {what}, {run.calls} concurrent real calls, headless Chromium, {name}",
        value,
        "ms",
        f"the same with {reference.calls} calls",
        ref,
        value / ref if ref else None,
        None,
    )


def bench_live_rows_drawn() -> Result:
    return _browser_row(
        "the live page's table of the calls drawn",
        lambda run: run.rows_drawn_ms,
        "navigation start → every call in the table (the rows in view drawn)",
    )


def bench_live_frames() -> Result:
    return _browser_row(
        "the live page's frame interval p95",
        lambda run: _percentile(run.frame_gaps_ms, 95),
        f"animation frames over {FRAME_SECONDS} s while the calls are up",
    )


BENCHMARKS: tuple[Callable[[], Result], ...] = (
    bench_live_shown,
    bench_live_answered,
    bench_live_rows_drawn,
    bench_live_frames,
)


if __name__ == "__main__":
    found = [bench() for bench in BENCHMARKS]
    merge_rows(found, PREFIX, live_method(), live_campaign().log)
    for row in found:
        print(json.dumps(asdict(row), ensure_ascii=False))
