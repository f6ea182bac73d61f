"""Review decisions: the history of what the CPIE's ecologists decided about each record.

The record's own ``status`` says where it stands now; this table says how it got there (who,
when, which decision, with which comment), so that an observer reads every comment made on their
observation and the CPIE can answer for each validation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class Decision(StrEnum):
    validated = "validated"
    rejected = "rejected"
    needs_info = "needs_info"


class ReviewTarget(StrEnum):
    observation = "observation"
    visit = "visit"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decision"
    __table_args__ = (
        CheckConstraint(f"decision IN ({_in(Decision)})", name="decision_known"),
        CheckConstraint(f"target IN ({_in(ReviewTarget)})", name="target_known"),
        Index(
            "ix_review_decision_target_target_id_created_at", "target", "target_id", "created_at"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    target: str = Field(max_length=16)
    target_id: uuid.UUID
    reviewer_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    decision: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
