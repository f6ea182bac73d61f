"""Review statuses and decisions: where a record stands, and what the CPIE's ecologists decided.

The record's own ``status`` says where it stands now; the decisions' table says how it got there
(who, when, which decision, with which comment), so that an observer reads every comment made on
their observation and the CPIE can answer for each validation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


# Where a record (an observation, a survey visit) stands in review, under the name the API has
# always published. (No docstring: it would become the enum's description in the OpenAPI.)
class ObservationStatus(StrEnum):
    pending = "pending"
    validated = "validated"
    rejected = "rejected"
    needs_info = "needs_info"


# What its observer may still correct: a validated record then goes back to pending, for the
# CPIE to look at again; a rejected one stays as it was judged. Every kind of record follows it.
EDITABLE_STATUSES = frozenset(
    {
        ObservationStatus.pending.value,
        ObservationStatus.needs_info.value,
        ObservationStatus.validated.value,
    }
)


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
