"""The demo account `make run` creates in an empty database: enough to place a call at once."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services import accounts
from vpbx.services.entities import Clock, EntityService
from vpbx.storage import tables as t

DEMO_LOGIN = "admin@demo"
DEMO_PASSWORD = "demo-admin-2026"
DEMO_NUMBER = "74950000001"


@dataclass(frozen=True, slots=True)
class DemoLine:
    employee: str
    extension: str
    login: str
    password: str


@dataclass(frozen=True, slots=True)
class Demo:
    account_id: int
    login: str
    password: str
    token: str
    number: str
    lines: list[DemoLine]


async def is_empty(conn: AsyncConnection) -> bool:
    count = (await conn.execute(sa.select(sa.func.count()).select_from(t.accounts))).scalar_one()
    return int(count) == 0


async def seed_demo(
    conn: AsyncConnection, clock: Clock, *, login: str = DEMO_LOGIN, number: str = DEMO_NUMBER
) -> Demo:
    """Create the demo account through the domain services (so every rule is applied). Logins
    and numbers are unique across accounts: the browser tests give each test module its own
    copy of the demo on one shared server with a `login` and a `number` of its own."""
    now = clock()
    account_id = await accounts.create_account(conn, Account(name="Демо / Demo"), now)
    svc = EntityService(conn, Actor(Role.ADMIN, account_id), clock)
    hours = await svc.create(
        "schedules",
        {
            "name": "Рабочее время / Working hours",
            "kind": "weekly",
            "use_production_calendar": True,
            "weekly": [
                {"weekday": day, "intervals": [{"start": "09:00", "end": "18:00"}]}
                for day in range(1, 6)
            ],
        },
    )
    ivanov = await svc.create(
        "employees",
        {
            "last_name": "Иванов",
            "first_name": "Иван",
            "extension": "101",
            "phones": [{"kind": "sip"}],
        },
    )
    petrova = await svc.create(
        "employees",
        {
            "last_name": "Петрова",
            "first_name": "Анна",
            "extension": "102",
            "phones": [{"kind": "sip", "ring_timeout": 15}],
        },
    )
    sales = await svc.create(
        "groups",
        {
            "name": "Отдел продаж / Sales",
            "extension": "200",
            "member_ids": [_id(ivanov), _id(petrova)],
            "simultaneous_lines": 2,
        },
    )
    scenario = await svc.create(
        "scenarios",
        {
            "name": "Главное меню / Main menu",
            "entry": "menu",
            "operations": [
                {
                    "key": "menu",
                    "kind": "menu",
                    "prompt_text": "Здравствуйте! Для связи с отделом продаж нажмите 1.",
                    "exits": {"1": "sales", "timeout": "sales", "invalid": "sales"},
                },
                {
                    "key": "sales",
                    "kind": "forward",
                    "targets": [{"group_id": _id(sales)}],
                    "strategy": "priority",
                    "exits": {"no_answer": "voicemail"},
                },
                {"key": "voicemail", "kind": "voicemail", "emails": []},
            ],
        },
    )
    await svc.create(
        "numbers",
        {
            "number": number,
            "name": "Демо-номер / Demo number",
            "rules": [
                {"name": "Рабочее время", "schedule_id": _id(hours), "scenario_id": _id(scenario)},
                {"name": "Всегда / Always", "scenario_id": _id(scenario)},
            ],
        },
    )
    await svc.create(
        "users",
        {"login": login, "password": DEMO_PASSWORD, "role": "admin", "full_name": "Demo"},
    )
    token = await accounts.login(conn, login, DEMO_PASSWORD, now)
    lines = []
    for employee in (ivanov, petrova):
        line_id = employee.model_dump()["phones"][0]["sip_line_id"]
        line = (await conn.execute(sa.select(t.sip_lines).where(t.sip_lines.c.id == line_id))).one()
        data = employee.model_dump()
        lines.append(DemoLine(data["last_name"], data["extension"], line.login, line.password))
    return Demo(account_id, login, DEMO_PASSWORD, token, number, lines)


def _id(entity: object) -> int:
    value = getattr(entity, "id")  # noqa: B009 - the Out models are built at run time
    assert isinstance(value, int)
    return value


def describe(demo: Demo, http: str, sip_host: str, sip_port: int) -> str:
    lines = "\n".join(
        f"    {line.employee} (ext {line.extension}): login {line.login}  password {line.password}"
        for line in demo.lines
    )
    return (
        "Demo account created / Создан демо-аккаунт\n"
        f"  Cabinet and API: {http}/api/v1/docs\n"
        f"  Login: {demo.login}  Password: {demo.password}\n"
        f"  API token (for 15 min; a new one from /api/v1/auth/login): {demo.token}\n"
        f"  Virtual number: {demo.number}\n"
        f"  SIP lines (server {sip_host}, port {sip_port}):\n{lines}\n"
    )
