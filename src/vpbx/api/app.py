"""The FastAPI application: /api/v1 with one router per resource and the account-level routes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx import __version__
from vpbx.api import errors
from vpbx.api.audit_routes import audit_router
from vpbx.api.auth_routes import auth_router
from vpbx.api.body_limit import BodyLimit, LimitRule
from vpbx.api.cabinet import CabinetSettings, SipServer, default_web_dir, install_cabinet
from vpbx.api.calendar_routes import calendar_router
from vpbx.api.call_tags import call_tags_router
from vpbx.api.callapi import callapi_router
from vpbx.api.changes import ConfigChanged, NotifyBeforeResponse, OnChange
from vpbx.api.config_routes import config_router
from vpbx.api.crud import ERRORS, resource_router
from vpbx.api.dashboards import dashboards_router
from vpbx.api.deps import Conn, CurrentActor, EntityId, Service
from vpbx.api.file_content import file_content_router
from vpbx.api.leads import leads_router
from vpbx.api.live import LiveSource, live_router
from vpbx.api.operations import SwitchProbe, operations_router
from vpbx.api.record_by_phone import record_by_phone_router
from vpbx.api.reports import calls_report_router, files_list_router
from vpbx.api.simulate import scenario_saved, simulate_router
from vpbx.api.sip_status import sip_status_router
from vpbx.api.webhook_deliveries import webhook_deliveries_router
from vpbx.domain.actor import Role
from vpbx.domain.entities.misc import Account, CallStep
from vpbx.domain.errors import Forbidden
from vpbx.domain.net_policy import Network
from vpbx.metrics import Metrics
from vpbx.services import accounts, reports
from vpbx.services.auth import AuthPolicy, DatabaseThrottle, LoginThrottle
from vpbx.services.callapi import CallApiLimits
from vpbx.services.catalog import CATALOG
from vpbx.services.entities import Clock
from vpbx.services.health import database_name
from vpbx.services.leads import LeadLimits
from vpbx.services.record_by_phone import RecordLimits

PREFIX = "/api/v1"


class AccountOut(Account):
    id: int


class Health(BaseModel):
    status: str
    version: str
    database: str


def _account_routes(clock: Clock) -> APIRouter:
    router = APIRouter(tags=["accounts"], responses=ERRORS)

    @router.get("/account", response_model=AccountOut, summary="The caller's own account settings")
    async def own_account(conn: Conn, who: CurrentActor) -> dict[str, Any]:
        if who.account_id is None:
            raise Forbidden("no account chosen (operators pass X-Account-Id)")
        return await accounts.get_account(conn, who.account_id)

    @router.put("/account", response_model=AccountOut, summary="Replace the own account settings")
    async def put_own_account(
        body: Account, conn: Conn, who: CurrentActor, changed: ConfigChanged
    ) -> dict[str, Any]:
        if who.account_id is None or who.role not in (Role.ADMIN, Role.OPERATOR):
            raise Forbidden("only an admin changes account settings")
        await accounts.replace_account(conn, who.account_id, body, clock(), actor=who)
        changed(who.account_id)
        return await accounts.get_account(conn, who.account_id)

    @router.get("/accounts", response_model=list[AccountOut], summary="All accounts (operator)")
    async def list_accounts(conn: Conn, who: CurrentActor) -> list[dict[str, Any]]:
        return await accounts.list_accounts(conn, who)

    @router.post(
        "/accounts", response_model=AccountOut, status_code=201, summary="New account (operator)"
    )
    async def create_account(body: Account, conn: Conn, who: CurrentActor) -> dict[str, Any]:
        if who.role is not Role.OPERATOR:
            raise Forbidden("only the installation operator creates accounts")
        return await accounts.get_account(conn, await accounts.create_account(conn, body, clock()))

    @router.delete(
        "/accounts/{account_id}", status_code=204, summary="Delete an account (operator)"
    )
    async def delete_account(
        account_id: EntityId, conn: Conn, who: CurrentActor, changed: ConfigChanged
    ) -> Response:
        await accounts.delete_account(conn, who, account_id)
        changed(account_id)
        return Response(status_code=204)

    @router.get("/calls/{call_id}/details", response_model=list[CallStep], tags=["calls"])
    async def call_details(call_id: EntityId, svc: Service) -> list[dict[str, Any]]:
        """CDR-2: every step of the call with the engine's reasons, in order (times in UTC)."""
        return await reports.call_steps(svc, call_id)

    return router


