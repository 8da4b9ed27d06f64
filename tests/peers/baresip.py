"""baresip as a scriptable phone (see ../shared/TESTING.md): one config directory per phone,
netstring-framed JSON control over TCP, events read on a background thread."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers.ports import free_port, free_range


def baresip_binary() -> str:
    found = shutil.which("baresip")
    assert found, "baresip is not installed: `make test` installs the Debian package baresip"
    return found


CONFIG = """\
sip_listen        {host}:{sip_port}
net_interface     {host}
dns_server        127.0.0.1:53
audio_player      aubridge,nil
audio_alert       aubridge,nil
audio_source      aufile,{source}
rtp_ports         {rtp_from}-{rtp_to}
rtp_timeout       0
module_path       /usr/lib/baresip/modules
module            g711.so
module            aufile.so
module            aubridge.so
module            sndfile.so
module            ctrl_tcp.so
module_tmp        account.so
module_app        menu.so
ctrl_tcp_listen   127.0.0.1:{ctrl_port}
snd_path          {rec}
"""


@dataclass
class BaresipPhone:
    """A baresip process registered (or not) to vpbx as one SIP line."""

    workdir: Path
    account: str
    source_wav: Path
    host: str = "127.0.0.1"
    #: config lines added after the defaults (e.g. `module srtp.so`, `sip_cafile …`)
    extra_config: str = ""
    sip_port: int = 0
    ctrl_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    responses: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    _sock: socket.socket | None = None
    _reader: threading.Thread | None = None

    @property
    def recordings(self) -> Path:
        return self.workdir / "rec"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(exist_ok=True)
        # baresip also binds TLS on sip_port + 1: keep phones two ports apart.
        self.sip_port = free_range(2)
        self.ctrl_port = free_port()
        rtp_from = free_range(10)
        (self.workdir / "config").write_text(
            CONFIG.format(
                host=self.host,
                sip_port=self.sip_port,
                source=self.source_wav,
                rtp_from=rtp_from,
                rtp_to=rtp_from + 9,
                ctrl_port=self.ctrl_port,
                rec=self.recordings,
            )
            + self.extra_config
        )
        (self.workdir / "accounts").write_text(self.account + "\n")
        (self.workdir / "contacts").write_text("")
        with (self.workdir / "baresip.log").open("wb") as log:
            self.process = subprocess.Popen(
                [baresip_binary(), "-f", str(self.workdir), "-v"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                assert self.process.poll() is None, self.log()
                assert time.monotonic() < deadline, (
                    "baresip control port did not open\n" + self.log()
                )
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def log(self) -> str:
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _read(self) -> None:
        assert self._sock is not None
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b":" in buffer:
                length_text, _, rest = buffer.partition(b":")
                if not length_text.isdigit():
                    buffer = b""
                    break
                length = int(length_text)
                if len(rest) < length + 1:
                    break
                payload, buffer = rest[:length], rest[length + 1 :]
                message = json.loads(payload)
                (self.responses if message.get("response") else self.events).put(message)

    def command(self, command: str, params: str = "", timeout: float = 10) -> dict[str, Any]:
        assert self._sock is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        return self.responses.get(timeout=timeout)

    def wait_event(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} within {timeout} s; saw {seen}\n{self.log()[-3000:]}"
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(str(event.get("type")))
            if event.get("type") == kind:
                return event

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                # baresip lingers for seconds un-registering; tests need nothing more from it
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def stop_phones(phones: list[BaresipPhone]) -> None:
    """Stop every phone at once: baresip can take seconds to exit."""
    stoppers = [threading.Thread(target=phone.stop) for phone in phones]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(30)
