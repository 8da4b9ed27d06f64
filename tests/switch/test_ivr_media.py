"""What vpbx plays and hears on a real call: RFC 4733 keys from SIPp (replayed captures) are
detected exactly; a prompt vpbx plays is recorded by baresip and matches what was played."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import soundfile

from tests.peers.baresip import BaresipPhone
from tests.peers.sipp import run_sipp
from tests.switch.harness import NUMBER, TRUNK_IP, running_pbx
from tests.switch.observe import speech
from tests.switch.scripts import AnswerPlayCollect, RecordCaller
from vpbx.media.tones import dominant_frequency, normalized_xcorr_peak

CAPTURES = Path("/usr/share/sip-tester")


def test_rfc4733_keys_from_sipp_are_detected_exactly(tmp_path: Path) -> None:
    workdir = tmp_path / "sipp"
    (workdir / "pcap").mkdir(parents=True)
    for name in ("1", "9", "5", "pound"):
        capture = CAPTURES / f"dtmf_2833_{name}.pcap"
        assert capture.exists(), f"{capture} missing: the Debian package sip-tester ships it"
        shutil.copy(capture, workdir / "pcap")
    script = AnswerPlayCollect()
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        result = run_sipp(
            "trunk_dtmf_pcap.xml",
            f"127.0.0.1:{pbx.sip_port}",
            workdir,
            extra=["-s", NUMBER, "-i", TRUNK_IP, "-mi", TRUNK_IP],
            timeout=30,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert script.ended.wait(5)
    assert "".join(script.digits) == "195#"


def test_keys_sent_as_sip_info_are_detected(tmp_path: Path) -> None:
    script = AnswerPlayCollect()
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        result = run_sipp(
            "trunk_dtmf_info.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-s", NUMBER, "-i", TRUNK_IP, "-mi", TRUNK_IP],
            timeout=30,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert script.ended.wait(5)
    assert script.digits == ["7", "*"]


def test_an_offer_without_a_supported_codec_gets_488_with_a_warning(tmp_path: Path) -> None:
    with running_pbx(tmp_path) as pbx:
        result = run_sipp(
            "expect_488.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-s", NUMBER, "-i", TRUNK_IP, "-mi", TRUNK_IP],
            timeout=15,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()


def caller_phone(tmp_path: Path, port: int, says: np.ndarray | None = None) -> BaresipPhone:
    """A baresip phone on the trunk's address calling the virtual number (no registration)."""
    source = tmp_path / "says.wav"
    audio = says if says is not None else np.zeros(8000 * 30, dtype=np.int16)
    soundfile.write(source, audio, 8000, subtype="PCM_16")
    account = f"<sip:74957654321@127.0.0.1:{port}>;regint=0;audio_codecs=PCMU"
    device = BaresipPhone(tmp_path / "caller", account, source, host=TRUNK_IP)
    device.start()
    return device


def received(device: BaresipPhone) -> np.ndarray:
    files = sorted(device.recordings.glob("dump-*-dec.wav"))
    assert files, "baresip recorded nothing"
    samples, rate = soundfile.read(files[-1], dtype="int16")
    assert rate == 8000
    return samples if samples.ndim == 1 else samples[:, 0]


def test_a_played_prompt_is_heard_by_the_caller(tmp_path: Path) -> None:
    said = speech("Здравствуйте! Вы позвонили в компанию. Оставайтесь на линии.")
    tone = (np.sin(2 * np.pi * 1000 * np.arange(8000 * 2) / 8000) * 8000).astype(np.int16)
    prompt = np.concatenate([said, np.zeros(4000, dtype=np.int16), tone])
    script = AnswerPlayCollect(prompt=prompt)
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        device = caller_phone(tmp_path, pbx.sip_port)
        try:
            device.command("dial", f"sip:{NUMBER}@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(len(prompt) / 8000 + 1.0)
            device.command("hangup")
            device.wait_event("CALL_CLOSED")
        finally:
            device.stop()
    heard = received(device)
    # What the caller recorded is the prompt (after alignment), through G.711 and the network.
    assert normalized_xcorr_peak(heard, prompt) >= 0.9
    # The tone at the end keeps its frequency.
    segments = [heard[i : i + 1600] for i in range(0, len(heard) - 1600, 1600)]
    assert any(abs(dominant_frequency(s) - 1000) < 5 for s in segments)


def test_what_the_caller_says_is_recorded(tmp_path: Path) -> None:
    """FILE-1 «записать сообщение»: the call logic records the caller; the WAV holds his voice."""
    t = np.arange(8000 * 30) / 8000
    says = (np.sin(2 * np.pi * 700 * t) * 8000).astype(np.int16)
    script = RecordCaller(tmp_path / "recorded.wav", seconds=2.0)
    with running_pbx(tmp_path) as pbx:
        assert pbx.application is not None
        pbx.application.pbx.controllers = script
        device = caller_phone(tmp_path, pbx.sip_port, says)
        try:
            device.command("dial", f"sip:{NUMBER}@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            assert script.done.wait(10)
            device.wait_event("CALL_CLOSED")
        finally:
            device.stop()
    samples, rate = soundfile.read(script.path, dtype="int16")
    assert rate == 8000
    assert len(samples) >= 8000 * 1.5
    assert abs(dominant_frequency(samples[4000:]) - 700) < 5
