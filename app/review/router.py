"""Review over HTTP: the ecologists' queue and decisions. Ecologists and admins only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from app.accounts.dependencies import STAFF_ROLES, EcologistUser, TokenSubject, for_role
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.observations.dependencies import ValidObservation
from app.observations.flags import Flag
from app.observations.models import ObservationStatus
from app.observations.schemas import ObservationPublic
from app.review import service
from app.review.schemas import (
    BulkReviewRequest,
    BulkReviewResponse,
    FlagPublic,
    ObservationQueuePage,
    QueueFilters,
    ReviewRequest,
    VisitQueuePage,
)
from app.surveys.dependencies import VisibleVisit
from app.surveys.schemas import VisitPublic

router = APIRouter(tags=["review"])

Responses = dict[int | str, dict[str, Any]]
STAFF_ONLY: Responses = {
    401: problem_doc("No valid access token."),
    403: problem_doc("Not an ecologist or admin."),
}
Route = TypeVar("Route", bound=Callable[..., Any])
INVALID: Responses = {422: problem_doc("Invalid input; `errors` names each field at fault.")}

DECISION_EFFECT = (
    "The record's `status` becomes the decision and its `updated_at` moves, so that the "
    "observer's phone learns of it at its next `updated_since` sync; the decision and its "
    "comment join the record's `reviews`, which its observer reads; the audit trail keeps who "
    "decided what and when."
)


def queue_filters(
    status: Annotated[
        ObservationStatus | None,
        Query(description="`pending` or `needs_info` (both by default)."),
    ] = None,
    species_id: Annotated[uuid.UUID | None, Query()] = None,
    group: Annotated[
        str | None, Query(max_length=32, description="Species group, e.g. `butterfly`.")
    ] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    observed_from: Annotated[
        date | None, Query(description="Observed on or after this day (local time).")
    ] = None,
    observed_to: Annotated[
        date | None, Query(description="Observed on or before this day (local time).")
    ] = None,
    observer_id: Annotated[uuid.UUID | None, Query()] = None,
    has_photo: Annotated[bool | None, Query(description="Observations only.")] = None,
    flag: Annotated[Flag | None, Query(description="Only records with this flag.")] = None,
) -> QueueFilters:
    return QueueFilters(
        status=status,
        species_id=species_id,
        group=group,
        zone_id=zone_id,
        observed_from=observed_from,
        observed_to=observed_to,
        observer_id=observer_id,
        has_photo=has_photo,
        flag=flag.value if flag is not None else None,
    )


QueueFiltersDep = Annotated[QueueFilters, Depends(queue_filters)]


@router.get(
    "/review/observations",
    response_model=ObservationQueuePage,
    summary="The review queue: observations",
    description="Observations awaiting a decision (`pending` and `needs_info`), oldest "
    "arrival first, each with its species, observer, photos (thumbnails in `thumbnail_url`), "
    "flags explained and earlier decisions.",
    responses={**STAFF_ONLY, **INVALID},
)
def observation_queue(
    session: SessionDep,
    settings: SettingsDep,
    _staff: EcologistUser,
    filters: QueueFiltersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ObservationQueuePage:
    return service.observation_queue(session, settings, filters=filters, limit=limit, cursor=cursor)


@router.get(
    "/review/visits",
    response_model=VisitQueuePage,
    summary="The review queue: survey visits",
    description="Visits awaiting a decision, oldest arrival first, with their site, counts, "
    "observer, flags explained and earlier decisions. `species_id` and `group` match visits "
    "that counted such a species.",
    responses={**STAFF_ONLY, **INVALID},
)
async def visit_queue(
    request: Request,
    subject: TokenSubject,
    settings: SettingsDep,
    filters: QueueFiltersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> VisitQueuePage:
    return await for_role(
        request,
        subject,
        STAFF_ROLES,
        lambda session, _staff: service.visit_queue(
            session, settings, filters=filters, limit=limit, cursor=cursor
        ),
        read_only=True,
    )


@router.get(
    "/review/flags",
    response_model=list[FlagPublic],
    summary="What each plausibility flag means",
    description="The flags records may carry, with a label and an explanation in French.",
)
def list_flags() -> list[FlagPublic]:
    return service.all_flags()


def _review_route(
    path: str, model: type[Any], summary: str, missing: str
) -> Callable[[Route], Route]:
    """The route of a decision on one kind of record: the same answer codes for every kind."""
    decorator: Callable[[Route], Route] = router.post(
        path,
        response_model=model,
        summary=summary,
        description=DECISION_EFFECT,
        responses={**STAFF_ONLY, 404: problem_doc(missing), **INVALID},
    )
    return decorator


@_review_route(
    "/observations/{observation_id}/review",
    ObservationPublic,
    "Review an observation",
    "No such observation.",
)
def review_observation(
    body: ReviewRequest,
    observation: ValidObservation,
    reviewer: EcologistUser,
    session: SessionDep,
) -> ObservationPublic:
    return service.review_observation(
        session, observation=observation, reviewer=reviewer, review=body
    )


@_review_route("/visits/{visit_id}/review", VisitPublic, "Review a survey visit", "No such visit.")
def review_visit(
    body: ReviewRequest,
    found: VisibleVisit,
    reviewer: EcologistUser,
    session: SessionDep,
) -> VisitPublic:
    visit, site = found
    return service.review_visit(session, visit=visit, site=site, reviewer=reviewer, review=body)


@router.post(
    "/review/bulk",
    response_model=BulkReviewResponse,
    summary="Review up to 500 records at once",
    description="One decision for up to 500 observations (or visits, `target: visit`), all or "
    "nothing: if any id is unknown or deleted, the answer is a 422 whose `errors` name each "
    "one (`ids.3`), and nothing changes. " + DECISION_EFFECT,
    responses={**STAFF_ONLY, **INVALID},
)
async def bulk_review(
    body: BulkReviewRequest, subject: TokenSubject, request: Request
) -> BulkReviewResponse:
    return await for_role(
        request,
        subject,
        STAFF_ROLES,
        lambda session, reviewer: service.bulk_review(
            session,
            target=body.target,
            ids=body.ids,
            reviewer=reviewer,
            decision=body.decision,
            comment=body.comment,
        ),
    )
