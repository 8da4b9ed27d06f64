"""Helpers of the live proofs of scenario operations, distribution, forward targets and routing
rules (issue 12): trunk callers with their own caller number, marker tones stored as sound files
of the file base, what the trunk heard, the report rows of a call, baresip phones on the lines
and a watch over them recording which phone rang when, SIPp waiting for calls (a provider, a SIP
URI phone), and the office the module's cases share."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone
from tests.peers.ports import free_range
from tests.peers.rtp_pcap import Segment, tone, write_rtp_pcap
from tests.peers.sipp import SCENARIOS, SippResult, SippServer, sipp_args
from tests.peers.trunk_caller import TrunkCaller, TrunkCallResult
from tests.switch.harness import TRUNK_IP, RunningPbx, line_phone, tone_file
from tests.switch.observe import api_get, details
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

Pcm = npt.NDArray[np.int16]
STOCK_CALLER = "74957654321"  # what the stock trunk caller scenarios put in From
LINGER = 1.2  # seconds tcpdump goes on capturing after SIPp exits


class Caller(TrunkCaller):
    """A trunk caller (SIPp at 127.0.0.2) with its own number in From. `hangs_up=False`: it
    waits for vpbx's BYE (a scenario that ends the call itself)."""

    def __init__(
        self,
        workdir: Path,
        pbx: RunningPbx,
        number: str,
        caller: str,
        segments: Sequence[Segment],
        *,
        hangs_up: bool = False,
        hold: float | None = None,
        timeout: float = 40,
    ) -> None:
        super().__init__(
            workdir,
            pbx.sip_port,
            number,
            segments,
            hangs_up=hangs_up,
            hold=hold,
            ip=TRUNK_IP,
            timeout=timeout,
        )
        self.caller = caller
        self.sipp_result: SippResult | None = None

    def ended(self, timeout: float | None = None) -> None:
        """Until SIPp exits (the capture goes on)."""
        assert self.sipp is not None, "start() first"
        self.sipp_result = self.sipp.finish(timeout if timeout is not None else self.timeout + 10)

    def collect(self) -> TrunkCallResult:
        """Stop the capture and decode it (after `ended`)."""
        assert self.capture is not None
        assert self.sipp_result is not None, "ended() first"
        self.capture.stop()
        received = self.capture.received(event_payload_type=101)
        return TrunkCallResult(self.sipp_result, received, self.sent)

    def wait(self, timeout: float | None = None) -> TrunkCallResult:
        """Until SIPp exits, then the capture: tcpdump hands packets over in blocks, so the
        last ~0.7 s before the hang-up were lost when it was stopped at once."""
        try:
            self.ended(timeout)
            time.sleep(LINGER)
            return self.collect()
        finally:
            self.stop()

    @property
    def scenario(self) -> Path:
        stock = "trunk_caller.xml" if self.hangs_up else "trunk_caller_waits.xml"
        text = (SCENARIOS / stock).read_text(encoding="iso-8859-1")
        path = self.workdir / "caller_as.xml"
        path.write_text(text.replace(STOCK_CALLER, self.caller), encoding="iso-8859-1")
        return path


def run_together(callers: Iterable[Caller], timeout: float = 40) -> list[TrunkCallResult]:
    """Start every caller at once and wait for all of them (each must end cleanly)."""
    started = list(callers)
    try:
        for caller in started:
            caller.start()
        for caller in started:
            caller.ended(timeout)
        time.sleep(LINGER)
        results = [caller.collect() for caller in started]
    finally:
        for caller in started:
            caller.stop()
    for result in results:
        result.assert_ok()
    return results


# -- marker sounds ------------------------------------------------------------------------------


async def sound(svc: EntityService, workdir: Path, name: str, hz: float, seconds: float) -> int:
    """A sound file of the file base (FILE-1) holding one tone: a marker of where a call went."""
    path = tone_file(workdir / f"{name}.8k.wav", hz, seconds=seconds)
    created = (await svc.create("files", {"name": name, "kind": "sound"})).model_dump()
    await svc.conn.execute(
        sa.update(t.files)
        .where(t.files.c.id == created["id"])
        .values(original_path=str(path), converted_path=str(path))
    )
    return int(created["id"])


