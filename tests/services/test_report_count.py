"""The calls report's total is counted without sorting (both backends): a sorted subquery is not
flattened by PostgreSQL, which then reads and sorts every matching row to count them (2 s for
600,000 calls in the `cabinet:` benchmark); unsorted, the count is an index-only scan."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account, CallStatus
from vpbx.services.accounts import create_account
from vpbx.services.entities import EntityService
from vpbx.services.reports import CallFilter, call_page
from vpbx.storage import tables as t

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


async def test_the_total_is_counted_without_order_by(engine: AsyncEngine) -> None:
    seen: list[str] = []

    def capture(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="count"), NOW)
        await conn.execute(
            sa.insert(t.calls),
            [
                {
                    "account_id": account_id,
                    "started_at": NOW - dt.timedelta(minutes=n),
                    "direction": "incoming",
                    "session_type": "",
                    "status": "missed" if n % 2 else "answered",
                    "caller": f"7916000000{n}",
                    "called": "74950000001",
                    "employee_id": 7 if n < 3 else None,
                    "contact_name": "",
                    "wait_seconds": 0,
                    "talk_seconds": 0,
                    "tag_ids": [],
                    "recording_file_ids": [],
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(5)
            ],
        )
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: NOW)
        sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            everything = await call_page(svc, CallFilter(), "-talk_seconds", 2, 0)
            missed = await call_page(svc, CallFilter(status=CallStatus.MISSED), None, 1, 1)
            his = await call_page(svc, CallFilter(employee_id=7), None, 50, 0)
        finally:
            sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)

    assert (everything.total, len(everything.items)) == (5, 2)
    assert (missed.total, len(missed.items)) == (2, 1)
    assert (his.total, len(his.items)) == (3, 3)
    counts = [s for s in seen if "count(" in s.lower()]
    assert len(counts) == 3
    assert not [s for s in counts if "order by" in s.lower()], counts
