"""Inventory baselines (the CPIE's counts yearly figures are compared with) and the CPIE's
codes of survey sites, by which baselines join a site's series.

Revision ID: 697415fd842c
Revises: 3c1f9e27a4d5
Create Date: 2026-11-26 09:55:21.139070
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "697415fd842c"
down_revision: str | Sequence[str] | None = "3c1f9e27a4d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "baseline",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("species_id", sa.Uuid(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.Float(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("natural_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "unit IN ('individuals', 'nests', 'presence')", name=op.f("ck_baseline_unit_known")
        ),
        sa.CheckConstraint('"count" >= 0', name=op.f("ck_baseline_count_not_negative")),
        sa.CheckConstraint("year >= 1900 AND year <= 2100", name=op.f("ck_baseline_year_range")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["survey_site.id"],
            name=op.f("fk_baseline_site_id_survey_site"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["species_id"],
            ["species.id"],
            name=op.f("fk_baseline_species_id_species"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zone.id"], name=op.f("fk_baseline_zone_id_zone"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline")),
    )
    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.create_index("ix_baseline_natural_key", ["natural_key"], unique=True)
        batch_op.create_index("ix_baseline_species_id_year", ["species_id", "year"], unique=False)

    with op.batch_alter_table("survey_site", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_survey_site_code"), ["code"])


def downgrade() -> None:
    with op.batch_alter_table("survey_site", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_survey_site_code"), type_="unique")
        batch_op.drop_column("code")

    with op.batch_alter_table("baseline", schema=None) as batch_op:
        batch_op.drop_index("ix_baseline_species_id_year")
        batch_op.drop_index("ix_baseline_natural_key")

    op.drop_table("baseline")
