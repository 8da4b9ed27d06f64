"""Builders for scenario tests: a small account, a call driver with a fake clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from vpbx.domain.entities.addressbook import Contact, ContactGroup, Segment
from vpbx.domain.entities.misc import Schedule
from vpbx.domain.entities.routing import CallerList, VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.schedule import ProductionCalendar
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.actions import Action, Hangup, Reject
from vpbx.scenario.call_logic import CallLogic, route_step
from vpbx.scenario.distribution import Distributor, InProcessState, run_sync
from vpbx.scenario.engine import Call
from vpbx.scenario.events import (
    CallArrived,
    Digit,
    Event,
    PlaybackDone,
)
from vpbx.scenario.snapshot import (
    CallerFacts,
    ConfigSnapshot,
    EmployeeInfo,
    FileInfo,
    GroupInfo,
)

MSK = ZoneInfo("Europe/Moscow")
#: a Wednesday, 10:00 in Moscow (working hours)
NOW = dt.datetime(2025, 3, 12, 10, 0, tzinfo=MSK)
NUMBER = "74950000001"
CALLER = "79161234567"
VIP_CALLER = "79990000001"
NIGHT = dt.datetime(2025, 3, 12, 22, 0, tzinfo=MSK)

EMPLOYEES = (
    EmployeeInfo(1, "Иванов Иван", "101", ("p1",), rate_after_call=False),
    EmployeeInfo(2, "Петрова Анна", "102", ("p1",), rate_after_call=True),
    EmployeeInfo(3, "Сидоров", "3", ("p1",)),
)
GROUPS = (GroupInfo(10, "Отдел продаж", "200", (1, 2)),)
FILES = (
    FileInfo(100, "hello.wav", duration=3),
    FileInfo(101, "10sec.mp3", duration=10),
    FileInfo(102, "op_hint.mp3", duration=2),
    FileInfo(103, "menu.wav", duration=4),
)
WORKING_HOURS = Schedule.model_validate(
    {
        "name": "Рабочее время",
        "kind": "weekly",
        "weekly": [
            {"weekday": d, "intervals": [{"start": "09:00", "end": "18:00"}]} for d in range(1, 6)
        ],
    }
)


def scenario(
    ops: Sequence[Mapping[str, Any]], entry: str | None = None, name: str = "Тест"
) -> Scenario:
    return Scenario.model_validate(
        {"name": name, "entry": entry or (ops[0]["key"] if ops else None), "operations": list(ops)}
    )


def config(
    ops: Sequence[Mapping[str, Any]] | Scenario = (),
    *,
    rules: Sequence[Mapping[str, Any]] | None = None,
    scenarios: Iterable[tuple[int, Scenario]] = (),
    segments: Iterable[tuple[int, Segment]] = (),
    blacklist: Iterable[str] = (),
    numbers: Iterable[tuple[int, VirtualNumber]] = (),
) -> ConfigSnapshot:
    main = ops if isinstance(ops, Scenario) else scenario(ops)
    rule_docs = rules if rules is not None else [{"scenario_id": 1}]
    vnumber = VirtualNumber.model_validate({"number": NUMBER, "rules": list(rule_docs)})
    return ConfigSnapshot.build(
        tz=MSK,
        calendar=ProductionCalendar({}),
        numbers=[(1, vnumber), *numbers],
        scenarios=[(1, main), *scenarios],
        schedules=[(5, WORKING_HOURS)],
        contacts=[
            (
                20,
                Contact.model_validate(
                    {
                        "last_name": "Клиентов",
                        "phones": [VIP_CALLER],
                        "group_ids": [30],
                        "manager_id": 2,
                    }
                ),
            ),
            (21, Contact.model_validate({"last_name": "Безменеджеров", "phones": ["79990000002"]})),
            (
                22,
                Contact.model_validate(
                    {"last_name": "Потерянный", "phones": ["79990000003"], "manager_id": 99}
                ),
            ),
        ],
        contact_groups=[(30, ContactGroup(name="VIP"))],
        caller_lists=[(40, CallerList.model_validate({"name": "Питер", "numbers": ["7812*"]}))],
        blacklist=blacklist,
        employees=EMPLOYEES,
        groups=GROUPS,
        segments=segments,
        files=FILES,
    )


class Driver:
    """Feeds events with a fake clock; fires the engine's timers as time advances."""

    def __init__(
        self, cfg: ConfigSnapshot, facts: CallerFacts | None = None, now: dt.datetime = NOW
    ) -> None:
        self.call = Call(cfg, call_id="77", facts=facts)
        self.now = now
        self.log: list[Action] = []

    def send(self, event: Event) -> list[Action]:
        out = self.call.handle(event, self.now)
        self.log += out
        return out

    def arrive(self, caller: str = CALLER, number: str = NUMBER) -> list[Action]:
        return self.send(CallArrived(number, caller))

    def played(self) -> list[Action]:
        return self.send(PlaybackDone())

    def keys(self, digits: str, gap: float = 0.5) -> list[Action]:
        out: list[Action] = []
        for d in digits:
            out += self.advance(gap)
            out += self.send(Digit(d))
        return out

    def advance(self, seconds: float) -> list[Action]:
        """Move the clock, firing every timer that falls due on the way."""
        end = self.now + dt.timedelta(seconds=seconds)
        out: list[Action] = []
        while (deadline := self.call.get_timer()) is not None and deadline <= end:
            self.now = deadline
            fired = self.call.handle_timer(self.now)
            self.log += fired
            out += fired
        self.now = end
        return out

    def texts(self) -> list[str]:
        return [s.text for s in self.call.details]

    def kinds(self) -> list[str]:
        return [s.kind for s in self.call.details]

    @property
    def outcome(self) -> Hangup | Reject | None:
        return self.call.outcome


