"""HTTP range requests of a file's audio (RFC 9110 §14), so a browser's player streams and seeks.

One byte range is served (206 Partial Content with its Content-Range); a range wholly beyond
the file is refused (416, with `Content-Range: bytes */size`). Whatever else a Range header
asks (several ranges, another unit, a syntax error) is ignored and the whole file is sent: the
RFC lets a server ignore Range, and browsers ask for one range at a time. `If-Range` is
honoured against the validators the responses carry (ETag, Last-Modified).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Final

import anyio
from starlette.responses import FileResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from vpbx.domain.errors import DomainError

__all__ = [
    "RangeNotSatisfiable",
    "WholeFile",
    "file_part",
    "if_range_holds",
    "requested_range",
    "validators",
]

_SPEC: Final = re.compile(r"(\d*)-(\d*)", re.ASCII)
#: more digits than any file size has: read as "beyond any file" (int() of a very long digit
#: string is refused by Python, and would be a waste)
_MAX_DIGITS: Final = 18
_CHUNK: Final = 64 * 1024


class RangeNotSatisfiable(DomainError):
    """The byte range asked for starts beyond the end of the file (HTTP 416)."""

    error_id = "range.not_satisfiable"
    status = 416

    def __init__(self, size: int) -> None:
        super().__init__(
            f"запрошенный диапазон байтов вне файла ({size} байт) / "
            f"the requested byte range is outside the file ({size} bytes)"
        )
        self.size = size
        self.headers = {"Content-Range": f"bytes */{size}"}


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range `header` asks of a file of `size` bytes, as (first, last), both
    included; None when the whole file is to be sent. Raises `RangeNotSatisfiable`."""
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    found = _SPEC.fullmatch(spec.strip())
    if found is None:  # several ranges, or not a range at all
        return None
    first_text, last_text = found.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = _number(last_text)  # the last `suffix` bytes
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - suffix), size - 1
    first = _number(first_text)
    if last_text and _number(last_text) < first:
        return None  # invalid (RFC 9110 §14.1.1): ignored
    if first >= size:
        raise RangeNotSatisfiable(size)
    last = _number(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def validators(stat: os.stat_result) -> dict[str, str]:
    """ETag and Last-Modified of a file's current content (what `If-Range` is compared with)."""
    tag = hashlib.md5(f"{stat.st_mtime}-{stat.st_size}".encode(), usedforsecurity=False)
    return {
        "ETag": f'"{tag.hexdigest()}"',
        "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
    }


def if_range_holds(if_range: str | None, stat: os.stat_result) -> bool:
    """A range is served only while the file is the one the client saw (RFC 9110 §13.1.5)."""
    if if_range is None:
        return True
    if if_range.startswith("W/"):
        return False  # weak tags never match for ranges
    return if_range in validators(stat).values()


class WholeFile(FileResponse):
    """The whole file, 200, whatever Range the request carried (ranges are decided before)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"range"]
        await super().__call__({**scope, "headers": headers}, receive, send)


async def _read(path: str, first: int, last: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as file:
        await file.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = await file.read(min(_CHUNK, left))
            if not chunk:
                return  # the file shrank meanwhile: the client sees a short body
            left -= len(chunk)
            yield chunk


def file_part(
    path: str, first: int, last: int, stat: os.stat_result, media_type: str
) -> StreamingResponse:
    """206 Partial Content: bytes `first`..`last` of the file at `path`."""
    return StreamingResponse(
        _read(path, first, last),
        status_code=206,
        media_type=media_type,
        headers={
            **validators(stat),
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {first}-{last}/{stat.st_size}",
            "Content-Length": str(last - first + 1),
        },
    )
