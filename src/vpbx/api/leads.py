"""`POST /leads/incoming` (CB-4 «Автоперезвон по заявкам»): a web lead arrives; it is stored
and, by the account's lead rules, a callback task is made for a switch node to place
(`vpbx.services.leads`). The catalogue's `/leads` routes list and edit the stored leads; only an
arrival here is called back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, CurrentActor
from vpbx.api.errors import ErrorBody
from vpbx.services.entities import Clock
from vpbx.services.leads import AcceptedLead, IncomingLead, LeadLimits, accept_lead

__all__ = ["leads_router"]


def leads_router(clock: Clock, limits: LeadLimits) -> APIRouter:
    router = APIRouter(prefix="/leads", tags=["leads"], responses=ERRORS)

    @router.post(
        "/incoming",
        status_code=201,
        response_model=AcceptedLead,
        summary="A web lead arrives: store it and call it back by the lead rules (CB-4)",
        description="CB-4: the lead (`phone`, `name`, `comment`, `source`, `site`) is stored "
        "(`Location: /api/v1/leads/{id}`) and the account's lead-callback rules are tried in "
        "order: the first enabled one whose source and «когда действует правило» schedule match "
        "makes a callback task (`task_id`), placed by a switch node within its «когда "
        "перезванивать» schedule: the employee first, then the lead's phone. No task (and the "
        "reason) when lead callback is switched off, no rule matches, or the phone already "
        "waits for a callback. 422 names the field. 429 with `Retry-After` past the limit of "
        "leads per minute of one source (the same `source` and `site`). Admins and the operator "
        "(with `X-Account-Id`).",
        responses={
            201: {"description": "the lead is stored; `task_id` is its callback, or null"},
            429: {
                "model": ErrorBody,
                "description": "too many leads from this source this minute; `Retry-After`",
            },
        },
    )
    async def incoming(body: IncomingLead, conn: Conn, who: CurrentActor) -> Any:
        accepted = await accept_lead(conn, who, body, clock(), limits)
        return JSONResponse(
            accepted.model_dump(),
            status_code=201,
            headers={"Location": f"/api/v1/leads/{accepted.lead_id}"},
        )

    return router
