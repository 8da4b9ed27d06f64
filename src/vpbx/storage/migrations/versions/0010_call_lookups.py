"""indexes for the lookups calls make on the report: by the switch's own id (talk options, tags
after the talk), and by the subscriber (caller-ID history, visits and segments of a caller)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_calls_account_id_switch_call_id"), "calls", ["account_id", "switch_call_id"]
    )
    op.create_index(
        op.f("ix_calls_account_id_caller_started_at"),
        "calls",
        ["account_id", "caller", "started_at"],
    )
    op.create_index(
        op.f("ix_calls_account_id_called_started_at"),
        "calls",
        ["account_id", "called", "started_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_account_id_called_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_account_id_caller_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_account_id_switch_call_id"), table_name="calls")
