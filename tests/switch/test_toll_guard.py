"""The switch's toll-fraud guard with a fake clock and a fake directory: leases per call, the
catch-all release when a call ends, and the timer that hangs up calls over the minutes cap."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest

from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.toll_fraud import Refusal, Rule
from vpbx.switch.directory import Directory
from vpbx.switch.toll_guard import Lease, TollGuard


class FakeDirectory:
    def __init__(self, policy: TollFraudPolicy) -> None:
        self.policy = policy

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy:
        return self.policy


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _guard(policy: TollFraudPolicy, clock: Clock) -> tuple[TollGuard, list[str], list[str]]:
    events: list[str] = []
    cut: list[str] = []
    directory = cast(Directory, FakeDirectory(policy))
    guard = TollGuard(directory, clock=clock, security_event=events.append)
    guard.cut = lambda call_id, _reason: cut.append(call_id)
    return guard, events, cut


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_refusal_is_a_security_event_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard, events, _ = _guard(TollFraudPolicy(), Clock())
    caplog.set_level(logging.WARNING, logger="vpbx.security")
    refused = await guard.admit(7, "call1", "+442071234567", line="5551234", source="line")
    assert isinstance(refused, Refusal)
    assert refused.rule is Rule.DESTINATION
    assert events == ["toll_fraud_refused"]
    (record,) = caplog.records
    fields: dict[str, Any] = record.__dict__
    assert record.name == "vpbx.security"
    assert fields["event"] == "toll_fraud_refused"
    assert (fields["account_id"], fields["line"], fields["destination"], fields["rule"]) == (
        7,
        "5551234",
        "+442071234567",
        "destination",
    )
    assert guard.active_leases() == 0


async def test_the_end_of_a_call_frees_every_lease_it_holds() -> None:
    clock = Clock()
    guard, _, _ = _guard(TollFraudPolicy(max_simultaneous_calls=2), clock)
    first = await guard.admit(1, "call1", "79161234567")
    second = await guard.admit(1, "call1", "79161234568")
    assert isinstance(first, Lease)
    assert isinstance(second, Lease)
    assert isinstance(await guard.admit(1, "call2", "79161234569"), Refusal)
    guard.leg_over(first.id)
    guard.leg_over(first.id)  # a second path ending the same leg changes nothing
    guard.call_over("call1")  # the catch-all: the leg never rung is free too
    await _settle()
    assert guard.active_leases() == 0
    assert await guard.counters.active(1) == 0
    assert isinstance(await guard.admit(1, "call2", "79161234569"), Lease)
    await guard.stop()


async def test_a_talking_call_is_hung_up_when_the_minutes_are_used_up() -> None:
    clock = Clock()
    guard, events, cut = _guard(TollFraudPolicy(max_minutes_per_hour=1), clock)
    lease = await guard.admit(1, "call1", "79161234567")
    assert isinstance(lease, Lease)
    guard.leg_talking(lease.id)
    await _settle()
    # The timer is armed for when the minute runs out, not polled every second.
    timer = guard._timer
    assert timer is not None
    when = getattr(timer, "when", None)  # uvloop's timer handles are not asyncio's class
    assert when is not None
    assert when() - asyncio.get_running_loop().time() == pytest.approx(60.0, abs=0.5)
    clock.now += 30
    await guard._check()
    assert cut == []
    clock.now += 30
    await guard._check()
    assert cut == ["call1"]
    assert events == ["toll_fraud_cut"]
    await _settle()
    assert guard.active_leases() == 0
    # The hour is used up: the next call is refused until talk leaves the window.
    refused = await guard.admit(1, "call2", "79161234567")
    assert isinstance(refused, Refusal)
    assert refused.rule is Rule.MINUTES
    clock.now += 3600
    assert isinstance(await guard.admit(1, "call3", "79161234567"), Lease)
    await guard.stop()
