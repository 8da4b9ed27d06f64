"""TRN-1 from the live view with real peers: a trunk caller (SIPp, saying 500 Hz) talks to the
employee (baresip, 1000 Hz); a supervisor of the account sees the call on the live view
(`GET /live/events`), asks `POST /live/calls/{id}/supervise` to whisper, and his own baresip
phone (1500 Hz) is rung and answers by itself. The employee hears him, the caller never does;
he hears both; a second supervisor asking meanwhile gets 409, another account's asking finds no
such call, the live view shows who whispers, the call's details say who joined and how, and once
the call is over asking again is a 404."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.rtp_pcap import tone
from tests.switch.harness import RunningPbx, Setup, line_phone, running_pbx, tone_file
from tests.switch.live import Caller, describe, row_and_steps, tones_heard, windows
from tests.switch.observe import band_power, heard
from vpbx.domain.live import SuperviseAnswer, SuperviseMode, SuperviseRequest
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

CALLER_HZ, EMPLOYEE_HZ, SUPERVISOR_HZ = 500.0, 1000.0, 1500.0
CALLER = "79161230016"
#: how long the supervisor whispers before the caller hangs up
WHISPER = 4.0


async def only_the_first(svc: EntityService, setup: Setup) -> None:
    """The number's forward rings employee 1 only (employees 2 and 3 are supervisors)."""
    await svc.update("groups", setup.group_id, {"member_ids": [setup.staff[0]["id"]]})


def live_calls(pbx: RunningPbx, token: str, until: Any, timeout: float = 15) -> dict[str, Any]:
    """The live view's calls (by `call_id`) as they are once `until(calls)` holds, read from
    the Server-Sent Events the cabinet reads."""
    calls: dict[str, Any] = {}
    url = f"http://127.0.0.1:{pbx.http_port}/api/v1/live/events"
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                message = json.loads(line.removeprefix("data: "))
                if message["type"] == "snapshot":
                    calls = {c["call_id"]: c for c in message["calls"]}
                elif message["type"] == "call":
                    calls[message["call"]["call_id"]] = message["call"]
                elif message["type"] == "ended":
                    calls.pop(message["call_id"], None)
                if until(calls):
                    return calls
            assert time.monotonic() < deadline, f"the live view never showed it: {calls}"
    raise AssertionError(f"the live view's stream ended: {calls}")


def seconds_with(pcm: Any, hz: float) -> float:
    """For how long (seconds, by quarter-second steps of 0.5 s windows) `hz` was a good part
    of what was heard."""
    return sum(band_power(w, hz) > 0.15 for w in windows(pcm)) / 4


def supervise(pbx: RunningPbx, token: str, call_id: str, mode: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{pbx.http_port}/api/v1/live/calls/{call_id}/supervise",
        json={"mode": mode},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path, employees=3, customize=only_the_first) as running:
        yield running


def test_a_supervisor_whispers_from_the_live_view_and_only_the_employee_hears_him(
    pbx: RunningPbx, tmp_path: Path
) -> None:
    employee_id = pbx.lines[0].employee_id
    boss_id, second_id = pbx.lines[1].employee_id, pbx.lines[2].employee_id
    boss = pbx.user_token("supervisor", boss_id)
    second = pbx.user_token("admin", second_id)
    employee = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "e.wav", EMPLOYEE_HZ))
    supervisor = line_phone(pbx, tmp_path, 1, tone_file(tmp_path / "s.wav", SUPERVISOR_HZ))
    caller = Caller(
        tmp_path / "trunk", pbx, pbx.number, CALLER, [tone(CALLER_HZ, 14.0)], hangs_up=True
    )
    try:
        pbx.wait_registered(0)
        pbx.wait_registered(1)
        caller.start()
        employee.wait_event("CALL_ESTABLISHED", timeout=20)
        calls = live_calls(pbx, boss, lambda c: any(x["talker"] == employee_id for x in c.values()))
        [call_id] = list(calls)
        # the switch answers for the asker's account only: another's asking for it finds nothing
        assert pbx.application is not None
        runner = pbx.application.runner
        other = SuperviseRequest(call_id, boss_id, "Чужой", SuperviseMode.LISTEN)
        assert pbx.run(runner.supervise(pbx.account_id + 1, other)) is SuperviseAnswer.NO_CALL

        asked = supervise(pbx, boss, call_id, "whisper")
        assert asked.status_code == 202, asked.text
        # one at a time: the second supervisor (whose phone is not even registered) is refused
        taken = supervise(pbx, second, call_id, "barge")
        assert (taken.status_code, taken.json()["error_id"]) == (409, "live_call.supervised")
        supervisor.wait_event("CALL_ESTABLISHED", timeout=20)
        shown = live_calls(pbx, boss, lambda c: c[call_id]["supervise_mode"] == "whisper")
        assert shown[call_id]["supervisor"] == boss_id
        time.sleep(WHISPER)
        supervisor.command("hangup")
        supervisor.wait_event("CALL_CLOSED")
        result = caller.wait()
        result.assert_ok()
    finally:
        employee.stop()
        supervisor.stop()
    row, steps = row_and_steps(pbx, caller=CALLER)
    gone = supervise(pbx, boss, call_id, "listen")
    assert (gone.status_code, gone.json()["error_id"]) == (404, "live_call.not_found")

    # the caller: the employee all along, never the supervisor
    assert tones_heard(result.samples, (EMPLOYEE_HZ, SUPERVISOR_HZ)) == {EMPLOYEE_HZ}
    assert band_power(result.samples, SUPERVISOR_HZ) < 0.01
    assert seconds_with(result.samples, SUPERVISOR_HZ) == 0
    # the employee: the caller, and the supervisor for about as long as he whispered
    to_employee = heard(employee)
    assert seconds_with(to_employee, SUPERVISOR_HZ) >= WHISPER - 1.5, describe(steps)
    assert seconds_with(to_employee, CALLER_HZ) >= 6
    # the supervisor: both of them
    to_supervisor = heard(supervisor)[4000:]
    assert band_power(to_supervisor, CALLER_HZ) > 0.2
    assert band_power(to_supervisor, EMPLOYEE_HZ) > 0.2

    supervised = [(s["text"], s["data"]) for s in steps if s["kind"] == "supervisor"]
    name = "Employee2"
    assert [text for text, _ in supervised] == [
        f"супервизор {name} вызван из просмотра звонков: подсказывает (его слышит только "
        "сотрудник)",
        f"супервизор {name} подключился: подсказывает (его слышит только сотрудник)",
        f"супервизор {name} положил трубку, разговор идёт без него",
    ], describe(steps)
    assert all(data["employee_id"] == boss_id for _, data in supervised)
    assert row["status"] == "answered"
