"""Recordings and voicemail into the file base (FILE-1): the switch's WAV becomes a `files` row.

The audio lands where an upload through the API would (`files_dir/<account>/<file id>/`, see
`vpbx.api.file_content`), so `GET /api/v1/files/{id}/content` streams it. A recording is already in
telephony format, so it is both the original and the converted file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any, Literal

import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.misc import FileKind
from vpbx.domain.errors import NotFound
from vpbx.services.call_log import InterruptedCall
from vpbx.storage import tables as t

__all__ = [
    "adopt_partial_recording",
    "audio_location",
    "repair_wav_header",
    "save_recording",
    "store_upload",
]

log = logging.getLogger("vpbx.services.file_store")

_NAME_LIMIT = 200
_TEXT_LIMIT = 100


def _check_wav(wav: Path) -> float:
    """The duration of an 8 kHz 16-bit WAV, mono or stereo (a conversation: the caller left,
    the employee right, REC-1); ValueError for anything else."""
    info = soundfile.info(str(wav))
    telephony = (info.format, info.subtype, info.samplerate) == ("WAV", "PCM_16", 8000)
    if not telephony or info.channels not in (1, 2):
        raise ValueError(
            f"{wav}: expected an 8 kHz mono or stereo 16-bit WAV, got {info.format} "
            f"{info.subtype} {info.samplerate} Hz, {info.channels} channel(s)"
        )
    return float(info.frames) / float(info.samplerate)


def _move(source: Path, target: Path) -> tuple[Path, int]:
    """Move `source` to `target` (across file systems too); the absolute target and its size."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, target)
    return target, target.stat().st_size


def _clip(value: str, limit: int) -> str:
    return value.replace("\x00", "\ufffd")[:limit]


