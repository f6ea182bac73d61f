"""Reviewing: single and bulk decisions with their history and audit, and the review queue.

A decision changes the record's ``status`` and ``updated_at`` (so that the observer's phone
learns of it at its next ``updated_since`` sync), adds a :class:`ReviewDecision` (the history
the observer reads) and an audit event, all in the caller's unit of work. A bulk review is all
or nothing: one unknown id refuses the whole request, with the ids at fault, and then nothing
changes; otherwise it costs three statements whatever the number of ids.

The queue lists what awaits a decision, oldest first (by arrival), from partial indexes that
hold only pending and ``needs_info`` rows: its first page costs the same with a thousand or a
million validated records.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.classes.models import SchoolClass
from app.core.db import new_id, utcnow
from app.core.errors import FieldError, Unprocessable
from app.core.pagination import decode_position, encode_position
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.media.models import ObservationPhoto
from app.media.schemas import present_photo
from app.observations import photos as photos_service
from app.observations import service as observations_service
from app.observations.flags import FLAGS
from app.observations.models import AWAITING_REVIEW_SQL, CountUnit, Observation, ObservationStatus
from app.observations.schemas import ObservationPublic
from app.records.history import reviews_of
from app.records.models import Decision, ReviewDecision, ReviewTarget
from app.review.schemas import (
    BulkReviewItem,
    BulkReviewResponse,
    FlagPublic,
    ObservationQueueItem,
    ObservationQueuePage,
    ObserverBrief,
    QueueFilters,
    ReviewRequest,
    SiteBrief,
    SpeciesBrief,
    VisitQueueItem,
    VisitQueuePage,
)
from app.species.models import Species
from app.surveys import presenting as surveys_presenting
from app.surveys import rollups
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.schemas import VisitPublic
from app.surveys.yearly import SiteKind

_QUEUE = "q"
_MODELS: dict[ReviewTarget, Any] = {
    ReviewTarget.observation: Observation,
    ReviewTarget.visit: Visit,
}
_ENTITIES = {
    ReviewTarget.observation: AuditEntity.observation,
    ReviewTarget.visit: AuditEntity.visit,
}


def explain(codes: Sequence[str]) -> list[FlagPublic]:
    """Flags as an ecologist reads them (one shared, never changed, object per known code:
    a queue's page explains a hundred of them on every call)."""
    return [
        _EXPLAINED.get(code) or FlagPublic(code=code, label=code, explanation=code)
        for code in codes
    ]


_EXPLAINED = {
    code: FlagPublic(code=code, label=flag.label, explanation=flag.explanation)
    for code, flag in FLAGS.items()
}


def all_flags() -> list[FlagPublic]:
    return explain(list(FLAGS))


# --- decisions -------------------------------------------------------------------------------


def _decide(
    session: Session,
    target: ReviewTarget,
    record: Observation | Visit,
    reviewer: User,
    review: ReviewRequest,
) -> None:
    """Record one decision on one record, of either kind: its status, history and audit."""
    decision, comment = review.decision, review.comment
    now = utcnow()
    before = record.status
    record.status = decision.value
    record.updated_at = now
    session.add(record)
    session.add(
        ReviewDecision(
            target=target.value,
            target_id=record.id,
            reviewer_id=reviewer.id,
            decision=decision.value,
            comment=comment,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor_id=reviewer.id,
        entity=_ENTITIES[target],
        entity_id=record.id,
        action=AuditAction.review,
        changes={"status": [before, decision.value], "comment": [None, comment]},
        at=now,
    )
    session.flush()


def review_observation(
    session: Session, *, observation: Observation, reviewer: User, review: ReviewRequest
) -> ObservationPublic:
    _decide(session, ReviewTarget.observation, observation, reviewer, review)
    return observations_service.read_observation(
        session, observation=observation, viewer=Viewer.of(reviewer)
    )


def review_visit(
    session: Session, *, visit: Visit, site: Site, reviewer: User, review: ReviewRequest
) -> VisitPublic:
    _decide(session, ReviewTarget.visit, visit, reviewer, review)
    return surveys_presenting.read_visit(session, visit=visit, site=site)


def bulk_review(
    session: Session,
    *,
    target: ReviewTarget,
    ids: Sequence[uuid.UUID],
    reviewer: User,
    decision: Decision,
    comment: str | None,
) -> BulkReviewResponse:
    """The same decision for every id, or none at all when one of them is refused."""
    model = _MODELS[target]
    wanted = list(dict.fromkeys(ids))  # the order sent, each id once
    rows = session.exec(
        select(col(model.id), col(model.status)).where(
            col(model.id).in_(wanted), col(model.deleted_at).is_(None)
        )
    ).all()
    statuses = dict(rows)
    errors = [
        FieldError(
            field=f"ids.{i}",
            message=f"No {target.value} has this id (or it was deleted).",
            code="review.unknown_id",
        )
        for i, id_ in enumerate(ids)
        if id_ not in statuses
    ]
    if errors:
        raise Unprocessable(
            f"{len(errors)} of the ids cannot be reviewed; nothing was changed.",
            code="review.unknown_ids",
            errors=errors,
        )
    now = utcnow()
    if target is ReviewTarget.observation:
        rollups.mark_observations(session, wanted)
    else:
        rollups.mark_visits(session, wanted)
    session.execute(
        update(model).where(col(model.id).in_(wanted)).values(status=decision.value, updated_at=now)
    )
    session.connection().execute(
        ReviewDecision.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "id": new_id(),
                "target": target.value,
                "target_id": id_,
                "reviewer_id": reviewer.id,
                "decision": decision.value,
                "comment": comment,
                "created_at": now,
            }
            for id_ in wanted
        ],
    )
    audit.record_many(
        session,
        [
            {
                "id": new_id(),
                "at": now,
                "actor_id": reviewer.id,
                "entity": _ENTITIES[target].value,
                "entity_id": id_,
                "action": AuditAction.review.value,
                "changes": {"status": [statuses[id_], decision.value], "comment": [None, comment]},
            }
            for id_ in wanted
        ],
    )
    # The ORM's copies of these rows (if any) are now stale.
    session.expire_all()
    return BulkReviewResponse(
        reviewed=len(wanted),
        items=[BulkReviewItem(id=id_, status=ObservationStatus(decision.value)) for id_ in wanted],
    )


