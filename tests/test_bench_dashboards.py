"""The dashboards' benchmark rows (`vpbx.bench.cabinet`, issue 16's "dashboard queries p95 over
1,000,000 calls") run at a small scale: the bench's own fill writes 1,000 + 100 calls into a
PostgreSQL schema, their daily rollups are made, a real API server answers the timed requests,
the figures are the calls the database holds, the EXPLAIN of the three statements is taken (the
periods by the day read the rollups), and the rows merge into a copy of docs/benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.api.conftest import LiveServer
from tests.dbs import postgres_schema
from vpbx.bench.cabinet import (
    CabinetCampaign,
    cabinet_method,
    dashboard_result,
    measure_dashboards,
    roll_up,
    seed_calls,
)
from vpbx.bench.merge import merge_rows
from vpbx.storage import tables as t
from vpbx.storage.db import make_sync_engine
from vpbx.storage.migrate import upgrade


@pytest.mark.postgres
def test_the_dashboard_rows_measure_explain_and_merge_at_small_scale(tmp_path: Path) -> None:
    with postgres_schema() as url:
        upgrade(url)
        # 5 employees an account instead of 50: creating them is most of the setup
        (big, small), _took = seed_calls(url, [1_000, 100], employees=5)
        assert roll_up(url, [big, small]) > 0
        campaign = CabinetCampaign(calls=1_100, big_calls=1_000)
        with LiveServer(url, tmp_path / "files") as server:
            measure_dashboards(campaign, url, f"http://127.0.0.1:{server.port}", big, small, 3)
            assert server.errors() == []
        engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                incoming = {
                    tenant.account_id: conn.execute(
                        sa.select(sa.func.count()).where(
                            t.calls.c.account_id == tenant.account_id,
                            t.calls.c.direction == "incoming",
                        )
                    ).scalar_one()
                    for tenant in (big, small)
                }
        finally:
            engine.dispose()

    today, month, year = campaign.dashboards
    # a year of calls, all of them within the last 366 days: every incoming one is counted
    assert (year.total, year.reference_total) == (
        incoming[big.account_id],
        incoming[small.account_id],
    )
    assert 400 < year.total < 800  # 60 % of 1,000 are incoming
    assert today.total <= month.total <= year.total
    for case, read in zip(campaign.dashboards, ("totals", "wait", "wait"), strict=True):
        assert len(case.times_ms) == len(case.reference_ms) == 3
        # today by the hour from the calls; 30 and 366 days from the rollups (p90 from bins)
        assert [part.split(" ", 1)[0] for part in case.explain.split("; ")] == [
            "buckets",
            read,
            "employees",
        ]
        assert " ms (" in case.explain
    assert "call_rollups" in year.explain
    assert "call_rollups" not in today.explain
    assert any(line.startswith("dashboard, last 366 days") for line in campaign.log)

    rows = [dashboard_result(campaign, case) for case in campaign.dashboards]
    assert [r.name for r in rows] == [
        f"cabinet: dashboard p95, {label}, PostgreSQL, 1,100 calls (1,000 in this account)"
        for label in ("today, by the hour", "last 30 days, by the day", "last 366 days, by the day")
    ]
    assert all(r.value > 0 and r.reference_value and r.unit == "ms" for r in rows)
    (tmp_path / "benchmarks.json").write_text("[]")
    (tmp_path / "benchmarks.md").write_text(
        "# Benchmarks\n\n| name | value | unit | reference | reference value | ratio | target |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    merge_rows(rows, "cabinet:", cabinet_method(), campaign.log, tmp_path)
    merged = json.loads((tmp_path / "benchmarks.json").read_text())
    assert [r["name"] for r in merged] == [r.name for r in rows]
    assert "Dashboards (CDR-3)" in (tmp_path / "benchmarks.md").read_text()
