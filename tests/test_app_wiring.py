"""The composition root's wiring of configuration: the switch's own calls (internal, outgoing,
pickups) and the call logic read one snapshot cache, and a change notification drops it."""

from __future__ import annotations

from pathlib import Path

from vpbx.app import build_switch
from vpbx.services.talk_records import SqlTalkRecords
from vpbx.settings import Settings


async def test_the_switch_and_the_call_logic_share_the_snapshot_cache_a_change_drops(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'vpbx.db'}",
        sip_tls_port=0,
        generate_system_messages=False,
    )
    app = build_switch(settings)
    try:
        assert app.pbx.configs is app.runner.snapshots
        dropped: list[int] = []
        app.runner.snapshots.invalidate = dropped.append  # type: ignore[method-assign,assignment]
        assert app.listener is not None
        app.listener.on_change(7, "local")
        assert dropped == [7]
    finally:
        await app.engine.dispose()


async def test_what_talk_options_change_drops_the_snapshot_cache(tmp_path: Path) -> None:
    """TALK-6/7 write the configuration from the switch itself: the next call must see it."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'vpbx.db'}",
        sip_tls_port=0,
        generate_system_messages=False,
    )
    app = build_switch(settings)
    try:
        records = app.runner.talk_records
        assert isinstance(records, SqlTalkRecords)
        dropped: list[int] = []
        app.runner.snapshots.invalidate = dropped.append  # type: ignore[method-assign,assignment]
        assert records.on_change is not None
        records.on_change(7)
        assert dropped == [7]
        assert app.peers is None  # one node: nobody else to tell
    finally:
        await app.engine.dispose()


async def test_with_redis_the_other_nodes_are_told_of_talk_option_changes(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'vpbx.db'}",
        sip_tls_port=0,
        generate_system_messages=False,
        redis_url="redis://127.0.0.1:1/0",
    )
    app = build_switch(settings)
    try:
        assert app.peers is not None
        assert app.peers.redis_url == settings.redis_url
    finally:
        if app.peers is not None:
            await app.peers.aclose()
        await app.engine.dispose()