# --- the queue -------------------------------------------------------------------------------


def queue_cursor_after(created_at: datetime, record_id: uuid.UUID) -> str:
    """The queue's cursor just after one record: the page that starts with the record that
    follows it in arrival order (the workbench's "next record")."""
    return encode_position(_QUEUE, created_at, record_id)


TALLY_CAP = 1000
_OBSERVER_TIMES = {
    ReviewTarget.observation: Observation.observed_at,
    ReviewTarget.visit: Visit.started_at,
}


@dataclass(frozen=True, slots=True)
class ObserverTally:
    """How many of an observer's records were validated, of how many: each counted up to
    ``TALLY_CAP`` only (``more_*`` says the cap was reached), so that the count costs the same
    for an observer of ten records and one of fifty thousand."""

    validated: int
    total: int
    more_validated: bool
    more_total: bool


def observer_tally(
    session: Session, target: ReviewTarget, observer_id: uuid.UUID, *, cap: int = TALLY_CAP
) -> ObserverTally:
    """What an ecologist weighs a new record against: the observer's validated records of one
    kind and all of them (deleted ones left out)."""
    model = _MODELS[target]
    mine = (col(model.observer_id) == observer_id, col(model.deleted_at).is_(None))

    def count_up_to_cap(*where: Any) -> int:
        some = (
            sa_select(literal(1))
            .select_from(model)
            .where(*where)
            # The observer's latest first, along a time index: PostgreSQL otherwise scans the
            # table until the cap (SQLite walks the observer's index either way).
            .order_by(col(_OBSERVER_TIMES[target]).desc())
            .limit(cap + 1)
            .subquery()
        )
        return int(session.execute(sa_select(func.count()).select_from(some)).scalar_one())

    validated = count_up_to_cap(*mine, col(model.status) == ObservationStatus.validated.value)
    total = count_up_to_cap(*mine)
    return ObserverTally(
        validated=min(validated, cap),
        total=min(total, cap),
        more_validated=validated > cap,
        more_total=total > cap,
    )


