"""Review decisions, the audit trail, plausibility flags on observations, review-queue indexes,
how far each sensitive species is generalised, and anonymised accounts.

Revision ID: 8015ba889ab0
Revises: bf73998d687b
Create Date: 2026-11-26 08:46:17.785516
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = "8015ba889ab0"
down_revision: str | Sequence[str] | None = "bf73998d687b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["user_account.id"],
            name=op.f("fk_audit_event_actor_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_at_id", ["at", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_event_entity_entity_id_at", ["entity", "entity_id", "at"], unique=False
        )

    op.create_table(
        "review_decision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('validated', 'rejected', 'needs_info')",
            name=op.f("ck_review_decision_decision_known"),
        ),
        sa.CheckConstraint(
            "target IN ('observation', 'visit')", name=op.f("ck_review_decision_target_known")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["user_account.id"],
            name=op.f("fk_review_decision_reviewer_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decision")),
    )
    with op.batch_alter_table("review_decision", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_decision_target_target_id_created_at",
            ["target", "target_id", "created_at"],
            unique=False,
        )

    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("flags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.create_index(
            "ix_observation_review_queue",
            ["created_at", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('pending', 'needs_info')"),
            postgresql_where=sa.text("status IN ('pending', 'needs_info')"),
        )

    with op.batch_alter_table("species", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "generalisation",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="grid_10km",
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_species_generalisation_known"),
            "generalisation IN ('grid_1km', 'grid_10km', 'commune')",
        )

    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_visit_review_queue",
            ["created_at", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('pending', 'needs_info')"),
            postgresql_where=sa.text("status IN ('pending', 'needs_info')"),
        )

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymised_at", app.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")

    with op.batch_alter_table("survey_visit", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_survey_visit_review_queue",
            sqlite_where=sa.text("status IN ('pending', 'needs_info')"),
            postgresql_where=sa.text("status IN ('pending', 'needs_info')"),
        )

    with op.batch_alter_table("species", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_species_generalisation_known"), type_="check")
        batch_op.drop_column("generalisation")

    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_observation_review_queue",
            sqlite_where=sa.text("status IN ('pending', 'needs_info')"),
            postgresql_where=sa.text("status IN ('pending', 'needs_info')"),
        )
        batch_op.drop_column("flags")

    with op.batch_alter_table("review_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_review_decision_target_target_id_created_at")

    op.drop_table("review_decision")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity_entity_id_at")
        batch_op.drop_index("ix_audit_event_at_id")

    op.drop_table("audit_event")
