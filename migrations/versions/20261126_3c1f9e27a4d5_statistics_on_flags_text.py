"""Extended statistics on the text of the flags (PostgreSQL 14+), so that the planner knows how
many rows a review-queue filter on a flag matches and walks the queue's partial index in order
instead of reading and sorting every waiting row.

Revision ID: 3c1f9e27a4d5
Revises: 8015ba889ab0
Create Date: 2026-11-26 09:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3c1f9e27a4d5"
down_revision: str | Sequence[str] | None = "8015ba889ab0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS = {
    "st_observation_flags_text": "observation",
    "st_survey_visit_flags_text": "survey_visit",
}


def _supported() -> bool:
    bind = op.get_bind()
    version = bind.dialect.server_version_info or (0,)
    return bind.dialect.name == "postgresql" and version >= (14,)


def upgrade() -> None:
    if not _supported():
        return
    for name, table in STATISTICS.items():
        op.execute(
            f"CREATE STATISTICS IF NOT EXISTS {name} ON (CAST(flags AS VARCHAR)) FROM {table}"
        )


def downgrade() -> None:
    if not _supported():
        return
    for name in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
