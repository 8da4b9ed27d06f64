"""Hold and resume on live calls (issue 13), proved by what the held party heard.

A trunk caller (SIPp, saying 300 Hz) calls the virtual number, which forwards to the employee's
baresip phone (saying 1400 Hz). Either side puts the call on hold with a re-INVITE
(`a=sendonly`) and resumes it (`a=sendrecv`): baresip by its `hold`/`resume` commands, the
trunk by its scenario (tests/peers/scenarios/trunk_caller_holds.xml). The held party hears the
other's tone, then the built-in hold music (`vpbx.media.tones.HOLD_TUNE`), then the tone again;
an account with its own «Музыка на удержании» (FILE-1 system message `hold_music`) plays that.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone
from tests.peers.rtp_pcap import tone
from tests.peers.sipp import SCENARIOS
from tests.peers.trunk_caller import TrunkCaller, TrunkCallResult
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    Customize,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from tests.switch.live import sound
from tests.switch.observe import heard
from vpbx.media.tones import HOLD_TUNE, dominant_frequency
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

pytestmark = pytest.mark.peers

CALLER_HZ = 300.0
EMPLOYEE_HZ = 1400.0
#: the account's own hold music in the last test
OWN_MUSIC_HZ = 1700.0
NOTES = sorted({hz for hz, _ in HOLD_TUNE if hz})
Pcm = npt.NDArray[np.int16]


def phases(pcm: Pcm, voice: float) -> tuple[list[str], set[float]]:
    """What was heard, in order: "voice" (the other party's tone) and "music" (a note of the
    hold tune) for each loud 0.5 s window (a quarter second apart), runs of one window (the
    switch from one to the other) dropped, repeats merged; and the notes heard."""
    size, step = 4000, 2000
    labels: list[str] = []
    notes: set[float] = set()
    for start in range(0, len(pcm) - size + 1, step):
        window = pcm[start : start + size]
        if float(np.sqrt(np.mean(window.astype(np.float64) ** 2))) < 200:
            continue
        found = dominant_frequency(window)
        note = min(NOTES, key=lambda hz: abs(hz - found))
        if abs(found - voice) < 15:
            labels.append("voice")
        elif abs(found - note) < 15:
            labels.append("music")
            notes.add(note)
    runs: list[tuple[str, int]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1] + 1)
        else:
            runs.append((label, 1))
    merged: list[str] = []
    for label, count in runs:
        if count > 1 and (not merged or merged[-1] != label):
            merged.append(label)
    return merged, notes


class HoldingCaller(TrunkCaller):
    """The trunk caller that holds and resumes by itself (its scenario's own pauses)."""

    @property
    def scenario(self) -> Path:
        return SCENARIOS / "trunk_caller_holds.xml"


def employee_holds(
    tmp_path: Path, talk: float, before: float, held: float, customize: Customize | None = None
) -> tuple[TrunkCallResult, BaresipPhone]:
    """A trunk call of `talk` seconds to the employee, who holds after `before` seconds and
    resumes `held` seconds later: what the trunk caller heard."""
    with running_pbx(tmp_path, customize=customize) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", EMPLOYEE_HZ))
        try:
            pbx.wait_registered(0)
            caller = TrunkCaller(
                tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(CALLER_HZ, talk)], ip=TRUNK_IP
            )
            with caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                time.sleep(before)
                phone.command("hold")
                time.sleep(held)
                phone.command("resume")
                result = caller.wait()
            phone.wait_event("CALL_CLOSED", timeout=10)
        finally:
            phone.stop()
    return result, phone


def test_the_employee_holds_and_the_trunk_caller_hears_hold_music(tmp_path: Path) -> None:
    result, phone = employee_holds(tmp_path, 14.0, 3, 5)
    result.assert_ok()
    heard_by_trunk, notes = phases(result.samples, EMPLOYEE_HZ)
    assert heard_by_trunk == ["voice", "music", "voice"], (heard_by_trunk, result.report())
    assert len(notes) >= 3, notes  # the tune, not one stray tone
    # baresip's re-INVITEs were answered as RFC 3264 says: recvonly to its hold, then sendrecv
    log = phone.log().split("cmd='hold'", 1)[-1]
    assert log.count("got SDP answer") >= 2, log[-3000:]


def test_the_trunk_caller_holds_and_the_employee_hears_hold_music(tmp_path: Path) -> None:
    with running_pbx(tmp_path) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", EMPLOYEE_HZ))
        try:
            pbx.wait_registered(0)
            caller = HoldingCaller(
                tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(CALLER_HZ, 16.0)], ip=TRUNK_IP
            )
            with caller:
                phone.wait_event("CALL_ESTABLISHED", timeout=15)
                result = caller.wait()
            phone.wait_event("CALL_CLOSED", timeout=10)
        finally:
            phone.stop()
    result.assert_ok()
    # Our 200s to the re-INVITEs: recvonly to the hold, sendrecv to the resume.
    messages = result.sipp.messages()
    assert "a=recvonly" in messages, messages[-4000:]
    heard_by_employee, notes = phases(heard(phone), CALLER_HZ)
    assert heard_by_employee == ["voice", "music", "voice"], heard_by_employee
    assert len(notes) >= 3, notes
    # The trunk itself was sent nothing while it held (we answered it recvonly): a gap of
    # about 5 s in what reached it, the employee's tone before and after.
    arrivals = np.array([packet.at for packet in result.received.packets])
    assert 4.0 < float(np.diff(arrivals).max()) < 6.5
    assert dominant_frequency(result.samples[-16000:]) == pytest.approx(EMPLOYEE_HZ, abs=15)


def test_the_accounts_own_hold_music_is_what_the_held_caller_hears(tmp_path: Path) -> None:
    async def own_music(svc: EntityService, setup: Setup) -> None:
        music = await sound(svc, tmp_path, "Своя музыка", OWN_MUSIC_HZ, 20.0)
        await svc.conn.execute(
            sa.update(t.files)
            .where(t.files.c.id == music)
            .values(kind="system", system_name="hold_music")
        )

    result, _ = employee_holds(tmp_path, 10.0, 2, 4, own_music)
    result.assert_ok()
    heard_tones = [
        round(dominant_frequency(result.samples[start : start + 4000]))
        for start in range(0, len(result.samples) - 4000, 2000)
        if float(np.sqrt(np.mean(result.samples[start : start + 4000].astype(np.float64) ** 2)))
        > 200
    ]
    own = [hz for hz in heard_tones if abs(hz - OWN_MUSIC_HZ) < 15]
    assert len(own) >= 4, heard_tones  # about 2 s of it at least, while held
    assert not [hz for hz in heard_tones if any(abs(hz - note) < 15 for note in NOTES)], heard_tones
    assert abs(heard_tones[-1] - EMPLOYEE_HZ) < 15, heard_tones  # the talk came back
