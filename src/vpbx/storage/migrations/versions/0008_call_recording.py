"""automatic recording of conversations per account, virtual number and employee (REC-1)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the tables whose entity gained `record_calls` (the Forward operation's `record` lives in the
#: scenario's JSON and needs no column)
TABLES = ("accounts", "numbers", "employees")


def upgrade() -> None:
    # Existing rows record nothing, as before (the application always writes the column).
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("record_calls", sa.Boolean(), nullable=False, server_default=sa.false()),
        )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("record_calls")
