"""Config as code over HTTP (ACC-3): GET and PUT the whole account as YAML, safely.

`PUT /config` keeps the sections a document omits unless `replace_missing=true`, answers what
it changes per section, and with `dry_run=true` writes nothing. Each applied import stores the
configuration it replaced: `GET /config/versions` lists them, `POST /config/rollback` restores
one. The YAML is parsed in a worker thread (a 10 MB document takes seconds of CPU) with its
nesting depth and size bounded (`vpbx.services.config_io.parse_document`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, Field

from vpbx.api.changes import ConfigChanged
from vpbx.api.crud import ERRORS
from vpbx.api.deps import MAX_ID, EntityId, Service
from vpbx.domain.actor import Role
from vpbx.domain.errors import Forbidden
from vpbx.services import audit
from vpbx.services.config_io import (
    ImportResult,
    apply_import,
    export_account,
    list_versions,
    parse_document,
    version_document,
)
from vpbx.services.config_secrets import mask_export
from vpbx.services.entities import Clock, EntityService

YAML = "application/yaml"


def dump_yaml(document: object) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _admin(svc: EntityService) -> None:
    if svc.actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise Forbidden("only an admin exports or imports the configuration (it holds secrets)")


class SectionChangeOut(BaseModel):
    created: list[int] = Field(description="entry ids of the document that are new")
    changed: list[int] = Field(description="entry ids whose content differs")
    deleted: list[int] = Field(description="entry ids of the current configuration removed")
    kept: bool = Field(description="the document omitted the section and it was left as it is")


class ImportOut(BaseModel):
    dry_run: bool
    replace_missing: bool
    kept: list[str] = Field(description="sections the document omitted, left as they are")
    account_changed: bool
    sections: dict[str, SectionChangeOut]
    version_id: int | None = Field(
        description="the stored previous configuration (POST /config/rollback restores it)"
    )


class VersionOut(BaseModel):
    id: int
    created_at: dt.datetime
    user_id: int | None
    source: str = Field(description="`import` or `rollback`: what replaced this version")
    size: int = Field(description="characters of its YAML")


class RollbackIn(BaseModel):
    version_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="the version to restore; default: the newest"
    )


def _out(result: ImportResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def config_router(clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/config", tags=["config"], responses=ERRORS)

    @router.get("", response_class=Response, responses={200: {"content": {YAML: {}}}})
    async def export_config(svc: Service, reveal_secrets: bool = False) -> Response:
        """The whole account configuration as YAML; secrets masked unless `reveal_secrets`
        (which the audit log records). A masked document imports back keeping the secrets."""
        _admin(svc)
        document = await export_account(svc, reveal_secrets=reveal_secrets)
        if reveal_secrets:
            await audit.record(svc.conn, svc.actor, clock(), "config", None, "reveal")
        return Response(dump_yaml(document), media_type=YAML)

    @router.put("", response_model=ImportOut)
    async def import_config(
        svc: Service,
        changed: ConfigChanged,
        body: Annotated[str, Body(media_type=YAML)],
        dry_run: Annotated[
            bool, Query(description="answer the changes per section, write nothing")
        ] = False,
        replace_missing: Annotated[
            bool,
            Query(description="empty the sections the document omits (default: keep them)"),
        ] = False,
    ) -> dict[str, Any]:
        """Import a YAML document into the account (all or nothing), answering what it changes.

        Sections the document omits are left as they are unless `replace_missing=true`."""
        _admin(svc)
        # Parsing a large document takes seconds of CPU: not on the event loop.
        document = await asyncio.to_thread(parse_document, body)
        result = await apply_import(svc, document, dry_run=dry_run, replace_missing=replace_missing)
        if not dry_run:
            changed(svc.account_id)
        return _out(result)

    @router.get("/versions", response_model=list[VersionOut])
    async def config_versions(svc: Service) -> list[dict[str, Any]]:
        """The configurations replaced by imports, newest first (kept for rollback)."""
        return await list_versions(svc)

    @router.get(
        "/versions/{version_id}", response_class=Response, responses={200: {"content": {YAML: {}}}}
    )
    async def config_version(svc: Service, version_id: EntityId) -> Response:
        """One stored version as YAML, its secrets masked as in GET /config (a masked document
        imports back keeping the stored secrets)."""
        _, text = await version_document(svc, version_id)
        document = await asyncio.to_thread(parse_document, text)
        return Response(dump_yaml(mask_export(document)), media_type=YAML)

    @router.post("/rollback", response_model=ImportOut)
    async def rollback_config(
        svc: Service, changed: ConfigChanged, body: RollbackIn | None = None
    ) -> dict[str, Any]:
        """Restore a stored version (default: the newest); what it replaces becomes a version."""
        _, text = await version_document(svc, body.version_id if body is not None else None)
        document = await asyncio.to_thread(parse_document, text)
        result = await apply_import(svc, document, replace_missing=True, source="rollback")
        changed(svc.account_id)
        return _out(result)

    return router
