"""The toll-fraud guard on the switch: asks the pure decisions (`vpbx.domain.toll_fraud`) before
every leg to an outside number and carries out what they say.

Before a leg goes out through a trunk, `admit` reads the account's policy and asks the counters;
a refusal is logged as a security event (logger ``vpbx.security``, event ``toll_fraud_refused``
with account, line, destination and rule) and counted in /metrics, and the caller of `admit`
answers the phone or notes it in the call's details. An admitted leg holds a lease: the call
tells the guard when the leg is answered (`leg_talking`: minutes are charged from then) and when
it ends (`leg_over`, from every path that ends a leg; `call_over` as the catch-all when the
whole call ends), and one timer, re-armed at the time the counters name, hangs up the talking
calls of an account whose minutes per hour are used up (event ``toll_fraud_cut``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from vpbx.domain.toll_fraud import InProcessCounters, OutgoingCounters, Refusal
from vpbx.switch.directory import Directory

log = logging.getLogger("vpbx.security")

#: the calls report's words for a call hung up by the minutes cap
CUT_TEXT = "разговор прерван: исчерпан лимит минут исходящих разговоров за час"
#: the timer never wakes sooner than this after it is armed (a cap reached a fraction of a
#: second late costs nothing; a busy loop of wake-ups would)
MIN_WAKE = 0.2


@dataclass(frozen=True, slots=True)
class Lease:
    """An admitted outgoing leg's hold on its account's counters."""

    id: str
    account_id: int


class TollGuard:
    """One per switch node; `cut` (set by the PBX) hangs up a call by its id, saying why."""

    def __init__(
        self,
        directory: Directory,
        counters: OutgoingCounters | None = None,
        clock: Callable[[], float] = time.time,
        security_event: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.counters: OutgoingCounters = counters or InProcessCounters()
        self.clock = clock
        self.security_event = security_event
        self.cut: Callable[[str, str], None] | None = None
        self._leases: dict[str, set[str]] = {}
        self._numbers = itertools.count(1)
        self._timer: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(
        self,
        account_id: int,
        call_id: str,
        dialled: str,
        *,
        line: str = "",
        source: str = "line",
    ) -> Lease | Refusal:
        """May this call send a leg to `dialled` now? `line` is the SIP login that dialled (empty
        for a scenario's forward), `source` what dials (line, forward, mobile)."""
        policy = await self.directory.toll_fraud_policy(account_id)
        lease_id = f"{call_id}/{next(self._numbers)}"
        refusal = await self.counters.admit(account_id, lease_id, policy, dialled, self.clock())
        if refusal is not None:
            log.warning(
                "toll_fraud_refused",
                extra={
                    "event": "toll_fraud_refused",
                    "account_id": account_id,
                    "line": line,
                    "source": source,
                    "destination": dialled,
                    "e164": refusal.number,
                    "rule": refusal.rule.value,
                    "call": call_id,
                },
            )
            if self.security_event is not None:
                self.security_event("toll_fraud_refused")
            return refusal
        self._leases.setdefault(call_id, set()).add(lease_id)
        return Lease(lease_id, account_id)

    def leg_talking(self, lease_id: str) -> None:
        """The leg was answered: its minutes count from now."""
        self._spawn(self._talking(lease_id, self.clock()))

    def leg_over(self, lease_id: str) -> None:
        """The leg ended (idempotent: every path that ends a leg says so)."""
        call_id = lease_id.rpartition("/")[0]
        held = self._leases.get(call_id)
        if held is None or lease_id not in held:
            return
        held.discard(lease_id)
        if not held:
            del self._leases[call_id]
        self._spawn(self._released(lease_id, self.clock()))

    def call_over(self, call_id: str) -> None:
        """The whole call ended: whatever leases it still holds are free (legs never rung)."""
        for lease_id in sorted(self._leases.get(call_id, ())):
            self.leg_over(lease_id)

    def active_leases(self) -> int:
        """Leases held by the calls of this node (for tests and health)."""
        return sum(len(held) for held in self._leases.values())

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- counters, in order, off the SIP path ---------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("toll-fraud counters failed", exc_info=task.exception())

    async def _talking(self, lease_id: str, now: float) -> None:
        await self.counters.answered(lease_id, now)
        await self._arm()

    async def _released(self, lease_id: str, now: float) -> None:
        await self.counters.release(lease_id, now)
        await self._arm()

    async def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock()
        when = await self.counters.next_check(now)
        if when is None:
            return
        delay = max(MIN_WAKE, when - now)
        self._timer = asyncio.get_running_loop().call_later(delay, self._due)

    def _due(self) -> None:
        self._timer = None
        self._spawn(self._check())

    async def _check(self) -> None:
        """The minutes of an account are used up: its talking outgoing calls are hung up."""
        now = self.clock()
        for lease_id in await self.counters.over_limit(now):
            call_id = lease_id.rpartition("/")[0]
            log.warning(
                "toll_fraud_cut",
                extra={
                    "event": "toll_fraud_cut",
                    "rule": "minutes_per_hour",
                    "call": call_id,
                },
            )
            if self.security_event is not None:
                self.security_event("toll_fraud_cut")
            # Released here too: the cap holds even if the call takes a moment to end.
            self.leg_over(lease_id)
            if self.cut is not None:
                self.cut(call_id, CUT_TEXT)
        await self._arm()


__all__ = ["Lease", "TollGuard"]
