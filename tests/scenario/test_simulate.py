"""`vpbx simulate` / `POST /api/v1/simulate` and the lint routes on the seeded demo account."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.api.app import PREFIX, create_api
from vpbx.domain.actor import Actor, Role
from vpbx.domain.net_policy import parse_networks
from vpbx.seed import DEMO_NUMBER, Demo, seed_demo
from vpbx.services.entities import EntityService
from vpbx.services.simulate import SimulationRequest, format_details, simulate
from vpbx.storage.db import make_async_engine

MSK = ZoneInfo("Europe/Moscow")
WEDNESDAY_10 = dt.datetime(2025, 3, 12, 10, 0, tzinfo=MSK)
SATURDAY_NIGHT = dt.datetime(2025, 3, 15, 23, 0, tzinfo=MSK)
CALLER = "79161234567"
migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")


def clock() -> dt.datetime:
    return WEDNESDAY_10


@dataclass
class Seeded:
    engine: AsyncEngine
    demo: Demo


@pytest.fixture
async def seeded(migrated_db_url: str) -> AsyncIterator[Seeded]:
    engine = make_async_engine(migrated_db_url)
    try:
        async with engine.begin() as conn:
            demo = await seed_demo(conn, clock)
        yield Seeded(engine, demo)
    finally:
        await engine.dispose()


async def run(seeded: Seeded, request: SimulationRequest) -> tuple[str, list[str], str]:
    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, seeded.demo.account_id), clock)
        result = await simulate(svc, request)
    return result.outcome, [s.kind for s in result.steps], format_details(result, MSK)


async def test_working_hours_key_1_answered(seeded: Seeded) -> None:
    request = SimulationRequest(DEMO_NUMBER, CALLER, WEDNESDAY_10, keys="1", answer=("102",))
    outcome, kinds, text = await run(seeded, request)
    assert outcome == "completed"
    assert (
        "правило 1 'Рабочее время': график 'Рабочее время / Working hours', для всех номеров"
        in text
    )
    assert "ответил Петрова Анна" in text
    # the distribution's record of the talk's end follows the call's own last step
    assert [kind for kind in kinds if kind != "distribution"][-1] == "hangup"
    assert kinds[-1] == "distribution"
    assert "разговор 60 с" in text.splitlines()[-2]


async def test_night_no_answer_goes_to_voicemail(seeded: Seeded) -> None:
    request = SimulationRequest(DEMO_NUMBER, CALLER, SATURDAY_NIGHT, no_answer=True)
    outcome, _, text = await run(seeded, request)
    assert outcome == "voicemail"
    assert "не подошло: вне графика" in text
    assert "меню: время ожидания истекло" in text
    # The real distribution (priority): each employee rung in turn, each ring timing out.
    offered = [line for line in text.splitlines() if "звонок предложен" in line]
    assert [("Иванов" in line, "Петрова" in line) for line in offered] == [
        (True, False),
        (False, True),
    ]
    assert text.count("не принял звонок") == 2
    assert text.count(": не ответил") >= 2


async def test_busy_employee_is_passed_over(seeded: Seeded) -> None:
    request = SimulationRequest(DEMO_NUMBER, CALLER, WEDNESDAY_10, keys="1", busy=("101",))
    _, _, text = await run(seeded, request)
    assert "не принял звонок Иванов Иван" in text
    assert "занято" in text
    assert "ответил Петрова Анна" in text


async def test_why_an_employee_was_not_offered_the_call(seeded: Seeded) -> None:
    """DST-7 in simulate: an employee with calls off is skipped, with the reason."""
    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, seeded.demo.account_id), clock)
        page = await svc.page("employees", {"extension": "101"})
        ivanov = page.items[0].model_dump()["id"]
        await svc.update("employees", ivanov, {"calls_enabled": False})
    request = SimulationRequest(DEMO_NUMBER, CALLER, WEDNESDAY_10, keys="1")
    outcome, _, text = await run(seeded, request)
    assert outcome == "completed"
    assert "пропущен Иванов Иван" in text
    assert "Статус звонков выключен" in text
    assert "звонок предложен Иванов" not in text
    assert "ответил Петрова Анна" in text


async def test_unknown_number_no_route(seeded: Seeded) -> None:
    outcome, _, _ = await run(seeded, SimulationRequest("74959999999", CALLER, WEDNESDAY_10))
    assert outcome == "no_route"


@pytest.fixture
async def api(seeded: Seeded) -> AsyncIterator[httpx.AsyncClient]:
    # The real CRM of these tests listens on loopback: allowed as an installation would.
    app = create_api(seeded.engine, clock, allow_networks=parse_networks("127.0.0.0/8"))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {seeded.demo.token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as c:
        yield c


async def test_api_simulate(api: httpx.AsyncClient) -> None:
    body = {"number": DEMO_NUMBER, "caller": CALLER, "at": WEDNESDAY_10.isoformat(), "keys": "1"}
    response = await api.post(f"{PREFIX}/simulate", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["outcome"] == "completed"
    assert data["status"] == "answered"
    assert data["steps"][0]["kind"] == "arrived"
    assert any(s["kind"] == "rule" and s["data"]["rule"] == 1 for s in data["steps"])


async def test_api_simulate_with_a_stub_crm(api: httpx.AsyncClient, seeded: Seeded) -> None:
    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, seeded.demo.account_id), clock)
        scenario = await svc.create(
            "scenarios",
            {
                "name": "CRM",
                "entry": "crm",
                "operations": [
                    {
                        "key": "crm",
                        "kind": "interactive",
                        "url": "http://crm.invalid/ivx",
                        "codes": [{"code": 7, "target": "vm"}],
                        "exits": {"fallback": "vm"},
                    },
                    {"key": "vm", "kind": "voicemail", "emails": ["office@example.com"]},
                ],
            },
        )
        await svc.create(
            "numbers",
            {"number": "74950000077", "rules": [{"scenario_id": scenario.model_dump()["id"]}]},
        )
    body = {"number": "74950000077", "caller": CALLER, "crm_response": '{"returned_code": 7}'}
    data = (await api.post(f"{PREFIX}/simulate", json=body)).json()
    texts = [s["text"] for s in data["steps"]]
    assert "CRM: код возврата 7" in texts
    assert data["outcome"] == "voicemail"


async def test_api_lint_stored_and_draft(api: httpx.AsyncClient) -> None:
    scenarios = (await api.get(f"{PREFIX}/scenarios")).json()["items"]
    sid = scenarios[0]["id"]
    found = (await api.get(f"{PREFIX}/scenarios/{sid}/lint")).json()
    # the demo's voicemail has no address: nobody would get the messages
    assert [w["code"] for w in found] == ["voicemail_no_email"]
    draft = {
        "name": "Черновик",
        "entry": "m",
        "operations": [{"key": "m", "kind": "menu", "exits": {"1": "m"}}],
    }
    response = await api.post(f"{PREFIX}/scenarios/lint", json=draft)
    assert response.status_code == 200, response.text
    codes = {w["code"] for w in response.json()}
    assert {"menu_no_timeout", "menu_no_invalid"} <= codes
    assert (await api.get(f"{PREFIX}/scenarios/999999/lint")).status_code == 404


def cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"VPBX_DATA_DIR": str(data_dir), "VPBX_LOG_LEVEL": "WARNING"}
    env.pop("VPBX_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "vpbx", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_simulate_and_lint(tmp_path: Path) -> None:
    assert cli(["seed"], tmp_path).returncode == 0
    at = WEDNESDAY_10.isoformat()
    args = ["simulate", "--number", DEMO_NUMBER, "--from", CALLER, "--at", at]
    result = cli([*args, "--keys", "1", "--answer", "101"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "10:00:00  arrived" in result.stdout
    assert "ответил Иванов Иван" in result.stdout
    assert "итог: completed (answered)" in result.stdout
    as_json = cli([*args, "--no-answer", "--json"], tmp_path)
    assert json.loads(as_json.stdout)["outcome"] == "voicemail"
    lint = cli(["lint", "--account", "1"], tmp_path)
    assert lint.returncode == 0  # only a notice: the demo's voicemail has no address
    assert "voicemail_no_email" in lint.stdout


async def test_caller_facts_from_calls_and_leads(seeded: Seeded) -> None:
    """Visit number and segments read the caller's past calls (with tags) and leads."""
    from vpbx.domain.entities.misc import Call, CallDirection, CallStatus
    from vpbx.services.scenario_config import load_caller_facts
    from vpbx.storage import tables as t

    account = seeded.demo.account_id
    earlier = (WEDNESDAY_10 - dt.timedelta(hours=3)).astimezone(dt.UTC)  # stored in UTC
    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account), clock)
        tag = (await svc.create("tags", {"name": "Горячий"})).model_dump()["id"]
        row = Call(
            started_at=earlier,
            direction=CallDirection.INCOMING,
            status=CallStatus.ANSWERED,
            caller=CALLER,
            called=DEMO_NUMBER,
            tag_ids=[tag],
        ).model_dump()
        stamps = {"created_at": earlier, "updated_at": earlier}
        await conn.execute(sa.insert(t.calls).values(account_id=account, **row, **stamps))
        await svc.create("leads", {"source": "site", "phone": CALLER})
        facts = await load_caller_facts(svc, "+7 916 123-45-67", WEDNESDAY_10)
        other = await load_caller_facts(svc, "79160000000", WEDNESDAY_10)
    kinds = sorted(p.kind for p in facts.past)
    assert kinds == ["call", "lead"]
    call = next(p for p in facts.past if p.kind == "call")
    assert call.tag_ids == (tag,)
    assert call.at == earlier
    assert other.past == ()


