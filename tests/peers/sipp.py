"""Running SIPp (package sip-tester) from pytest: a missing binary fails loudly, never skips."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers.ports import free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def sipp_binary() -> str:
    found = shutil.which("sipp")
    assert found, "sipp is not installed: `make test` installs the Debian package sip-tester"
    return found


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path

    def errors(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))

    def messages(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.glob("*_messages.log"))


def sipp_args(
    scenario: str | Path,
    target: str | None,
    *,
    calls: int,
    rate: int,
    transport: str,
    timeout: float,
    extra: list[str] | None,
    port: int | None,
    ip: str = "127.0.0.1",
) -> list[str]:
    args = [sipp_binary(), *([target] if target else []), "-i", ip, "-p", str(port or free_port())]
    path = Path(scenario)
    if path.suffix == ".xml":
        args += ["-sf", str(path if path.is_absolute() else SCENARIOS / path)]
    else:
        args += ["-sn", str(scenario)]
    args += [
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-t",
        transport,
        "-nostdin",
        "-trace_err",
        "-trace_msg",
    ]
    args += ["-timeout", f"{int(timeout)}s", "-timeout_error", "-max_recv_loops", "1000"]
    return args + (extra or [])


def run_sipp(
    scenario: str | Path,
    target: str,
    workdir: Path,
    *,
    calls: int = 1,
    rate: int = 10,
    transport: str = "u1",
    timeout: float = 60,
    extra: list[str] | None = None,
    port: int | None = None,
) -> SippResult:
    """Run one SIPp scenario (a file in tests/peers/scenarios, or a built-in `-sn` name)."""
    args = sipp_args(
        scenario,
        target,
        calls=calls,
        rate=rate,
        transport=transport,
        timeout=timeout,
        extra=extra,
        port=port,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        args, cwd=workdir, capture_output=True, text=True, timeout=timeout + 30, check=False
    )
    return SippResult(done.returncode, done.stdout, done.stderr, workdir)


@dataclass
class SippServer:
    """SIPp started in the background (as a provider or a phone) and waited for later."""

    process: subprocess.Popen[str]
    workdir: Path
    ip: str
    port: int

    def __enter__(self) -> SippServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()

    def finish(self, timeout: float = 60) -> SippResult:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return SippResult(self.process.returncode, out, err, self.workdir)


def start_sipp(
    scenario: str,
    workdir: Path,
    *,
    ip: str = "127.0.0.1",
    target: str | None = None,
    extra: list[str] | None = None,
    timeout: float = 60,
) -> SippServer:
    """SIPp in the background: a provider waiting for calls (no target), or a caller while the
    test acts on the other side."""
    port = free_port()
    args = sipp_args(
        scenario,
        target,
        calls=1,
        rate=10,
        transport="u1",
        timeout=timeout,
        extra=extra,
        port=port,
        ip=ip,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return SippServer(process, workdir, ip, port)
