"""sound files recorded by phone (FILE-1 «Записать сообщение»): a callback task of kind `record`
keeps the file's name and the longest recording

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("file_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("record_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("record_seconds")
        batch.drop_column("file_name")
