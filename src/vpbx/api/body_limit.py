"""Request bodies limited in size, as pure ASGI middleware (no BaseHTTPMiddleware).

A body declared larger than its route's limit (Content-Length) is answered 413 before a byte of
it is read; a body without a length (chunked) is counted as it arrives, and the moment it passes
the limit the client gets the 413 and the application sees the request as disconnected. Nothing
is buffered here: uvicorn stops reading the socket until the application asks for more, so four
100 MB posts no longer cost 430 MB of memory (issue 11).

The limit of a request is the first rule matching its method and path, else the default. A rule
with limit None leaves the body to the route (the audio upload streams to disk under its own
50 MB rule and answers its own `audio.too_large`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "LimitRule"]


@dataclass(frozen=True, slots=True)
class LimitRule:
    """Requests with `method` whose path matches `path` (a full-match regex) get `limit` bytes."""

    method: str
    path: str
    limit: int | None

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


def _too_large(limit: int) -> Message:
    megabytes = f"{limit / 1_048_576:g}"
    body = {
        "error_id": "request.too_large",
        "message": (
            f"тело запроса больше {megabytes} МБ / the request body is larger than "
            f"{megabytes} MB ({limit} bytes)"
        ),
        "errors": [
            {
                "field": "(body)",
                "rule": f"at most {limit} bytes",
                "error_id": "request.too_large",
            }
        ],
        "usages": [],
    }
    return {"type": "http.response.body", "body": json.dumps(body, ensure_ascii=False).encode()}


async def _answer_413(send: Send, limit: int) -> None:
    body = _too_large(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body["body"])).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send(body)


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int, rules: Sequence[LimitRule] = ()) -> None:
        self.app = app
        self.default = default
        self.rules = tuple(rules)

    def limit_for(self, method: str, path: str) -> int | None:
        for rule in self.rules:
            if rule.matches(method, path):
                return rule.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer_413(send, limit)
            return
        state: dict[str, Any] = {"received": 0, "refused": False, "started": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await _answer_413(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 is the answer; what the application says after it is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None
