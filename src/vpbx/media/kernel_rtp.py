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

A removal nft fails (or that times out) is not forgotten: the flow's map entry may still be
live, and once the call's ports are reused by a call with the same peer address, that call's
audio would go to the old call's other party. Such a flow stays pending, its unhooking first in
the next batches (retried `UNHOOK_RETRY_DELAY` later if nothing else comes); after
`UNHOOK_ATTEMPTS` failures the whole table is rebuilt empty and every forwarded flow handed
back to userspace (logged as an error).

`poll` reads the named counters into `KernelFlow.packets` and `last_growth`: what tells that
a forwarded stream is alive, since vpbx's own sockets no longer see its audio. With
`poll_interval` the worker polls by itself while flows run; by default it does not, since
nothing in the switch needs it yet (it has no media timeout) and a poll costs: nft lists the
whole table (~80 ms of nft's CPU at 550 calls) and the JSON is parsed on the loop (~4.5 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import itertools
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from vpbx.media.errors import MediaError
from vpbx.media.kernel_rtp_rules import (
    FAMILY,
    UNSPECIFIED,
    CounterValue,
    FlowPair,
    Stream,
    add_script,
    drop_script,
    parse_counters,
    setup_script,
    table_name,
    teardown_script,
    unhook_script,
    unsupported,
)
from vpbx.media.session import PacketListener, RtpSession

__all__ = [
    "MODES",
    "FlowState",
    "KernelFlow",
    "KernelForwarder",
    "KernelPath",
    "NftError",
    "run_nft",
]

log = logging.getLogger("vpbx.media.kernel_rtp")

#: VPBX_KERNEL_RTP: "auto" forwards in the kernel when nft works, "off" never tries
MODES: Final = ("auto", "off")
# nft answers in a few milliseconds; a hung one must not hold the queue for ever
NFT_TIMEOUT: Final = 10.0
#: failed unhookings of one flow before the table is rebuilt: a transient failure (a timeout
#: under load) passes on a retry, a lasting one must not leave a live entry behind
UNHOOK_ATTEMPTS: Final = 3
#: seconds before a failed unhooking is tried again when no other change comes
UNHOOK_RETRY_DELAY: Final = 0.5


class NftError(MediaError):
    """`nft` is missing, failed or timed out."""

    error_id = "media.nft_failed"


async def run_nft(command: Sequence[str], args: Sequence[str], script: str = "") -> str:
    """Run `command + args` with `script` on stdin; its stdout, or NftError with its stderr."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            *args,
            stdin=asyncio.subprocess.PIPE if script else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise NftError(f"cannot run {command[0]}: {exc}") from None
    try:
        out, err = await asyncio.wait_for(
            process.communicate(script.encode() if script else None), NFT_TIMEOUT
        )
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        if isinstance(exc, TimeoutError):
            raise NftError(f"{command[0]} did not answer in {NFT_TIMEOUT} s") from None
        raise
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
    #: told the final counters (a→b, b→a) once an active flow is taken out
    on_removed: Callable[[tuple[int, int]], None] | None = None
    state: FlowState = FlowState.QUEUED
    #: packets the kernel forwarded (a→b, b→a) at the last poll
    packets: tuple[int, int] = (0, 0)
    #: the loop time of the last poll that saw either counter grow (None: not yet)
    last_growth: float | None = None
    error: str = ""
    #: the loop time its installation was handed to nft (None: not yet)
    submitted: float | None = None
    _remove_queued: bool = field(default=False, repr=False)
    _unhook_failures: int = field(default=0, repr=False)


@dataclass(frozen=True, slots=True)
class _Change:
    flow: KernelFlow
    install: bool

    def script(self, table: str) -> str:
        """Installation, or the first step of a removal (the packets come back to us)."""
        if self.install:
            return add_script(table, self.flow.pair)
        return unhook_script(table, self.flow.pair)


class KernelForwarder:
    """The process's nftables table of forwarded RTP flows (see the module doc)."""

    def __init__(
        self,
        *,
        mode: str = "auto",
        port_min: int,
        port_max: int,
        command: Sequence[str] = ("nft",),
        poll_interval: float | None = None,
        retry_delay: float = UNHOOK_RETRY_DELAY,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"kernel RTP mode must be one of {MODES}, not {mode!r}")
        self._mode = mode
        self._port_min = port_min
        self._port_max = port_max
        self.table = table_name(port_min)
        self._command = tuple(command)
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._queue: list[_Change] = []
        #: removals whose unhooking failed: first in the next batch
        self._unhooks: list[_Change] = []
        self._serials = itertools.count(1)
        #: `note_unsupported` reasons already logged
        self._noted: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False
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
            # the nft it runs now finishes first (a killed transaction is rolled back anyway,
            # but its process would be left for the loop to reap); what is queued is moot
            self._stopping = True
            self._wake.set()
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
        self._unhooks.clear()
        self._idle.set()

    def install(
        self,
        pair: FlowPair,
        on_installed: Callable[[bool], None] | None = None,
        on_removed: Callable[[tuple[int, int]], None] | None = None,
    ) -> KernelFlow | None:
        """Queue `pair` for the kernel; None when the kernel does not forward."""
        if not self.available:
            return None
        # a serial of its own: its chains never clash with a removed flow's of the same socket
        pair = dataclasses.replace(pair, serial=next(self._serials))
        flow = KernelFlow(pair, on_installed, on_removed)
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
        """Wait until every queued change has been sent and every failed unhooking retried
        to the end (tests, shutdown)."""
        await self._idle.wait()

    def note_unsupported(self, reason: str) -> None:
        """Log once per reason why a bridge's addresses cannot be forwarded (a setting such as
        an unspecified RTP host refuses every call: one line, not one per call)."""
        if reason in self._noted or len(self._noted) >= 32:
            return
        self._noted.add(reason)
        log.warning("kernel rtp cannot forward these calls", extra={"reason": reason})

    async def poll(self) -> None:
        """Read the counters now (the worker does it every `poll_interval`, if given, while
        flows run)."""
        active = [f for f in self._flows if f.state is FlowState.ACTIVE]
        if not active:
            return
        counters = await self._read_counters()
        if counters is None:
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
        interval = self._poll_interval
        next_poll = loop.time() + (interval or 0.0)
        while not self._stopping:
            if not self._queue:
                self._wake.clear()
                timeout = None
                if self._unhooks:
                    timeout = self._retry_delay
                else:
                    self._idle.set()
                if interval is not None and self._flows:
                    due = max(0.0, next_poll - loop.time())
                    timeout = due if timeout is None else min(timeout, due)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            if self._stopping:
                return
            # one bad moment (a callback's bug, an nft answer nobody foresaw) must not end
            # the worker: every later call would wait for it
            try:
                if self._queue or self._unhooks:
                    # the retries first: a re-installation of their sockets follows them
                    batch = self._unhooks + self._queue
                    self._unhooks, self._queue = [], []
                    await self._send(batch)
                if interval is not None and self._flows and loop.time() >= next_poll:
                    next_poll = loop.time() + interval
                    await self.poll()
            except Exception:
                log.exception("kernel rtp worker: unexpected error, going on")

    async def _send(self, batch: list[_Change]) -> None:
        """One transaction for the batch: installations, and removals' unhooking; then the
        removed flows' final counters are read and their chains dropped."""
        loop = asyncio.get_running_loop()
        # the removal of a flow nft refused, or one the table's rebuild took out, has
        # nothing to remove
        batch = [
            c
            for c in batch
            if c.install or c.flow.state not in (FlowState.FAILED, FlowState.REMOVED)
        ]
        if not batch:
            return
        started = loop.time()
        for change in batch:
            if change.install:
                change.flow.submitted = started
        errors = dict.fromkeys(range(len(batch)), "")
        try:
            await run_nft(self._command, ["-f", "-"], "".join(c.script(self.table) for c in batch))
        except NftError as exc:
            if len(batch) == 1:
                errors[0] = str(exc)
            else:
                # one transaction failed as a whole: find the change nft refuses
                for i, change in enumerate(batch):
                    try:
                        await run_nft(self._command, ["-f", "-"], change.script(self.table))
                    except NftError as single:
                        errors[i] = str(single)
        self.transactions += 1
        self.last_transaction_seconds = loop.time() - started
        removed = [c.flow for i, c in enumerate(batch) if not c.install and not errors[i]]
        counts = await self._final_counts(removed)
        lasting = ""
        for i, change in enumerate(batch):
            if change.install:
                self._settle_install(change.flow, errors[i])
            elif errors[i]:
                # its entry may still be live: pending, never forgotten (see the module doc)
                change.flow._unhook_failures += 1
                log.warning(
                    "kernel rtp flow not removed, to be retried",
                    extra={"error": errors[i], "attempts": change.flow._unhook_failures},
                )
                if change.flow._unhook_failures >= UNHOOK_ATTEMPTS:
                    lasting = errors[i]
                self._unhooks.append(change)
            else:
                self._finish_removed(change.flow, counts.get(change.flow))
        if removed:
            script = "".join(drop_script(self.table, flow.pair) for flow in removed)
            try:
                await run_nft(self._command, ["-f", "-"], script)
            except NftError as exc:
                log.warning("kernel rtp chains not dropped", extra={"error": str(exc)})
        if lasting:
            await self._rebuild(lasting)

    async def _rebuild(self, error: str) -> None:
        """A flow cannot be unhooked: replace the table with an empty one (one transaction,
        which also takes out whatever the failures left) and hand every forwarded flow back."""
        log.error(
            "kernel rtp flow cannot be removed: table rebuilt, every call back to userspace",
            extra={"error": error, "attempts": UNHOOK_ATTEMPTS},
        )
        self._unhooks = []
        active = [f for f in self._flows if f.state is FlowState.ACTIVE]
        counts = await self._final_counts(active)
        try:
            await run_nft(
                self._command, ["-f", "-"], setup_script(self.table, self._port_min, self._port_max)
            )
        except NftError as exc:
            # nothing more vpbx can do for the live entries; at least no new flow goes in
            self.available = False
            self.reason = f"nft failed: {exc}"
            log.error("kernel rtp table not rebuilt, forwarding off", extra={"error": str(exc)})
        for flow in active:
            self._finish_removed(flow, counts.get(flow))

    async def _read_counters(self) -> dict[str, CounterValue] | None:
        """Every named counter of the table, or None (logged) if nft cannot say."""
        try:
            text = await run_nft(
                self._command, ["-j", "list", "counters", "table", FAMILY, self.table]
            )
            return parse_counters(self.table, text)
        except (NftError, ValueError) as exc:
            log.warning("kernel rtp counters unreadable", extra={"error": str(exc)})
            return None

    async def _final_counts(self, flows: list[KernelFlow]) -> dict[KernelFlow, tuple[int, int]]:
        """The counters of unhooked flows: what the kernel forwarded, final now."""
        if not flows:
            return {}
        counters = await self._read_counters()
        if counters is None:
            return {}
        found = {}
        for flow in flows:
            ab, ba = flow.pair.directions
            if ab.name in counters and ba.name in counters:
                found[flow] = (counters[ab.name].packets, counters[ba.name].packets)
        return found

    def _settle_install(self, flow: KernelFlow, error: str) -> None:
        if error:
            flow.state = FlowState.FAILED
            flow.error = error
            self._flows.discard(flow)
            log.warning("kernel rtp flow refused, userspace relays", extra={"error": error})
        else:
            flow.state = FlowState.ACTIVE
        if flow.on_installed is not None and not flow._remove_queued:
            try:
                flow.on_installed(not error)
            except Exception:
                log.exception("kernel rtp on_installed failed")

    def _finish_removed(self, flow: KernelFlow, counts: tuple[int, int] | None = None) -> None:
        was_active = flow.state is FlowState.ACTIVE
        flow.state = FlowState.REMOVED
        self._flows.discard(flow)
        if counts is not None:
            flow.packets = counts
        if was_active and flow.on_removed is not None:
            try:
                flow.on_removed(counts if counts is not None else flow.packets)
            except Exception:
                log.exception("kernel rtp on_removed failed")


# --- a bridge's use of the forwarder --------------------------------------------------------

#: sequence numbers left free between our stream and the kernel's first packet: the switch
#: still relays while the rules are being installed (5 ms alone, longer in a batch), and a
#: phone must see a forward jump (taken as loss), never a number twice
HEADROOM: Final = 50
#: a plain talk sends a packet every 20 ms: what the numbering the kernel used is guessed
#: from until its counters are read
PTIME: Final = 0.020
#: after a key crossed, the talk stays in userspace this long (the event's packets and its
#: repeated end are numbered by the switch), then the kernel takes it again
KEYS_QUIET: Final = 1.0


def _plain(session: RtpSession, relay: PacketListener) -> bool:
    """The plain talk state of one leg: nothing but the bridge hears or feeds it, and its
    peer's address is known (the kernel matches the latched address, not the SDP's)."""
    return (
        not session.closed
        and session.srtp is None
        and session.source is None
        and session.latched
        and session._listeners == [relay]
        and not session._sent_listeners
    )


def _stream(session: RtpSession) -> Stream:
    sender = session.sender
    return Stream(sender.ssrc, (sender.sequence + HEADROOM) & 0xFFFF)


def _skip_ahead(session: RtpSession, sequence: int, *, mark: bool = False) -> None:
    """Let `session`'s stream go on at `sequence` unless it is already past it (going back
    would make the phone drop what follows as late); `mark`: its next packet starts a
    talkspurt."""
    if session.closed:
        return
    fast = session._fast  # the native relay keeps the numbering while it relays
    if fast is not None:
        fast.hold()
    try:
        sender = session.sender
        if 0 < (sequence - sender.sequence) & 0xFFFF < 0x8000:
            sender.skip_to(sequence)
        if mark:
            sender.start_talkspurt()
    finally:
        if fast is not None:
            fast.release()


class KernelPath:
    """One bridge's kernel forwarding: entered when both legs are in the plain talk state
    with the same audio payload type (the kernel copies payloads; it cannot transcode), left
    when either leaves it (`leave` from the bridge's and the sessions' hooks), and for a
    moment whenever a key crosses.

    The bridge's userspace relay stays attached all along: the kernel only takes the audio
    packets away from it. Whatever the kernel does not take (events, a new address, packets
    sent while the rules are being installed or removed) reaches the relay as before, so a
    change of state loses no packet, and a refused installation changes nothing.

    The phones hear one stream each way throughout: the kernel sends in the name of our
    stream (its SSRC, its sequence numbers from `HEADROOM` past ours), and when the switch
    takes the talk back its stream goes on past the kernel's numbers (guessed at 50 packets/s
    at once, set from the final counters when they are read) with the marker bit.
    """

    def __init__(
        self,
        forwarder: KernelForwarder,
        a: RtpSession,
        b: RtpSession,
        relays: tuple[PacketListener, PacketListener],
    ) -> None:
        self._forwarder = forwarder
        self._a = a
        self._b = b
        self._relays = relays
        self.flow: KernelFlow | None = None
        self._active_since: float | None = None
        #: nft refused this state's flow: not asked again until the state changes
        self._refused = False
        #: no entry before this loop time: keys are crossing
        self._quiet_until = 0.0
        self._retry: asyncio.TimerHandle | None = None
        #: why the last `try_enter` stayed in userspace (for logs and tests)
        self.why_not = ""

    @property
    def active(self) -> bool:
        """The kernel forwards this bridge's audio now."""
        return self.flow is not None and self.flow.state is FlowState.ACTIVE

    def try_enter(self) -> bool:
        """Queue the flow if both legs are plain; True when it is queued or forwarding."""
        if self.flow is not None:
            return True
        if self._refused:
            return False
        a, b = self._a, self._b
        if not self._forwarder.available:
            self.why_not = self._forwarder.reason
            return False
        if not (_plain(a, self._relays[0]) and _plain(b, self._relays[1])):
            self.why_not = "not both legs in the plain talk state"
            return False
        if a.payload_type != b.payload_type:
            self.why_not = "transcoding"
            return False
        if asyncio.get_running_loop().time() < self._quiet_until:
            self.why_not = "keys crossing"
            return False
        peer_a, peer_b = a.remote_addr, b.remote_addr
        assert peer_a is not None
        assert peer_b is not None
        reason = unsupported(peer_a, a.local_addr, b.local_addr, peer_b)
        if reason is not None:
            self.why_not = reason
            if reason == UNSPECIFIED:
                self._forwarder.note_unsupported(reason)  # a setting: every call hits it
            return False
        pair = FlowPair(
            peer_a, a.local_addr, b.local_addr, peer_b, a.payload_type, _stream(a), _stream(b)
        )
        self.flow = self._forwarder.install(
            pair, self._installed, lambda counts: self._removed(pair, counts)
        )
        self.why_not = ""
        return self.flow is not None

    def _installed(self, ok: bool) -> None:
        flow = self.flow
        if not ok and flow is not None and flow.state is FlowState.FAILED:
            self.why_not = flow.error
            self.flow = None
            self._refused = True
            return
        self._active_since = asyncio.get_running_loop().time()
        log.debug("kernel rtp forwarding", extra={"a": self._a.name, "b": self._b.name, "on": ok})

    def leave(self) -> None:
        """Hand the audio back to userspace for good in this state (the rules go in the
        forwarder's next batch)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._refused = False
        self._hand_back()

    def _hand_back(self) -> None:
        flow, self.flow = self.flow, None
        if flow is None:
            return
        self._forwarder.remove(flow)
        since, self._active_since = self._active_since, None
        # an installation nft has (even one still in flight, whose answer is not in yet) may
        # have forwarded packets in our stream's name; one never sent has not
        if since is None:
            since = flow.submitted
        if since is None:
            return
        # past what the kernel can have sent meanwhile, at 50 packets/s, until it is known
        guess = int((asyncio.get_running_loop().time() - since) / PTIME) + HEADROOM
        pair = flow.pair
        for session, stream in ((self._a, pair.a_stream), (self._b, pair.b_stream)):
            _skip_ahead(session, stream.sequence + guess, mark=True)

    def _removed(self, pair: FlowPair, counts: tuple[int, int]) -> None:
        """The final counters of a flow taken out: a→b went as b's stream, b→a as a's."""
        mark = False
        flow = self.flow
        if flow is not None and flow.state is FlowState.REMOVED:
            # taken out by the forwarder itself (its table rebuilt), not by `leave`: the
            # switch has the talk from now on, and it may enter the kernel again
            self.flow, self._active_since = None, None
            mark = True
        elif self.active:
            return  # a newer flow numbers the streams now (it started past these numbers)
        _skip_ahead(self._b, pair.b_stream.sequence + counts[0], mark=mark)
        _skip_ahead(self._a, pair.a_stream.sequence + counts[1], mark=mark)

    def keys_crossing(self) -> None:
        """A key crosses: the switch numbers it in its stream, so it takes the talk back
        while the key lasts and gives it to the kernel again `KEYS_QUIET` after the last."""
        loop = asyncio.get_running_loop()
        self._quiet_until = loop.time() + KEYS_QUIET
        self._hand_back()
        if self._retry is None:
            self._retry = loop.call_at(self._quiet_until, self._after_keys)

    def _after_keys(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._quiet_until:
            self._retry = loop.call_at(self._quiet_until, self._after_keys)
            return
        self._retry = None
        self.try_enter()
