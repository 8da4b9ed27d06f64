"""The switch's own small HTTP endpoint (`VPBX_METRICS_HOST`:`VPBX_METRICS_PORT`).

Calls live in the switch process, so its figures are served from there: `GET /metrics`
(Prometheus text), `GET /health` (JSON: pid, calls, registrations, loop lag and worst stall)
and `GET /loop` (JSON: the loop's worst lateness second by second and the garbage collector's
notable pauses, `vpbx.metrics.LoopStalls.report`, for benchmarks and diagnosis). All are
answered by the switch's own event loop, on purpose: a loop too stalled to answer within the
API's probe timeout is a switch that cannot serve calls, and /health says so.

Deliberately minimal HTTP/1.0-style: one GET per connection, a bounded request head, a short
deadline, then close. It binds to loopback by default; it is for Prometheus and the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from vpbx.metrics import CONTENT_TYPE

__all__ = ["StatusServer"]

log = logging.getLogger("vpbx.switch.status")

MAX_HEAD = 8192
READ_TIMEOUT = 5.0


class StatusServer:
    """Serves `/metrics` from `exposition()`, `/health` from `health()` and `/loop` from
    `loop()` (404 without it)."""

    def __init__(
        self,
        host: str,
        port: int,
        exposition: Callable[[], bytes],
        health: Callable[[], dict[str, Any]],
        loop: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.exposition = exposition
        self.health = health
        self.loop = loop
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
        # port 0 (tests): the kernel chose one
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("status endpoint started", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, content_type, body = "400 Bad Request", "text/plain", b"bad request\n"
        except ConnectionError:
            writer.close()
            return
        try:
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[str, str, bytes]:
        if len(head) > MAX_HEAD:
            return "431 Request Header Fields Too Large", "text/plain", b"too large\n"
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or parts[0] != b"GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        path = parts[1].split(b"?", 1)[0]
        if path == b"/metrics":
            return "200 OK", CONTENT_TYPE, self.exposition()
        if path == b"/health":
            body = {"status": "ok", "pid": os.getpid(), **self.health()}
            return "200 OK", "application/json", json.dumps(body).encode() + b"\n"
        if path == b"/loop" and self.loop is not None:
            return "200 OK", "application/json", json.dumps(self.loop()).encode() + b"\n"
        return "404 Not Found", "text/plain", b"not found\n"
