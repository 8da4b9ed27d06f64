"""Domain tests on a real database, both backends (see tests/dbs.py).

`tenants` opens an async engine on a migrated database and hands out `Tenant`s: one account
each, whose service calls run in their own transaction (as one API request would).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture, make_test_database
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account
from vpbx.services.entities import EntityService
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")

NOW = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
T = TypeVar("T")


def clock() -> dt.datetime:
    return NOW


class Tenant:
    """One account of the database; every call is one transaction of its own."""

    def __init__(self, engine: AsyncEngine, account_id: int) -> None:
        self.engine = engine
        self.account_id = account_id

    def actor(self, role: Role = Role.ADMIN) -> Actor:
        return Actor(role, self.account_id)

    async def run(
        self, action: Callable[[EntityService], Awaitable[T]], role: Role = Role.ADMIN
    ) -> T:
        async with self.engine.begin() as conn:
            return await action(EntityService(conn, self.actor(role), clock))

    async def create(
        self, name: str, data: Mapping[str, Any], role: Role = Role.ADMIN
    ) -> dict[str, Any]:
        out = await self.run(lambda s: s.create(name, data), role)
        return out.model_dump(mode="json")

    async def replace(
        self, name: str, entity_id: int, data: Mapping[str, Any], role: Role = Role.ADMIN
    ) -> dict[str, Any]:
        out = await self.run(lambda s: s.replace(name, entity_id, data), role)
        return out.model_dump(mode="json")

    async def update(
        self, name: str, entity_id: int, patch: Mapping[str, Any], role: Role = Role.ADMIN
    ) -> dict[str, Any]:
        out = await self.run(lambda s: s.update(name, entity_id, patch), role)
        return out.model_dump(mode="json")

    async def get(self, name: str, entity_id: int) -> dict[str, Any]:
        out = await self.run(lambda s: s.get(name, entity_id))
        return out.model_dump(mode="json")

    async def delete(self, name: str, entity_id: int, confirm: bool = False) -> None:
        await self.run(lambda s: s.delete(name, entity_id, confirm=confirm))

    async def count(self, table: sa.Table) -> int:
        async with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).where(table.c.account_id == self.account_id)
            return int((await conn.execute(query)).scalar_one())


class Tenants:
    """Creates accounts in one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def new(self, name: str = "Ромашка", **settings: Any) -> Tenant:
        async with self.engine.begin() as conn:
            account_id = await create_account(conn, Account(name=name, **settings), NOW)
        return Tenant(self.engine, account_id)

    async def scalar(self, query: sa.Select[Any]) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one()

    async def rows(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).all())


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def tenants(engine: AsyncEngine) -> Tenants:
    return Tenants(engine)


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


@contextmanager
def _second_database(kind: str, tmp_path: Path) -> Iterator[str]:
    place = tmp_path / "second"
    place.mkdir()
    with make_test_database(kind, place) as url:
        upgrade(url)
        yield url


@pytest.fixture
def other_db_url(migrated_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh migrated database of the same backend as `migrated_db_url`."""
    with _second_database(_backend(migrated_db_url), tmp_path) as url:
        yield url


@pytest.fixture
def other_backend_db_url(migrated_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database of the other backend (PostgreSQL for SQLite and back)."""
    other = {"sqlite": "postgres", "postgres": "sqlite"}[_backend(migrated_db_url)]
    with _second_database(other, tmp_path) as url:
        yield url
