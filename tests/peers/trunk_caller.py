"""SIPp as the trunk calling a virtual number: it says what the test wrote (tones, silence,
RFC 4733 keys, as an RTP capture it replays) and what it heard is captured and decoded.

    caller = TrunkCaller(tmp_path / "trunk", pbx.sip_port, NUMBER,
                         [silence(0.5), digit("2"), tone(500, 3.0)])
    result = caller.run()                      # or caller.start(); ...; caller.wait()
    result.assert_ok()                         # SIPp exit code 0 (with its logs if not)
    dominant_frequency(result.samples[8000:])  # what the trunk heard (int16, 8 kHz)
    result.digits                              # RFC 4733 keys it received

The scenario (tests/peers/scenarios/trunk_caller.xml, or trunk_caller_waits.xml with
`hangs_up=False`) sends INVITE with PCMU + telephone-event/8000 (PT 101) from `ip`, ACKs the
200 and starts the replay; the caller then holds the call for `hold` seconds (by default the
length of the stream + `tail`) and sends BYE, or waits for vpbx's BYE. tcpdump records what
arrives at its media port from before the INVITE until SIPp exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from tests.peers.ports import free_range
from tests.peers.rtp_capture import Received, RtpCapture
from tests.peers.rtp_pcap import PTIME, RtpPacket, Segment, write_rtp_pcap
from tests.peers.sipp import SCENARIOS, SippResult, SippServer, start_sipp

PCAP_NAME = "trunk_caller.pcap"  # the scenarios play this file from SIPp's working directory


@dataclass
class TrunkCallResult:
    sipp: SippResult
    received: Received  # everything the trunk's media port received, decoded
    sent: list[RtpPacket]  # the stream SIPp replayed

    @property
    def samples(self) -> npt.NDArray[np.int16]:
        return self.received.samples

    @property
    def digits(self) -> list[str]:
        return self.received.digits

    def report(self) -> str:
        return (
            f"SIPp exit {self.sipp.returncode}\n{self.sipp.stdout[-2000:]}\n{self.sipp.stderr}\n"
            f"{self.sipp.errors()}\n--- messages ---\n{self.sipp.messages()[-4000:]}"
        )

    def assert_ok(self) -> None:
        assert self.sipp.returncode == 0, self.report()


class TrunkCaller:
    """One call from the trunk (SIPp at `ip`) to `number` at vpbx 127.0.0.1:`sip_port`."""

    def __init__(
        self,
        workdir: Path,
        sip_port: int,
        number: str,
        segments: Sequence[Segment],
        *,
        hangs_up: bool = True,
        hold: float | None = None,
        tail: float = 0.5,
        ip: str = "127.0.0.2",
        timeout: float = 30,
    ) -> None:
        self.workdir = workdir
        self.sip_port = sip_port
        self.number = number
        self.segments = list(segments)
        self.hangs_up = hangs_up
        self.tail = tail
        self.hold = hold
        self.ip = ip
        self.timeout = timeout
        self.media_port = 0
        self.sent: list[RtpPacket] = []
        self.capture: RtpCapture | None = None
        self.sipp: SippServer | None = None

    @property
    def scenario(self) -> Path:
        return SCENARIOS / ("trunk_caller.xml" if self.hangs_up else "trunk_caller_waits.xml")

    def start(self) -> TrunkCaller:
        """Write the capture, start tcpdump on the media port, start SIPp (returns at once)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sent = write_rtp_pcap(self.workdir / PCAP_NAME, self.segments)
        stream = self.sent[-1].at + PTIME if self.sent else 0.0
        hold = self.hold if self.hold is not None else stream + self.tail
        # SIPp binds the audio port and the video port (+2) exactly: both must be free.
        self.media_port = free_range(3)
        self.capture = RtpCapture(self.workdir / "received.pcap", self.media_port, host=self.ip)
        self.capture.start()
        extra = ["-s", self.number, "-mi", self.ip, "-mp", str(self.media_port)]
        extra += ["-d", str(round(hold * 1000))]  # the scenario's bare <pause/>
        try:
            self.sipp = start_sipp(
                str(self.scenario),
                self.workdir,
                ip=self.ip,
                target=f"127.0.0.1:{self.sip_port}",
                extra=extra,
                timeout=self.timeout,
            )
        except BaseException:
            self.capture.stop()
            raise
        return self

    def wait(self, timeout: float | None = None) -> TrunkCallResult:
        """Until SIPp exits (it is killed after `timeout`, default its own -timeout + 10 s);
        then stop the capture and decode it."""
        assert self.sipp is not None, "start() first"
        assert self.capture is not None
        try:
            result = self.sipp.finish(timeout if timeout is not None else self.timeout + 10)
        finally:
            self.capture.stop()
        return TrunkCallResult(result, self.capture.received(event_payload_type=101), self.sent)

    def run(self) -> TrunkCallResult:
        return self.start().wait()

    def stop(self) -> None:
        """Kill SIPp and tcpdump if still running (cleanup after a failed test)."""
        if self.sipp is not None:
            self.sipp.__exit__(None, None, None)
        if self.capture is not None:
            self.capture.stop()

    def __enter__(self) -> TrunkCaller:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()
