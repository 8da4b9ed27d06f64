"""Config as code over HTTP (ACC-3): GET and PUT the whole account as YAML."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Body, Response

from vpbx.api.changes import ConfigChanged
from vpbx.api.crud import ERRORS
from vpbx.api.deps import Service
from vpbx.domain import audit
from vpbx.domain.actor import Role
from vpbx.domain.config_io import export_account, import_account
from vpbx.domain.errors import Forbidden, ValidationFailed
from vpbx.domain.service import Clock, EntityService

YAML = "application/yaml"


def dump_yaml(document: object) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _admin(svc: EntityService) -> None:
    if svc.actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise Forbidden("only an admin exports or imports the configuration (it holds secrets)")


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

    @router.put("", status_code=204)
    async def import_config(
        svc: Service, changed: ConfigChanged, body: Annotated[str, Body(media_type=YAML)]
    ) -> Response:
        """Replace the account configuration with a YAML document (all or nothing)."""
        _admin(svc)
        try:
            document = yaml.safe_load(body)
        except yaml.YAMLError as error:
            raise ValidationFailed.one("(body)", f"not valid YAML: {error}") from None
        if not isinstance(document, dict):
            raise ValidationFailed.one("(body)", "the document must be a YAML mapping")
        await import_account(svc, document)
        changed(svc.account_id)
        return Response(status_code=204)

    return router
