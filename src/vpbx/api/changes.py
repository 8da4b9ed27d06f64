"""Telling the switch that an account's configuration changed, once the change is committed.

`create_api(on_change=...)` keeps the callback in `app.state.on_change`. A route that changed the
configuration calls the `ConfigChanged` dependency with the account id; the callback runs as a
background task of the response, i.e. after the request's transaction was committed (the
connection dependency ends before the response is sent) and only when the route succeeded
(an error response carries no background tasks). It runs on the server's event loop; an
exception in it is logged, never sent to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request

__all__ = ["ConfigChanged", "OnChange"]

log = logging.getLogger("vpbx.api.changes")

#: called with the id of an account whose configuration changed
OnChange = Callable[[int], None]


async def _notify(on_change: OnChange, account_id: int) -> None:
    try:
        on_change(account_id)
    except Exception:
        log.exception("on_change callback failed", extra={"account_id": account_id})


def _changed(request: Request, background: BackgroundTasks) -> OnChange:
    on_change: OnChange | None = getattr(request.app.state, "on_change", None)
    marked: set[int] = set()

    def mark(account_id: int) -> None:
        if on_change is not None and account_id not in marked:
            marked.add(account_id)
            background.add_task(_notify, on_change, account_id)

    return mark


#: `changed(account_id)` after a successful write of that account's configuration
ConfigChanged = Annotated[OnChange, Depends(_changed)]
