"""daily rollups of the calls for the dashboards (CDR-3): `call_rollups`,
`call_employee_rollups` and `call_wait_rollups` by the account's local day, `call_rollup_marks`
written by triggers on `calls` (the hours whose days must be rolled up again),
`call_rollup_zones`; the existing calls rolled up here

Revision ID: 0014
Revises: 0013
"""

import datetime as dt
import zoneinfo
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vpbx.storage import call_rollups as r

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _account(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    for name, keys in (
        ("call_rollups", []),
        ("call_employee_rollups", [sa.Column("employee_id", sa.BigInteger(), nullable=False)]),
    ):
        op.create_table(
            name,
            sa.Column("account_id", sa.BigInteger(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("direction", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("number_id", sa.BigInteger(), nullable=True),
            *keys,
            sa.Column("calls", sa.Integer(), nullable=False),
            sa.Column("wait_sum", sa.Float(), nullable=False),
            sa.Column("talk_sum", sa.Float(), nullable=False),
            sa.Column("rating_sum", sa.Integer(), nullable=False),
            sa.Column("ratings", sa.Integer(), nullable=False),
            _account("account_id", name),
        )
        op.create_index(op.f(f"ix_{name}_account_id_day"), name, ["account_id", "day"])
    op.create_table(
        "call_wait_rollups",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("number_id", sa.BigInteger(), nullable=True),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("wait_min", sa.Float(), nullable=False),
        sa.Column("wait_max", sa.Float(), nullable=False),
        _account("account_id", "call_wait_rollups"),
    )
    op.create_index(
        op.f("ix_call_wait_rollups_account_id_day"), "call_wait_rollups", ["account_id", "day"]
    )
    op.create_table(
        "call_rollup_marks",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "hour", name=op.f("pk_call_rollup_marks")),
    )
    op.create_table(
        "call_rollup_zones",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        _account("account_id", "call_rollup_zones"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_call_rollup_zones")),
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    for trigger in r.postgres_triggers() if dialect == "postgresql" else r.SQLITE_TRIGGERS.values():
        op.execute(trigger)
    # the calls already stored, rolled up in each account's zone up to its today
    now = dt.datetime.now(dt.UTC)
    accounts = bind.execute(sa.text("SELECT id, timezone FROM accounts ORDER BY id")).all()
    for account_id, name in accounts:
        earliest = bind.execute(r.first_call(account_id)).scalar_one()
        if earliest is None:
            continue
        zone = zoneinfo.ZoneInfo(name)
        today = now.astimezone(zone).date()
        for statement in r.rebuild_account_statements(dialect, account_id, zone, earliest, today):
            bind.execute(statement)
    if dialect == "postgresql":  # plans for the first dashboards, before autovacuum comes by
        for name in ("call_rollups", "call_employee_rollups", "call_wait_rollups"):
            op.execute(f"ANALYZE {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER calls_rollup_{event} ON calls")
        op.execute("DROP FUNCTION calls_rollup_mark()")
    else:
        for name in r.SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("call_rollup_zones")
    op.drop_table("call_rollup_marks")
    op.drop_index(op.f("ix_call_wait_rollups_account_id_day"), table_name="call_wait_rollups")
    op.drop_table("call_wait_rollups")
    for name in ("call_employee_rollups", "call_rollups"):
        op.drop_index(op.f(f"ix_{name}_account_id_day"), table_name=name)
        op.drop_table(name)