def windows(pcm: Pcm, seconds: float = 0.5) -> Iterable[Pcm]:
    size = int(8000 * seconds)
    for start in range(0, len(pcm) - size + 1, size // 2):
        yield pcm[start : start + size]


def loud(pcm: Pcm) -> bool:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 200


def tones_heard(pcm: Pcm, candidates: Iterable[float], least: int = 3) -> set[float]:
    """The candidate frequencies heard for at least `least` half-overlapping 0.5 s windows
    (three windows: a second of the tone), so a syllable of speech never counts."""
    counts: dict[float, int] = {}
    wanted = list(candidates)
    for window in windows(pcm):
        if not loud(window):
            continue
        found = dominant_frequency(window)
        for hz in wanted:
            if abs(found - hz) <= 15:
                counts[hz] = counts.get(hz, 0) + 1
    return {hz for hz, count in counts.items() if count >= least}


# -- the report -----------------------------------------------------------------------------------


def finished_rows(pbx: RunningPbx, count: int, timeout: float = 15, **match: Any) -> list[Any]:
    """The calls report rows of finished calls whose fields equal `match`, once there are
    `count` of them (the report is written in the background), oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        items = api_get(pbx, "/calls", limit=200)["items"]
        rows = [
            row
            for row in items
            if row["status"] != "active" and all(row.get(k) == v for k, v in match.items())
        ]
        if len(rows) >= count:
            return sorted(rows, key=lambda row: (row["started_at"], row["id"]))
        assert time.monotonic() < deadline, f"{len(rows)} of {count} rows {match}: {items}"
        time.sleep(0.2)


def row_and_steps(pbx: RunningPbx, **match: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one finished call matching `match` and its details."""
    rows = finished_rows(pbx, 1, **match)
    assert len(rows) == 1, rows
    return rows[0], details(pbx, rows[0]["id"])


def describe(steps: list[dict[str, Any]]) -> str:
    return "\n".join(f"{s['at']} {s['kind']}: {s['text']} {s['data']}" for s in steps)


def kinds(steps: list[dict[str, Any]]) -> list[str]:
    return [s["kind"] for s in steps]


def texts(steps: list[dict[str, Any]], kind: str) -> list[str]:
    return [s["text"] for s in steps if s["kind"] == kind]


@dataclass
class Heard:
    """One call: what the trunk caller heard, its report row and its details; `every_tone` is
    what the module's peers and sound files say (the tones looked for)."""

    result: TrunkCallResult
    row: dict[str, Any]
    steps: list[dict[str, Any]]
    every_tone: Sequence[float]

    @property
    def tones(self) -> set[float]:
        return tones_heard(self.result.samples, self.every_tone)

    def why(self) -> str:
        return f"heard {sorted(self.tones)}; row {self.row}\n{describe(self.steps)}"


def wait_heard(
    pbx: RunningPbx, call: Caller, every_tone: Sequence[float], *, clean: bool = True
) -> Heard:
    """Until the caller's SIPp exits, then its call. `clean`: SIPp must have ended cleanly
    (else the test looks at that itself)."""
    result = call.wait()
    if clean:
        result.assert_ok()
    row, steps = row_and_steps(pbx, caller=call.caller, called=call.number)
    return Heard(result, row, steps, every_tone)


# -- which phone rang when ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    at: float
    phone: int
    kind: str  # CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED…


class PhoneWatch:
    """Every event of the phones, timestamped as it arrives (one reader thread per phone)."""

    def __init__(self, phones: Sequence[BaresipPhone]) -> None:
        self.phones = list(phones)
        self.seen: list[Seen] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read, args=(index,), daemon=True)
            for index in range(len(self.phones))
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, index: int) -> None:
        events = self.phones[index].events
        while not self._stop.is_set():
            try:
                event = events.get(timeout=0.1)
            except Exception:  # queue.Empty
                continue
            with self._changed:
                self.seen.append(Seen(time.monotonic(), index, str(event.get("type"))))
                self._changed.notify_all()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)

    def mark(self) -> int:
        with self._changed:
            return len(self.seen)

    def wait(self, found: Callable[[list[Seen]], Seen | None], timeout: float, what: str) -> Seen:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                hit = found(self.seen)
                if hit is not None:
                    return hit
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{what} not within {timeout} s; saw {self.seen}"
                self._changed.wait(remaining)

    def next_ring(self, since: int, timeout: float = 15) -> tuple[Seen, int]:
        """The first CALL_INCOMING after position `since`, and the position after it."""
        box: list[int] = []

        def find(seen: list[Seen]) -> Seen | None:
            for position in range(since, len(seen)):
                if seen[position].kind == "CALL_INCOMING":
                    box.append(position + 1)
                    return seen[position]
            return None

        hit = self.wait(find, timeout, "a ringing phone")
        return hit, box[0]

    def event(self, phone: int, kind: str, since: int, timeout: float = 15) -> Seen:
        def find(seen: list[Seen]) -> Seen | None:
            return next((s for s in seen[since:] if s.phone == phone and s.kind == kind), None)

        return self.wait(find, timeout, f"{kind} on phone {phone}")

    def rings(self, since: int, until: int | None = None) -> list[Seen]:
        with self._changed:
            return [s for s in self.seen[since:until] if s.kind == "CALL_INCOMING"]


