"""user account: credit by name in the open data

Whether the person agreed to be credited by their display name in the published open-data
snapshot; off for every existing account (they keep their pseudonym until they choose).

Revision ID: c5d1e8f24a07
Revises: a7c4e2b91f30
Create Date: 2026-12-04 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5d1e8f24a07"
down_revision: str | Sequence[str] | None = "a7c4e2b91f30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credit_by_name", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("credit_by_name")
