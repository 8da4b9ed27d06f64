"""Interactive processing over HTTP (IVX-1): executes the engine's `HttpRequest` with httpx and
answers an `HttpResponse` event. Never raises: a timeout or a network error becomes
`HttpResponse(error=...)`, which the engine turns into its fallback exit (IVX-3).

Every URL goes through the SSRF guard first (`vpbx.services.net_guard`): a host that resolves to
the installation's own network (loopback, private, link-local, metadata…) is refused unless the
installation allows it (`VPBX_HTTP_ALLOW_NETWORKS`); the refusal is logged with its reason and
the call takes the fallback. The request then goes to the address that was checked.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from vpbx.scenario.actions import HttpRequest
from vpbx.scenario.events import HttpResponse
from vpbx.services.net_guard import NetGuard, UrlRefused

__all__ = ["CrmClient"]

MAX_BODY = 64 * 1024

log = logging.getLogger("vpbx.crm")


class CrmClient:
    def __init__(
        self, client: httpx.AsyncClient | None = None, guard: NetGuard | None = None
    ) -> None:
        self._client = client
        self._own = client is None
        self.guard = guard if guard is not None else NetGuard()

    async def __aenter__(self) -> CrmClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._own and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def execute(self, request: HttpRequest) -> HttpResponse:
        client = self._client
        if client is None:
            raise RuntimeError("use CrmClient as an async context manager")
        params = dict(request.params)
        try:
            # The resolution counts in the operation's timeout like the request itself.
            pinned = await asyncio.wait_for(self.guard.pin(request.url), request.timeout)
        except TimeoutError:
            return HttpResponse(request.request_id, error=f"timeout after {request.timeout:g} s")
        except UrlRefused as refused:
            log.warning(
                "CRM request refused by the SSRF guard",
                extra={"url": request.url, "reason": str(refused)},
            )
            return HttpResponse(request.request_id, error=f"refused: {refused}")
        try:
            if request.method == "POST":
                response = await client.post(
                    pinned.url,
                    data=params,
                    headers=pinned.headers,
                    extensions=pinned.extensions,
                    timeout=request.timeout,
                )
            else:
                response = await client.get(
                    pinned.url,
                    params=params,
                    headers=pinned.headers,
                    extensions=pinned.extensions,
                    timeout=request.timeout,
                )
        except httpx.TimeoutException:
            return HttpResponse(request.request_id, error=f"timeout after {request.timeout:g} s")
        except httpx.HTTPError as error:
            return HttpResponse(request.request_id, error=f"{type(error).__name__}: {error}")
        return HttpResponse(request.request_id, response.status_code, response.text[:MAX_BODY])