def create_api(
    engine: AsyncEngine,
    clock: Clock,
    files_dir: Path | None = None,
    on_change: OnChange | None = None,
    *,
    switch: SwitchProbe | None = None,
    metrics: Metrics | None = None,
    auth_policy: AuthPolicy | None = None,
    login_throttle: LoginThrottle | None = None,
    max_body: int = 1_048_576,
    max_import_body: int = 33_554_432,
    allow_networks: Sequence[Network] = (),
    cabinet: CabinetSettings | None = None,
    callapi: CallApiLimits | None = None,
    leads: LeadLimits | None = None,
    record_by_phone: RecordLimits | None = None,
    live: LiveSource | None = None,
) -> FastAPI:
    """The API app. `on_change(account_id)` is called after every committed write that changes
    an account's configuration (see `vpbx.api.changes`), e.g. to drop the switch's cached copy.
    `switch`: what /health and /metrics ask about the switch (None: an API alone, e.g. tests);
    `metrics`: this process's counters (`app.state.metrics`, the `AppMetrics` dependency).
    `auth_policy`: token lifetimes and login limits; `login_throttle`: where failed logins are
    counted (default: the database, shared by every worker).
    `max_body`, `max_import_body`: request body limits (413 beyond; `vpbx.api.body_limit`);
    `allow_networks`: inside networks the server may fetch URLs from (the SSRF guard), also
    what a saved CRM or webhook URL may name.
    `cabinet`: where the built web cabinet is and the SIP server its line cards show
    (`vpbx.api.cabinet`; default: web/dist of the source tree, 127.0.0.1:5060).
    `leads`: the per-source limit of `POST /leads/incoming` (CB-4).
    `callapi`: the limits of `POST /calls` (API-1); `record_by_phone`: of
    `POST /files/recordings-by-phone` (FILE-1).
    `live`: the switch's live feed of calls (CDR-4, `vpbx.api.live`; None: never reachable).
    """
    app = FastAPI(
        title="vpbx API",
        version=__version__,
        description="REST API of vpbx, a multi-tenant virtual PBX (Виртуальная АТС).",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.on_change = on_change
    app.state.metrics = metrics if metrics is not None else Metrics(namespace="vpbx_api")
    app.state.auth_policy = auth_policy or AuthPolicy()
    # In the database by default: with several uvicorn workers each must see every failure.
    app.state.login_throttle = login_throttle or DatabaseThrottle(engine, app.state.auth_policy)
    app.state.allow_networks = tuple(allow_networks)
    errors.install(app)
    # Committed configuration changes are told to `on_change` before the client's answer.
    app.add_middleware(NotifyBeforeResponse)
    # Bodies are limited before any route reads them; the audio upload streams to disk under
    # its own rule (`file_content`, 413 audio.too_large), the import may be large.
    app.add_middleware(
        BodyLimit,
        default=max_body,
        rules=[
            LimitRule("PUT", f"{PREFIX}/config", max_import_body),
            LimitRule("PUT", f"{PREFIX}/files/[0-9]+/content", None),
        ],
    )

    @app.get(f"{PREFIX}/health", response_model=Health, tags=["health"])
    async def health(conn: Conn) -> Health:
        return Health(status="ok", version=__version__, database=await database_name(conn))

    app.include_router(operations_router(switch))
    app.include_router(auth_router(clock), prefix=PREFIX)
    app.include_router(audit_router(clock), prefix=PREFIX)
    app.include_router(_account_routes(clock), prefix=PREFIX)
    app.include_router(config_router(clock), prefix=PREFIX)
    app.include_router(sip_status_router(clock), prefix=PREFIX)
    app.include_router(calendar_router(), prefix=PREFIX)
    content_dir = files_dir if files_dir is not None else Path("var/files").resolve()
    app.include_router(file_content_router(content_dir, clock), prefix=PREFIX)
    app.include_router(simulate_router(clock), prefix=PREFIX)
    # Before the generic routers: their lists are replaced, and /calls/export.csv must not be
    # taken for /calls/{entity_id}.
    app.include_router(calls_report_router(), prefix=PREFIX)
    app.include_router(dashboards_router(), prefix=PREFIX)
    app.include_router(callapi_router(clock, callapi or CallApiLimits()), prefix=PREFIX)
    app.include_router(leads_router(clock, leads or LeadLimits()), prefix=PREFIX)
    app.include_router(call_tags_router(), prefix=PREFIX)
    app.include_router(files_list_router(), prefix=PREFIX)
    app.include_router(
        record_by_phone_router(clock, record_by_phone or RecordLimits()), prefix=PREFIX
    )
    app.include_router(webhook_deliveries_router(), prefix=PREFIX)
    app.include_router(live_router(live), prefix=PREFIX)
    dedicated_lists = {"calls", "files"}
    for res in CATALOG:
        after_save = scenario_saved() if res.name == "scenarios" else None
        router = resource_router(res, after_save, list_route=res.name not in dedicated_lists)
        app.include_router(router, prefix=PREFIX)
    # Last: the single-page app answers every GET outside /api that no route above took.
    install_cabinet(app, PREFIX, cabinet or _default_cabinet())
    return app


def _default_cabinet() -> CabinetSettings:
    sip = SipServer(host="127.0.0.1", port=5060, tls_port=None, realm="vpbx")
    return CabinetSettings(web_dir=default_web_dir(), sip=sip)