def _local_day_start(day: Any, settings: Settings) -> datetime:
    return datetime.combine(day, time.min, tzinfo=settings.tz).astimezone(UTC)


def _flag_clause(column: Any, flag: str) -> Any:
    """Rows whose JSON list of flags holds ``flag`` (a text match: portable, and the queue's
    rows are few)."""
    return cast(column, String).like(f'%"{flag}"%')


def _position(cursor: str | None, clauses: list[Any], at_column: Any, id_column: Any) -> None:
    if cursor is not None:
        at, last_id = decode_position(cursor, kind=_QUEUE)
        clauses.append(or_(at_column > at, and_(at_column == at, id_column > last_id)))


def observation_queue(
    session: Session,
    settings: Settings,
    *,
    filters: QueueFilters,
    limit: int,
    cursor: str | None,
) -> ObservationQueuePage:
    clauses: list[Any] = [text(f"observation.{AWAITING_REVIEW_SQL}")]
    clauses.append(col(Observation.deleted_at).is_(None))
    # A school class's observations wait for their teacher's check before they reach the queue.
    clauses.append(
        or_(
            col(Observation.class_checked_at).is_not(None),
            col(Observation.observer_id).not_in(select(col(SchoolClass.account_id))),
        )
    )
    if filters.status is not None:
        clauses.append(col(Observation.status) == filters.status.value)
    if filters.species_id is not None:
        clauses.append(col(Observation.species_id) == filters.species_id)
    if filters.group is not None:
        clauses.append(col(Species.group) == filters.group)
    if filters.zone_id is not None:
        clauses.append(col(Observation.zone_id) == filters.zone_id)
    if filters.observed_from is not None:
        clauses.append(
            col(Observation.observed_at) >= _local_day_start(filters.observed_from, settings)
        )
    if filters.observed_to is not None:
        end = _local_day_start(filters.observed_to + timedelta(days=1), settings)
        clauses.append(col(Observation.observed_at) < end)
    if filters.observer_id is not None:
        clauses.append(col(Observation.observer_id) == filters.observer_id)
    if filters.has_photo is not None:
        has = exists().where(col(ObservationPhoto.observation_id) == col(Observation.id))
        clauses.append(has if filters.has_photo else ~has)
    if filters.flag is not None:
        clauses.append(_flag_clause(col(Observation.flags), filters.flag))
    at_column, id_column = col(Observation.created_at), col(Observation.id)
    _position(cursor, clauses, at_column, id_column)
    # Columns, not ORM objects: a page of 50 would otherwise build 150 of them.
    statement = (
        sa_select(*_QUEUE_COLUMNS)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .join(User, col(User.id) == col(Observation.observer_id))
        .where(*clauses)
        .order_by(at_column.asc(), id_column.asc())
        .limit(limit + 1)
    )
    rows = session.execute(statement).mappings().all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_position(_QUEUE, rows[-1]["created_at"], rows[-1]["id"])
    ids = [row["id"] for row in rows]
    photos = photos_service.photos_by_observation(session, ids)
    reviews = reviews_of(session, ReviewTarget.observation, ids)
    # A page names few species and observers many times: each brief is built once.
    species: dict[uuid.UUID, SpeciesBrief] = {}
    observers: dict[uuid.UUID, ObserverBrief] = {}
    for row in rows:
        if row["species_id"] not in species:
            species[row["species_id"]] = SpeciesBrief.model_construct(
                id=row["species_id"],
                cd_nom=row["cd_nom"],
                scientific_name=row["scientific_name"],
                vernacular_name=row["vernacular_name"],
                group=row["group"],
                sensitive=row["sensitive"],
            )
        if row["observer_id"] not in observers:
            observers[row["observer_id"]] = ObserverBrief.model_construct(
                id=row["observer_id"], display_name=row["display_name"]
            )
    items = [
        ObservationQueueItem.model_construct(
            id=row["id"],
            species=species[row["species_id"]],
            observed_at=row["observed_at"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            accuracy_m=row["accuracy_m"],
            count=row["count"],
            count_unit=CountUnit(row["count_unit"]),
            notes=row["notes"],
            zone_id=row["zone_id"],
            status=ObservationStatus(row["status"]),
            observer=observers[row["observer_id"]],
            # Staff never see the photos' EXIF: it is the observer's alone.
            photos=[present_photo(p, with_exif=False) for p in photos.get(row["id"], ())],
            flags=explain(row["flags"] or []),
            reviews=reviews.get(row["id"], []),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]
    return ObservationQueuePage.model_construct(items=items, next_cursor=next_cursor)


_QUEUE_COLUMNS = (
    col(Observation.id),
    col(Observation.species_id),
    col(Observation.observed_at),
    col(Observation.latitude),
    col(Observation.longitude),
    col(Observation.accuracy_m),
    col(Observation.count),
    col(Observation.count_unit),
    col(Observation.notes),
    col(Observation.zone_id),
    col(Observation.status),
    col(Observation.observer_id),
    col(Observation.flags),
    col(Observation.created_at),
    col(Observation.updated_at),
    col(Species.cd_nom),
    col(Species.scientific_name),
    col(Species.vernacular_name),
    col(Species.group),
    col(Species.sensitive),
    col(User.display_name),
)


def visit_queue(
    session: Session,
    settings: Settings,
    *,
    filters: QueueFilters,
    limit: int,
    cursor: str | None,
) -> VisitQueuePage:
    clauses: list[Any] = [text(f"survey_visit.{AWAITING_REVIEW_SQL}")]
    clauses.append(col(Visit.deleted_at).is_(None))
    if filters.status is not None:
        clauses.append(col(Visit.status) == filters.status.value)
    if filters.species_id is not None or filters.group is not None:
        counted = (
            exists()
            .where(col(VisitCount.visit_id) == col(Visit.id))
            .where(col(VisitCount.species_id) == col(Species.id))
        )
        if filters.species_id is not None:
            counted = counted.where(col(Species.id) == filters.species_id)
        if filters.group is not None:
            counted = counted.where(col(Species.group) == filters.group)
        clauses.append(counted)
    if filters.zone_id is not None:
        clauses.append(col(Site.zone_id) == filters.zone_id)
    if filters.observed_from is not None:
        clauses.append(col(Visit.started_at) >= _local_day_start(filters.observed_from, settings))
    if filters.observed_to is not None:
        end = _local_day_start(filters.observed_to + timedelta(days=1), settings)
        clauses.append(col(Visit.started_at) < end)
    if filters.observer_id is not None:
        clauses.append(col(Visit.observer_id) == filters.observer_id)
    if filters.flag is not None:
        clauses.append(_flag_clause(col(Visit.flags), filters.flag))
    at_column, id_column = col(Visit.created_at), col(Visit.id)
    _position(cursor, clauses, at_column, id_column)
    statement = (
        select(Visit, Site, User)
        .join(Site, col(Site.id) == col(Visit.site_id))
        .join(User, col(User.id) == col(Visit.observer_id))
        .where(*clauses)
        .order_by(at_column.asc(), id_column.asc())
        .limit(limit + 1)
    )
    rows = session.exec(statement).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_position(_QUEUE, last.created_at, last.id)
    ids = [visit.id for visit, _, _ in rows]
    counts = surveys_presenting.counts_of(session, ids)
    reviews = reviews_of(session, ReviewTarget.visit, ids)
    items = [
        VisitQueueItem(
            visit=surveys_presenting.present_visit(
                visit, SiteKind(site.kind), counts.get(visit.id, ())
            ),
            site=SiteBrief(
                id=site.id,
                kind=SiteKind(site.kind),
                name=site.name,
                latitude=site.latitude,
                longitude=site.longitude,
                zone_id=site.zone_id,
            ),
            observer=ObserverBrief(id=observer.id, display_name=observer.display_name),
            flags=explain(visit.flags or []),
            reviews=reviews.get(visit.id, []),
        )
        for visit, site, observer in rows
    ]
    return VisitQueuePage(items=items, next_cursor=next_cursor)
