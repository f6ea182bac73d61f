"""observation photos and photo licence

Photos of observations (files in the media storage, described here) and the licence each
account gives its photos by default; existing accounts get CC-BY-4.0.

Revision ID: 5cd277699dd8
Revises: 13d1b1d7af00
Create Date: 2026-11-26 07:03:56.281026
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "5cd277699dd8"
down_revision: str | Sequence[str] | None = "13d1b1d7af00"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "observation_photo",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("observation_id", sa.Uuid(), nullable=False),
        sa.Column("uploader_id", sa.Uuid(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("full_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("large_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("small_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("bytes_full", sa.Integer(), nullable=False),
        sa.Column("bytes_large", sa.Integer(), nullable=False),
        sa.Column("bytes_small", sa.Integer(), nullable=False),
        sa.Column("source_format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("licence", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("has_original", sa.Boolean(), nullable=False),
        sa.Column("exif_latitude", sa.Float(), nullable=True),
        sa.Column("exif_longitude", sa.Float(), nullable=True),
        sa.Column("exif_taken_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "licence IN ('CC0-1.0', 'CC-BY-4.0', 'CC-BY-NC-4.0')",
            name=op.f("ck_observation_photo_licence_known"),
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observation.id"],
            name=op.f("fk_observation_photo_observation_id_observation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["user_account.id"],
            name=op.f("fk_observation_photo_uploader_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_photo")),
        sa.UniqueConstraint(
            "observation_id",
            "content_hash",
            name=op.f("uq_observation_photo_observation_id_content_hash"),
        ),
    )
    with op.batch_alter_table("observation_photo", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observation_photo_observation_id_position",
            ["observation_id", "position"],
            unique=False,
        )

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "photo_licence",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="CC-BY-4.0",
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_user_account_photo_licence_known"),
            "photo_licence IN ('CC0-1.0', 'CC-BY-4.0', 'CC-BY-NC-4.0')",
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_photo_licence_known"), type_="check")
        batch_op.drop_column("photo_licence")

    with op.batch_alter_table("observation_photo", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_photo_observation_id_position")

    op.drop_table("observation_photo")
