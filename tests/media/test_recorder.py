"""Recording over real UDP: both legs mixed, one direction of a leg, written incrementally; a
conversation in stereo (the caller left, the employee right, REC-1), its pauses in their places,
its employee channel following a transfer; a full disk stopping the recording, not the call."""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from vpbx.media.bridge import Bridge
from vpbx.media.recorder import RIGHT, Direction, Layout, Recorder, Tap
from vpbx.media.session import RtpSession
from vpbx.media.tones import dominant_frequency, normalized_xcorr_peak, sine
from vpbx.media.wavwriter import HEADER_BYTES

from .test_session import Peer, band_power, make_pool, speechlike


@pytest.mark.usefixtures("relay_mode")  # the bridge relays both ways
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


# -- conversations in stereo (REC-1) -------------------------------------------------------------


def channels_of(path: Path) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    audio, rate = soundfile.read(path, dtype="int16")
    info = soundfile.info(str(path))
    assert (rate, info.channels, info.subtype) == (8000, 2, "PCM_16")
    return audio[:, 0], audio[:, 1]


def loud(pcm: npt.NDArray[np.int16]) -> bool:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 300


@pytest.mark.usefixtures("relay_mode")  # the bridge relays both ways
async def test_a_talk_is_recorded_in_stereo_the_caller_left_the_employee_right(
    tmp_path: Path,
) -> None:
    pool = make_pool()
    caller_phone, employee_phone = await Peer.create(), await Peer.create()
    caller = await RtpSession.open(pool, remote_addr=caller_phone.addr)
    employee = await RtpSession.open(pool, remote_addr=employee_phone.addr, payload_type=8)
    path = tmp_path / "talk.wav"
    recorder = Recorder.talk(path, caller, employee, name="call-3")
    try:
        Bridge(caller, employee).start()  # transcoding PCMU ↔ PCMA meanwhile
        streams = asyncio.gather(
            caller_phone.stream(sine(500, 2.0), caller.local_addr, pt=0),
            employee_phone.stream(sine(1300, 2.0), employee.local_addr, pt=8),
        )
        recorder.start()
        await asyncio.sleep(1.7)
        assert recorder.stop() == path
        await streams
    finally:
        await caller.aclose()
        await employee.aclose()
        caller_phone.close()
        employee_phone.close()
    left, right = channels_of(path)
    assert 1.6 <= len(left) / 8000 <= 1.8
    assert recorder.seconds == len(left) / 8000
    assert abs(dominant_frequency(left[800:]) - 500) < 10
    assert abs(dominant_frequency(right[800:]) - 1300) < 10
    # each side alone on its channel: no crosstalk of the other's tone
    assert band_power(left[800:], 1300) < 0.01
    assert band_power(right[800:], 500) < 0.01


async def test_a_late_start_and_a_pause_stay_where_they_were(tmp_path: Path) -> None:
    # The employee's phone starts sending 0.5 s after the recording starts, pauses 0.5 s (no
    # packets at all) and goes on: his channel keeps both silences in their places.
    pool = make_pool()
    caller_phone, employee_phone = await Peer.create(), await Peer.create()
    caller = await RtpSession.open(pool, remote_addr=caller_phone.addr)
    employee = await RtpSession.open(pool, remote_addr=employee_phone.addr)
    path = tmp_path / "pauses.wav"
    recorder = Recorder.talk(path, caller, employee)

    async def employee_talks() -> None:
        await asyncio.sleep(0.5)
        await employee_phone.stream(sine(900, 0.5), employee.local_addr)
        await asyncio.sleep(0.5)
        await employee_phone.stream(sine(900, 0.6), employee.local_addr)

    try:
        recorder.start()
        talk = asyncio.gather(
            caller_phone.stream(sine(500, 2.2), caller.local_addr), employee_talks()
        )
        await talk
        await asyncio.sleep(0.1)
        recorder.stop()
    finally:
        await caller.aclose()
        await employee.aclose()
        caller_phone.close()
        employee_phone.close()
    left, right = channels_of(path)

    def window(pcm: npt.NDArray[np.int16], start: float, end: float) -> npt.NDArray[np.int16]:
        return pcm[int(start * 8000) : int(end * 8000)]

    assert loud(window(left, 0.1, 2.0))
    assert not loud(window(right, 0.05, 0.4))  # not yet talking
    assert loud(window(right, 0.6, 0.9))
    assert not loud(window(right, 1.1, 1.4))  # the pause, in its place
    assert loud(window(right, 1.6, 1.9))
    assert abs(dominant_frequency(window(right, 1.6, 1.9)) - 900) < 15


