"""Encrypted phones (issue 11): SIP over TLS and SRTP (SDES) with baresip's `srtp` module.

Two lines require SRTP; their phones register over TLS (port of `VPBX_SIP_TLS_PORT`, the
self-signed certificate generated into the data directory) with `mediaenc=srtp-mand`, call
each other through vpbx, and each hears the other's tone. A capture of the encrypted legs
shows no plain RTP; a phone of such a line offering plain RTP is refused with 488.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.peers.baresip import BaresipPhone
from tests.peers.ports import free_port
from tests.peers.rtp_capture import RtpCapture
from tests.switch.harness import RunningPbx, Setup, running_pbx, tone_file
from tests.switch.observe import band_power, heard
from vpbx.media.g711 import ulaw_decode
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService

SRTP_CONFIG = """\
module            srtp.so
sip_cafile        {cafile}
"""


async def encrypt_lines(svc: EntityService, setup: Setup) -> None:
    for employee in setup.staff:
        await svc.update("sip-lines", employee["phones"][0]["sip_line_id"], {"encryption": "srtp"})


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    settings = {"sip_tls_port": free_port()}
    with running_pbx(tmp_path, employees=2, customize=encrypt_lines, settings=settings) as running:
        yield running


def tls_port(pbx: RunningPbx) -> int:
    assert pbx.application is not None
    port = pbx.application.endpoint.transport.tls_port
    assert port
    return port


def encrypted_phone(
    pbx: RunningPbx, workdir: Path, index: int, frequency: float, *, mediaenc: str = "srtp-mand"
) -> BaresipPhone:
    line = pbx.lines[index]
    source = tone_file(workdir / f"tone{index}.wav", frequency)
    params = f";mediaenc={mediaenc}" if mediaenc else ""
    account = (
        f"<sip:{line.login}@127.0.0.1:{tls_port(pbx)};transport=tls>;auth_pass={line.password};"
        f"answermode=auto;audio_codecs=PCMU{params};regint=300"
    )
    cafile = workdir / "tls" / "sip-tls.crt"
    device = BaresipPhone(
        workdir / f"phone{index}", account, source, extra_config=SRTP_CONFIG.format(cafile=cafile)
    )
    device.start()
    return device


def registered_over_tls(pbx: RunningPbx, index: int) -> bool:
    assert pbx.application is not None
    registrar = pbx.application.pbx.registrar
    login = pbx.lines[index].login

    async def transports() -> list[str]:
        import asyncio

        now = asyncio.get_running_loop().time()
        return [loc.peer.transport for loc in registrar.locations(login, 0, now)]

    found: list[str] = pbx.run(transports())
    return found == ["tls"]


def test_two_encrypted_phones_hear_each_other_over_tls_and_srtp(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    assert (tmp_path / "tls" / "sip-tls.crt").exists()  # the demo's self-signed certificate
    caller = encrypted_phone(pbx, tmp_path, 0, 600.0)
    callee = encrypted_phone(pbx, tmp_path, 1, 1400.0)
    try:
        pbx.wait_registered(0)
        pbx.wait_registered(1)
        assert registered_over_tls(pbx, 0)
        assert registered_over_tls(pbx, 1)
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{tls_port(pbx)}")
        callee.wait_event("CALL_ESTABLISHED", timeout=20)
        caller.wait_event("CALL_ESTABLISHED", timeout=20)
        assert pbx.application is not None
        # The callee was reached over the TLS connection it registered on: no new one.
        assert pbx.application.endpoint.transport.connections == 2
        calls = list(pbx.application.pbx.calls.values())
        assert len(calls) == 1
        call = calls[0]
        assert call.session is not None
        assert call.session.srtp is not None
        assert call.winner is not None
        assert call.winner.session is not None
        assert call.winner.session.srtp is not None
        # tcpdump on what vpbx sends to each phone: the encrypted legs, seen from outside.
        to_caller_port = call.session.remote_addr
        to_callee_port = call.winner.session.remote_addr
        assert to_caller_port is not None
        assert to_callee_port is not None
        with (
            RtpCapture(tmp_path / "to_caller.pcap", to_caller_port[1]) as wire_caller,
            RtpCapture(tmp_path / "to_callee.pcap", to_callee_port[1]) as wire_callee,
        ):
            time.sleep(3)
        # What the switch received on both legs was SRTP it could authenticate. The callee
        # may send a packet or two before its 200 (with its key) is read: those are refused.
        for session in (call.session, call.winner.session):
            assert session.stats.received_packets > 50
            assert session.srtp is not None
            assert session.srtp.rejected <= 5
        # Hold and resume (re-INVITEs over TLS): the leg stays encrypted and keeps talking.
        caller.command("hold")
        time.sleep(1)
        caller.command("resume")
        time.sleep(1)
        before = call.winner.session.stats.received_packets
        time.sleep(1)
        assert call.winner.session.stats.received_packets > before + 30
        assert call.session.srtp.rejected <= 5
        caller.command("hangup")
        callee.wait_event("CALL_CLOSED")
        caller.wait_event("CALL_CLOSED")
    finally:
        caller.stop()
        callee.stop()
    # Both re-INVITEs were answered with our SDP (over TLS: the Contact we gave says so).
    after_hold = caller.log().split("cmd='hold'", 1)[1]
    assert after_hold.count("got SDP answer") == 2
    to_callee, to_caller = heard(callee), heard(caller)
    assert len(to_callee) > 8000 * 2
    assert len(to_caller) > 8000 * 2
    assert abs(dominant_frequency(to_callee[4000:]) - 600.0) < 15
    assert abs(dominant_frequency(to_caller[4000:]) - 1400.0) < 15
    # On the wire the same streams are not G.711: decoded as µ-law they are noise, not the
    # tone the phone heard (a plain stream of it puts nearly all its power at 600/1400 Hz).
    for wire, tone in ((wire_callee, 600.0), (wire_caller, 1400.0)):
        packets = wire.packets()
        assert len(packets) > 100, wire.log()
        # SRTP adds its 10-byte authentication tag to every payload.
        assert all(len(packet.payload) == 160 + 10 for packet in packets)
        audio = np.concatenate([ulaw_decode(packet.payload[:160]) for packet in packets])
        assert band_power(audio, tone) < 0.05


def test_a_plain_rtp_offer_from_an_srtp_line_is_refused(pbx: RunningPbx, tmp_path: Path) -> None:
    caller = encrypted_phone(pbx, tmp_path, 0, 600.0, mediaenc="")
    callee = encrypted_phone(pbx, tmp_path, 1, 1400.0)
    try:
        pbx.wait_registered(0)
        pbx.wait_registered(1)
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{tls_port(pbx)}")
        caller.wait_event("CALL_CLOSED", timeout=20)
        assert "488" in caller.log()
        assert pbx.application is not None
        assert not pbx.application.pbx.calls
    finally:
        caller.stop()
        callee.stop()
