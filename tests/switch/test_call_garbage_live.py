"""Finished calls leave no reference cycles: their objects are freed by reference counting when
the call ends, not kept for the garbage collector. Cycles made every call's ~200 objects cyclic
garbage, and at 50 calls/s a generation-1 collection of half a million of them stopped the
switch's loop for ~0.9 s (the calls benchmark's p99 went from 12 to 500 ms).

A trunk call answered by a baresip employee (Forward, distribution, bridge, talk) and a second
one that waits in the queue (queue message) and hangs up; then a collection that saves what it
finds (`gc.DEBUG_SAVEALL`) must find none of the switch's call objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.switch.harness import NUMBER, line_phone, running_pbx, tone_file
from tests.switch.test_call_faults import (
    EMPLOYEE_TONE,
    forward_scenario,
    phones,
    trunk_call,
    wait_rows,
)
from vpbx.media.bridge import Bridge
from vpbx.media.session import RtpSession
from vpbx.sip.dialog import Dialog
from vpbx.switch.b2bua import B2BCall, OutLeg
from vpbx.switch.runner import LiveCall

#: what one call is made of; none may be left for the collector
CALL_OBJECTS = (B2BCall, OutLeg, LiveCall, RtpSession, Bridge, Dialog)


@contextmanager
def collector_off() -> Iterator[None]:
    """No automatic collection meanwhile: whatever cycles the calls leave stay to be found."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cyclic_call_objects() -> list[str]:
    """The call objects a full collection finds unreachable (only cycles keep them)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [type(o).__name__ for o in gc.garbage if isinstance(o, CALL_OBJECTS)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


def test_finished_calls_leave_no_cyclic_garbage(tmp_path: Path) -> None:
    forward = forward_scenario(distribution={"queue": True})
    with running_pbx(tmp_path, customize=forward) as pbx, collector_off():
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e1.wav", EMPLOYEE_TONE))
        with phones(phone):
            pbx.wait_registered(0)
            with trunk_call(pbx, tmp_path / "a", NUMBER, 8.0, hold=7.0) as call_a:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                call_b = trunk_call(pbx, tmp_path / "b", NUMBER, 4.0, hold=3.0, timeout=20)
                call_b.start().wait().assert_ok()
                call_a.wait().assert_ok()
            phone.wait_event("CALL_CLOSED", timeout=10)
            rows = wait_rows(pbx, 2)
            assert sorted(r["status"] for r in rows) == ["answered", "missed"], rows
            assert pbx.application is not None
            assert not pbx.application.pbx.calls, "a call is still held by the switch"
            left = cyclic_call_objects()
    assert left == [], f"finished calls left cyclic garbage: {sorted(set(left))}"
