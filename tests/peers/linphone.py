"""linphone's console client (`linphonec`, Debian package linphone-cli) as a scriptable phone:
its own rc file and HOME under the test's folder, commands written to its stdin, events read
from its stdout on a background thread. No sound card: in its file mode (`soundcard use
files`) a WAV is its microphone and every call's audio is recorded to a WAV."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from tests.peers.ports import free_range


def linphonec_binary() -> str:
    found = shutil.which("linphonec")
    assert found, "linphonec is not installed: `make test` installs the Debian package linphone-cli"
    return found


RC = """\
[sip]
sip_port={sip_port}
sip_tcp_port=0
sip_tls_port=0
bind_address={host}
guess_hostname=0
use_ipv6=0
ipv6_migration_done=1
register_only_when_network_is_up=0
register_only_when_upnp_is_ok=0
default_proxy=0
inc_timeout=60
in_call_timeout=0
use_rfc2833=1
use_info=0
ping_with_options=0
keepalive_period=0
supported=replaces

[net]
firewall_policy=0
mtu=1300

[rtp]
audio_rtp_port={rtp_from}-{rtp_to}
video_rtp_port={video_from}-{video_to}
audio_jitt_comp=60
nortp_timeout=0
audio_adaptive_jitt_comp_enabled=0

[sound]
echocancellation=0
hold_music=

[video]
display=0
capture=0
automatically_initiate=0
automatically_accept=0

[proxy_0]
reg_proxy=<sip:{pbx_host}:{pbx_port};transport=udp>
reg_identity=<sip:{login}@{pbx_host}:{pbx_port}>
reg_expires=300
reg_sendregister=1
publish=0
dial_escape_plus=0
quality_reporting_enabled=0
avpf=0

[auth_info_0]
username={login}
passwd={password}

[audio_codec_0]
mime=PCMU
rate=8000
channels=1
enabled=1

[audio_codec_1]
mime=PCMA
rate=8000
channels=1
enabled=1

[audio_codec_2]
mime=opus
rate=48000
channels=2
enabled=0

[audio_codec_3]
mime=speex
rate=16000
channels=1
enabled=0

[audio_codec_4]
mime=speex
rate=8000
channels=1
enabled=0

