"""the toll-fraud guard of outgoing calls

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing accounts get an empty document: read through the entity it is the installation's
    # defaults (Russian numbers, no premium, 10 calls, 600 minutes an hour), so accounts made
    # before the guard are guarded from the first start after the upgrade.
    op.add_column(
        "accounts",
        sa.Column("toll_fraud", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("toll_fraud")
