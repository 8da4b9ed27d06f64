"""A live call with kernel RTP forwarding (VPBX_KERNEL_RTP=auto), inside a network namespace of
the test's own (vpbx's thread and the baresip phones live there; the host's ruleset is never
touched): two phones bridged by vpbx hear each other's tones while the kernel, not the
switch, carries the audio, and the call's end takes the flow out of the table."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.switch.harness import line_phone, running_pbx, tone_file
from tests.switch.observe import heard
from vpbx.bench.netns import network_namespace
from vpbx.media.tones import dominant_frequency


def kernel_counters() -> dict[str, int]:
    """Packets by counter name, over every table of the namespace."""
    listed = subprocess.run(
        ["nft", "-j", "list", "counters"], check=True, capture_output=True, text=True
    ).stdout
    items = json.loads(listed)["nftables"]
    return {i["counter"]["name"]: i["counter"]["packets"] for i in items if "counter" in i}


def test_a_bridged_call_talks_through_the_kernel(tmp_path: Path) -> None:
    with (
        network_namespace("vpbxt"),
        running_pbx(tmp_path, employees=2, settings={"kernel_rtp": "auto"}) as pbx,
    ):
        kernel = pbx.application.pbx.media.kernel
        assert kernel is not None
        assert kernel.available, kernel.reason
        caller = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "a.wav", 600.0), codecs="PCMU")
        callee = line_phone(pbx, tmp_path, 1, tone_file(tmp_path / "b.wav", 1400.0), codecs="PCMU")
        try:
            pbx.wait_registered(0)
            pbx.wait_registered(1)
            caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
            callee.wait_event("CALL_ESTABLISHED", timeout=20)
            caller.wait_event("CALL_ESTABLISHED", timeout=20)
            time.sleep(3)
            during = kernel_counters()
            caller.command("hangup")
            callee.wait_event("CALL_CLOSED")
            caller.wait_event("CALL_CLOSED")
        finally:
            caller.stop()
            callee.stop()
        # one flow, two directions, each ~50 packets/s for most of the 3 s
        assert len(during) == 2, during
        assert all(packets > 100 for packets in during.values()), during
        deadline = time.monotonic() + 5
        while kernel_counters() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kernel_counters() == {}  # the call's end removed its flow
    to_callee, to_caller = heard(callee), heard(caller)
    assert len(to_callee) > 8000 * 2
    assert len(to_caller) > 8000 * 2
    assert abs(dominant_frequency(to_callee[4000:]) - 600.0) < 15
    assert abs(dominant_frequency(to_caller[4000:]) - 1400.0) < 15
