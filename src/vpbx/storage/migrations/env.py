"""Alembic environment for the vpbx schema (run by vpbx.storage.migrate or the alembic CLI).

The database comes from, in order: a connection passed in ``config.attributes["connection"]``
(what :mod:`vpbx.storage.migrate` does), ``-x url=...`` on the alembic command line, the
``sqlalchemy.url`` option, or the ``VPBX_DATABASE_URL`` environment variable.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from vpbx.storage.db import make_sync_engine, sync_url
from vpbx.storage.migrate import context_options, migration_connection

config = context.config


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("VPBX_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database: pass -x url=..., or set VPBX_DATABASE_URL")
    return sync_url(url)


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, **context_options(connection.dialect))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the SQL out (``alembic upgrade --sql``) instead of running it."""
    url = sa.make_url(_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(url.get_dialect()()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_sync_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with migration_connection(engine) as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
