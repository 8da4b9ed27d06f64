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


def main(argv: list[str] | None = None) -> int:
    """`python -m vpbx.services.numbering_plan ABC-3xx.csv DEF-9xx.csv …` into the database."""
    import argparse
    import asyncio
    from pathlib import Path

    from vpbx.settings import Settings
    from vpbx.storage.db import make_async_engine

    parser = argparse.ArgumentParser(description="import Rossvyaz numbering-plan CSV files")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    blobs = [(path, path.read_bytes()) for path in args.files]

    async def go() -> None:
        engine = make_async_engine(Settings().resolved_database_url())
        try:
            async with engine.begin() as conn:
                for path, data in blobs:
                    print(f"{path}: {await import_numbering_plan(conn, data)} ranges")
        finally:
            await engine.dispose()

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
