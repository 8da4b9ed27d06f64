"""Operations: `/health` for load balancers and `/metrics` for Prometheus, at the root of the API.

Under `vpbx run` calls live in the switch process: /health asks the switch's own status
endpoint (`vpbx.switch.status`) with a short deadline and answers 503 when it does not answer,
so a balancer stops sending work to a node whose switch is down or stalled. /metrics is this
API's counters (all workers) followed by the switch's. In one process (the tests' composition)
the switch is asked directly.

`AppMetrics` is the dependency a route uses to count, e.g. `metrics.security_event("...")`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from vpbx import __version__
from vpbx.api.deps import Conn
from vpbx.metrics import CONTENT_TYPE, Metrics
from vpbx.services.health import database_name

__all__ = ["AppMetrics", "LocalSwitch", "RemoteSwitch", "SwitchProbe", "operations_router"]

#: seconds the switch has to answer /health: a loop later than that is failing its calls
PROBE_TIMEOUT = 1.0


class SwitchProbe(Protocol):
    async def health(self) -> dict[str, Any] | None:
        """The switch's health report; None when it does not answer."""
        ...

    async def metrics(self) -> bytes:
        """The switch's Prometheus text (empty when it does not answer or is already counted)."""
        ...


class RemoteSwitch:
    """The switch process, over its status endpoint (`VPBX_METRICS_HOST`:`VPBX_METRICS_PORT`)."""

    def __init__(self, base_url: str, timeout: float = PROBE_TIMEOUT) -> None:
        self.base_url = base_url
        self.timeout = timeout

    async def _get(self, path: str) -> httpx.Response | None:
        # A client per probe: probes are rare, and a client bound to no loop suits every worker.
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
                response = await client.get(path)
        except httpx.HTTPError:
            return None
        return response if response.status_code == 200 else None

    async def health(self) -> dict[str, Any] | None:
        response = await self._get("/health")
        if response is None:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def metrics(self) -> bytes:
        response = await self._get("/metrics")
        return response.content if response is not None else b""


class LocalSwitch:
    """The switch in the same process: its registry is the API's own (nothing to add)."""

    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self._health = health

    async def health(self) -> dict[str, Any] | None:
        return {"status": "ok", "pid": os.getpid(), **self._health()}

    async def metrics(self) -> bytes:
        return b""


class ApiHealth(BaseModel):
    pid: int
    database: str


class HealthReport(BaseModel):
    status: str  # "ok", or "switch_down" (503)
    version: str
    api: ApiHealth
    #: the switch's own report (pid, calls, registrations, loop lag…); null when it does not
    #: answer or when this API runs without a switch
    switch: dict[str, Any] | None


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


#: the process's counters, for a route to increment
AppMetrics = Annotated[Metrics, Depends(_metrics)]


def operations_router(switch: SwitchProbe | None) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/health",
        response_model=HealthReport,
        summary="For load balancers: 200 when the API, its database and the switch answer",
        responses={503: {"model": HealthReport, "description": "the switch does not answer"}},
    )
    async def health(conn: Conn) -> JSONResponse:
        database = await database_name(conn)
        report = await switch.health() if switch is not None else None
        up = switch is None or report is not None
        body = HealthReport(
            status="ok" if up else "switch_down",
            version=__version__,
            api=ApiHealth(pid=os.getpid(), database=database),
            switch=report,
        )
        return JSONResponse(body.model_dump(), status_code=200 if up else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(own: AppMetrics) -> Response:
        text = own.exposition()
        if switch is not None:
            text += await switch.metrics()
        return Response(text, media_type=CONTENT_TYPE)

    return router
