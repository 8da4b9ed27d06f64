"""Conferences over real UDP: a whisper matrix heard by three test phones, joins and leaves."""

from __future__ import annotations

import asyncio

import pytest

from vpbx.media.conference import Conference
from vpbx.media.mixer import whisper_matrix
from vpbx.media.session import RtpSession
from vpbx.media.tones import sine

from .test_session import Peer, band_power, make_pool

TONES = {"caller": 500.0, "employee": 1100.0, "trainer": 1700.0}
CODECS = {"caller": 0, "employee": 8, "trainer": 0}


async def test_whisper_the_caller_does_not_hear_the_trainer() -> None:
    pool = make_pool()
    peers = {role: await Peer.create() for role in TONES}
    sessions = {
        role: await RtpSession.open(
            pool, remote_addr=peers[role].addr, payload_type=CODECS[role], name=role
        )
        for role in TONES
    }
    conference: Conference[str] = Conference(name="coaching")
    try:
        for role, session in sessions.items():
            conference.add(role, session)
        conference.set_matrix(whisper_matrix("caller", "employee", "trainer"))
        await asyncio.gather(
            *(
                peers[role].stream(sine(freq, 1.0), sessions[role].local_addr, pt=CODECS[role])
                for role, freq in TONES.items()
            )
        )
        await asyncio.sleep(0.1)
        conference.close()
    finally:
        for role in TONES:
            await sessions[role].aclose()
            peers[role].close()
    heard = {role: peers[role].audio(CODECS[role]) for role in TONES}
    for role, audio in heard.items():
        assert len(audio) >= 7000, role
    assert band_power(heard["caller"], TONES["employee"]) > 0.9
    assert band_power(heard["caller"], TONES["trainer"]) < 0.001
    assert band_power(heard["employee"], TONES["caller"]) > 0.3
    assert band_power(heard["employee"], TONES["trainer"]) > 0.3
    assert band_power(heard["employee"], TONES["employee"]) < 0.001  # no echo of oneself
    assert band_power(heard["trainer"], TONES["caller"]) > 0.3
    assert band_power(heard["trainer"], TONES["employee"]) > 0.3


async def test_everyone_hears_everyone_else_and_leaving_stops_the_mix() -> None:
    pool = make_pool()
    roles = ["x", "y", "z", "w"]
    tones = {"x": 400.0, "y": 900.0, "z": 1400.0, "w": 2000.0}
    peers = {r: await Peer.create() for r in roles}
    sessions = {r: await RtpSession.open(pool, remote_addr=peers[r].addr) for r in roles}
    conference: Conference[str] = Conference()
    try:
        for r in roles:
            conference.add(r, sessions[r])
        with pytest.raises(ValueError, match="already"):
            conference.add("x", sessions["x"])
        await asyncio.gather(
            *(peers[r].stream(sine(tones[r], 0.6), sessions[r].local_addr) for r in roles)
        )
        await asyncio.sleep(0.1)
        conference.remove("w")
        count = len(peers["w"].packets)
        await asyncio.sleep(0.1)
        assert len(peers["w"].packets) <= count + 1  # w is out: nothing more is mixed for it
        conference.close()
    finally:
        for r in roles:
            await sessions[r].aclose()
            peers[r].close()
    x_heard = peers["x"].audio()
    for other in ("y", "z", "w"):
        assert band_power(x_heard, tones[other]) > 0.2, other
    assert band_power(x_heard, tones["x"]) < 0.001
