"""The packaged Alembic migrations, on SQLite and PostgreSQL (the db_url fixture runs both)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from vpbx.storage import migrate
from vpbx.storage.db import make_async_engine, make_sync_engine
from vpbx.storage.tables import metadata


def _inspect(url: str) -> dict[str, Any]:
    """Everything the schema consists of, by name, for before/after comparisons."""
    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (fk["name"] or "", fk["referred_table"], fk["options"].get("ondelete") or "")
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(ix["name"] or "" for ix in inspector.get_indexes(table)),
                "uniques": sorted(
                    uq["name"] or "" for uq in inspector.get_unique_constraints(table)
                ),
            }
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def test_empty_database_differs_by_every_table(db_url: str) -> None:
    # The diff is a real comparison, not vacuously empty: on an empty database it is every table.
    diff = migrate.schema_diff(db_url)
    assert {d[1].name for d in diff if d[0] == "add_table"} == set(metadata.tables)
    assert migrate.current(db_url) is None


def test_upgrade_to_head_yields_exactly_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)

    assert migrate.schema_diff(db_url) == []
    schema = _inspect(db_url)
    assert set(schema) == set(metadata.tables) | {"alembic_version"}
    # Spot checks of what compare_metadata is lenient about: FK names and ON DELETE.
    assert schema["group_members"]["fks"] == [
        ("fk_group_members_employee_id_employees", "employees", "CASCADE"),
        ("fk_group_members_group_id_groups", "groups", "CASCADE"),
    ]
    assert "uq_api_tokens_token_hash" in schema["api_tokens"]["uniques"]
    assert "ix_calls_account_id_started_at" in schema["calls"]["indexes"]


def test_schema_diff_sees_column_type_drift(db_url: str) -> None:
    # compare_type is on, and variants resolve per dialect: the primary keys are
    # BigInteger().with_variant(Integer(), "sqlite"), so a plain BIGINT id is drift on SQLite
    # (it would not alias the rowid) and exactly right on PostgreSQL.
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["calls"].c["tag_ids"].type = sa.Text()  # JSON in the models
    drifted.tables["accounts"].c["enabled"].type = sa.Integer()  # Boolean
    drifted.tables["files"].c["size_bytes"].type = sa.Integer()  # BigInteger
    drifted.tables["accounts"].c["id"].type = sa.BigInteger()
    engine = make_sync_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        drifted.create_all(engine)
        sqlite = engine.dialect.name == "sqlite"
    finally:
        engine.dispose()

    changed = {
        (op[2], op[3])
        for entry in migrate.schema_diff(db_url)
        for op in (entry if isinstance(entry, list) else [entry])
        if op[0] == "modify_type"
    }

    expected = {("calls", "tag_ids"), ("accounts", "enabled"), ("files", "size_bytes")}
    assert changed == (expected | {("accounts", "id")} if sqlite else expected)


def test_current_is_head_after_upgrade(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_upgrading_twice_is_a_no_op(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_sync_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO number_ranges (code, range_from, range_to, operator, region)"
                    " VALUES (495, 1000000, 9999999, 'op', 'Moscow')"
                )
            )
        before = _inspect(db_url)

        migrate.upgrade(db_url)

        assert _inspect(db_url) == before
        assert migrate.current(db_url) == migrate.head()
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT code, region FROM number_ranges")).all()
        assert [tuple(r) for r in rows] == [(495, "Moscow")]
    finally:
        engine.dispose()


def test_downgrade_to_base_leaves_no_tables(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")

    assert set(_inspect(db_url)) == {"alembic_version"}
    assert migrate.current(db_url) is None

    # And back up again: the round trip ends at exactly the models.
    migrate.upgrade(db_url)
    assert migrate.schema_diff(db_url) == []


def test_sqlite_table_rebuilds_keep_referencing_rows(tmp_path: Path) -> None:
    # Batch mode rebuilds an SQLite table (copy, DROP, rename); with foreign keys on, the DROP
    # of accounts would cascade to every account-owned row. migration_connection turns them off.
    url = f"sqlite:///{tmp_path / 'vpbx.db'}"
    migrate.upgrade(url)
    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        stamps = {"created_at": now, "updated_at": now}
        with engine.begin() as connection:
            connection.execute(
                metadata.tables["accounts"].insert(),
                {
                    "id": 1,
                    "name": "a",
                    "timezone": "UTC",
                    "transfer_caller_id": "",
                    "sip_uri_transfer": False,
                    "callback_enabled": False,
                    "lead_callback_enabled": False,
                    "enabled": True,
                    **stamps,
                },
            )
            connection.execute(
                metadata.tables["tags"].insert(),
                {"account_id": 1, "name": "t", "color": "red", **stamps},
            )

        with migrate.migration_connection(engine) as connection:
            operations = Operations(MigrationContext.configure(connection))
            with operations.batch_alter_table("accounts", recreate="always") as batch:
                batch.add_column(sa.Column("probe", sa.Text(), nullable=True))

        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM tags").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


async def test_async_engine_sees_the_migrated_schema(migrated_db_url: str) -> None:
    # The URL alone selects the database (on PostgreSQL: the test's schema, via search_path), so
    # the application's async engine finds the tables the sync migration created.
    engine = make_async_engine(migrated_db_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(sa.table("calls"))
            )
            if engine.dialect.name == "postgresql":
                schema = await connection.scalar(sa.text("SELECT current_schema()"))
                assert schema is not None
                assert schema.startswith("vpbx_t_")
    finally:
        await engine.dispose()
    assert count == 0
