"""Telling the switch that an account's configuration changed, once the change is committed.

`create_api(on_change=...)` keeps the callback in `app.state.on_change`. A route that changed the
configuration calls the `ConfigChanged` dependency with the account id; the id is remembered in
the request and `NotifyBeforeResponse` calls the callback when the response starts: after the
request's transaction was committed (the connection dependency ends when the route returns,
before the response is sent), only when the route succeeded (status below 400), and before the
client has its answer. So a client that saved a change and places a call at once gets the new
configuration: with the call-back run after the response (a background task, as before) a quick
client could beat the notification to the switch. The callback must be quick (it sends a
datagram, or drops an in-process cache); an exception in it is logged, never sent to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ConfigChanged", "NotifyBeforeResponse", "OnChange"]

log = logging.getLogger("vpbx.api.changes")

#: called with the id of an account whose configuration changed
OnChange = Callable[[int], None]

#: where a request keeps the accounts it changed (in its ASGI scope)
_MARKED = "vpbx.changed_accounts"


def _notify(on_change: OnChange, account_id: int) -> None:
    try:
        on_change(account_id)
    except Exception:
        log.exception("on_change callback failed", extra={"account_id": account_id})


def _changed(request: Request) -> OnChange:
    on_change: OnChange | None = getattr(request.app.state, "on_change", None)
    marked: list[int] = request.scope.setdefault(_MARKED, [])

    def mark(account_id: int) -> None:
        if on_change is not None and account_id not in marked:
            marked.append(account_id)

    return mark


#: `changed(account_id)` after a successful write of that account's configuration
ConfigChanged = Annotated[OnChange, Depends(_changed)]


class NotifyBeforeResponse:
    """Pure ASGI middleware: the accounts a successful request changed are told to `on_change`
    as its response starts (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_after_telling(message: Message) -> None:
            if message["type"] == "http.response.start":
                marked: list[int] = scope.get(_MARKED) or []
                on_change: OnChange | None = getattr(scope["app"].state, "on_change", None)
                if marked and on_change is not None and message["status"] < 400:
                    for account_id in marked:
                        _notify(on_change, account_id)
                marked.clear()
            await send(message)

        await self.app(scope, receive, send_after_telling)
