"""The flood benchmark: calls keep talking while the API is attacked.

The rig of `vpbx.bench.calls` (`vpbx run` with its switch and API processes, SIPp as the
trunk and as the employees with RTP echoed) carries `CALLS` calls through the scenario engine;
once they all talk, for `WINDOW_SECONDS`:

* a prober (its own process, so nothing in this one delays it) sends a SIP OPTIONS to the switch
  every `PROBE_INTERVAL` seconds and times the 200 (`OPTIONS latency`, p50/p99/max);
* the RTP on the four hops is counted by the kernel (tcpdump on lo, as the call benchmarks do)
  from before the first call to after the last hang-up, so every count is a whole total and
  no capture's start or stop (late under load) skews a ratio: lost frames = the share the trunk
  sent that did not reach the employees, or the share they echoed that did not reach the trunk,
  whichever is larger;
* with the flood (a second run on a fresh vpbx; the first, without it, is the reference), another
  process attacks the API: `LOGIN_WORKERS` clients post wrong passwords for a known cabinet login
  without pause (each costs a password hash), and another tenant's admin PUTs a `IMPORT_BYTES`
  YAML configuration (a valid document: an address book of generated contacts), the import the
  issue saw freeze every tenant's calls for 26 s when the API shared the switch's event loop.

`flood_campaign()` runs both (≈ 2 minutes); the registry entries read its figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from vpbx.bench.calls import (
    Rig,
    _child_running,
    _counter,
    _cpu_seconds,
    _pbx_errors,
    _start_trunk,
    _stats,
    _stop,
    _tree,
    media_captures,
    pbx_rig,
    run_load,
)
from vpbx.bench.core import Result

__all__ = ["BENCHMARKS", "FloodRun", "flood_campaign", "flood_method"]

CALLS = 100
RAMP_CPS = 20
WINDOW_SECONDS = 20.0
PROBE_INTERVAL = 0.02
LOGIN_WORKERS = 8
IMPORT_BYTES = 10 * 1024 * 1024
LOSS_TARGET = 0.01
P99_TARGET_MS = 20.0

IMPORTER_LOGIN = "admin@flood-importer"
IMPORTER_PASSWORD = "flood-importer-2026"


# --------------------------------------------------------------------------------- probes


def probe_main(argv: list[str]) -> None:
    """The OPTIONS prober (run as `python -c`): host, port, interval, output file; until
    SIGTERM, then the round-trip times (ms, null = no answer within 1 s) as JSON."""
    host, port, interval, out = argv[0], int(argv[1]), float(argv[2]), Path(argv[3])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    times: list[float | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        me = sock.getsockname()[1]
        sock.settimeout(1.0)
        next_at = time.monotonic()
        while not stop.is_set():
            branch = uuid.uuid4().hex
            message = (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@127.0.0.1>;tag={branch[:8]}\r\n"
                f"To: <sip:{host}>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            sent = time.perf_counter()
            sock.sendto(message, (host, port))
            answered: float | None = None
            with contextlib.suppress(TimeoutError):
                while True:
                    data = sock.recv(65535)
                    if branch.encode() in data and data.startswith(b"SIP/2.0 200"):
                        answered = (time.perf_counter() - sent) * 1000
                        break
            times.append(answered)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
    out.write_text(json.dumps(times))


def flood_main(argv: list[str]) -> None:
    """The attacker (run as `python -c`): API base URL, the import document, output file.
    Wrong logins from LOGIN_WORKERS clients and one config import, until SIGTERM."""
    base, document, out = argv[0], Path(argv[1]), Path(argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logins: dict[str, int] = {}
    lock = threading.Lock()
    report: dict[str, Any] = {}

    def login_flood(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            attempt = 0
            while not stop.is_set():
                attempt += 1
                body = {"login": IMPORTER_LOGIN, "password": f"wrong-{worker}-{attempt}"}
                try:
                    status = str(client.post(f"{base}/api/v1/auth/login", json=body).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                with lock:
                    logins[status] = logins.get(status, 0) + 1

    def config_import(token: str) -> None:
        started = report["import_started"] = time.monotonic()
        try:
            answer = httpx.put(
                f"{base}/api/v1/config",
                content=document.read_bytes(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"},
                timeout=600,
            )
            report["import_status"] = str(answer.status_code)
        except httpx.HTTPError as error:
            report["import_status"] = type(error).__name__
        report["import_seconds"] = time.monotonic() - started

    token = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"login": IMPORTER_LOGIN, "password": IMPORTER_PASSWORD},
        timeout=30,
    ).json()["token"]
    threads = [threading.Thread(target=config_import, args=(token,), daemon=True)]
    threads += [
        threading.Thread(target=login_flood, args=(i,), daemon=True) for i in range(LOGIN_WORKERS)
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    report["logins"] = logins
    if "import_status" not in report:
        report["import_status"] = "still running"
        report["import_seconds"] = time.monotonic() - report.get("import_started", time.monotonic())
    out.write_text(json.dumps(report))


def _python(function: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    code = f"import sys; from vpbx.bench.flood import {function}; {function}(sys.argv[1:])"
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=output, stderr=subprocess.STDOUT
        )


def _finish(process: subprocess.Popen[bytes], out: Path) -> Any:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return json.loads(out.read_text()) if out.exists() else None


# --------------------------------------------------------------------------------- the set-up


def big_config(path: Path, size: int, base: str) -> Path:
    """A valid configuration document of about `size` bytes: the account's own export `base`
    (its admin user kept) with an address book of generated contacts (written as text: dumping
    10 MB with PyYAML would take this process a minute)."""
    import yaml

    document = yaml.safe_load(base)
    document.pop("contacts", None)
    entry = (
        "- id: {n}\n"
        "  last_name: Contact{n}\n"
        "  first_name: Generated\n"
        "  phones:\n"
        "  - '+7495{n:07d}'\n"
        "  - '+7916{n:07d}'\n"
        "  organization: {org}\n"
        "  group_ids: []\n"
    )
    org = "Flood import test organization " + "x" * 200
    with path.open("w", encoding="utf-8") as out:
        out.write(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        out.write("contacts:\n")
        written, n = 0, 0
        while written < size:
            n += 1
            text = entry.format(n=n, org=org)
            out.write(text)
            written += len(text)
    return path


def _operator_token(url: str) -> str:
    import asyncio

    from vpbx.app import utc_now
    from vpbx.services import accounts
    from vpbx.storage.db import make_async_engine

    async def issue() -> str:
        engine = make_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await accounts.issue_token(
                    conn, utc_now(), None, label="bench flood", operator=True
                )
        finally:
            await engine.dispose()

    return asyncio.run(issue())


def _importer(rig: Rig) -> str:
    """Another tenant with an admin: his login is flooded and his import is the big one; the
    tenant's configuration as exported (YAML)."""
    base = f"http://127.0.0.1:{rig.http_port}/api/v1"
    operator = {"Authorization": f"Bearer {_operator_token(rig.database_url)}"}
    with httpx.Client(timeout=30) as client:
        account = client.post(f"{base}/accounts", headers=operator, json={"name": "Importer"})
        account.raise_for_status()
        user = client.post(
            f"{base}/users",
            headers=operator | {"X-Account-Id": str(account.json()["id"])},
            json={
                "login": IMPORTER_LOGIN,
                "password": IMPORTER_PASSWORD,
                "role": "admin",
                "full_name": "Importer",
            },
        )
        user.raise_for_status()
        login = client.post(
            f"{base}/auth/login", json={"login": IMPORTER_LOGIN, "password": IMPORTER_PASSWORD}
        )
        login.raise_for_status()
        export = client.get(
            f"{base}/config", headers={"Authorization": f"Bearer {login.json()['token']}"}
        )
        export.raise_for_status()
        return export.text


