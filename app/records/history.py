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
    # Columns, not entities: a review queue's page reads about fifty of them on every call.
    statement = (
        select(
            col(ReviewDecision.target_id),
            col(ReviewDecision.decision),
            col(ReviewDecision.comment),
            col(ReviewDecision.created_at),
        )
        .where(col(ReviewDecision.target) == target.value, col(ReviewDecision.target_id).in_(ids))
        .order_by(col(ReviewDecision.created_at), col(ReviewDecision.id))
    )
    for target_id, decision, comment, created_at in session.exec(statement):
        found[target_id].append(
            ReviewPublic.model_construct(decision=decision, comment=comment, created_at=created_at)
        )
    return found