async def save_recording(
    conn: AsyncConnection,
    files_dir: Path,
    account_id: int,
    kind: FileKind,
    wav: Path,
    *,
    name: str,
    caller: str,
    called: str,
    employee_id: int | None,
    number_id: int | None,
    now: dt.datetime,
    call_id: int | None = None,
) -> int:
    """Move `wav` into the file base of the account as a new file of `kind`; its id.

    With `call_id` (a call of the account) the file is linked to the call; a RECORDING is also
    appended to the call's `recording_file_ids` (the report's recording link). The move happens
    inside the caller's transaction: when it fails, the exception rolls the row back with
    the transaction; when the transaction is rolled back after a move, the moved file stays
    behind unreferenced.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    stamp = now.astimezone(dt.UTC)
    duration = await asyncio.to_thread(_check_wav, wav)
    call_recordings: list[int] | None = None
    if call_id is not None:
        query = sa.select(t.calls.c.recording_file_ids).where(
            t.calls.c.account_id == account_id, t.calls.c.id == call_id
        )
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound("calls", call_id)
        call_recordings = [int(i) for i in row.recording_file_ids or []]
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": _clip(name, _NAME_LIMIT) or kind.value,
        "kind": kind.value,
        "system_name": None,
        "text": "",
        "content_type": "audio/wav",
        "size_bytes": 0,
        "duration_seconds": duration,
        "call_id": call_id,
        "caller": _clip(caller, _TEXT_LIMIT),
        "called": _clip(called, _TEXT_LIMIT),
        "employee_id": employee_id,
        "number_id": number_id,
        "created_at": stamp,
        "updated_at": stamp,
    }
    result = await conn.execute(sa.insert(t.files).values(**values).returning(t.files.c.id))
    file_id = int(result.scalar_one())
    target = files_dir / str(account_id) / str(file_id) / f"{kind.value}.wav"
    target, size = await asyncio.to_thread(_move, wav, target)
    await conn.execute(
        sa.update(t.files)
        .where(t.files.c.id == file_id)
        .values(size_bytes=size, original_path=str(target), converted_path=str(target))
    )
    if call_id is not None and call_recordings is not None and kind is FileKind.RECORDING:
        await conn.execute(
            sa.update(t.calls)
            .where(t.calls.c.account_id == account_id, t.calls.c.id == call_id)
            .values(recording_file_ids=[*call_recordings, file_id], updated_at=stamp)
        )
    log.info(
        "recording stored",
        extra={
            "account_id": account_id,
            "file_id": file_id,
            "kind": kind.value,
            "call_id": call_id,
            "seconds": round(duration, 3),
        },
    )
    return file_id


def repair_wav_header(path: Path) -> float:
    """Make the RIFF and data chunk sizes of a WAV cut off mid-recording (its writer was
    killed) match what the file holds; its duration in seconds afterwards.

    The recorder rewrites the header every second, so only the audio written after its last
    flush can be unaccounted for; a trailing half sample is dropped.
    """
    with path.open("r+b") as f:
        data = f.read()
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a WAV file")
        offset = 12
        block_align = 2
        rate = 8000
        while offset + 8 <= len(data):
            chunk, size = (
                data[offset : offset + 4],
                int.from_bytes(data[offset + 4 : offset + 8], "little"),
            )
            body = offset + 8
            if chunk == b"fmt ":
                rate = int.from_bytes(data[body + 4 : body + 8], "little")
                block_align = max(1, int.from_bytes(data[body + 12 : body + 14], "little"))
            if chunk == b"data":
                available = len(data) - body
                available -= available % block_align
                f.truncate(body + available)
                f.seek(offset + 4)
                f.write(available.to_bytes(4, "little"))
                f.seek(4)
                f.write((body + available - 8).to_bytes(4, "little"))
                return available / block_align / rate
            offset = body + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


async def adopt_partial_recording(
    conn: AsyncConnection,
    files_dir: Path,
    call: InterruptedCall,
    wav: Path,
    kind: FileKind,
    *,
    now: dt.datetime,
    min_seconds: float = 0.5,
) -> int | None:
    """File what a crash left of a call's recording (its header repaired) and link it to the
    call closed as interrupted; None (and the file removed) when it holds almost nothing."""
    seconds = await asyncio.to_thread(repair_wav_header, wav)
    if seconds < min_seconds:
        await asyncio.to_thread(wav.unlink, missing_ok=True)
        return None
    name = (
        f"Голосовое сообщение {call.caller} (прервано)"
        if kind is FileKind.VOICEMAIL
        else f"Запись разговора {call.caller} (прервана)"
    )
    file_id = await save_recording(
        conn,
        files_dir,
        call.account_id,
        kind,
        wav,
        name=name,
        caller=call.caller,
        called=call.called,
        employee_id=call.employee_id,
        number_id=call.number_id,
        now=now,
        call_id=call.call_id,
    )
    if kind is not FileKind.RECORDING:
        # A finished call lists its voicemail beside its recordings: so does an interrupted one.
        current = (
            await conn.execute(
                sa.select(t.calls.c.recording_file_ids).where(t.calls.c.id == call.call_id)
            )
        ).scalar_one()
        await conn.execute(
            sa.update(t.calls)
            .where(t.calls.c.id == call.call_id)
            .values(recording_file_ids=[*(current or []), file_id])
        )
    log.warning(
        "partial recording of an interrupted call filed",
        extra={"call_id": call.call_id, "file_id": file_id, "seconds": round(seconds, 2)},
    )
    return file_id


async def store_upload(
    conn: AsyncConnection,
    account_id: int,
    file_id: int,
    *,
    content_type: str,
    size_bytes: int,
    seconds: float,
    original: Path,
    converted: Path,
    now: dt.datetime,
) -> None:
    """FILE-2: an uploaded audio (kept at `original`, converted to `converted`) becomes the
    content of the account's file `file_id`."""
    await conn.execute(
        sa.update(t.files)
        .where(t.files.c.id == file_id, t.files.c.account_id == account_id)
        .values(
            content_type=content_type,
            size_bytes=size_bytes,
            duration_seconds=seconds,
            original_path=str(original),
            converted_path=str(converted),
            updated_at=now,
        )
    )


async def audio_location(
    conn: AsyncConnection, file_id: int, variant: Literal["original", "converted"]
) -> tuple[str | None, str | None]:
    """Where the original upload or its 8 kHz version of a file lies (None: no audio yet), and
    the content type of the upload."""
    column = t.files.c.original_path if variant == "original" else t.files.c.converted_path
    query = sa.select(column, t.files.c.content_type).where(t.files.c.id == file_id)
    row = (await conn.execute(query)).one()
    return row[0], row.content_type
