"""FILE-2: the audio of a file of the file base — upload (converted once to 8 kHz) and download.

The upload is the raw request body (any audio type), streamed to disk with the 50 MB limit
checked while it arrives; it is then decoded and resampled once, beside the original. A file
that is not audio, too large or too long is refused with 422 (413 for the size) and a message
in Russian and English; nothing is kept of it.

The download answers HTTP range requests (`vpbx.api.ranges`): a browser plays and seeks a
recorded conversation (FILE-1) without fetching it whole first. A media element cannot send the
bearer token, so `POST /files/{id}/link` gives a short-lived link to one file's audio
(`vpbx.services.file_links`) that the download accepts instead of the `Authorization` header.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from vpbx.api.changes import ConfigChanged
from vpbx.api.crud import ERRORS
from vpbx.api.deps import (
    MAX_ID,
    Conn,
    CurrentActor,
    EntityId,
    Service,
    actor,
    bearer,
    service,
)
from vpbx.api.deps import clock as request_clock
from vpbx.api.errors import ErrorBody
from vpbx.api.ranges import WholeFile, file_part, if_range_holds, requested_range, validators
from vpbx.domain.errors import DomainError, ValidationFailed
from vpbx.media.errors import AudioFileError
from vpbx.media.prompts import MAX_UPLOAD_BYTES, convert_upload_async
from vpbx.services.entities import Clock, EntityService
from vpbx.services.file_links import issue_file_link, link_actor
from vpbx.services.file_store import audio_location, store_upload


class TooLarge(DomainError):
    error_id = "audio.too_large"
    status = 413


class BadLink(DomainError):
    error_id = "file_link.invalid"
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "ссылка на файл недействительна или устарела / the file link is not valid or expired"
        )


Variant = Annotated[Literal["original", "converted"], Query()]


class FileLinkOut(BaseModel):
    """A link to one file's audio: the `url` (relative to the server) works without a bearer
    token until `expires_at`, for this file and variant only."""

    url: str
    expires_at: dt.datetime


def _suffix(content_type: str) -> str:
    known = {
        "audio/wav": ".wav",
        "audio/x-wav": ".wav",
        "audio/wave": ".wav",
        "audio/mpeg": ".mp3",
        "audio/mp3": ".mp3",
        "audio/ogg": ".ogg",
        "audio/flac": ".flac",
    }
    return known.get(content_type.split(";")[0].strip().lower(), ".bin")


async def _reader(
    entity_id: EntityId,
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    variant: Variant = "original",
    link: Annotated[
        str | None,
        Query(max_length=200, description="a link from `POST /files/{id}/link` (no bearer)"),
    ] = None,
    x_account_id: Annotated[int | None, Header(ge=1, le=MAX_ID)] = None,
) -> EntityService:
    if link is None:
        who = await actor(conn, request, credentials, x_account_id)
    else:
        found = await link_actor(conn, link, entity_id, variant, request_clock(request)())
        if found is None:
            raise BadLink()
        who = found
    return service(conn, who, request)


#: the entity service of whoever presents the bearer token, or a link to this file's audio
ReaderService = Annotated[EntityService, Depends(_reader)]


def file_content_router(files_dir: Path, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["files"], responses=ERRORS)

    @router.put("/files/{entity_id}/content", status_code=200)
    async def upload(
        entity_id: EntityId, request: Request, svc: Service, conn: Conn, changed: ConfigChanged
    ) -> dict[str, object]:
        """Upload the audio of a sound file (WAV, MP3, OGG, FLAC; ≤ 50 MB, ≤ 1 hour)."""
        svc.require_write("files")
        await svc.get("files", entity_id)
        folder = files_dir / str(svc.account_id) / str(entity_id)
        staging = folder.with_name(f"{entity_id}.upload")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        content_type = request.headers.get("content-type", "application/octet-stream")
        original = staging / f"original{_suffix(content_type)}"
        size = 0
        try:
            with original.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise TooLarge("файл больше 50 МБ / the file is larger than 50 MB")
                    out.write(chunk)
            if size == 0:
                raise ValidationFailed.one("(body)", "the body is empty: send the audio file")
            try:
                prompt = await convert_upload_async(original)
            except AudioFileError as error:
                raise ValidationFailed.one("(body)", str(error), error.error_id) from None
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        await store_upload(
            conn,
            svc.account_id,
            entity_id,
            content_type=content_type,
            size_bytes=size,
            seconds=prompt.seconds,
            original=folder / original.name,
            converted=folder / prompt.converted.name,
            now=clock(),
        )
        changed(svc.account_id)
        return (await svc.get("files", entity_id)).model_dump(mode="json")

    @router.post(
        "/files/{entity_id}/link",
        response_model=FileLinkOut,
        summary="A short-lived link to a file's audio (for a player)",
    )
    async def link(
        entity_id: EntityId,
        request: Request,
        svc: Service,
        who: CurrentActor,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        variant: Variant = "original",
    ) -> FileLinkOut:
        """A link to `GET /files/{id}/content?variant=…&link=…` that works without the
        `Authorization` header (a browser's `<audio>` element cannot send it) for 10 minutes,
        for this file and variant only; whoever may read the file may ask. It ends with the
        session that asked for it (logout, a password change)."""
        await svc.get("files", entity_id)
        assert credentials is not None  # CurrentActor refused the request without one
        issued = await issue_file_link(
            svc.conn, credentials.credentials, who, entity_id, variant, clock()
        )
        base = request.url.path.removesuffix("/link")
        return FileLinkOut(
            url=f"{base}/content?variant={variant}&link={issued.token}",
            expires_at=issued.expires_at,
        )

    @router.get(
        "/files/{entity_id}/content",
        response_class=FileResponse,
        responses={
            206: {
                "description": "the byte range asked by the `Range` header (`bytes=first-last`, "
                "`bytes=first-`, `bytes=-suffix`), with `Content-Range`",
                "content": {"audio/wav": {}},
            },
            416: {
                "model": ErrorBody,
                "description": "the range starts beyond the end of the file "
                "(`Content-Range: bytes */size`)",
            },
        },
    )
    async def download(
        entity_id: EntityId,
        request: Request,
        svc: ReaderService,
        conn: Conn,
        variant: Variant = "original",
    ) -> Response:
        """Stream the original upload or its 8 kHz telephony version (a recorded conversation
        is a stereo WAV: the caller left, the employee right). One byte range (`Range`) is
        answered 206, so a browser's player can seek; other ranges get the whole file.
        Authorised by the bearer token or by `link` (from `POST /files/{id}/link`)."""
        await svc.get("files", entity_id)
        path, content_type = await audio_location(conn, entity_id, variant)
        if path is None or not await anyio.Path(path).exists():
            raise ValidationFailed.one("variant", "this file has no audio yet: upload it first")
        media_type = (content_type if variant == "original" else "audio/wav") or (
            "application/octet-stream"
        )
        stat = await anyio.Path(path).stat()
        span = None
        if if_range_holds(request.headers.get("if-range"), stat):
            span = requested_range(request.headers.get("range"), stat.st_size)
        if span is not None:
            return file_part(path, *span, stat, media_type)
        return WholeFile(path, media_type=media_type, stat_result=stat, headers=validators(stat))

    return router