class Node:
    """The switch's part for several calls of one account at once, on a fake clock: every phone
    is reachable; one real distribution (its line counts and queues span the calls) routes its
    actions to the call they name. `call` starts a call to NUMBER from CALLER (by default as
    an incoming call; `start` may run it otherwise, e.g. a scenario started for a callback)."""

    def __init__(self, cfg: ConfigSnapshot) -> None:
        self.config = cfg
        self.distributor = Distributor(InProcessState())
        self.now = NOW
        self.calls: dict[str, CallLogic] = {}
        self.commands: dict[str, list[io.Command]] = {}

    def call(
        self,
        call_id: str,
        start: Callable[[CallLogic, dt.datetime], list[io.Command]] | None = None,
    ) -> list[io.Command]:
        logic = CallLogic(
            self.config,
            call_id=call_id,
            account_id=1,
            number=NUMBER,
            caller=CALLER,
            started_at=self.now,
        )
        self.calls[call_id] = logic
        self.commands[call_id] = []
        commands = start(logic, self.now) if start is not None else logic.start(self.now)
        return self.run(call_id, commands)

    def run(self, call_id: str, commands: list[io.Command]) -> list[io.Command]:
        done: list[io.Command] = []
        at = self.now.timestamp()
        for command in commands:
            done.append(command)
            self.commands[call_id].append(command)
            match command:
                case io.FindPhones(employee_ids=ids):
                    phones = self.config.employees
                    found = frozenset((e, p.id) for e in ids for p in phones[e].phones)
                    done += self.send(call_id, io.PhonesFound(found))
                case io.Distribute(request=request):
                    done += self.route(run_sync(self.distributor.start(request, at)))
                case io.TellDistribution(event=event):
                    done += self.route(run_sync(self.distributor.handle(event, at)))
        return done

    def route(self, step: dist.Step) -> list[io.Command]:
        out: list[io.Command] = []
        for call_id, event in route_step(step):
            # the call's own id, or "<call>/transferN" its transfer to a group is distributed by
            own = call_id.split("/")[0]
            assert own in self.calls, call_id
            out += self.send(own, event)
        return out

    def send(self, call_id: str, event: io.Input) -> list[io.Command]:
        return self.run(call_id, self.calls[call_id].handle(event, self.now))

    def later(self, seconds: float) -> list[io.Command]:
        """The clock moves on: the distribution's timers (ring timeouts, queue polls) fire."""
        self.now += dt.timedelta(seconds=seconds)
        return self.route(run_sync(self.distributor.handle_timer(self.now.timestamp())))

    def rings(self, call_id: str) -> list[io.RingPhone]:
        return [c for c in self.commands[call_id] if isinstance(c, io.RingPhone)]
