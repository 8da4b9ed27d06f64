"""Where the converted audio of an account's files lies (SQL behind
`vpbx.switch.prompt_library.PromptFiles`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.storage import tables as t

__all__ = ["SqlPromptFiles"]


class SqlPromptFiles:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def converted_paths(
        self, account_id: int, file_ids: tuple[int, ...]
    ) -> dict[int, str | None]:
        """File id → its converted (8 kHz) audio, for the files of the account among these."""
        query = sa.select(t.files.c.id, t.files.c.converted_path).where(
            t.files.c.account_id == account_id, t.files.c.id.in_(file_ids)
        )
        async with self.engine.connect() as conn:
            return {row.id: row.converted_path for row in await conn.execute(query)}
