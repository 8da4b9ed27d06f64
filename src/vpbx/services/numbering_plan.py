"""Imports the Russian numbering plan (Rossvyaz ABC-3xx/4xx/8xx and DEF-9xx CSV files) into the
installation-wide `number_ranges` table, which `vpbx.domain.regions.region_of` reads for mobile
ranges. Importing a file replaces the rows of the codes it contains.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.regions import decode_plan, parse_numbering_plan
from vpbx.storage import tables as t

__all__ = ["import_numbering_plan"]

BATCH = 5000


async def import_numbering_plan(conn: AsyncConnection, data: bytes) -> int:
    """Store every row of one CSV (bytes in windows-1251 or UTF-8); returns the row count."""
    ranges = list(parse_numbering_plan(decode_plan(data)))
    rows = [
        {
            "code": r.code,
            "range_from": r.range_from,
            "range_to": r.range_to,
            "operator": r.operator,
            "region": r.region,
        }
        for r in ranges
    ]
    codes = sorted({r.code for r in ranges})
    if codes:
        await conn.execute(sa.delete(t.number_ranges).where(t.number_ranges.c.code.in_(codes)))
    for start in range(0, len(rows), BATCH):
        await conn.execute(sa.insert(t.number_ranges), rows[start : start + BATCH])
    return len(rows)
