"""Registrations told between switch nodes over Redis (vpbx.services.binding_channel).

The Redis at 127.0.0.1:6379 (or VPBX_TEST_REDIS_URL) is required: the tests fail without it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid

from hypothesis import given
from hypothesis import strategies as st

from vpbx.domain.switch_records import StoredBinding
from vpbx.services.binding_channel import BindingChannel, SharedBindingStorage, decode, encode

REDIS_URL = os.environ.get("VPBX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
EXPIRES = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def row(contact: str = "sip:101@10.0.0.5:5060") -> StoredBinding:
    return StoredBinding(contact, "Yealink T46", "udp:127.0.0.1:5060", EXPIRES)


def test_a_message_carries_each_lines_bindings_and_the_node() -> None:
    node, lines = decode(encode("node-a", {7: [row(), row("sip:101@10.0.0.6:5062")], 9: []})) or (
        "",
        {},
    )
    assert node == "node-a"
    assert [b.contact for b in lines[7]] == ["sip:101@10.0.0.5:5060", "sip:101@10.0.0.6:5062"]
    assert lines[7][0].line_id == 7
    assert lines[7][0].expires_at == EXPIRES
    assert lines[7][0].source == "udp:127.0.0.1:5060"
    assert lines[9] == []  # a line unregistered: the others drop what they held


@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_anything_on_the_channel_decodes_or_is_refused_never_raises(data: bytes) -> None:
    decoded = decode(data)
    if decoded is not None:  # only a well-formed message decodes
        node, lines = decoded
        assert isinstance(node, str)
        assert all(isinstance(line_id, int) for line_id in lines)


def test_naive_or_broken_rows_are_refused() -> None:
    naive = [["c", "u", "s", "2026-12-07T12:00:00"]]
    message = {"event": "bindings", "node": "a", "lines": {"1": naive}}
    assert decode(json.dumps(message).encode()) is None
    assert decode(b'{"event": "bindings", "node": "a", "lines": {"x": []}}') is None
    assert decode(b'{"event": "config_changed", "account_id": 1}') is None


class _Storage:
    def __init__(self) -> None:
        self.saved: list[dict[int, list[StoredBinding]]] = []

    async def save(self, lines, now, node):  # type: ignore[no-untyped-def]
        self.saved.append({k: list(v) for k, v in lines.items()})

    async def load(self, now):  # type: ignore[no-untyped-def]
        return [row()]

    async def drop(self, row_ids):  # type: ignore[no-untyped-def]
        return None


async def test_a_commit_on_one_node_is_adopted_by_the_other_and_not_by_itself() -> None:
    """Two nodes on one Redis: A commits line 7's bindings; B adopts them, A ignores its own;
    each (re)subscription first reloads from the database."""
    adopted: dict[str, list[tuple[int, list[str]]]] = {"a": [], "b": []}
    resyncs: dict[str, int] = {"a": 0, "b": 0}
    heard = asyncio.Event()

    def channel(name: str) -> BindingChannel:
        async def adopt(line_id: int, rows: list[StoredBinding]) -> None:
            adopted[name].append((line_id, [r.contact for r in rows]))
            heard.set()

        async def resync() -> None:
            resyncs[name] += 1

        return BindingChannel(REDIS_URL, f"{name}-{uuid.uuid4().hex}", adopt, resync)

    a, b = channel("a"), channel("b")
    storage = SharedBindingStorage(_Storage())
    storage.channel = a
    a.start()
    b.start()
    try:
        await asyncio.wait_for(asyncio.gather(a.subscribed.wait(), b.subscribed.wait()), 10)
        await storage.save({7: [row()]}, EXPIRES, a.node)
        await asyncio.wait_for(heard.wait(), 5)
        await asyncio.sleep(0.3)  # A's own message has reached A by now too
        assert adopted["b"] == [(7, ["sip:101@10.0.0.5:5060"])]
        assert adopted["a"] == []
        assert resyncs == {"a": 1, "b": 1}
    finally:
        await a.stop()
        await b.stop()
