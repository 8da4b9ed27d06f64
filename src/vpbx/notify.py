"""Configuration changes from the API processes to the switch: "account N changed".

The API commits a change, then `ConfigNotifier.changed(N)` sends one datagram to the switch's
unix datagram socket (`<data_dir>/switch.sock` by default) and, when `VPBX_REDIS_URL` is set,
publishes it on the Redis channel `vpbx:config-changed` for the switch nodes of other machines.
`ConfigListener` (in the switch) drops its cached copies of that account at once.

Why a unix datagram socket: sending never blocks nor waits for the switch (a datagram is
queued by the kernel or refused at once), nothing is listening on the network, and only a
process that may write into the data folder can send. A notification that is lost (the switch
restarting, a full queue, Redis down) costs only freshness: the switch's caches expire after
their TTL (5 s) anyway, which stays the fallback.

The message is a small JSON object: `{"event": "config_changed", "account_id": N}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["CHANNEL", "ConfigListener", "ConfigNotifier", "decode", "subscribe_forever"]

log = logging.getLogger("vpbx.notify")

#: the Redis pub/sub channel
CHANNEL = "vpbx:config-changed"
#: a notification is a few dozen bytes; anything longer is not ours
MAX_MESSAGE = 512


def encode(account_id: int) -> bytes:
    return json.dumps({"event": "config_changed", "account_id": account_id}).encode()


def decode(data: bytes) -> int | None:
    """The account id of a notification; None for anything else (logged once per message)."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or message.get("event") != "config_changed":
        return None
    account_id = message.get("account_id")
    if type(account_id) is not int:
        return None
    return account_id


class ConfigNotifier:
    """The API's side: `changed(account_id)` after a committed change. Never raises, never
    waits: the request that made the change has already been answered."""

    def __init__(self, socket_path: Path, redis_url: str = "") -> None:
        self.socket_path = socket_path
        self.redis_url = redis_url
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._redis: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    def changed(self, account_id: int) -> None:
        data = encode(account_id)
        try:
            self._sock.sendto(data, str(self.socket_path))
        except (FileNotFoundError, ConnectionRefusedError):
            log.info(
                "no switch listening for configuration changes", extra={"account_id": account_id}
            )
        except OSError as error:
            # No switch listening (stopped, restarting) or its queue is full: its caches expire
            # after their TTL, so the change still arrives, only later.
            log.warning(
                "configuration change not notified to the switch",
                extra={"account_id": account_id, "error": str(error)},
            )
        if self.redis_url:
            task = asyncio.get_running_loop().create_task(self._publish(data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, data: bytes) -> None:
        try:
            if self._redis is None:
                from redis.asyncio import Redis

                self._redis = Redis.from_url(self.redis_url)
            await self._redis.publish(CHANNEL, data)
        except Exception as error:
            log.warning("configuration change not published", extra={"error": str(error)})

    async def aclose(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        self._sock.close()


class ConfigListener:
    """The switch's side: binds the socket (and subscribes to Redis when configured) and calls
    `on_change(account_id, channel)` for every notification."""

    def __init__(
        self,
        socket_path: Path,
        on_change: Callable[[int, str], None],
        redis_url: str = "",
    ) -> None:
        self.socket_path = socket_path
        self.on_change = on_change
        self.redis_url = redis_url
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        path = self.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A socket file left by a switch that was killed: nobody owns it any more.
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(path))
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)
        if self.redis_url:
            self._redis_task = self._loop.create_task(self._subscribe(), name="config-redis")
        log.info("listening for configuration changes", extra={"socket": str(path)})

    async def stop(self) -> None:
        if self._redis_task is not None:
            self._redis_task.cancel()
            await asyncio.gather(self._redis_task, return_exceptions=True)
            self._redis_task = None
        if self._sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            self.socket_path.unlink(missing_ok=True)

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.warning("configuration socket failed", extra={"error": str(error)})
                return
            self._deliver(data, "local")

    def _deliver(self, data: bytes, channel: str) -> None:
        account_id = decode(data)
        if account_id is None:
            log.warning("not a configuration notification", extra={"channel": channel})
            return
        try:
            self.on_change(account_id, channel)
        except Exception:
            log.exception("configuration change not applied", extra={"account_id": account_id})

    async def _subscribe(self) -> None:
        async def deliver(data: bytes) -> None:
            self._deliver(data, "redis")

        await subscribe_forever(self.redis_url, CHANNEL, deliver, what="configuration changes")


async def subscribe_forever(
    url: str,
    channel: str,
    deliver: Callable[[bytes], Awaitable[None]],
    *,
    what: str,
    on_subscribed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Subscribed to `channel` for as long as the caller's task runs, each message's data to
    `deliver`; reconnects after Redis goes away (1 s, doubling up to 30 s). `on_subscribed`
    runs after each (re)subscription: what was published while nobody listened is lost."""
    from redis.asyncio import Redis

    delay = 1.0
    while True:
        client = Redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                delay = 1.0
                if on_subscribed is not None:
                    await on_subscribed()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await deliver(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning(
                "redis subscription lost",
                extra={"what": what, "error": str(error), "retry_in": delay},
            )
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