async def test_the_employee_channel_follows_a_transfer(tmp_path: Path) -> None:
    pool = make_pool()
    phones = [await Peer.create() for _ in range(3)]
    caller, first, second = [await RtpSession.open(pool, remote_addr=p.addr) for p in phones]
    path = tmp_path / "transferred.wav"
    recorder = Recorder.talk(path, caller, first)
    try:
        recorder.start()
        talk = asyncio.gather(
            phones[0].stream(sine(500, 2.0), caller.local_addr),
            phones[1].stream(sine(700, 2.0), first.local_addr),
            phones[2].stream(sine(1500, 2.0), second.local_addr),
        )
        await asyncio.sleep(1.0)
        recorder.retap(RIGHT, second)
        await talk
        recorder.stop()
    finally:
        for session in (caller, first, second):
            await session.aclose()
        for phone in phones:
            phone.close()
    left, right = channels_of(path)
    assert abs(dominant_frequency(right[2000:7000]) - 700) < 10
    assert abs(dominant_frequency(right[9600:15000]) - 1500) < 10
    assert abs(dominant_frequency(left[2000:15000]) - 500) < 10


class FillingDisk(io.FileIO):
    """A file on a disk with `room` bytes left: the write that does not fit raises ENOSPC
    after writing what fits, as write(2) does."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path, "w+")
        self.room = room

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self.tell() + len(chunk) <= self.room:
            return super().write(chunk)
        fits = max(0, self.room - self.tell())
        if fits:
            return super().write(chunk[:fits])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.name))


@pytest.mark.usefixtures("relay_mode")  # the bridge relays both ways
async def test_a_full_disk_stops_the_recording_and_not_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool()
    caller_phone, employee_phone = await Peer.create(), await Peer.create()
    caller = await RtpSession.open(pool, remote_addr=caller_phone.addr)
    employee = await RtpSession.open(pool, remote_addr=employee_phone.addr)
    path = tmp_path / "full.wav"
    # room for the header, the first write (a second of stereo, a little more when its timer
    # is late) and a quarter of the next one
    room = HEADER_BYTES + 40000
    recorder = Recorder(
        path,
        [Tap(caller), Tap(employee)],
        layout=Layout.STEREO,
        name="call-4",
        opener=lambda p: FillingDisk(p, room),
    )
    bridge = Bridge(caller, employee)
    try:
        bridge.start()
        streams = asyncio.gather(
            caller_phone.stream(sine(500, 3.0), caller.local_addr),
            employee_phone.stream(sine(1300, 3.0), employee.local_addr),
        )
        recorder.start()
        with caplog.at_level(logging.ERROR, logger="vpbx.media.recorder"):
            await asyncio.sleep(2.3)  # the second write does not fit
            assert not recorder.recording
            assert recorder.failure is not None
            assert recorder.disk_full
            kept = recorder.seconds
            assert 0.95 <= kept < 1.25  # a timer may fire a millisecond early
            # the call goes on: the bridge still relays both ways
            heard_before = len(employee_phone.packets), len(caller_phone.packets)
            await asyncio.sleep(0.4)
            assert len(employee_phone.packets) > heard_before[0] + 10
            assert len(caller_phone.packets) > heard_before[1] + 10
        assert recorder.stop() == path  # nothing more to write, no error
        await streams
    finally:
        bridge.stop()
        await caller.aclose()
        await employee.aclose()
        caller_phone.close()
        employee_phone.close()
    [line] = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert line.__dict__["disk_full"] is True
    assert line.__dict__["recording"] == "call-4"
    # what was written stays a playable WAV: the header says what the file holds
    assert path.stat().st_size == HEADER_BYTES + round(kept * 8000) * 4
    left, right = channels_of(path)
    assert len(left) == round(kept * 8000)
    assert abs(dominant_frequency(left[800:]) - 500) < 10
    assert abs(dominant_frequency(right[800:]) - 1300) < 10


async def test_a_disk_full_from_the_start_records_nothing_and_says_so(tmp_path: Path) -> None:
    session = await RtpSession.open(make_pool())
    path = tmp_path / "none.wav"
    recorder = Recorder(
        path,
        [Tap(session)],
        opener=lambda p: FillingDisk(p, 10),
    )
    try:
        recorder.start()  # never raises into the call
        assert not recorder.recording
        assert recorder.disk_full
        assert recorder.stop() == path
        assert recorder.seconds == 0.0
    finally:
        await session.aclose()