[audio_codec_5]
mime=G729
rate=8000
channels=1
enabled=0
"""


@dataclass
class LinphonePhone:
    """A linphonec process registered to vpbx as one SIP line (UDP on loopback)."""

    workdir: Path
    login: str
    password: str
    pbx_port: int
    source_wav: Path
    pbx_host: str = "127.0.0.1"
    host: str = "127.0.0.1"
    sip_port: int = 0
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    @property
    def recordings(self) -> Path:
        return self.workdir / "rec"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(exist_ok=True)
        # without its database folder linphonec never brings its network up (no SIP socket)
        (self.workdir / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        self.sip_port = free_range(1)
        rtp_from, video_from = free_range(10), free_range(4)
        rc = self.workdir / "linphonerc"
        rc.write_text(
            RC.format(
                host=self.host,
                sip_port=self.sip_port,
                rtp_from=rtp_from,
                rtp_to=rtp_from + 9,
                video_from=video_from,
                video_to=video_from + 3,
                pbx_host=self.pbx_host,
                pbx_port=self.pbx_port,
                login=self.login,
                password=self.password,
            )
        )
        # HOME: its database, friends and certificates go under the test's folder
        env = {**os.environ, "HOME": str(self.workdir)}
        self.process = subprocess.Popen(
            [linphonec_binary(), "-c", str(rc), "-d", "6", "-l", str(self.workdir / "debug.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env,
            cwd=self.workdir,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.command("soundcard use files")
        self.command(f"play {self.source_wav}")

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        with (self.workdir / "linphonec.out").open("w") as copy:
            for line in self.process.stdout:
                copy.write(line)
                copy.flush()
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    def mark(self) -> int:
        """Where the output is now: `wait_for` looks only after such a mark."""
        with self._changed:
            return len(self.lines)

    def command(self, text: str) -> int:
        """Write one command line; returns the mark before it (to wait for its answer)."""
        assert self.process is not None
        assert self.process.stdin is not None
        assert self.process.poll() is None, f"linphonec exited\n{self.output()}"
        since = self.mark()
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return since

    def wait_for(self, pattern: str, since: int = 0, timeout: float = 15) -> re.Match[str]:
        """The first output line after mark `since` that matches `pattern`."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[since:]:
                    found = wanted.search(line)
                    if found:
                        return found
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no /{pattern}/ within {timeout} s\n{self.output()}"
                self._changed.wait(remaining)

    def output(self, tail: int = 4000) -> str:
        with self._changed:
            return "\n".join(self.lines)[-tail:]

    def record_to(self, name: str) -> Path:
        """Record what the next call that starts hears into the WAV `name` of its recordings
        folder (each call's stream opens the file named last when it starts)."""
        path = self.recordings / name
        self.command(f"record {path}")
        return path

    @staticmethod
    def recorded(path: Path) -> npt.NDArray[np.int16]:
        """What it heard into the WAV of `record_to` (8 kHz, mono)."""
        samples, rate = soundfile.read(path, dtype="int16")
        assert rate == 8000, (path, rate)
        return np.asarray(samples if samples.ndim == 1 else samples[:, 0], dtype=np.int16)

    # -- calls (linphonec numbers them 1, 2… in its messages) ----------------------------------

    def incoming(self, since: int, timeout: float = 20) -> int:
        """The id of the first call that rang after mark `since`."""
        found = self.wait_for(
            r"Receiving new incoming call from .*assigned id (\d+)", since, timeout
        )
        return int(found.group(1))

    def answer(self, call: int, timeout: float = 15) -> None:
        since = self.command(f"answer {call}")
        self.wait_connected(call, since, timeout)

    def call(self, uri: str, timeout: float = 20) -> int:
        """Dial `uri` and wait until it answers; the new call's id."""
        since = self.command(f"call {uri}")
        call = int(self.wait_for(r"Establishing call id to .*assigned id (\d+)", since).group(1))
        self.wait_connected(call, since, timeout)
        return call

    def wait_connected(self, call: int, since: int, timeout: float = 15) -> None:
        self.wait_for(rf"Call {call} with .* connected\.", since, timeout)

    def hold(self, call: int, timeout: float = 15) -> None:
        """Pause (re-INVITE a=sendonly) and wait for the PBX's answer."""
        since = self.command(f"pause {call}")
        self.wait_for(rf"Call {call} with .* is now paused\.", since, timeout)

    def transfer_attended(self, call: int, to_call: int) -> int:
        """Hand `call`'s remote party over to `to_call`'s (REFER in `call`'s dialog whose
        Refer-To carries Replaces naming `to_call`); the mark before it."""
        return self.command(f"transfer {call} --to-call {to_call}")

    def wait_ended(self, call: int, since: int, timeout: float = 15) -> None:
        self.wait_for(rf"Call {call} with .* ended", since, timeout)

    def active_calls(self) -> str:
        """Its answer to `calls`: "No active call." or the head of its table of calls."""
        since = self.command("calls")
        return self.wait_for(r"No active call\.|ID\s+Destination\s+Status", since).group(0)

    # -- what went over the wire ------------------------------------------------------------------

    def sip_messages(self, direction: str) -> list[str]:
        """The SIP messages it `sent` or `received`, in order, from its debug log."""
        start = "message sent to [" if direction == "sent" else "new bytes from ["
        messages: list[str] = []
        current: list[str] | None = None
        for line in (self.workdir / "debug.log").read_text(errors="replace").splitlines():
            if LOG_LINE.match(line):
                if current:
                    messages.append("\n".join(current).strip())
                current = [] if start in line else None
            elif current is not None:
                current.append(line)
        if current:
            messages.append("\n".join(current).strip())
        return [m for m in messages if m]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self.command("quit")  # it un-registers first
                self.process.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError, AssertionError):
                self.process.kill()
                self.process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(5)  # it reads until the end of the output
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


#: a line of its debug log (a SIP message's own lines follow such a line untimed)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d+ ")
