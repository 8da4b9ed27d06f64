"""A real HTTP receiver of webhooks for the tests: a plain asyncio HTTP/1.1 server on loopback
that checks each request's signature the way docs/api.md tells a CRM to (written here again, not
imported from vpbx), records what it got, and can be told to answer 500, redirect, be slow, or be
down (its socket closed) and come back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any


def verify_signature(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """The recipe of docs/api.md, as a receiver writes it."""
    parts = [item.split("=", 1) for item in header.split(",")]
    timestamp = [v for k, v in parts if k == "t"]
    signatures = [v for k, v in parts if k == "v1"]
    if len(timestamp) != 1 or not signatures:
        return False
    if abs(time.time() - int(timestamp[0])) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp[0].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    signed: bool
    #: when it arrived (time.monotonic()): before or after the receiver was down
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    secret: str
    #: "ok", "500", "redirect", "slow", "hold" (never answers), "bad-signature-check"
    mode: str = "ok"
    slow_seconds: float = 5.0
    got: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Down: the listening socket and every open connection closed."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def events(self) -> list[tuple[int, str]]:
        """(call id, event type) of the requests received and answered 2xx, in order."""
        return [(r.body["call"]["id"], r.body["type"]) for r in self.got]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra = await self._answer(headers, body)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Length: 4\r\n{extra}\r\nfail".encode()
                    if status >= 300
                    else f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        mode = self.mode
        if mode == "hold":
            self.got_held.append(json.loads(body))
            await asyncio.Event().wait()
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if mode == "500":
            return 500, ""
        if mode == "redirect":
            return 302, "Location: http://127.0.0.1:1/elsewhere\r\n"
        signed = verify_signature(self.secret, headers.get("x-vpbx-signature", ""), body)
        if not signed:
            return 401, ""
        self.got.append(Received(headers, json.loads(body), signed))
        return 200, ""

    got_held: list[dict[str, Any]] = field(default_factory=list)
