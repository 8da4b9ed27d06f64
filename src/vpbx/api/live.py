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

TRN-1: `POST /live/calls/{call_id}/supervise` (an admin or a supervisor) asks the switch, on
the same socket, to ring the user's own phones; when he answers he joins the call listening,
whispering to the employee or barging in. The switch answers at once (202, or why not).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path as FilePath
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from vpbx.api.crud import ERRORS
from vpbx.api.deps import MAX_ID, Conn, CurrentActor, actor, bearer
from vpbx.api.deps import clock as request_clock
from vpbx.api.errors import ErrorBody
from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError
from vpbx.domain.live import (
    EmployeeView,
    SuperviseAnswer,
    SuperviseMode,
    SuperviseRequest,
    encode,
)
from vpbx.services.live import (
    SuperviseRefused,
    issue_live_link,
    live_link_actor,
    staff,
    supervise_refusal,
    supervisor,
)

__all__ = ["LiveSource", "LiveStream", "UnixLiveSource", "live_router"]

log = logging.getLogger("vpbx.api.live")

#: a comment line this often keeps proxies from closing a quiet stream
KEEPALIVE = 15.0
#: one line of the switch's feed (a snapshot of many calls is one line)
MAX_LINE = 8 * 1024 * 1024
#: how long the switch has to answer a supervisor's request (seconds)
SUPERVISE_TIMEOUT = 5.0


class LiveStream(Protocol):
    async def next(self, wait: float) -> dict[str, Any] | None:
        """The next message; None when none came within `wait` seconds; EOFError when it ended."""
        ...

    def close(self) -> None: ...


class LiveSource(Protocol):
    async def open(self, account_id: int, since: int | None) -> LiveStream:
        """Subscribed to the account's live feed; OSError when the switch is not there."""
        ...

    async def supervise(self, account_id: int, request: SuperviseRequest) -> SuperviseAnswer:
        """TRN-1: the switch's answer to a supervisor joining a call of the account; OSError
        when the switch is not there."""
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

    def __init__(self, path: FilePath) -> None:
        self.path = path

    async def open(self, account_id: int, since: int | None) -> LiveStream:
        reader, writer = await asyncio.open_unix_connection(str(self.path), limit=MAX_LINE)
        writer.write(encode({"account_id": account_id, "since": since}))
        await writer.drain()
        return _UnixStream(reader, writer)

    async def supervise(self, account_id: int, request: SuperviseRequest) -> SuperviseAnswer:
        reader, writer = await asyncio.open_unix_connection(str(self.path))
        try:
            writer.write(encode({"account_id": account_id, "supervise": request.as_json()}))
            await writer.drain()
            # the switch looks the call up and its phones in memory: a second is plenty
            line = await asyncio.wait_for(reader.readline(), SUPERVISE_TIMEOUT)
        except TimeoutError as error:
            raise ConnectionError("the switch did not answer") from error
        finally:
            writer.close()
        try:
            return SuperviseAnswer(json.loads(line)["supervise"])
        except (ValueError, KeyError, TypeError) as error:
            raise ConnectionError("the switch answered nonsense") from error


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


class SuperviseIn(BaseModel):
    """TRN-1: how the supervisor takes part once his phone answers (he changes it later with
    the keys 1 listen, 2 whisper, 3 barge)."""

    model_config = ConfigDict(extra="forbid")

    mode: SuperviseMode = Field(
        description="listen («Слушать»: he hears both, nobody hears him), whisper "
        "(«Подсказывать»: the employee hears him, the caller does not), barge («Вмешаться»: "
        "everyone hears everyone)"
    )


class SuperviseOut(BaseModel):
    """The supervisor's phones are ringing: he joins `call_id` in `mode` when he answers."""

    call_id: str
    mode: SuperviseMode
    employee_id: int = Field(description="the supervisor's employee, whose phones ring")
    status: str = Field(default="ringing", description="always `ringing`")


class SwitchUnavailable(DomainError):
    error_id = "switch_unavailable"
    status = 503


#: a call's id on the live view (the switch's: hexadecimal)
CallId = Annotated[
    str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="`call_id` of the live view")
]


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

    @router.post(
        "/live/calls/{call_id}/supervise",
        status_code=202,
        response_model=SuperviseOut,
        summary="Join a live call from your own phone: listen, whisper, barge (TRN-1)",
        description="TRN-1 from the live view: the PBX rings the phones of the signed-in "
        "user's employee (his registered SIP lines); when he answers he joins the call "
        "`call_id` (as the live view names it) in `mode`: `listen` («Слушать»: he hears the "
        "caller and the employee, nobody hears him), `whisper` («Подсказывать»: the employee "
        "hears him, the caller does not), `barge` («Вмешаться»: everyone hears everyone). The "
        "keys 1, 2, 3 of his phone change the mode; he hangs up to leave, and the talk goes on. "
        "The call's details note who was rung, when he joined, each mode and when he left. "
        "Answered 202 once his phones ring. Admins and supervisors of the call's account "
        "only (403). 404 `live_call.not_found`: no such call now (it ended). 409: "
        "`live_call.not_talking` (nobody talks with the caller yet, or a transfer is under "
        "way), `live_call.supervised` (another supervisor or the trainer is in or being rung: "
        "one at a time), `live_call.own_call`, `supervisor.no_employee` (the user is linked to "
        "no employee), `supervisor.no_phone` (his employee has no SIP line, or none is "
        "registered). 503 `switch_unavailable`: the switch is not reachable.",
        responses={
            202: {"description": "the supervisor's phones are ringing"},
            404: {
                "model": ErrorBody,
                "description": "the call has ended (or is not of the account)",
            },
            409: {
                "model": ErrorBody,
                "description": "the supervisor cannot join now: see `error_id`",
            },
            503: {"model": ErrorBody, "description": "the switch is not reachable"},
        },
    )
    async def supervise(call_id: CallId, body: SuperviseIn, conn: Conn, who: CurrentActor) -> Any:
        joining = await supervisor(conn, who)
        assert who.account_id is not None  # `supervisor` refused an actor without an account
        request = SuperviseRequest(call_id, joining.employee_id, joining.name, body.mode)
        try:
            if source is None:
                raise FileNotFoundError("no live feed configured")
            answer = await source.supervise(who.account_id, request)
        except OSError as error:
            log.info("switch not reachable for supervise", extra={"error": str(error)})
            raise SwitchUnavailable(
                "нет связи с АТС, попробуйте ещё раз / the switch is not reachable, try again"
            ) from error
        refusal: SuperviseRefused | None = supervise_refusal(answer)
        if refusal is not None:
            raise refusal
        out = SuperviseOut(call_id=call_id, mode=body.mode, employee_id=joining.employee_id)
        return JSONResponse(out.model_dump(mode="json"), status_code=202)

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
