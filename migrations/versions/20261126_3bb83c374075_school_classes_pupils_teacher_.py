"""School classes and their pupils (pseudonyms only), the teachers' invitation codes, and on
observations and visits the pupil who made them and the teacher's check.

Revision ID: 3bb83c374075
Revises: 697415fd842c
Create Date: 2026-11-26 12:46:19.695557
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "3bb83c374075"
down_revision: str | Sequence[str] | None = "697415fd842c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "school_class",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("teacher_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("school", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("school_year", sqlmodel.sql.sqltypes.AutoString(length=9), nullable=False),
        sa.Column("join_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("closed_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pupils_erased_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["user_account.id"],
            name=op.f("fk_school_class_account_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["user_account.id"],
            name=op.f("fk_school_class_teacher_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_class")),
        sa.UniqueConstraint("join_code", name=op.f("uq_school_class_join_code")),
    )
    with op.batch_alter_table("school_class", schema=None) as batch_op:
        batch_op.create_index("ix_school_class_teacher_id", ["teacher_id"], unique=False)

    op.create_table(
        "teacher_invitation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("used_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_teacher_invitation_created_by_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["used_by"],
            ["user_account.id"],
            name=op.f("fk_teacher_invitation_used_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teacher_invitation")),
        sa.UniqueConstraint("code", name=op.f("uq_teacher_invitation_code")),
    )
    op.create_table(
        "pupil",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("class_id", sa.Uuid(), nullable=False),
        sa.Column("pseudonym", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["school_class.id"],
            name=op.f("fk_pupil_class_id_school_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupil")),
        sa.UniqueConstraint("class_id", "pseudonym", name=op.f("uq_pupil_class_id_pseudonym")),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pupil_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("class_checked_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_observation_pupil_id_pupil"),
            "pupil",
            ["pupil_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pupil_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_survey_visit_pupil_id_pupil"),
            "pupil",
            ["pupil_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_survey_visit_pupil_id_pupil"), type_="foreignkey")
        batch_op.drop_column("pupil_id")

    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_observation_pupil_id_pupil"), type_="foreignkey")
        batch_op.drop_column("class_checked_at")
        batch_op.drop_column("pupil_id")

    op.drop_table("pupil")
    op.drop_table("teacher_invitation")
    with op.batch_alter_table("school_class", schema=None) as batch_op:
        batch_op.drop_index("ix_school_class_teacher_id")

    op.drop_table("school_class")
