"""SIP-2: the registration state of SIP lines, as the registrar last saw it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, EntityId, Service
from vpbx.domain.service import Clock
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware


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


def sip_status_router(clock: Clock) -> APIRouter:
    router = APIRouter(tags=["sip-lines"], responses=ERRORS)

    @router.get("/sip-lines/{entity_id}/registration", response_model=Registration)
    async def registration(entity_id: EntityId, svc: Service, conn: Conn) -> Registration:
        """«не зарегистрирован» / «зарегистрирован», with contact and user agent."""
        line = (await svc.get("sip-lines", entity_id)).model_dump()
        query = sa.select(t.sip_registrations).where(t.sip_registrations.c.sip_line_id == entity_id)
        now = clock()
        bindings = [
            Binding(
                contact=row["contact"],
                user_agent=row["user_agent"],
                source=row["source"],
                expires_at=utc_aware(row["expires_at"]),
            )
            for row in (await conn.execute(query)).mappings().all()
            if utc_aware(row["expires_at"]) > now
        ]
        registered = bool(bindings)
        return Registration(
            line_id=entity_id,
            login=line["login"],
            registered=registered,
            state="зарегистрирован / registered"
            if registered
            else "не зарегистрирован / not registered",
            bindings=bindings,
        )

    return router
