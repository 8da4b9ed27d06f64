"""Benchmark of the scenario engine: simulated calls per second through a five-operation
scenario (info → menu → interactive → forward → voicemail): rule matching with a schedule, a
prompt, a key, a CRM answer with a return code, a forward nobody answers, a voicemail. Every
event and timer of the call goes through `Call.handle`; no I/O (the CRM answer is an event).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from vpbx.bench.core import Result, rate
from vpbx.domain.entities.misc import Schedule
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.schedule import ProductionCalendar
from vpbx.scenario.actions import HttpRequest
from vpbx.scenario.engine import Call
from vpbx.scenario.events import (
    CallArrived,
    DialFailed,
    Digit,
    HttpResponse,
    PlaybackDone,
    RecordingDone,
)
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, FileInfo, GroupInfo

__all__ = ["bench_engine", "five_operation_config", "one_call"]

TARGET = 5000.0


def five_operation_config() -> ConfigSnapshot:
    scenario = Scenario.model_validate(
        {
            "name": "Bench",
            "entry": "hello",
            "operations": [
                {"key": "hello", "kind": "info", "file_ids": [1], "exits": {"next": "menu"}},
                {
                    "key": "menu",
                    "kind": "menu",
                    "prompt_file_id": 2,
                    "exits": {"1": "crm", "timeout": "crm", "invalid": "crm"},
                },
                {
                    "key": "crm",
                    "kind": "interactive",
                    "url": "http://crm.example/ivx",
                    "codes": [{"code": 1, "target": "sales"}],
                    "exits": {"fallback": "sales"},
                },
                {
                    "key": "sales",
                    "kind": "forward",
                    "targets": [{"group_id": 10}],
                    "exits": {"no_answer": "vm"},
                },
                {"key": "vm", "kind": "voicemail", "emails": ["office@example.com"]},
            ],
        }
    )
    hours = Schedule.model_validate(
        {
            "name": "Рабочее время",
            "kind": "weekly",
            "weekly": [
                {"weekday": d, "intervals": [{"start": "09:00", "end": "18:00"}]}
                for d in range(1, 6)
            ],
        }
    )
    number = VirtualNumber.model_validate(
        {
            "number": "74950000001",
            "rules": [{"schedule_id": 5, "scenario_id": 1}, {"scenario_id": 1}],
        }
    )
    return ConfigSnapshot.build(
        tz="Europe/Moscow",
        calendar=ProductionCalendar({}),
        numbers=[(1, number)],
        scenarios=[(1, scenario)],
        schedules=[(5, hours)],
        employees=[EmployeeInfo(1, "Иванов", "101", ("p1",))],
        groups=[GroupInfo(10, "Продажи", "200", (1,))],
        files=[FileInfo(1, "hello.wav"), FileInfo(2, "menu.wav")],
    )


START = dt.datetime(2025, 3, 12, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
SECOND = dt.timedelta(seconds=1)


def one_call(config: ConfigSnapshot) -> Call:
    call = Call(config, call_id="bench")
    now = START
    call.handle(CallArrived("74950000001", "79161234567"), now)
    call.handle(PlaybackDone(), now + 3 * SECOND)
    actions = call.handle(Digit("1"), now + 4 * SECOND)
    request = next((a for a in actions if isinstance(a, HttpRequest)), None)
    request_id = request.request_id if request is not None else 0
    call.handle(HttpResponse(request_id, 200, '{"returned_code": 1}'), now + 6 * SECOND)
    call.handle(DialFailed("no_answer"), now + 30 * SECOND)
    call.handle(PlaybackDone(), now + 32 * SECOND)
    call.handle(RecordingDone(7, 12.0), now + 45 * SECOND)
    return call


def bench_engine() -> Result:
    config = five_operation_config()
    check = one_call(config)
    if check.outcome is None or check.outcome.reason != "voicemail":
        raise RuntimeError(f"the benchmark call did not run through: {check.outcome}")

    def work() -> None:
        for _ in range(50):
            one_call(config)

    return Result(
        "scenario engine: calls through 5 operations",
        rate(work, 50),
        "calls/s",
        None,
        None,
        None,
        f">= {TARGET:,.0f} calls/s on one core",
    )
