"""`POST /files/recordings-by-phone` (FILE-1 «Записать сообщение»): the PBX calls a phone and
records a sound file; answered 202 at once with the request's id, whose state
`GET /files/recordings-by-phone/{recording_id}` tells (pending, calling, recorded with the
file's id, failed with the reason). The API and the switch are separate processes: the request
writes the call's report row and a task in its transaction; a node's scheduler claims the task
within a second and places the call (`vpbx.services.record_by_phone`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, CurrentActor, EntityId
from vpbx.api.errors import ErrorBody
from vpbx.services.entities import Clock
from vpbx.services.record_by_phone import (
    PhoneRecording,
    RecordingRequest,
    RecordLimits,
    get_recording,
    start_recording,
)

__all__ = ["record_by_phone_router"]

PATH = "/files/recordings-by-phone"


def record_by_phone_router(clock: Clock, limits: RecordLimits) -> APIRouter:
    router = APIRouter(prefix=PATH, tags=["files"], responses=ERRORS)

    @router.post(
        "",
        status_code=202,
        response_model=PhoneRecording,
        summary="Record a sound file by phone («Записать сообщение»)",
        description="FILE-1: the PBX calls `employee_id` (his phones, as a call to him rings "
        "them) or the outside `number` (through the trunk); whoever answers hears «Запишите "
        "сообщение после сигнала. Чтобы закончить, нажмите решётку или положите трубку.», a "
        "beep, and is recorded until `#`, a hang-up or `max_seconds`; the recording becomes "
        "the sound file `name` of the account («Звуковые файлы», newest first) and «Сообщение "
        "сохранено» is said. Answered 202 at once with the request (`Location`); follow it "
        "with `GET /files/recordings-by-phone/{id}`: `pending`, `calling`, then `recorded` "
        "with `file_id`, or `failed` with `outcome` and `reason` (not answered, busy, refused, "
        "nothing recorded: no file). The call is a row of the calls report (`call_id`, session "
        "type «Запись сообщения»). 422 names the field: `name` empty or too long, "
        "`employee_id` unknown, `number` refused by the toll-fraud policy, "
        "neither or both of them. 409 while a recording to the same phone is under way; 429 "
        "past the account's recordings by phone per minute, with `Retry-After`. Admins (and "
        "the operator) only, as for uploads.",
        responses={
            202: {"description": "accepted: the phone is about to be called"},
            409: {
                "model": ErrorBody,
                "description": "a recording to this phone is pending or calling",
            },
            429: {
                "model": ErrorBody,
                "description": "too many recordings by phone this minute; `Retry-After` says when",
            },
        },
    )
    async def start(body: RecordingRequest, conn: Conn, who: CurrentActor) -> Any:
        started = await start_recording(conn, who, body, clock(), limits)
        return JSONResponse(
            started.model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/api/v1{PATH}/{started.id}"},
        )

    @router.get(
        "/{recording_id}",
        response_model=PhoneRecording,
        summary="How a recording by phone is going",
        description="FILE-1: `pending` until a switch node takes it (within a second), "
        "`calling` while the call lasts, then `recorded` (`file_id`: the new sound file) or "
        "`failed` (`outcome`, `reason`). Another account's id answers 404.",
    )
    async def read(recording_id: EntityId, conn: Conn, who: CurrentActor) -> PhoneRecording:
        return await get_recording(conn, who, recording_id)

    return router
