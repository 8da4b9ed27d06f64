"""SIP-2: the registration state of SIP lines, as the registrar last saw it.

"Registered" means the switch rings the line now: an unexpired binding that the switch holds
(it stores each before its 200 and restores them at start, dropping the ones it cannot reach),
and a switch that is running (its heartbeat is recent).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, EntityId, Service
from vpbx.services.entities import Clock
from vpbx.services.registrations import line_bindings, switch_running


class Binding(BaseModel):
    contact: str
    user_agent: str
    source: str
    expires_at: dt.datetime


class Registration(BaseModel):
    line_id: int
    login: str
    registered: bool
    state: str
    bindings: list[Binding]
    #: False: the switch has not been heard from for 10 s (nothing rings); None: never ran
    switch_running: bool | None = None


def sip_status_router(clock: Clock) -> APIRouter:
    router = APIRouter(tags=["sip-lines"], responses=ERRORS)

    @router.get("/sip-lines/{entity_id}/registration", response_model=Registration)
    async def registration(entity_id: EntityId, svc: Service, conn: Conn) -> Registration:
        """«не зарегистрирован» / «зарегистрирован», with contact and user agent."""
        line = (await svc.get("sip-lines", entity_id)).model_dump()
        now = clock()
        bindings = [
            Binding(
                contact=b.contact,
                user_agent=b.user_agent,
                source=b.source,
                expires_at=b.expires_at,
            )
            for b in await line_bindings(conn, entity_id, now)
        ]
        running = await switch_running(conn, now)
        registered = bool(bindings) and running is not False
        if registered:
            state = "зарегистрирован / registered"
        elif bindings:
            state = (
                "не зарегистрирован: АТС не работает / not registered: the switch is not running"
            )
        else:
            state = "не зарегистрирован / not registered"
        return Registration(
            line_id=entity_id,
            login=line["login"],
            registered=registered,
            state=state,
            bindings=bindings,
            switch_running=running,
        )

    return router
