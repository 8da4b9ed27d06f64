"""`POST /calls` (API-1 CallAPI): start an "employee → number" or a "number → scenario" call
(`scenario_id`); answered 202 at once with
the call's id. The API and the switch are separate processes (and there may be several switch
nodes): the request writes the call's row and a task in its transaction; a node's scheduler
claims the task within a second and places the call (`vpbx.services.callapi`). Progress is
`GET /calls/{id}` (status `active` until it ends, then answered/missed/failed) and the call's
webhooks (`call_started` at once, then answered/ended)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, CurrentActor
from vpbx.api.errors import ErrorBody
from vpbx.services.callapi import CallApiLimits, CallRequest, StartedCall, start_call
from vpbx.services.entities import Clock

__all__ = ["callapi_router"]


def callapi_router(clock: Clock, limits: CallApiLimits) -> APIRouter:
    router = APIRouter(prefix="/calls", tags=["calls"], responses=ERRORS)

    @router.post(
        "",
        status_code=202,
        response_model=StartedCall,
        summary="CallAPI: call an employee, then a number (click-to-call), or a number, then "
        "a scenario",
        description="API-1 «сотрудник → номер»: the employee (`employee_id` or `extension`) is "
        "called first on his phones; when he answers he hears «звонок через CallAPI» and "
        "`number` is dialled through the trunk, showing `caller_id` or the number the "
        "caller-ID rules of his SIP line choose; when the client answers they talk. "
        "«номер → сценарий» (`scenario_id` instead of the employee): `number` is dialled first, "
        "showing `caller_id` or the first number whose rules lead to the scenario (else the "
        "account's first) that the caller-ID rules allow; when he answers the scenario runs "
        "with him as its caller (its forwards queue where «Очередь» is on, QUE-6). Answered "
        "202 at once with the call's id (`Location: /api/v1/calls/{id}`); follow it with "
        "`GET /calls/{id}` and `GET /calls/{id}/details`, or by the account's webhooks. 422 "
        "names the field: `employee_id`/`extension`/`scenario_id` unknown, `number` refused by "
        "the toll-fraud policy, `caller_id` not the account's or denied by the caller-ID rules "
        "(also the line's own number when it is denied, or every number for a scenario). 429 "
        "past the account's CallAPI calls per minute, with `Retry-After`. An employee user may "
        "call only as himself (no scenario calls).",
        responses={
            202: {"description": "accepted: the call is being placed"},
            429: {
                "model": ErrorBody,
                "description": "too many CallAPI calls this minute; `Retry-After` says when",
            },
        },
    )
    async def start(body: CallRequest, conn: Conn, who: CurrentActor) -> Any:
        started = await start_call(conn, who, body, clock(), limits)
        return JSONResponse(
            started.model_dump(),
            status_code=202,
            headers={"Location": f"/api/v1/calls/{started.id}"},
        )

    return router
