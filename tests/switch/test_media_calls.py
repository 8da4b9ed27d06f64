"""Real audio through vpbx: two baresip phones bridged by the anchored media hear each other's
tones (distinct frequencies), with both on PCMU and with one on PCMA (transcoded)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.baresip import BaresipPhone
from tests.switch.harness import RunningPbx, line_phone, running_pbx, tone_file
from tests.switch.observe import band_power, heard
from vpbx.media.tones import dominant_frequency


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path, employees=2) as running:
        yield running


def phone(
    pbx: RunningPbx, tmp_path: Path, index: int, frequency: float, codecs: str
) -> BaresipPhone:
    source = tone_file(tmp_path / f"tone{index}.wav", frequency)
    return line_phone(pbx, tmp_path, index, source, codecs=codecs)


@pytest.mark.parametrize(
    ("codecs_a", "codecs_b"), [("PCMU", "PCMU"), ("PCMU", "PCMA")], ids=["pcmu-pcmu", "pcmu-pcma"]
)
def test_bridged_phones_hear_each_other(
    pbx: RunningPbx, tmp_path: Path, codecs_a: str, codecs_b: str
) -> None:
    caller = phone(pbx, tmp_path, 0, 600.0, codecs_a)
    callee = phone(pbx, tmp_path, 1, 1400.0, codecs_b)
    try:
        pbx.wait_registered(0)
        pbx.wait_registered(1)
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        callee.wait_event("CALL_ESTABLISHED", timeout=20)
        caller.wait_event("CALL_ESTABLISHED", timeout=20)
        time.sleep(3)
        caller.command("hangup")
        callee.wait_event("CALL_CLOSED")
        caller.wait_event("CALL_CLOSED")
    finally:
        caller.stop()
        callee.stop()
    to_callee, to_caller = heard(callee), heard(caller)
    # Skip the first half second (call set-up); both hear the other's tone, not their own.
    assert len(to_callee) > 8000 * 2
    assert len(to_caller) > 8000 * 2
    assert abs(dominant_frequency(to_callee[4000:]) - 600.0) < 15
    assert abs(dominant_frequency(to_caller[4000:]) - 1400.0) < 15


def test_trainer_whispers_the_caller_hears_only_the_employee(tmp_path: Path) -> None:
    """TRN-1: the employee's trainer joins automatically; caller 500 Hz, employee 1000 Hz,
    trainer 1500 Hz. The caller hears the employee and not the trainer; the employee hears
    both; the trainer hears the caller and the employee."""
    with running_pbx(tmp_path, employees=3, trainer=(1, 2)) as pbx:
        caller = phone(pbx, tmp_path, 0, 500.0, "PCMU")
        employee = phone(pbx, tmp_path, 1, 1000.0, "PCMU")
        trainer = phone(pbx, tmp_path, 2, 1500.0, "PCMA")
        try:
            for index in range(3):
                pbx.wait_registered(index)
            caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
            employee.wait_event("CALL_ESTABLISHED", timeout=20)
            trainer.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(3)
            caller.command("hangup")
            for device in (caller, employee, trainer):
                device.wait_event("CALL_CLOSED")
        finally:
            for device in (caller, employee, trainer):
                device.stop()
    last = 8000 * 2  # the last two seconds: the trainer has certainly joined
    to_caller, to_employee, to_trainer = (heard(d)[-last:] for d in (caller, employee, trainer))
    assert band_power(to_caller, 1000) > 0.5
    assert band_power(to_caller, 1500) < 0.01
    assert band_power(to_employee, 500) > 0.2
    assert band_power(to_employee, 1500) > 0.2
    assert band_power(to_trainer, 500) > 0.2
    assert band_power(to_trainer, 1000) > 0.2
