"""Kernel forwarding of bridged RTP with nftables (issue 17): the asyncio shell that runs
`nft` for the rules of `vpbx.media.kernel_rtp_rules`.

One `KernelForwarder` per switch process (built by the composition root, passed in). At
`start` it replaces whatever table a crashed run left with a fresh one; when `nft` is missing
or refused (no CAP_NET_ADMIN) it logs the reason once and every call stays in userspace.

Rule changes happen per call setup and end, so they never wait in a call's path: `install`
and `remove` queue the change and return at once; one worker task sends everything queued
meanwhile as one `nft -f -` transaction (one process for a burst of calls), in order, so a
removal and a later installation of the same socket cannot pass each other. A failed batch
is retried change by change, so one bad flow cannot keep the others in userspace.

While flows are installed the worker also reads the named counters every `poll_interval`
seconds: `KernelFlow.packets` and `last_growth` tell a caller that the forwarded stream is
alive (vpbx's own sockets no longer see the audio).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from vpbx.media.errors import MediaError
from vpbx.media.kernel_rtp_rules import (
    FAMILY,
    FlowPair,
    add_script,
    parse_counters,
    remove_script,
    setup_script,
    table_name,
    teardown_script,
)

__all__ = ["MODES", "FlowState", "KernelFlow", "KernelForwarder", "NftError", "run_nft"]

log = logging.getLogger("vpbx.media.kernel_rtp")

#: VPBX_KERNEL_RTP: "auto" forwards in the kernel when nft works, "off" never tries
MODES: Final = ("auto", "off")
# nft answers in a few milliseconds; a hung one must not hold the queue for ever
NFT_TIMEOUT: Final = 10.0


class NftError(MediaError):
    """`nft` is missing, failed or timed out."""

    error_id = "media.nft_failed"


async def run_nft(command: Sequence[str], args: Sequence[str], script: str = "") -> str:
    """Run `command + args` with `script` on stdin; its stdout, or NftError with its stderr."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise NftError(f"cannot run {command[0]}: {exc}") from None
    try:
        out, err = await asyncio.wait_for(process.communicate(script.encode()), NFT_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise NftError(f"{command[0]} did not answer in {NFT_TIMEOUT} s") from None
    if process.returncode != 0:
        text = err.decode(errors="replace").strip() or f"exit status {process.returncode}"
        raise NftError(text)
    return out.decode(errors="replace")


class FlowState(enum.Enum):
    QUEUED = "queued"  # waiting for the worker
    ACTIVE = "active"  # the kernel forwards
    FAILED = "failed"  # nft refused: userspace carries the call
    REMOVED = "removed"  # taken out (or never installed: removed while queued)


@dataclass(eq=False, slots=True)
class KernelFlow:
    """One bridged call's forwarding, from `install` until removed."""

    pair: FlowPair
    #: told once with True when the kernel forwards, False when nft refused the flow
    on_installed: Callable[[bool], None] | None = None
    state: FlowState = FlowState.QUEUED
    #: packets the kernel forwarded (a→b, b→a) at the last poll
    packets: tuple[int, int] = (0, 0)
    #: the loop time of the last poll that saw either counter grow (None: not yet)
    last_growth: float | None = None
    error: str = ""
    _remove_queued: bool = field(default=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Change:
    flow: KernelFlow
    install: bool

    def script(self, table: str) -> str:
        if self.install:
            return add_script(table, self.flow.pair)
        return remove_script(table, self.flow.pair)


class KernelForwarder:
    """The process's nftables table of forwarded RTP flows (see the module doc)."""

    def __init__(
        self,
        *,
        mode: str = "auto",
        port_min: int,
        port_max: int,
        command: Sequence[str] = ("nft",),
        poll_interval: float = 1.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"kernel RTP mode must be one of {MODES}, not {mode!r}")
        self._mode = mode
        self._port_min = port_min
        self._port_max = port_max
        self.table = table_name(port_min)
        self._command = tuple(command)
        self._poll_interval = poll_interval
        self._queue: list[_Change] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._flows: set[KernelFlow] = set()
        self.available = False
        #: why the kernel does not forward (empty while it does)
        self.reason = "not started"
        #: nft transactions sent, and how long the last one took (seconds): the cost of a
        #: call's setup or end in the kernel path
        self.transactions = 0
        self.last_transaction_seconds = 0.0

    @property
    def flows(self) -> int:
        """Flows installed or queued."""
        return len(self._flows)

    async def start(self) -> bool:
        """Clean what a crashed run left and build the table; False (logged once, with the
        reason) when the kernel will not forward."""
        if self._mode == "off":
            self.reason = "VPBX_KERNEL_RTP=off"
            log.info("kernel rtp forwarding off", extra={"reason": self.reason})
            return False
        if shutil.which(self._command[0]) is None:
            self.reason = f"{self._command[0]} not found"
        else:
            try:
                await run_nft(
                    self._command,
                    ["-f", "-"],
                    setup_script(self.table, self._port_min, self._port_max),
                )
            except NftError as exc:
                self.reason = f"nft failed: {exc}"
            else:
                self.reason = ""
        if self.reason:
            log.warning("kernel rtp forwarding unavailable", extra={"reason": self.reason})
            return False
        self.available = True
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="kernel-rtp")
        log.info(
            "kernel rtp forwarding on",
            extra={
                "table": f"{FAMILY} {self.table}",
                "ports": f"{self._port_min}-{self._port_max}",
            },
        )
        return True

    async def close(self) -> None:
        """Stop the worker and remove the table (every flow goes with it)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self.available:
            self.available = False
            self.reason = "closed"
            try:
                await run_nft(self._command, ["-f", "-"], teardown_script(self.table))
            except NftError as exc:
                log.warning("kernel rtp table not removed", extra={"error": str(exc)})
        for flow in self._flows:
            flow.state = FlowState.REMOVED
        self._flows.clear()
        self._queue.clear()
        self._idle.set()

    def install(
        self, pair: FlowPair, on_installed: Callable[[bool], None] | None = None
    ) -> KernelFlow | None:
        """Queue `pair` for the kernel; None when the kernel does not forward."""
        if not self.available:
            return None
        flow = KernelFlow(pair, on_installed)
        self._flows.add(flow)
        self._enqueue(_Change(flow, install=True))
        return flow

    def remove(self, flow: KernelFlow) -> None:
        """Queue the flow's removal (a flow still queued is simply never installed)."""
        if flow._remove_queued or flow.state in (FlowState.REMOVED, FlowState.FAILED):
            return
        flow._remove_queued = True
        for i, change in enumerate(self._queue):
            if change.flow is flow and change.install:
                del self._queue[i]
                self._finish_removed(flow)
                return
        self._enqueue(_Change(flow, install=False))

    async def settled(self) -> None:
        """Wait until every queued change has been sent (tests, shutdown)."""
        await self._idle.wait()

    async def poll(self) -> None:
        """Read the counters now (the worker does it every `poll_interval` while flows run)."""
        active = [f for f in self._flows if f.state is FlowState.ACTIVE]
        if not active:
            return
        try:
            text = await run_nft(
                self._command, ["-j", "list", "counters", "table", FAMILY, self.table]
            )
            counters = parse_counters(self.table, text)
        except (NftError, ValueError) as exc:
            log.warning("kernel rtp counters unreadable", extra={"error": str(exc)})
            return
        now = asyncio.get_running_loop().time()
        for flow in active:
            ab, ba = flow.pair.directions
            packets = tuple(counters[d.name].packets if d.name in counters else 0 for d in (ab, ba))
            if packets != flow.packets:
                flow.packets = (packets[0], packets[1])
                flow.last_growth = now

    # --- the worker -----------------------------------------------------------------------

    def _enqueue(self, change: _Change) -> None:
        self._queue.append(change)
        self._idle.clear()
        self._wake.set()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self._poll_interval
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                timeout = max(0.0, next_poll - loop.time()) if self._flows else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            if self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
            if self._flows and loop.time() >= next_poll:
                await self.poll()
                next_poll = loop.time() + self._poll_interval

    async def _send(self, batch: list[_Change]) -> None:
        loop = asyncio.get_running_loop()
        # the removal of a flow nft refused has nothing to remove
        batch = [c for c in batch if c.install or c.flow.state is not FlowState.FAILED]
        if not batch:
            return
        started = loop.time()
        try:
            await run_nft(self._command, ["-f", "-"], "".join(c.script(self.table) for c in batch))
        except NftError as exc:
            if len(batch) == 1:
                self._settle(batch[0], str(exc))
            else:
                # one transaction failed as a whole: find the change nft refuses
                for change in batch:
                    try:
                        await run_nft(self._command, ["-f", "-"], change.script(self.table))
                    except NftError as single:
                        self._settle(change, str(single))
                    else:
                        self._settle(change, "")
        else:
            for change in batch:
                self._settle(change, "")
        self.transactions += 1
        self.last_transaction_seconds = loop.time() - started

    def _settle(self, change: _Change, error: str) -> None:
        flow = change.flow
        if not change.install:
            if error:
                log.warning("kernel rtp flow not removed", extra={"error": error})
            self._finish_removed(flow)
            return
        if error:
            flow.state = FlowState.FAILED
            flow.error = error
            self._flows.discard(flow)
            log.warning("kernel rtp flow refused, userspace relays", extra={"error": error})
        else:
            flow.state = FlowState.ACTIVE
        if flow.on_installed is not None and not flow._remove_queued:
            flow.on_installed(not error)

    def _finish_removed(self, flow: KernelFlow) -> None:
        flow.state = FlowState.REMOVED
        self._flows.discard(flow)
