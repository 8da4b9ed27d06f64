"""Schema migrations with Alembic, driven from code.

The migration scripts ship inside the package (``vpbx/storage/migrations``), and the Alembic
configuration is built here, so an installed ``vpbx`` migrates a database without any
``alembic.ini``. ``env.py`` takes the connection that these functions open (through
``Config.attributes["connection"]``) and the context options from :func:`context_options`, so
migrating and :func:`schema_diff` compare types the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from vpbx.storage.db import make_sync_engine
from vpbx.storage.tables import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _escape(value: str) -> str:
    # Config options go through ConfigParser interpolation: a literal "%" (URL-encoded passwords,
    # "?options=-csearch_path%3D...") must be doubled.
    return value.replace("%", "%%")


def make_config(url: str | None = None) -> Config:
    """An Alembic configuration for the packaged migrations (and optionally a database URL)."""
    config = Config()
    config.set_main_option("script_location", _escape(str(MIGRATIONS_DIR)))
    if url is not None:
        config.set_main_option("sqlalchemy.url", _escape(url))
    return config


def context_options(dialect: sa.Dialect) -> dict[str, Any]:
    """The MigrationContext options shared by env.py (migrate, autogenerate) and schema_diff."""
    return {
        "target_metadata": metadata,
        # Alembic's own type comparison is enough here, so no custom callable and no filtering:
        # it resolves with_variant() per dialect (the SQLite INTEGER primary keys match
        # BigInteger().with_variant(Integer(), "sqlite"), a BIGINT there does not) and compares
        # JSON, Boolean and BigInteger as reflected on both backends without spurious diffs.
        # tests/storage/test_migrations.py checks both: head diffs empty, real drift is seen.
        "compare_type": True,
        # SQLite cannot ALTER most things: Alembic rebuilds the table ("batch" mode) instead.
        "render_as_batch": dialect.name == "sqlite",
    }


@contextmanager
def migration_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to run migrations on, in one transaction committed on success."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds an SQLite table by copying it and dropping the original; with
            # foreign keys on, that DROP would run ON DELETE CASCADE on the referencing rows.
            # The pragma is ignored inside a transaction, so it is set (and committed) first.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left dangling foreign keys: {broken[:10]}")
        finally:
            if sqlite:  # also on failure: a pooled connection must not go back with FKs off
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at url up to revision."""
    config = make_config(url)
    with _engine(url) as engine, migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at url down to revision ("base" removes every table)."""
    config = make_config(url)
    with _engine(url) as engine, migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current(url: str) -> str | None:
    """The revision the database at url is at (None for a database never migrated)."""
    with _engine(url) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision of the packaged migrations."""
    revision = ScriptDirectory.from_config(make_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return revision


def schema_diff(url: str) -> list[Any]:
    """Alembic's differences between the database at url and the table metadata (empty: equal)."""
    with _engine(url) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=context_options(connection.dialect))
        diff: list[Any] = compare_metadata(context, metadata)
        return diff
