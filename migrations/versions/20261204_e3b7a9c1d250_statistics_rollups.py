"""statistics rollups: yearly cells and site-years

The yearly figures of the validated observations per audience, local year, taxon and zone, and
each site's yearly values from its validated visits, which /stats/yearly and /stats/comparison
read instead of aggregating every record on each call (app.surveys.rollups). Filled here from
the existing records, in the territory's time zone.

Revision ID: e3b7a9c1d250
Revises: c5d1e8f24a07
Create Date: 2026-12-04 20:00:00.000000
"""

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e3b7a9c1d250"
down_revision: str | Sequence[str] | None = "c5d1e8f24a07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tz() -> ZoneInfo:
    import os

    return ZoneInfo(os.environ.get("SENTINELLES_TERRITORY_TIMEZONE") or "Europe/Paris")


def upgrade() -> None:
    op.create_table(
        "stats_yearly_cell",
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cd_ref", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=False),
        sa.Column("individuals", sa.Integer(), nullable=False),
        sa.Column("nests", sa.Integer(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("in_individuals", sa.Integer(), nullable=False),
        sa.Column("in_nests", sa.Integer(), nullable=False),
        sa.Column("largest", sa.Integer(), nullable=True),
        sa.Column("observers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "audience", "year", "cd_ref", "zone_id", name=op.f("pk_stats_yearly_cell")
        ),
    )
    op.create_index("ix_stats_yearly_cell_cd_ref_year", "stats_yearly_cell", ["cd_ref", "year"])
    op.create_table(
        "stats_site_year",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("species_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "species_id", "year", name=op.f("pk_stats_site_year")),
    )
    op.create_index(op.f("ix_stats_site_year_year"), "stats_site_year", ["year"])

    from sqlmodel import Session

    from app.surveys import rollups

    with Session(bind=op.get_bind()) as session:
        rollups.rebuild(session, tz=_tz())
        session.flush()


def downgrade() -> None:
    op.drop_index(op.f("ix_stats_site_year_year"), table_name="stats_site_year")
    op.drop_table("stats_site_year")
    op.drop_index("ix_stats_yearly_cell_cd_ref_year", table_name="stats_yearly_cell")
    op.drop_table("stats_yearly_cell")
