"""Trunks against SIPp as the provider: registration with a 401 challenge, and a call from a
baresip phone out through the trunk, answering the provider's 407 with the trunk credentials and
showing the line's caller ID, both sides hearing each other and the call in the report as
outgoing; an incoming-only line is refused."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import httpx
import soundfile

from tests.peers.ports import free_range
from tests.peers.rtp_capture import RtpCapture
from tests.peers.rtp_pcap import tone, write_rtp_pcap
from tests.peers.sipp import start_sipp
from tests.switch.harness import NUMBER, TRUNK_IP, line_phone, running_pbx
from vpbx.media.tones import dominant_frequency

TRUNK = {"username": "vpbx-trunk", "password": "trunk-secret"}
OUTSIDE = "74997654321"


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def test_vpbx_registers_to_the_provider_answering_its_challenge(tmp_path: Path) -> None:
    provider = start_sipp("provider_register.xml", tmp_path / "provider", ip=TRUNK_IP, timeout=30)
    trunk = {**TRUNK, "registration": True, "port": provider.port}
    time.sleep(0.3)  # let SIPp bind before vpbx registers at start
    with running_pbx(tmp_path, trunk=trunk) as pbx:
        result = provider.finish(timeout=40)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        assert pbx.application is not None
        status = next(iter(pbx.application.trunks.status.values()))
        deadline = time.monotonic() + 5
        while status.state.value != "registered":
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status.expires == 600


def test_outgoing_call_through_the_trunk_with_credentials_and_caller_id(
    tmp_path: Path, tone_wav: Path
) -> None:
    workdir = tmp_path / "provider"
    workdir.mkdir()
    write_rtp_pcap(workdir / "provider.pcap", [tone(450, 6.0)])
    media_port = free_range(3)  # SIPp binds the audio port and the video port (+2)
    capture = RtpCapture(workdir / "heard.pcap", media_port, host=TRUNK_IP).start()
    provider = start_sipp(
        "provider_invite_media.xml",
        workdir,
        ip=TRUNK_IP,
        extra=["-mi", TRUNK_IP, "-mp", str(media_port)],
        timeout=40,
    )
    with running_pbx(
        tmp_path, employees=2, trunk={**TRUNK, "port": provider.port}, in_only={1}
    ) as pbx:
        device = line_phone(pbx, tmp_path, 0, tone_wav)
        try:
            pbx.wait_registered(0)
            device.command("dial", f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}")
            device.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(4)
            device.command("hangup")
            device.wait_event("CALL_CLOSED")
        finally:
            device.stop()
        result = provider.finish(timeout=30)
        capture.stop()
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        messages = result.messages()
        invites = re.findall(r"INVITE sip:\S+ SIP/2\.0.*?\r?\n\r?\n", messages, re.S)
        assert len(invites) >= 2
        # The line's caller ID (SIP-3, fixed mode) is what the provider sees.
        assert f"sip:{NUMBER}@" in re.search(r"From:.*", invites[0]).group(0)
        # The second INVITE answers the 407 with a correct digest of the trunk credentials.
        auth = re.search(r"Proxy-Authorization: Digest (.*)", invites[-1]).group(1)
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        ha1 = md5(f"{TRUNK['username']}:{params['realm']}:{TRUNK['password']}")
        ha2 = md5(f"INVITE:{params['uri']}")
        assert params["username"] == TRUNK["username"]
        assert params["response"] == md5(f"{ha1}:{params['nonce']}:{ha2}")
        # Both sides heard each other: the phone says 800 Hz, the provider 450 Hz.
        provider_heard = capture.received().samples
        assert len(provider_heard) > 2 * 8000
        assert abs(dominant_frequency(provider_heard[-2 * 8000 :]) - 800) < 15
        (recording,) = sorted(device.recordings.glob("dump-*-dec.wav"))
        phone_heard, _ = soundfile.read(recording, dtype="int16")
        assert abs(dominant_frequency(phone_heard[8000 : 3 * 8000]) - 450) < 15
        # The calls report lists it as the employee's outgoing call.
        deadline = time.monotonic() + 10
        while True:
            rows = httpx.get(
                f"http://127.0.0.1:{pbx.http_port}/api/v1/calls",
                headers={"Authorization": f"Bearer {pbx.admin_token()}"},
                timeout=10,
            ).json()["items"]
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (row,) = rows
        assert row["direction"] == "outgoing"
        assert row["status"] == "answered"
        assert row["called"] == OUTSIDE
        assert row["employee_id"] == pbx.lines[0].employee_id
        assert row["talk_seconds"] >= 3


def test_an_incoming_only_line_cannot_call_out(tmp_path: Path, tone_wav: Path) -> None:
    with running_pbx(tmp_path, employees=2, trunk=TRUNK, in_only={1}) as pbx:
        device = line_phone(pbx, tmp_path, 1, tone_wav)
        try:
            pbx.wait_registered(1)
            device.command("dial", f"sip:{OUTSIDE}@127.0.0.1:{pbx.sip_port}")
            closed = device.wait_event("CALL_CLOSED", timeout=20)
            assert "403" in str(closed.get("param"))
        finally:
            device.stop()
