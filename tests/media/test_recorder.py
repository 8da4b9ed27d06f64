"""Recording over real UDP: both legs mixed, one direction of a leg, written incrementally."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import soundfile

from vpbx.media.bridge import Bridge
from vpbx.media.recorder import Direction, Recorder, Tap
from vpbx.media.session import RtpSession
from vpbx.media.tones import normalized_xcorr_peak, sine

from .test_session import Peer, band_power, make_pool, speechlike


async def test_recording_of_both_legs_holds_both_tones(tmp_path: Path) -> None:
    pool = make_pool()
    peer_a, peer_b = await Peer.create(), await Peer.create()
    a = await RtpSession.open(pool, remote_addr=peer_a.addr)
    b = await RtpSession.open(pool, remote_addr=peer_b.addr, payload_type=8)
    path = tmp_path / "calls" / "call.wav"
    recorder = Recorder.call(path, a, b, name="call-1")
    try:
        Bridge(a, b).start()
        streams = asyncio.gather(
            peer_a.stream(sine(500, 1.6), a.local_addr, pt=0),
            peer_b.stream(sine(1300, 1.6), b.local_addr, pt=8),
        )
        await asyncio.sleep(0.2)
        recorder.start()  # mid-call
        await asyncio.sleep(1.2)
        # Written as it goes: a second of audio is already on disk.
        assert path.stat().st_size > 8000 * 2
        assert recorder.stop() == path
        await streams
    finally:
        await a.aclose()
        await b.aclose()
        peer_a.close()
        peer_b.close()
    audio, rate = soundfile.read(path, dtype="int16")
    info = soundfile.info(str(path))
    assert (rate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert 1.1 <= len(audio) / 8000 <= 1.3
    assert band_power(audio, 500) > 0.3
    assert band_power(audio, 1300) > 0.3


async def test_recording_what_a_leg_hears(tmp_path: Path) -> None:
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    path = tmp_path / "prompt.wav"
    recorder = Recorder(path, [Tap(session, Direction.SENT)])
    prompt = speechlike(0.8)
    try:
        recorder.start()
        await asyncio.wait_for(session.play([prompt]).wait(), 3)
        await asyncio.sleep(0.1)
        recorder.stop()
        recorder.stop()  # idempotent
    finally:
        await session.aclose()
        peer.close()
    audio, _ = soundfile.read(path, dtype="int16")
    assert normalized_xcorr_peak(audio, prompt) >= 0.99
    assert not np.any(audio[-400:])


async def test_a_recording_is_playable_up_to_the_last_second_while_it_records(
    tmp_path: Path,
) -> None:
    # What a kill -9 leaves: the file as it is on disk while the recorder still holds it open.
    pool = make_pool()
    peer = await Peer.create()
    session = await RtpSession.open(pool, remote_addr=peer.addr)
    path = tmp_path / "voicemail.wav"
    recorder = Recorder.leg(path, session, name="call-2")
    try:
        stream = asyncio.ensure_future(peer.stream(sine(700, 2.6), session.local_addr, pt=0))
        recorder.start()
        await asyncio.sleep(2.3)
        info = soundfile.info(str(path))  # the header was rewritten at the last flush
        audio, _ = soundfile.read(path, dtype="int16")
        # flushed every second: at most the last second is missing
        assert 1.0 <= info.duration <= 2.3
        assert len(audio) == round(info.duration * 8000)
        assert band_power(audio, 700) > 0.3
        recorder.stop()
        await stream
    finally:
        await session.aclose()
        peer.close()
