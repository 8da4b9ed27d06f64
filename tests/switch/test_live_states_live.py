"""CDR-4 with real peers: an employee's state on an open live view (`GET /live/events`) follows
his baresip phone registering and unregistering within a second, and a talk with a trunk
caller (SIPp) through a forward with a three-second wrap-up: talking, then wrap-up until its
end, then registered again, all pushed by the switch."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.rtp_pcap import tone
from tests.switch.harness import RunningPbx, Setup, line_phone, running_pbx, tone_file
from tests.switch.live import Caller
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

WRAPUP = 3


async def with_wrap_up(svc: EntityService, setup: Setup) -> None:
    operation = {
        "key": "fwd",
        "kind": "forward",
        "targets": [{"group_id": setup.group_id}],
        "distribution": {"wrapup_seconds": WRAPUP},
    }
    await svc.update("scenarios", setup.scenario_id, {"operations": [operation]})


class Watch:
    """The live view's stream read on a thread: each employee state with when it came."""

    def __init__(self, pbx: RunningPbx, employee_id: int) -> None:
        self.url = f"http://127.0.0.1:{pbx.http_port}/api/v1/live/events"
        self.headers = {"Authorization": f"Bearer {pbx.admin_token()}"}
        self.employee_id = employee_id
        self.snapshot: dict[str, Any] | None = None
        #: (when it came, on the monotonic and on the wall clock, the employee)
        self.states: list[tuple[float, float, dict[str, Any]]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=60) as response:
            for line in response.iter_lines():
                if self.done.is_set():
                    return
                if not line.startswith("data: "):
                    continue
                message = json.loads(line.removeprefix("data: "))
                if message["type"] == "snapshot":
                    self.snapshot = message
                elif (
                    message["type"] == "employee"
                    and message["employee"]["employee_id"] == self.employee_id
                ):
                    self.states.append((time.monotonic(), time.time(), message["employee"]))

    def wait(self, state: str, after: int = 0, timeout: float = 20) -> tuple[float, int]:
        """When the `state` event after the first `after` came, and its index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, (at, _wall, employee) in enumerate(self.states[after:], after):
                if employee["state"] == state:
                    return at, index
            time.sleep(0.02)
        raise AssertionError(f"no {state} pushed: {self.states}")

    def until(self, ready: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path, employees=1, customize=with_wrap_up) as running:
        yield running


def test_registration_talk_and_wrap_up_are_pushed_to_the_live_view(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    employee_id = pbx.lines[0].employee_id
    watch = Watch(pbx, employee_id)
    watch.until(lambda: watch.snapshot is not None)
    assert watch.snapshot is not None
    assert watch.snapshot["presence"] is True
    assert watch.snapshot["employees"] == []  # not registered: offline
    phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e.wav", 1000.0))
    try:
        pbx.wait_registered(0)
        bound = time.monotonic()  # at most 0.1 s after the registrar bound it
        pushed, seen = watch.wait("registered")
        assert pushed - bound < 1.0

        caller = Caller(
            tmp_path / "trunk", pbx, pbx.number, "79161230017", [tone(500.0, 3.0)], hangs_up=True
        )
        caller.start()
        _, seen = watch.wait("talking", seen)
        caller.wait().assert_ok()
        wrap_at, seen = watch.wait("wrap_up", seen)
        _, wall, wrap_up = watch.states[seen]
        assert wrap_up["until"] == pytest.approx(wall + WRAPUP, abs=0.5)  # pushed at the talk's end
        free_at, seen = watch.wait("registered", seen)
        assert WRAPUP - 0.5 < free_at - wrap_at < WRAPUP + 1.0

        asked = time.monotonic()
        phone.stop()  # baresip unregisters as it exits
        gone_at, seen = watch.wait("offline", seen)
        assert gone_at - asked < 1.0
        kinds = [e["state"] for _, _, e in watch.states if e["state"] != "ringing"]
        assert kinds == ["registered", "talking", "wrap_up", "registered", "offline"]
    finally:
        watch.done.set()
        phone.stop()
