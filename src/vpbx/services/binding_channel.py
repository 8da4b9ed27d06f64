"""Registrations shared by the switch nodes behind one front proxy (SIP-2: any node rings any
phone), over Redis pub/sub.

A phone's REGISTER reaches one node (Kamailio hashes its Call-ID); that node commits the
line's bindings to the shared database as before (`vpbx.switch.registration_store`) and then
publishes them on `CHANNEL`. Every other node adopts the line's bindings in place of what it
held (`Registrar.adopt`), so the next call to that phone is rung from whichever node the call
landed on, through the front proxy the phone registered through.

A message lost (Redis restarting, a node starting) costs only freshness until the phone's next
refresh: each time a node (re)subscribes it reloads every unexpired binding from the database
(`on_resync`), which is the source of truth; Redis only carries the news.

Message: `{"event": "bindings", "node": N, "lines": {line_id: [[contact, user_agent, source,
expires ISO-8601], …]}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from vpbx.domain.switch_records import StoredBinding
from vpbx.notify import subscribe_forever

__all__ = ["CHANNEL", "BindingChannel", "SharedBindingStorage", "decode", "encode"]

log = logging.getLogger("vpbx.switch.registrations")

CHANNEL = "vpbx:bindings"

Adopt = Callable[[int, list[StoredBinding]], Awaitable[None]]


class BindingStorage(Protocol):
    """`vpbx.switch.registration_store.BindingStorage` (the switch's; services sit below it)."""

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None: ...

    async def load(self, now: dt.datetime) -> list[StoredBinding]: ...

    async def drop(self, row_ids: Sequence[int]) -> None: ...


def encode(node: str, lines: Mapping[int, Sequence[StoredBinding]]) -> bytes:
    return json.dumps(
        {
            "event": "bindings",
            "node": node,
            "lines": {
                str(line_id): [
                    [b.contact, b.user_agent, b.source, b.expires_at.isoformat()] for b in rows
                ]
                for line_id, rows in lines.items()
            },
        }
    ).encode()


def decode(data: bytes) -> tuple[str, dict[int, list[StoredBinding]]] | None:
    """(node, bindings by line id), or None for anything that is not such a message."""
    try:
        message = json.loads(data)
        if not isinstance(message, dict) or message.get("event") != "bindings":
            return None
        node = message["node"]
        lines: dict[int, list[StoredBinding]] = {}
        for key, rows in message["lines"].items():
            line_id = int(key)
            lines[line_id] = [
                StoredBinding(
                    str(contact),
                    str(agent),
                    str(source),
                    _aware(dt.datetime.fromisoformat(expires)),
                    line_id=line_id,
                )
                for contact, agent, source, expires in rows
            ]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return (node, lines) if isinstance(node, str) else None


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive expiry")
    return moment


class BindingChannel:
    """One node's side: `publish` after its commit, `start` to adopt the other nodes'."""

    def __init__(
        self, redis_url: str, node: str, adopt: Adopt, on_resync: Callable[[], Awaitable[Any]]
    ) -> None:
        self.redis_url = redis_url
        self.node = node
        self.adopt = adopt
        self.on_resync = on_resync
        self._redis: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening: asyncio.Task[None] | None = None
        #: (re)subscriptions so far: tests wait for the first
        self.subscribed = asyncio.Event()

    def publish(self, lines: Mapping[int, Sequence[StoredBinding]]) -> None:
        """Never waits and never raises: the REGISTER is answered once the database has it."""
        task = asyncio.get_running_loop().create_task(self._publish(encode(self.node, lines)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, data: bytes) -> None:
        try:
            if self._redis is None:
                from redis.asyncio import Redis

                self._redis = Redis.from_url(self.redis_url)
            await self._redis.publish(CHANNEL, data)
        except Exception as error:
            log.warning(
                "registration not published to the other nodes", extra={"error": str(error)}
            )

    def start(self) -> None:
        self._listening = asyncio.get_running_loop().create_task(
            self._subscribe(), name="bindings-redis"
        )

    async def stop(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
            self._listening = None
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    async def _deliver(self, data: bytes) -> None:
        decoded = decode(data)
        if decoded is None:
            log.warning("not a registration message", extra={"channel": CHANNEL})
            return
        node, lines = decoded
        if node == self.node:
            return
        for line_id, rows in lines.items():
            try:
                await self.adopt(line_id, rows)
            except Exception:
                log.exception("registration from another node not adopted", extra={"line": line_id})

    async def _subscribe(self) -> None:
        await subscribe_forever(
            self.redis_url,
            CHANNEL,
            self._deliver,
            what="registrations",
            on_subscribed=self._resynced,
        )

    async def _resynced(self) -> None:
        # What changed while nobody listened is in the database.
        try:
            await self.on_resync()
        except Exception:
            log.exception("registrations not reloaded from the database")
        self.subscribed.set()


class SharedBindingStorage:
    """A `BindingStorage` that tells the other nodes once a commit is done."""

    def __init__(self, inner: BindingStorage) -> None:
        self.inner = inner
        self.channel: BindingChannel | None = None

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None:
        await self.inner.save(lines, now, node)
        if self.channel is not None:
            self.channel.publish(lines)

    async def load(self, now: dt.datetime) -> list[StoredBinding]:
        return await self.inner.load(now)

    async def drop(self, row_ids: Sequence[int]) -> None:
        await self.inner.drop(row_ids)
