"""`POST /simulate` (a call through the real engine, virtual clock) and the scenario linter routes.

The linter's warnings come with every save of a scenario (`warnings` beside the stored document
in the answer of POST/PUT/PATCH), and on demand: `GET /scenarios/{id}/lint` for a stored
scenario and `POST /scenarios/lint` for a draft, before saving it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, create_model

from vpbx.api.crud import ERRORS, AfterSave
from vpbx.api.deps import EntityId, Service
from vpbx.domain.actor import Role
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.errors import Forbidden
from vpbx.domain.fields import PlausibleTime, check_url_field
from vpbx.scenario.lint import lint_number, lint_scenario
from vpbx.services.catalog import BY_NAME
from vpbx.services.crm import CrmClient
from vpbx.services.entities import Clock, EntityService
from vpbx.services.net_guard import NetGuard
from vpbx.services.scenario_config import load_snapshot
from vpbx.services.simulate import SimulationRequest, simulate

__all__ = ["simulate_router"]

READERS = {Role.OPERATOR, Role.ADMIN, Role.SUPERVISOR}


class SimulateIn(BaseModel):
    number: str = Field(min_length=3, max_length=32, description="the virtual number called")
    caller: str = Field(min_length=1, max_length=32, description="the caller's number")
    at: PlausibleTime | None = Field(None, description="time of the call (default: now)")
    keys: str = Field("", max_length=200, pattern=r"^[0-9*#,]*$")
    answer: list[str] = Field([], description="extensions that answer")
    busy: list[str] = Field([], description="extensions that are busy")
    no_answer: bool = False
    talk_seconds: float = Field(60, ge=1, le=36000)
    crm_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2000)
    crm_response: str | None = Field(None, max_length=65536, description="stub CRM JSON")


class StepOut(BaseModel):
    at: dt.datetime
    kind: str
    text: str
    data: dict[str, Any]


class SimulateOut(BaseModel):
    outcome: str
    status: str
    rating: int | None
    answered_by: int | None
    steps: list[StepOut]
    actions: list[str]


class LintOut(BaseModel):
    code: str
    message: str
    scenario_id: int | None
    operation: str | None
    path: list[str]
    severity: str


async def scenario_warnings(svc: EntityService, scenario_id: int) -> list[dict[str, object]]:
    """SCN-LINT for a stored scenario and the number rules that use it."""
    config = await load_snapshot(svc)
    found = lint_scenario(config.scenarios[scenario_id], config, scenario_id)
    for _, (_, number) in sorted(config.numbers.items()):
        if any(r.scenario_id == scenario_id for r in number.rules):
            found += lint_number(number, config)
    return [w.as_dict() for w in found]


def scenario_saved() -> tuple[type[BaseModel], AfterSave]:
    """A saved scenario is answered with its lost-call warnings beside it (SCN-LINT)."""
    model = create_model(
        "ScenarioSaved", __base__=BY_NAME["scenarios"].out, warnings=(list[LintOut], [])
    )

    async def after_save(svc: EntityService, saved: BaseModel) -> dict[str, Any]:
        body = saved.model_dump(mode="json")
        body["warnings"] = await scenario_warnings(svc, int(body["id"]))
        return body

    return model, after_save


def _readers_only(svc: EntityService) -> None:
    if svc.actor.role not in READERS:
        raise Forbidden(f"role {svc.actor.role.value} may not read scenarios")


def simulate_router(clock: Clock) -> APIRouter:
    router = APIRouter(tags=["scenarios"], responses=ERRORS)

    @router.post("/simulate", response_model=SimulateOut, summary="Simulate a call (CDR-2 steps)")
    async def simulate_call(body: SimulateIn, svc: Service, http: Request) -> dict[str, Any]:
        _readers_only(svc)
        if body.crm_url is not None and svc.actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise Forbidden("only an admin may point the simulation at another CRM URL")
        allow = http.app.state.allow_networks
        if body.crm_url is not None:
            check_url_field("crm_url", body.crm_url, allow)
        at = body.at or clock()
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        request = SimulationRequest(
            number=body.number,
            caller=body.caller,
            at=at,
            keys=body.keys,
            answer=tuple(body.answer),
            busy=tuple(body.busy),
            no_answer=body.no_answer,
            talk_seconds=body.talk_seconds,
            crm_url=body.crm_url,
            crm_response=body.crm_response,
        )
        async with CrmClient(guard=NetGuard(allow)) as crm:
            result = await simulate(svc, request, crm)
        return result.as_dict()

    @router.get(
        "/scenarios/{scenario_id}/lint",
        response_model=list[LintOut],
        summary="Lost-call warnings of a stored scenario (SCN-LINT)",
    )
    async def lint_stored(scenario_id: EntityId, svc: Service) -> list[dict[str, object]]:
        _readers_only(svc)
        await svc.get("scenarios", scenario_id)
        return await scenario_warnings(svc, scenario_id)

    @router.post(
        "/scenarios/lint",
        response_model=list[LintOut],
        summary="Lost-call warnings of a scenario draft, before saving it (SCN-LINT)",
    )
    async def lint_draft(body: Scenario, svc: Service) -> list[dict[str, object]]:
        _readers_only(svc)
        config = await load_snapshot(svc)
        return [w.as_dict() for w in lint_scenario(body, config)]

    return router