async def test_api_simulate_against_a_real_crm_url(api: httpx.AsyncClient, seeded: Seeded) -> None:
    """`crm_url` points the operation at a real server (here one on loopback answering code 7)."""
    from tests.scenario.test_ivx_http import BODIES, Crm

    BODIES.setdefault("code-7", '{"returned_code": 7}')
    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, seeded.demo.account_id), clock)
        scenario = await svc.create(
            "scenarios",
            {
                "name": "CRM real",
                "entry": "crm",
                "operations": [
                    {
                        "key": "crm",
                        "kind": "interactive",
                        "url": "http://crm.invalid/ivx",
                        "timeout": 2,
                        "codes": [{"code": 7, "target": "bye"}],
                    },
                    {"key": "bye", "kind": "info", "text": "До свидания"},
                ],
            },
        )
        await svc.create(
            "numbers",
            {"number": "74950000078", "rules": [{"scenario_id": scenario.model_dump()["id"]}]},
        )
    with Crm() as crm:
        body = {"number": "74950000078", "caller": CALLER, "crm_url": f"{crm.url}/json/code-7"}
        data = (await api.post(f"{PREFIX}/simulate", json=body)).json()
        assert crm.requests[-1][1] == "/json/code-7"
    texts = [s["text"] for s in data["steps"]]
    assert "CRM: код возврата 7" in texts
    # without the override the configured (unresolvable) URL fails: the fallback is unlinked
    data = (await api.post(f"{PREFIX}/simulate", json={**body, "crm_url": None})).json()
    assert data["outcome"] == "unlinked_exit"
    assert any("нет ответа CRM" in s["text"] for s in data["steps"])


