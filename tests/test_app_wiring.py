"""The composition root's wiring of configuration: the switch's own calls (internal, outgoing,
pickups) and the call logic read one snapshot cache, and a change notification drops it."""

from __future__ import annotations

from pathlib import Path

from vpbx.app import build_switch
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
