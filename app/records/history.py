"""Reading the review history of records: what observers and the phone's sync show."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.records.models import ReviewDecision, ReviewTarget
from app.records.schemas import ReviewPublic


def reviews_of(
    session: Session, target: ReviewTarget, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ReviewPublic]]:
    """Each record's decisions, oldest first, for a page of records in one query."""
    found: dict[uuid.UUID, list[ReviewPublic]] = defaultdict(list)
    if not ids:
        return found
    statement = (
        select(ReviewDecision)
        .where(col(ReviewDecision.target) == target.value, col(ReviewDecision.target_id).in_(ids))
        .order_by(col(ReviewDecision.created_at), col(ReviewDecision.id))
    )
    for decision in session.exec(statement):
        found[decision.target_id].append(
            ReviewPublic(
                decision=decision.decision,
                comment=decision.comment,
                created_at=decision.created_at,
            )
        )
    return found
