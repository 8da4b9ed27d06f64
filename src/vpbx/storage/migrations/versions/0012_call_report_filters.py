"""indexes for the calls report's employee and status filters (CDR-1): the page, newest first,
is read from the index and its count is an index-only scan (docs/decisions.md, the benchmark's
`cabinet:` rows)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_calls_account_id_employee_id_started_at"),
        "calls",
        ["account_id", "employee_id", "started_at"],
    )
    op.create_index(
        op.f("ix_calls_account_id_status_started_at"),
        "calls",
        ["account_id", "status", "started_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_account_id_status_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_account_id_employee_id_started_at"), table_name="calls")
