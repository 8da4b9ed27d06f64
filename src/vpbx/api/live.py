"""CDR-4: the live view of current calls and employee states, as Server-Sent Events.

`GET /live/events` relays the switch's live feed (`vpbx.switch.live_feed`, a unix socket of
the switch process) for the viewer's account: first a `snapshot` event (the current calls, the
employees' states, and the account's employees with whether their phones are registered), then
`call`, `ended` and `employee` events as they happen, each with the account's sequence number
as its SSE `id`. A client that reconnects with `Last-Event-ID` (or `since`) gets what it missed
when the switch still has it, else a fresh snapshot: it never applies an event twice.

A browser's `EventSource` cannot send the `Authorization` header: the cabinet asks
`POST /live/link` (with its bearer token) for a link valid one minute, as the file player does.
An employee (role employee) sees the calls that ring him or that he talks in and his own state
only, as in the calls report; the other roles see the whole account's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from vpbx.api.crud import ERRORS
from vpbx.api.deps import MAX_ID, Conn, CurrentActor, actor, bearer
from vpbx.api.deps import clock as request_clock
from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError
from vpbx.domain.live import EmployeeView, encode
from vpbx.services.live import issue_live_link, live_link_actor, staff

__all__ = ["LiveSource", "LiveStream", "UnixLiveSource", "live_router"]

log = logging.getLogger("vpbx.api.live")

#: a comment line this often keeps proxies from closing a quiet stream
KEEPALIVE = 15.0
#: one line of the switch's feed (a snapshot of many calls is one line)
MAX_LINE = 8 * 1024 * 1024


class LiveStream(Protocol):
    async def next(self, wait: float) -> dict[str, Any] | None:
        """The next message; None when none came within `wait` seconds; EOFError when it ended."""
        ...

    def close(self) -> None: ...


class LiveSource(Protocol):
    async def open(self, account_id: int, since: int | None) -> LiveStream:
        """Subscribed to the account's live feed; OSError when the switch is not there."""
        ...


class _UnixStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def next(self, wait: float) -> dict[str, Any] | None:
        try:
            line = await asyncio.wait_for(self.reader.readline(), wait)
        except TimeoutError:
            return None
        if not line:
            raise EOFError
        message: dict[str, Any] = json.loads(line)
        return message

    def close(self) -> None:
        self.writer.close()


class UnixLiveSource:
    """The switch's live feed on its unix socket (`<data_dir>/switch-live.sock`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self, account_id: int, since: int | None) -> LiveStream:
        reader, writer = await asyncio.open_unix_connection(str(self.path), limit=MAX_LINE)
        writer.write(encode({"account_id": account_id, "since": since}))
        await writer.drain()
        return _UnixStream(reader, writer)


class LiveLinkOut(BaseModel):
    """`url` (relative to the server) opens the live view without a bearer token until
    `expires_at`; the stream, once open, stays open."""

    url: str
    expires_at: dt.datetime


class BadLiveLink(DomainError):
    error_id = "live_link.invalid"
    status = 401


def _viewer(who: Actor) -> Actor:
    if who.account_id is None:
        raise HTTPException(403, "the live view is an account's: choose one (X-Account-Id)")
    if who.role is Role.EMPLOYEE and who.employee_id is None:
        raise HTTPException(403, "a cabinet user without an employee has no calls to see")
    return who


async def _live_actor(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    link: Annotated[
        str | None,
        Query(max_length=200, description="a link from `POST /live/link` (no bearer)"),
    ] = None,
    x_account_id: Annotated[int | None, Header(ge=1, le=MAX_ID)] = None,
) -> Actor:
    if link is None:
        return await actor(conn, request, credentials, x_account_id)
    found = await live_link_actor(conn, link, request_clock(request)())
    if found is None:
        raise BadLiveLink(
            "ссылка на просмотр звонков недействительна или устарела / "
            "the live view link is not valid or expired"
        )
    return found


def _resume(since: int | None, last_event_id: str | None) -> int | None:
    if since is not None:
        return since
    if last_event_id is not None and last_event_id.isdigit() and len(last_event_id) < 19:
        return int(last_event_id)
    return None


def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return f"id: {message['seq']}\nevent: {message['type']}\ndata: {data}\n\n".encode()


def live_router(source: LiveSource | None) -> APIRouter:
    router = APIRouter(tags=["live"], responses=ERRORS)

    @router.post("/live/link", response_model=LiveLinkOut, summary="A link to open the live view")
    async def link(
        request: Request,
        conn: Conn,
        who: CurrentActor,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> LiveLinkOut:
        """A link to `GET /live/events?link=…` for a browser's `EventSource` (which cannot send
        the `Authorization` header), valid for one minute; it ends with the session."""
        _viewer(who)
        assert credentials is not None  # CurrentActor refused the request without one
        issued = await issue_live_link(conn, credentials.credentials, who, request_clock(request)())
        base = request.url.path.removesuffix("/link")
        return LiveLinkOut(url=f"{base}/events?link={issued.token}", expires_at=issued.expires_at)

    @router.get(
        "/live/events",
        response_class=StreamingResponse,
        summary="Current calls and employee states (Server-Sent Events)",
        responses={
            200: {
                "description": "`text/event-stream`: `snapshot`, then `call`, `ended`, "
                "`employee` events, each with its sequence number as `id`; or, when the "
                "switch is not reachable, one `unavailable` event, and the stream ends",
                "content": {"text/event-stream": {}},
            },
        },
    )
    async def events(
        request: Request,
        conn: Conn,
        who: Annotated[Actor, Depends(_live_actor)],
        since: Annotated[
            int | None,
            Query(ge=0, le=MAX_ID, description="the last sequence number seen (Last-Event-ID)"),
        ] = None,
        last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    ) -> StreamingResponse:
        """Authorised by the bearer token or by `link` (from `POST /live/link`)."""
        viewer = _viewer(who)
        assert viewer.account_id is not None
        only = viewer.employee_id if viewer.role is Role.EMPLOYEE else None
        members = await staff(conn, viewer.account_id, request_clock(request)(), only)
        body: AsyncIterator[bytes]
        try:
            if source is None:
                raise FileNotFoundError("no live feed configured")
            # an employee's view starts afresh (`EmployeeView`): no resume
            resume = _resume(since, last_event_id) if only is None else None
            stream = await source.open(viewer.account_id, resume)
        except OSError as error:
            log.info("live feed not reachable", extra={"error": str(error)})
            body = _unavailable()
        else:
            view = EmployeeView(only) if only is not None else None
            body = _relay(stream, [asdict(m) for m in members], view)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _unavailable() -> AsyncIterator[bytes]:
    # A stream that ends rather than a 503: the client retries as after any lost stream.
    data = json.dumps({"message": "нет связи с АТС / the switch is not reachable"})
    yield f"retry: 1000\nevent: unavailable\ndata: {data}\n\n".encode()


async def _relay(
    stream: LiveStream, members: list[dict[str, Any]], view: EmployeeView | None
) -> AsyncIterator[bytes]:
    try:
        while True:
            try:
                message = await stream.next(KEEPALIVE)
            except (EOFError, ConnectionError, ValueError):
                return  # the switch went away: the client reconnects
            if message is None:
                yield b": keepalive\n\n"
                continue
            if message.get("type") == "snapshot":
                message = {**message, "staff": members}
            if view is not None:
                shown = view.filter(message)
                if shown is None:
                    continue
                message = shown
            yield _frame(message)
    finally:
        with contextlib.suppress(Exception):
            stream.close()
