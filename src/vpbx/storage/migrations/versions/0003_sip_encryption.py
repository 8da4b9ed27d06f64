"""SIP over TLS and SRTP for lines that require it

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing lines stay unencrypted, as they were (the application always writes the column).
    op.add_column(
        "sip_lines",
        sa.Column("encryption", sa.Text(), nullable=False, server_default=sa.text("'none'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("sip_lines") as batch:
        batch.drop_column("encryption")