def _frames_skipped(rig: Rig) -> float:
    """The switch's count of outgoing frames skipped because its loop was late."""
    try:
        text = httpx.get(f"http://127.0.0.1:{rig.status_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return float("nan")
    found = re.search(r"^vpbx_rtp_frames_skipped_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


# --------------------------------------------------------------------------------- one run


@dataclass
class FloodRun:
    flood: bool
    calls: int
    window: float
    media: dict[str, int] = field(default_factory=dict)  # packets on each hop, whole run
    options_ms: list[float] = field(default_factory=list)
    options_unanswered: int = 0
    successful: int = 0
    failed: int = 0
    frames_skipped: float = 0.0
    attack: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # % of a core in the window
    errors: str = ""  # what vpbx logged at level error, by message

    @property
    def lost(self) -> float:
        """The share of RTP lost on the worse direction through vpbx (0..1)."""
        media = self.media
        if not media or not media.get("trunk sends") or not media.get("employees echo"):
            return 1.0
        forward = 1 - media["to employees"] / media["trunk sends"]
        back = 1 - media["to trunk"] / media["employees echo"]
        return max(0.0, forward, back)

    def percentile(self, q: float) -> float:
        if not self.options_ms:
            return float("inf")
        return float(np.percentile(np.asarray(self.options_ms), q))

    def describe(self) -> str:
        hops = ", ".join(f"{k} {v:,}" for k, v in self.media.items())
        cpu = ", ".join(f"{k} {v:.0f} %" for k, v in self.cpu.items())
        attack = ""
        if self.flood:
            logins = self.attack.get("logins", {})
            total = sum(logins.values())
            rate = total / self.window if self.window else 0
            attack = (
                f"; attack: {total} wrong logins ({rate:.0f}/s, answers {logins}), "
                f"config import: {self.attack.get('import_status')} after "
                f"{self.attack.get('import_seconds', float('nan')):.1f} s"
            )
        return (
            f"{'with' if self.flood else 'without'} the flood, {self.calls} calls talking, "
            f"{self.window:.0f} s window: RTP packets {hops}; lost {self.lost:.2%}; vpbx frames "
            f"skipped {self.frames_skipped:.0f}; OPTIONS p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, max {self.percentile(100):.1f} ms "
            f"({len(self.options_ms)} answered, {self.options_unanswered} unanswered); calls "
            f"{self.successful} ok, {self.failed} failed; CPU in the window: {cpu}{attack}"
            + (f"; vpbx logged errors: {self.errors}" if self.errors else "")
        )


def _cpu_of(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(_cpu_seconds(pid) for pid in group) for name, group in pids.items()}


def run_flood(
    workdir: Path,
    *,
    flood: bool,
    calls: int = CALLS,
    window: float = WINDOW_SECONDS,
    import_bytes: int = IMPORT_BYTES,
) -> FloodRun:
    """`calls` calls talking for `window` seconds on a fresh vpbx, with or without the flood."""
    result = FloodRun(flood, calls, window)
    with pbx_rig(workdir) as rig:
        run_load(rig, rate=10, calls=10, call_ms=500)  # warm: the first calls load everything
        base = _importer(rig)
        document = big_config(workdir / "import.yaml", import_bytes, base) if flood else None
        ramp = calls / RAMP_CPS
        hold_ms = int((ramp + window + 2) * 1000)
        captures = media_captures(rig)
        for capture in captures.values():
            capture.wait_listening()
        trunk, trunk_dir, _ = _start_trunk(rig, RAMP_CPS, calls, hold_ms)
        attacker: subprocess.Popen[bytes] | None = None
        prober: subprocess.Popen[bytes] | None = None
        try:
            time.sleep(ramp + 1)  # every call up and talking
            assert rig.pbx is not None
            switch = _child_running(rig.pbx.pid, "switch") or rig.pbx.pid
            api = _child_running(rig.pbx.pid, "api")
            groups = {"vpbx switch": [switch], "vpbx API": _tree(api) if api else []}
            skipped0 = _frames_skipped(rig)
            prober = _python(
                "probe_main",
                "127.0.0.1",
                rig.target.rsplit(":", 1)[1],
                str(PROBE_INTERVAL),
                str(workdir / "probe.json"),
                log=workdir / "probe.log",
            )
            if document is not None:
                attacker = _python(
                    "flood_main",
                    f"http://127.0.0.1:{rig.http_port}",
                    str(document),
                    str(workdir / "attack.json"),
                    log=workdir / "attack.log",
                )
            cpu0, t0 = _cpu_of(groups), time.monotonic()
            time.sleep(window)
            span = time.monotonic() - t0
            cpu1 = _cpu_of(groups)
            result.cpu = {name: 100 * (cpu1[name] - cpu0[name]) / span for name in groups}
            result.frames_skipped = _frames_skipped(rig) - skipped0
        finally:
            if attacker is not None:
                result.attack = _finish(attacker, workdir / "attack.json") or {}
            if prober is not None:
                times = _finish(prober, workdir / "probe.json") or []
                result.options_ms = [t for t in times if t is not None]
                result.options_unanswered = sum(1 for t in times if t is None)
            deadline = time.monotonic() + hold_ms / 1000 + 60
            while trunk.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            _stop(trunk)
            time.sleep(0.5)  # the last packets in flight arrive
            result.media = {name: capture.count() for name, capture in captures.items()}
        result.errors = _pbx_errors(rig)
        stats = _stats(trunk_dir)
        result.successful = _counter(stats, "SuccessfulCall(C)")
        result.failed = _counter(stats, "FailedCall(C)")
        result.failed += max(0, calls - result.successful - result.failed)
    return result


# --------------------------------------------------------------------------------- campaign


@dataclass
class FloodCampaign:
    reference: FloodRun | None = None
    flooded: FloodRun | None = None
    log: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.log.append(text)
        print(f"[flood] {text}", flush=True)


def _size() -> tuple[int, float, int]:
    """CALLS, WINDOW_SECONDS and IMPORT_BYTES, or smaller ones from VPBX_BENCH_FLOOD
    ("calls,seconds,megabytes", e.g. "20,8,1" for a quick check of the benchmark itself)."""
    custom = os.environ.get("VPBX_BENCH_FLOOD", "")
    if not custom:
        return CALLS, WINDOW_SECONDS, IMPORT_BYTES
    calls, seconds, megabytes = custom.split(",")
    return int(calls), float(seconds), int(float(megabytes) * 1024 * 1024)


@functools.cache
def flood_campaign() -> FloodCampaign:
    campaign = FloodCampaign()
    calls, window, import_bytes = _size()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}")
    root = Path(tempfile.mkdtemp(prefix="vpbx-bench-flood-"))
    try:
        for flood in (False, True):
            run = run_flood(
                root / ("flood" if flood else "reference"),
                flood=flood,
                calls=calls,
                window=window,
                import_bytes=import_bytes,
            )
            campaign.say(run.describe())
            if flood:
                campaign.flooded = run
            else:
                campaign.reference = run
    finally:
        if os.environ.get("VPBX_BENCH_KEEP"):
            print(f"[flood] kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return campaign


def flood_method() -> tuple[str, ...]:
    """How the `flood:` rows were measured, for docs/benchmarks.md."""
    calls, window, import_bytes = _size()
    return (
        f"Flood (`vpbx.bench.flood`, the `flood:` rows): the same rig carries {calls} calls "
        f"(ramp at {RAMP_CPS} calls/s) that talk for {window:g} s; meanwhile a prober process "
        f"sends SIP OPTIONS to the switch every {PROBE_INTERVAL * 1000:g} ms and times the 200, "
        "and in the second run, on a fresh vpbx, an attacker process floods the API with wrong "
        f"cabinet passwords for a known login ({LOGIN_WORKERS} clients without pause) while "
        f"another tenant's admin PUTs a {import_bytes / 1024 / 1024:g} MB configuration (his "
        "export plus a generated address book). RTP packets are counted on the four hops by the "
        "kernel from before the first call to after the last hang-up; lost = the worse of "
        "trunk → employees and employees → trunk. The first run, without the attack, is the "
        "reference. What this run saw:",
    )


def _what(run: FloodRun | None) -> str:
    if run is None:
        return "nothing ran"
    megabytes = _size()[2] / 1024 / 1024
    return (
        f"{run.calls} calls talking (RTP both ways through vpbx), {run.window:.0f} s, while the "
        f"API takes {LOGIN_WORKERS} clients of wrong cabinet logins and a {megabytes:g} MB "
        "config import"
    )


def bench_flood_loss() -> Result:
    campaign = flood_campaign()
    run, reference = campaign.flooded, campaign.reference
    return Result(
        f"flood: RTP frames lost, {_what(run)}",
        100 * run.lost if run is not None else 100.0,
        "%",
        "the same calls without the flood",
        100 * reference.lost if reference is not None else None,
        None,
        f"≤ {LOSS_TARGET:.0%}",
    )


def bench_flood_options() -> Result:
    campaign = flood_campaign()
    run, reference = campaign.flooded, campaign.reference
    value = run.percentile(99) if run is not None else float("inf")
    ref = reference.percentile(99) if reference is not None else None
    return Result(
        f"flood: p99 SIP OPTIONS round trip (one every {PROBE_INTERVAL * 1000:.0f} ms), "
        + _what(run),
        value,
        "ms",
        "the same calls without the flood",
        ref,
        value / ref if ref else None,
        f"< {P99_TARGET_MS:.0f} ms",
    )


BENCHMARKS = (bench_flood_loss, bench_flood_options)