async def test_api_simulate_roles(api: httpx.AsyncClient, seeded: Seeded) -> None:
    from vpbx.services import accounts

    async with seeded.engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, seeded.demo.account_id), clock)
        employee_id = (await svc.all_documents("employees"))[0][0]
        for login, role, extra in (
            ("boss@demo", "supervisor", {}),
            ("worker@demo", "employee", {"employee_id": employee_id}),
        ):
            await svc.create(
                "users", {"login": login, "password": "password-123", "role": role, **extra}
            )
        tokens = {
            role: await accounts.login(conn, login, "password-123", WEDNESDAY_10)
            for login, role in (("boss@demo", "supervisor"), ("worker@demo", "employee"))
        }
    body = {"number": DEMO_NUMBER, "caller": CALLER}
    boss = {"Authorization": f"Bearer {tokens['supervisor']}"}
    worker = {"Authorization": f"Bearer {tokens['employee']}"}
    assert (await api.post(f"{PREFIX}/simulate", json=body, headers=boss)).status_code == 200
    denied = await api.post(
        f"{PREFIX}/simulate", json={**body, "crm_url": "http://127.0.0.1:9/"}, headers=boss
    )
    assert denied.status_code == 403
    assert (await api.post(f"{PREFIX}/simulate", json=body, headers=worker)).status_code == 403
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await api.post(f"{PREFIX}/simulate", json=body, headers=bad)).status_code == 401
