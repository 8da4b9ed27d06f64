"""SIPp as the trunk calling the virtual number, with the audio checked on both sides: it says
what the test wrote (tones, RFC 4733 keys) and what it heard is captured (tcpdump) and decoded.

The infrastructure for end-to-end tests of call scenarios (tests/peers/trunk_caller.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from tests.peers.rtp_pcap import digit, silence, tone
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import NUMBER, TRUNK_IP, line_phone, running_pbx, tone_file
from tests.switch.observe import heard
from tests.switch.scripts import AnswerPlayCollect, RecordCaller
from vpbx.media.tones import dominant_frequency


def test_trunk_caller_and_employee_hear_each_other(tmp_path: Path) -> None:
    """The trunk says 500 Hz, the employee's phone 1000 Hz: each hears the other."""
    with running_pbx(tmp_path) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", 1000.0))
        try:
            pbx.wait_registered(0)
            caller = TrunkCaller(
                tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(500.0, 3.0)], ip=TRUNK_IP
            )
            with caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                result = caller.wait()
            phone.wait_event("CALL_CLOSED", timeout=10)
        finally:
            phone.stop()
    result.assert_ok()
    to_phone = heard(phone)
    assert len(to_phone) > 8000 * 2
    assert abs(dominant_frequency(to_phone[4000:]) - 500.0) < 15
    # The trunk heard the employee for (almost) the whole call: RTP back at 50 packets/s.
    assert result.received.seconds > 2.5, result.report()
    assert abs(dominant_frequency(result.samples[4000:]) - 1000.0) < 15
    assert result.digits == []


def test_keys_from_the_trunk_are_collected_and_the_prompt_is_heard(tmp_path: Path) -> None:
    """A call logic answers, plays 1 kHz and collects keys: the trunk's RFC 4733 keys arrive
    exactly, and the trunk hears the prompt."""
    prompt = (np.sin(2 * np.pi * 1000 * np.arange(8000 * 10) / 8000) * 8000).astype(np.int16)
    script = AnswerPlayCollect(prompt=prompt)
    segments = [silence(0.5), digit("2"), silence(0.3), digit("#"), tone(500.0, 2.0)]
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        result = TrunkCaller(tmp_path / "trunk", pbx.sip_port, NUMBER, segments, ip=TRUNK_IP).run()
        result.assert_ok()
        assert script.ended.wait(5)
    assert script.digits == ["2", "#"]
    assert result.received.seconds > 2.5, result.report()
    assert abs(dominant_frequency(result.samples[1600:]) - 1000.0) < 15


def test_vpbx_hangs_up_on_the_trunk_which_was_heard(tmp_path: Path) -> None:
    """The waiting variant: the call logic records the trunk for 2 s and hangs up; the trunk
    answers the BYE (exit code 0) and the recording holds its 500 Hz."""
    script = RecordCaller(tmp_path / "recorded.wav", seconds=2.0)
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        caller = TrunkCaller(
            tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(500.0, 8.0)], hangs_up=False
        )
        result = caller.run()
        result.assert_ok()
        assert script.done.wait(5)
    samples, rate = soundfile.read(script.path, dtype="int16")
    assert rate == 8000
    assert len(samples) >= 8000 * 1.5
    assert abs(dominant_frequency(samples[4000:]) - 500.0) < 15
