"""An index on observation (observer_id, species_id, observed_at): the duplicate flag's look-up
of an observer's stored sightings of a species around given times is then one index range per
species and window, however many other species the observer reported.

Revision ID: a7c4e2b91f30
Revises: 3bb83c374075
Create Date: 2026-12-03 10:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a7c4e2b91f30"
down_revision: str | Sequence[str] | None = "3bb83c374075"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observation_observer_id_species_id_observed_at",
            ["observer_id", "species_id", "observed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_observer_id_species_id_observed_at")
