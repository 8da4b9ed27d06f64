"""Interactive processing over HTTP (IVX-1): executes the engine's `HttpRequest` with httpx and
answers an `HttpResponse` event. Never raises: a timeout or a network error becomes
`HttpResponse(error=...)`, which the engine turns into its fallback exit (IVX-3).
"""

from __future__ import annotations

import httpx

from vpbx.scenario.actions import HttpRequest
from vpbx.scenario.events import HttpResponse

__all__ = ["CrmClient"]

MAX_BODY = 64 * 1024


class CrmClient:
    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self._own = client is None

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
            if request.method == "POST":
                response = await client.post(request.url, data=params, timeout=request.timeout)
            else:
                response = await client.get(request.url, params=params, timeout=request.timeout)
        except httpx.TimeoutException:
            return HttpResponse(request.request_id, error=f"timeout after {request.timeout:g} s")
        except httpx.HTTPError as error:
            return HttpResponse(request.request_id, error=f"{type(error).__name__}: {error}")
        return HttpResponse(request.request_id, response.status_code, response.text[:MAX_BODY])
