"""callback tasks run by the switch nodes: their kind (callback | callapi), CallAPI's employee and
report row, a node's lease while an attempt runs, and the indexes the scheduler claims by

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("kind", sa.Text(), nullable=True))
        batch.add_column(sa.Column("employee_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("result_call_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_callback_tasks_status_next_attempt_at"),
        "callback_tasks",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_callback_tasks_account_id_caller_status"),
        "callback_tasks",
        ["account_id", "caller", "status"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_callback_tasks_account_id_caller_status"), table_name="callback_tasks")
    op.drop_index(op.f("ix_callback_tasks_status_next_attempt_at"), table_name="callback_tasks")
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("lease_owner")
        batch.drop_column("lease_until")
        batch.drop_column("result_call_id")
        batch.drop_column("employee_id")
        batch.drop_column("kind")
