"""`vpbx simulate` (a call through the real engine with a virtual clock) and `vpbx lint`.

    vpbx simulate --number 74950000001 --from 79161234567 --at 2025-03-12T10:00+03:00 \\
        --keys 1 --answer 101
    vpbx lint --account 1 [--scenario 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import NotFound
from vpbx.scenario.lint import LintWarning, lint_account, lint_scenario
from vpbx.services.crm import CrmClient
from vpbx.services.entities import EntityService
from vpbx.services.scenario_config import load_snapshot
from vpbx.services.simulate import (
    SimulationRequest,
    SimulationResult,
    account_of_number,
    format_details,
    simulate,
)
from vpbx.settings import Settings
from vpbx.storage.db import make_async_engine
from vpbx.switch.clock import utc_now

__all__ = ["cmd_lint", "cmd_simulate", "register"]


def _instant(text: str | None) -> dt.datetime:
    if not text:
        return utc_now()
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _run(settings: Settings, work: Any) -> Any:
    async def go() -> Any:
        engine = make_async_engine(settings.resolved_database_url())
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for raw in values or [] for v in raw.split(",") if v)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    request = SimulationRequest(
        number=args.number,
        caller=args.caller,
        at=_instant(args.at),
        keys=args.keys or "",
        answer=_split(args.answer),
        busy=_split(args.busy),
        no_answer=args.no_answer,
        talk_seconds=args.talk,
        crm_url=args.crm,
        crm_response=args.crm_response,
    )

    async def work(conn: AsyncConnection) -> tuple[SimulationResult, Any]:
        account = args.account or await account_of_number(conn, args.number)
        svc = EntityService(conn, Actor(Role.OPERATOR, account), utc_now)
        async with CrmClient() as crm:
            result = await simulate(svc, request, crm)
        config = await load_snapshot(svc)
        return result, config.tz

    result, tz = _run(settings, work)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_details(result, tz))
    return 0


def _show(w: LintWarning) -> str:
    where = f"сценарий #{w.scenario_id}" if w.scenario_id is not None else "номер"
    path = " → ".join(w.path)
    return f"[{w.severity}] {w.code}: {where}: {w.message}" + (
        f"\n    путь: {path}" if path else ""
    )


def cmd_lint(settings: Settings, args: argparse.Namespace) -> int:
    async def work(conn: AsyncConnection) -> list[LintWarning]:
        svc = EntityService(conn, Actor(Role.OPERATOR, args.account), utc_now)
        config = await load_snapshot(svc)
        if args.scenario is None:
            return lint_account(config)
        scenario = config.scenarios.get(args.scenario)
        if scenario is None:
            raise NotFound("scenarios", args.scenario)
        return lint_scenario(scenario, config, args.scenario)

    found: list[LintWarning] = _run(settings, work)
    for w in found:
        print(_show(w))
    lost = [w for w in found if w.severity == "warning"]
    print(f"{len(found)} замечаний, из них {len(lost)} — звонок может быть потерян")
    return 1 if lost else 0


def register(sub: Any) -> None:
    """Add `simulate` and `lint` to the `vpbx` command parser."""
    sim = sub.add_parser("simulate", help="simulate a call through the scenario engine")
    sim.add_argument("--number", required=True, help="the virtual number called")
    sim.add_argument("--from", dest="caller", required=True, help="the caller's number")
    sim.add_argument("--at", help="ISO time of the call (default: now)")
    sim.add_argument("--keys", default="", help="keys pressed; ',' waits for the next prompt")
    sim.add_argument("--answer", action="append", help="extension(s) that answer")
    sim.add_argument("--busy", action="append", help="extension(s) that are busy")
    sim.add_argument("--no-answer", action="store_true", help="nobody answers")
    sim.add_argument("--talk", type=float, default=60.0, help="talk seconds")
    sim.add_argument("--crm", help="CRM URL used instead of the operation's URL")
    sim.add_argument("--crm-response", help="JSON the stub CRM answers (no network)")
    sim.add_argument("--account", type=int, help="account id (default: the number's account)")
    sim.add_argument("--json", action="store_true", help="print the details as JSON")
    sim.set_defaults(func=cmd_simulate)
    lint = sub.add_parser("lint", help="report scenario paths that can lose a call")
    lint.add_argument("--account", type=int, required=True)
    lint.add_argument("--scenario", type=int)
    lint.set_defaults(func=cmd_lint)
