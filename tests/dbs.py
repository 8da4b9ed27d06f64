"""Throwaway databases for storage tests, on both backends.

``sqlite``: a fresh file in the test's tmp_path. ``postgres``: a fresh schema ``vpbx_t_<hex>`` in
the PostgreSQL database at ``VPBX_TEST_POSTGRES_URL`` (default: the ``test`` database at
127.0.0.1:5432), dropped with CASCADE afterwards. The server is shared with other test runs, so
each test gets its own schema, and the URL alone selects it (``?options=-csearch_path%3D<schema>``,
a libpq connection option that psycopg 3 passes on for sync and async engines alike), so
``make_sync_engine(url)`` and ``make_async_engine(url)`` both land in it.

A conftest gets the parametrized fixture in one line::

    from tests.dbs import database_fixture

    db_url = database_fixture()                    # an empty database
    migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")  # at head
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from vpbx.storage.migrate import upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("sqlite", "postgres")


def postgres_base_url() -> str:
    return os.environ.get("VPBX_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextmanager
def sqlite_database(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "vpbx.db"
    if path.exists():
        raise FileExistsError(f"{path} already exists: one database per test")
    # tmp_path is absolute, so this is the sqlite:////abs/path/vpbx.db form.
    yield f"sqlite:///{path}"


@contextmanager
def postgres_schema(base_url: str | None = None) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema; the schema is dropped afterwards."""
    base = sa.make_url(base_url or postgres_base_url())
    shown = base.render_as_string(hide_password=True)
    schema = f"vpbx_t_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        unreachable: str | None = None
        try:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except sa.exc.OperationalError as exc:
            unreachable = str(exc.orig or exc)
        if unreachable is not None:
            # Never skip: a storage test that did not run on PostgreSQL has not passed.
            pytest.fail(
                f"PostgreSQL at {shown} is unreachable: {unreachable}\n"
                "Start it (`make deps-test` runs scripts/ensure-services.sh) or set "
                "VPBX_TEST_POSTGRES_URL to a server with trust auth.",
                pytrace=False,
            )
        given = base.query.get("options", ())
        given = (given,) if isinstance(given, str) else given
        options = " ".join([*given, f"-csearch_path={schema}"])
        url = base.update_query_dict({"options": options})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                # A connection left open by the test would block the DROP forever: fail instead.
                connection.exec_driver_sql("SET LOCAL lock_timeout = '15s'")
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@contextmanager
def make_test_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of kind ("sqlite" or "postgres"); yields its URL."""
    if kind == "sqlite":
        with sqlite_database(tmp_path) as url:
            yield url
    elif kind == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}; expected one of {KINDS}")


def database_params() -> list[Any]:
    """The fixture params: ids exactly "sqlite" and "postgres" (the latter marked `postgres`)."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]


def database_fixture(*, migrated: bool = False, name: str = "db_url") -> Callable[..., Any]:
    """A fixture parametrized over both backends that yields a fresh database URL.

    With migrated=True the database is upgraded to the head revision first.
    """

    @pytest.fixture(name=name, params=database_params())
    def _database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
        with make_test_database(request.param, tmp_path) as url:
            if migrated:
                upgrade(url)
            yield url

    return _database
