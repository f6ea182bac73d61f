"""accounts species zones observations

Revision ID: 13d1b1d7af00
Revises:
Create Date: 2026-11-26 05:40:55.748879
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "13d1b1d7af00"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "species",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cd_nom", sa.Integer(), nullable=False),
        sa.Column("cd_ref", sa.Integer(), nullable=False),
        sa.Column("scientific_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("authority", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("vernacular_name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("vernacular_en", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("group", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rank", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("kingdom", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("family", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("taxref_version", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("search_text", sqlmodel.sql.sqltypes.AutoString(length=1200), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_species")),
        sa.UniqueConstraint("cd_nom", name=op.f("uq_species_cd_nom")),
    )
    with op.batch_alter_table("species", schema=None) as batch_op:
        batch_op.create_index("ix_species_cd_ref", ["cd_ref"], unique=False)
        batch_op.create_index("ix_species_group", ["group"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('sentinel', 'teacher', 'ecologist', 'admin')",
            name=op.f("ck_user_account_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "zone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone")),
        sa.UniqueConstraint("code", name=op.f("uq_zone_code")),
    )
    op.create_table(
        "observation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("observer_id", sa.Uuid(), nullable=False),
        sa.Column("species_id", sa.Uuid(), nullable=False),
        sa.Column("observed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("count_unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("public_latitude", sa.Float(), nullable=False),
        sa.Column("public_longitude", sa.Float(), nullable=False),
        sa.Column("public_accuracy_m", sa.Float(), nullable=True),
        sa.Column("generalised", sa.Boolean(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "count_unit IN ('individuals', 'nests')", name=op.f("ck_observation_count_unit_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'validated', 'rejected', 'needs_info')",
            name=op.f("ck_observation_status_known"),
        ),
        sa.CheckConstraint(
            '"count" >= 0 AND "count" <= 100000', name=op.f("ck_observation_count_range")
        ),
        sa.CheckConstraint(
            "latitude >= -90 AND latitude <= 90", name=op.f("ck_observation_latitude_range")
        ),
        sa.CheckConstraint(
            "longitude >= -180 AND longitude <= 180", name=op.f("ck_observation_longitude_range")
        ),
        sa.ForeignKeyConstraint(
            ["observer_id"],
            ["user_account.id"],
            name=op.f("fk_observation_observer_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["species_id"],
            ["species.id"],
            name=op.f("fk_observation_species_id_species"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zone.id"], name=op.f("fk_observation_zone_id_zone"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
        sa.UniqueConstraint(
            "observer_id", "client_id", name=op.f("uq_observation_observer_id_client_id")
        ),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index("ix_observation_observed_at_id", ["observed_at", "id"], unique=False)
        batch_op.create_index(
            "ix_observation_observer_id_observed_at", ["observer_id", "observed_at"], unique=False
        )
        batch_op.create_index(
            "ix_observation_public_longitude_public_latitude",
            ["public_longitude", "public_latitude"],
            unique=False,
        )
        batch_op.create_index("ix_observation_species_id", ["species_id"], unique=False)
        batch_op.create_index(
            "ix_observation_status_observed_at", ["status", "observed_at"], unique=False
        )
        batch_op.create_index("ix_observation_updated_at", ["updated_at"], unique=False)
        batch_op.create_index("ix_observation_zone_id", ["zone_id"], unique=False)

    op.create_table(
        "refresh_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_refresh_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_refresh_token_token_digest")),
    )
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_token_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_token_user_id")

    op.drop_table("refresh_token")
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_zone_id")
        batch_op.drop_index("ix_observation_updated_at")
        batch_op.drop_index("ix_observation_status_observed_at")
        batch_op.drop_index("ix_observation_species_id")
        batch_op.drop_index("ix_observation_public_longitude_public_latitude")
        batch_op.drop_index("ix_observation_observer_id_observed_at")
        batch_op.drop_index("ix_observation_observed_at_id")

    op.drop_table("observation")
    op.drop_table("zone")
    op.drop_table("user_account")
    with op.batch_alter_table("species", schema=None) as batch_op:
        batch_op.drop_index("ix_species_group")
        batch_op.drop_index("ix_species_cd_ref")

    op.drop_table("species")
    op.drop_table("login_throttle")
