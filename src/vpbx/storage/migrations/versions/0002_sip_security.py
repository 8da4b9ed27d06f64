"""SIP lines: digest hardening and per-line address allow-lists

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing lines get an empty list (usable from anywhere, as before). The database default
    # stays: the application always writes the column, so it only matters to rows like these.
    op.add_column(
        "sip_lines",
        sa.Column("allowed_addresses", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("sip_lines") as batch:
        batch.drop_column("allowed_addresses")
