"""The audit log (admins), the explicit, audited reveal of a secret and the regeneration of a
SIP line's password."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from vpbx.api.changes import ConfigChanged
from vpbx.api.crud import ERRORS
from vpbx.api.deps import MAX_ID, Conn, CurrentActor, EntityId, Service
from vpbx.services import audit
from vpbx.services.entities import Clock


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    actor_role: str
    user_id: int | None
    user_login: str
    resource: str
    entity_id: int | None
    operation: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


class RevealedSecret(BaseModel):
    id: int
    secrets: dict[str, str]


def audit_router(clock: Clock) -> APIRouter:
    router = APIRouter(responses=ERRORS)

    @router.get("/audit", response_model=AuditPage, tags=["audit"])
    async def read_audit(
        conn: Conn,
        who: CurrentActor,
        resource: str | None = None,
        entity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        since: Annotated[
            dt.datetime | None, Query(alias="from", description="`at >= from` (UTC if naive)")
        ] = None,
        until: Annotated[
            dt.datetime | None, Query(alias="to", description="`at < to` (UTC if naive)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> dict[str, Any]:
        """Every change of the account's configuration, newest first: who, when, what, the
        entity before and after (secrets masked). Admins only."""
        page = await audit.read(
            conn,
            who,
            resource=resource,
            entity_id=entity_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return {"items": page.items, "total": page.total, "limit": limit, "offset": offset}

    for name in sorted(audit.REVEALABLE):
        _reveal_route(router, name)

    @router.post(
        "/sip-lines/{entity_id}/regenerate-secret",
        response_model=RevealedSecret,
        tags=["sip-lines"],
        summary="Generate a new password of a SIP line (admins; audited)",
    )
    async def regenerate(
        entity_id: EntityId, svc: Service, changed: ConfigChanged
    ) -> RevealedSecret:
        """Replaces the line's password with a new generated one and answers it (as
        reveal-secret does); the audit log gets an entry. The phone has to be set up with the
        new password: the old one is refused from its next request on."""
        secrets = await svc.regenerate_secret("sip-lines", entity_id)
        changed(svc.account_id)
        return RevealedSecret(id=entity_id, secrets=secrets)

    return router


def _reveal_route(router: APIRouter, name: str) -> None:
    @router.post(
        f"/{name}/{{entity_id}}/reveal-secret",
        response_model=RevealedSecret,
        tags=[name],
        summary=f"Show the secret of one of {name} (admins; audited)",
    )
    async def reveal(entity_id: EntityId, svc: Service) -> RevealedSecret:
        """Secrets are masked in every other answer; this one shows them and leaves an entry
        in the audit log."""
        return RevealedSecret(id=entity_id, secrets=await svc.reveal(name, entity_id))
