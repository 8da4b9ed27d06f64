"""The channel of configuration changes from the API to the switch: the local socket and Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from vpbx.notify import ConfigListener, ConfigNotifier, decode, encode

REDIS_URL = os.environ.get("VPBX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def wait_for(heard: list[tuple[int, str]], count: int) -> None:
    async with asyncio.timeout(5):
        while len(heard) < count:  # noqa: ASYNC110 - the listener's callback is synchronous
            await asyncio.sleep(0.01)


def test_the_message_round_trips_and_anything_else_is_refused() -> None:
    assert decode(encode(42)) == 42
    for junk in (b"", b"\xff", b"[]", b"{}", b'{"event":"config_changed","account_id":"1"}'):
        assert decode(junk) is None
    assert decode(b'{"event":"config_changed","account_id":true}') is None


async def test_a_change_reaches_the_listener_over_the_local_socket(tmp_path: Path) -> None:
    heard: list[tuple[int, str]] = []
    path = tmp_path / "switch.sock"
    path.write_text("left by a killed switch")  # a stale file does not stop the start
    listener = ConfigListener(path, lambda account, channel: heard.append((account, channel)))
    await listener.start()
    notifier = ConfigNotifier(path)
    try:
        notifier.changed(7)
        notifier.changed(8)
        # garbage on the socket is ignored, the listener goes on
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as raw:
            raw.sendto(b"garbage", str(path))
        notifier.changed(9)
        await wait_for(heard, 3)
        assert heard == [(7, "local"), (8, "local"), (9, "local")]
    finally:
        await notifier.aclose()
        await listener.stop()
    assert not path.exists()


async def test_without_a_switch_the_notifier_neither_raises_nor_waits(tmp_path: Path) -> None:
    notifier = ConfigNotifier(tmp_path / "nobody.sock")
    try:
        notifier.changed(1)  # logged; the switch's TTL brings the change later
    finally:
        await notifier.aclose()


async def test_with_redis_the_change_reaches_a_switch_on_another_node(tmp_path: Path) -> None:
    probe = aioredis.Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except Exception as error:
        pytest.fail(f"Redis at {REDIS_URL} is required for this test: {error}")
    finally:
        await probe.aclose()
    heard: list[tuple[int, str]] = []
    # The other node's switch: its own socket, which the API here cannot reach.
    listener = ConfigListener(
        tmp_path / "other-node.sock", lambda a, c: heard.append((a, c)), REDIS_URL
    )
    await listener.start()
    notifier = ConfigNotifier(tmp_path / f"{uuid.uuid4().hex}.sock", REDIS_URL)
    try:
        # the subscription is made in the background: publish until it is heard
        async with asyncio.timeout(10):
            while not heard:
                notifier.changed(5)
                await asyncio.sleep(0.1)
        assert heard[0] == (5, "redis")
    finally:
        await notifier.aclose()
        await listener.stop()
