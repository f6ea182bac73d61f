"""Survey sites, their visits and the counts of each visit; observations indexed by species
and time for the first date of each year.

Revision ID: bf73998d687b
Revises: 5cd277699dd8
Create Date: 2026-11-26 08:39:41.388382
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "bf73998d687b"
down_revision: str | Sequence[str] | None = "5cd277699dd8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_site",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("class_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=True),
        sa.Column("zone_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('nest_site', 'garden', 'transect')", name=op.f("ck_survey_site_kind_known")
        ),
        sa.CheckConstraint(
            "latitude >= -90 AND latitude <= 90", name=op.f("ck_survey_site_latitude_range")
        ),
        sa.CheckConstraint(
            "longitude >= -180 AND longitude <= 180", name=op.f("ck_survey_site_longitude_range")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_survey_site_owner_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zone.id"], name=op.f("fk_survey_site_zone_id_zone"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_site")),
        sa.UniqueConstraint(
            "owner_id", "client_id", name=op.f("uq_survey_site_owner_id_client_id")
        ),
    )
    with op.batch_alter_table("survey_site", schema=None) as batch_op:
        batch_op.create_index("ix_survey_site_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_survey_site_owner_id_created_at", ["owner_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_survey_site_updated_at", ["updated_at"], unique=False)
        batch_op.create_index("ix_survey_site_zone_id", ["zone_id"], unique=False)

    op.create_table(
        "survey_visit",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("observer_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("observers", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("wind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("cloud_pct", sa.Integer(), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'validated', 'rejected', 'needs_info')",
            name=op.f("ck_survey_visit_status_known"),
        ),
        sa.CheckConstraint(
            "wind IS NULL OR wind IN ('nul', 'leger', 'modere', 'fort')",
            name=op.f("ck_survey_visit_wind_known"),
        ),
        sa.CheckConstraint(
            "cloud_pct IS NULL OR (cloud_pct >= 0 AND cloud_pct <= 100)",
            name=op.f("ck_survey_visit_cloud_range"),
        ),
        sa.CheckConstraint(
            "duration_min >= 1 AND duration_min <= 1440",
            name=op.f("ck_survey_visit_duration_range"),
        ),
        sa.CheckConstraint(
            "observers >= 1 AND observers <= 100", name=op.f("ck_survey_visit_observers_range")
        ),
        sa.CheckConstraint(
            "temperature_c IS NULL OR (temperature_c >= -30 AND temperature_c <= 50)",
            name=op.f("ck_survey_visit_temperature_range"),
        ),
        sa.ForeignKeyConstraint(
            ["observer_id"],
            ["user_account.id"],
            name=op.f("fk_survey_visit_observer_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["survey_site.id"],
            name=op.f("fk_survey_visit_site_id_survey_site"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_visit")),
        sa.UniqueConstraint(
            "observer_id", "client_id", name=op.f("uq_survey_visit_observer_id_client_id")
        ),
    )
    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_visit_site_id_started_at", ["site_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_survey_visit_status_started_at", ["status", "started_at"], unique=False
        )
        batch_op.create_index("ix_survey_visit_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "survey_visit_count",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("species_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("occupied", sa.Integer(), nullable=True),
        sa.Column("unoccupied", sa.Integer(), nullable=True),
        sa.Column("destroyed", sa.Integer(), nullable=True),
        sa.Column("artificial", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            '"count" IS NULL OR ("count" >= 0 AND "count" <= 100000)',
            name=op.f("ck_survey_visit_count_count"),
        ),
        sa.CheckConstraint(
            "(occupied IS NULL OR (occupied >= 0 AND occupied <= 10000)) AND (unoccupied IS NULL OR (unoccupied >= 0 AND unoccupied <= 10000)) AND (destroyed IS NULL OR (destroyed >= 0 AND destroyed <= 10000))",
            name=op.f("ck_survey_visit_count_nests"),
        ),
        sa.ForeignKeyConstraint(
            ["species_id"],
            ["species.id"],
            name=op.f("fk_survey_visit_count_species_id_species"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["survey_visit.id"],
            name=op.f("fk_survey_visit_count_visit_id_survey_visit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_visit_count")),
        sa.UniqueConstraint(
            "visit_id",
            "species_id",
            "artificial",
            name=op.f("uq_survey_visit_count_visit_id_species_id_artificial"),
        ),
    )
    with op.batch_alter_table("survey_visit_count", schema=None) as batch_op:
        batch_op.create_index("ix_survey_visit_count_species_id", ["species_id"], unique=False)

    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_species_id"))
        batch_op.create_index(
            "ix_observation_species_id_observed_at", ["species_id", "observed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_species_id_observed_at")
        batch_op.create_index(batch_op.f("ix_observation_species_id"), ["species_id"], unique=False)

    with op.batch_alter_table("survey_visit_count", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_visit_count_species_id")

    op.drop_table("survey_visit_count")
    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_visit_updated_at")
        batch_op.drop_index("ix_survey_visit_status_started_at")
        batch_op.drop_index("ix_survey_visit_site_id_started_at")

    op.drop_table("survey_visit")
    with op.batch_alter_table("survey_site", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_site_zone_id")
        batch_op.drop_index("ix_survey_site_updated_at")
        batch_op.drop_index("ix_survey_site_owner_id_created_at")
        batch_op.drop_index("ix_survey_site_created_at_id")

    op.drop_table("survey_site")
