"""What the services' tests share: a migrated database on both backends and its async engine
(a module that defines its own `migrated_db_url` or `engine` uses that one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.storage.db import make_async_engine

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()
