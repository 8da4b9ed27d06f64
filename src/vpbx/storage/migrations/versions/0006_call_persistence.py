"""registrations and calls in progress survive a restart

The `calls` row of a call is written when it starts (status `active`), stamped with the switch
node and the switch's id of the call; `switch_nodes` keeps each node's heartbeat, so the next
start closes what a crash left open as `interrupted`.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("node", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("switch_call_id", sa.Text(), nullable=True))
    op.create_index(op.f("ix_calls_status_node"), "calls", ["status", "node"], unique=False)
    op.create_table(
        "switch_nodes",
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alive_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_switch_nodes")),
    )


def downgrade() -> None:
    op.drop_table("switch_nodes")
    op.drop_index(op.f("ix_calls_status_node"), table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("switch_call_id")
        batch.drop_column("node")
