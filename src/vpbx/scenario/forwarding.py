"""From the engine's `Dial` to the distribution's `ForwardRequest`: who may be rung, in order.

Pure: the configuration snapshot and `now` come in. A group contributes its distribution table
(GRP-2: employees in the order of their first row, each employee's phones in table order, a
switched-off row unavailable «Номер недоступен в группе»), an employee all his phones in his
order (or the one phone named). Schedules of employees and groups are evaluated at `now` in the
account's zone. `available` says whether a phone can be reached at all (the live switch: a
registered SIP line; the simulator: always).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from vpbx.domain.entities.scenarios import Distribution, Strategy
from vpbx.domain.schedule import is_active
from vpbx.scenario.actions import Dial
from vpbx.scenario.distribution import (
    CallKind,
    EmployeeTarget,
    ForwardRequest,
    PhoneTarget,
    resolve_settings,
)
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupRow, PhoneInfo

Reachable = Callable[[EmployeeInfo, PhoneInfo], bool]


def _always(_employee: EmployeeInfo, _phone: PhoneInfo) -> bool:
    return True


def _active(config: ConfigSnapshot, schedule_id: int | None, now: dt.datetime) -> bool:
    if schedule_id is None or schedule_id not in config.schedules:
        return True  # EMP-4: without a schedule, around the clock
    _name, spec = config.schedules[schedule_id]
    return is_active(spec, now, config.tz, config.calendar)


def forward_request(
    dial: Dial,
    config: ConfigSnapshot,
    *,
    call_id: str,
    account_id: int,
    caller: str,
    now: dt.datetime,
    reachable: Reachable = _always,
    kind: CallKind = CallKind.INCOMING,
) -> ForwardRequest:
    """The distribution's request for the employees a `Dial` names (external numbers aside)."""
    order: list[int] = []
    phones: dict[int, list[PhoneTarget]] = {}
    group_active: dict[int, bool] = {}
    group_lines: int | None = None

    def add(
        employee: EmployeeInfo, phone: PhoneInfo, enabled: bool, percent: float, active: bool
    ) -> None:
        if employee.id not in phones:
            order.append(employee.id)
            phones[employee.id] = []
            group_active[employee.id] = active
        if any(p.phone_id == phone.id for p in phones[employee.id]):
            return
        phones[employee.id].append(
            PhoneTarget(
                phone.id,
                lines=phone.lines,
                ring_timeout=phone.ring_timeout,
                kind=phone.kind,
                available=enabled and reachable(employee, phone),
                percent=percent,
            )
        )

    for target in dial.targets:
        if target.group_id is not None and target.group_id in config.groups:
            group = config.groups[target.group_id]
            group_lines = group_lines or group.simultaneous_lines
            active = _active(config, group.schedule_id, now)
            rows = group.rows or tuple(
                GroupRow(eid, p.id)
                for eid in group.member_ids
                if eid in config.employees
                for p in config.employees[eid].phones
            )
            for row in rows:
                employee = config.employees.get(row.employee_id)
                if employee is None:
                    continue
                phone = next((p for p in employee.phones if p.id == row.phone_id), None)
                if phone is not None:
                    add(employee, phone, row.enabled, row.percent, active)
        elif target.employee_id is not None and target.employee_id in config.employees:
            employee = config.employees[target.employee_id]
            for phone in employee.phones:
                if target.phone_id is None or phone.id == target.phone_id:
                    add(employee, phone, True, 0.0, True)
    targets = tuple(
        EmployeeTarget(
            eid,
            tuple(phones[eid]),
            calls_enabled=config.employees[eid].calls_enabled,
            in_schedule=_active(config, config.employees[eid].schedule_id, now),
            group_active=group_active[eid],
        )
        for eid in order
    )
    knobs = Distribution(
        simultaneous_lines=dial.simultaneous_lines,
        ring_timeout=dial.ring_timeout,
        percentage=dial.percentage,
        queue=dial.queue,
        wrapup_seconds=dial.wrapup_seconds,
        initial_lines=dial.initial_lines,
        add_line_every=dial.add_line_every,
    )
    settings = resolve_settings(Strategy(dial.strategy), knobs, group_lines)
    return ForwardRequest(
        call_id=call_id,
        account_id=account_id,
        scenario_id=dial.scenario_id or 0,
        operation_key=dial.operation,
        caller=caller,
        targets=targets,
        settings=settings,
        kind=kind,
    )