def start_phones(
    pbx: RunningPbx,
    workdir: Path,
    tones: Sequence[float],
    phones: list[BaresipPhone],
    *,
    manual: Container[int] = (),
) -> None:
    """A baresip phone on every line, line `index` saying `tones[index]`; those of `manual`
    answer only when told. Each goes into `phones` as soon as it runs, so that the caller's
    `finally` stops it even when a later one fails to start. Returns once all are registered."""
    for index, hz in enumerate(tones):
        source = tone_file(workdir / f"phone{index}.wav", hz)
        mode = "manual" if index in manual else "auto"
        phones.append(line_phone(pbx, workdir, index, source, answermode=mode))
    for index in range(len(tones)):
        pbx.wait_registered(index)


# -- SIPp waiting for calls, and sockets where no call may go --------------------------------------


def wait_bound(ip: str, port: int, timeout: float = 15) -> None:
    """Until something binds UDP ip:`port` (SIPp started; on a loaded CI machine, with three
    workers of live tests, SIPp once took over 5 s to bind)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((ip, port))
            except OSError:
                return
        assert time.monotonic() < deadline, f"nothing bound UDP {ip}:{port}"
        time.sleep(0.05)


def sipp_peer(
    workdir: Path,
    scenario: str,
    ip: str,
    port: int,
    hz: float,
    seconds: float,
    *,
    calls: int = 1,
    extra: Sequence[str] = (),
    media_port: int | None = None,
) -> SippServer:
    """SIPp waiting for `calls` calls on ip:port (a provider, or a SIP URI phone); it says `hz`
    for `seconds` once it answers (from `media_port`, where a test may capture what it hears).
    Returns once its SIP port is bound, so a call made next finds it."""
    workdir.mkdir()
    write_rtp_pcap(workdir / "provider.pcap", [tone(hz, seconds)])
    args = sipp_args(
        scenario,
        None,
        calls=calls,
        rate=10,
        transport="u1",
        timeout=30,
        extra=["-mi", ip, "-mp", str(media_port or free_range(4)), *extra],
        port=port,
        ip=ip,
    )
    process = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = SippServer(process, workdir, ip, port)
    try:
        wait_bound(ip, port)
    except BaseException:
        server.__exit__()  # a SIPp that never bound is not left running
        raise
    return server


def note_datagrams(sock: socket.socket, call: Caller) -> list[bytes]:
    """Whatever reaches `sock` (bound, UDP) until the caller's SIPp exits: the proof that a call
    went where it must never go."""
    sock.settimeout(0.1)  # to look now and then whether SIPp has exited
    datagrams: list[bytes] = []
    while call.sipp is not None and call.sipp.process.poll() is None:
        with contextlib.suppress(TimeoutError):
            datagrams.append(sock.recv(65536))
    return datagrams


# -- the office ---------------------------------------------------------------------------------


@dataclass
class OfficeBase:
    """What the cases of a module share: the PBX, the baresip phones of its lines and the watch
    over them, the module's folder, and the port of the provider on the outbound trunk. The
    module's `Office` adds its own."""

    pbx: RunningPbx
    phones: list[BaresipPhone]
    watch: PhoneWatch
    workdir: Path
    provider_port: int

    def employee(self, line: int) -> int:
        return self.pbx.lines[line].employee_id

    def dial(
        self,
        name: str,
        number: str,
        caller: str,
        segments: Sequence[Segment],
        *,
        hangs_up: bool = False,
    ) -> Caller:
        """A trunk caller from `caller` to the virtual `number` (SIPp in the folder `name`),
        started."""
        call = Caller(self.workdir / name, self.pbx, number, caller, segments, hangs_up=hangs_up)
        call.start()
        return call
