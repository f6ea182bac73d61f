"""``/classes/{id}``: what a class did: its observations and the teacher's check, its summary."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from app.accounts.dependencies import PUPILS_ADMITTED, ActingClass, CurrentUser
from app.accounts.models import User
from app.classes import service as classes_service
from app.classes.models import SchoolClass
from app.classes.router import AUTH, NOT_FOUND, TeacherUser
from app.classes.schemas import CheckAnswer, CheckRequest, ClassSummary
from app.classwork import service, summary
from app.core.db import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import NotFound, problem_doc
from app.core.pagination import CursorQuery
from app.core.viewer import Viewer
from app.observations.dependencies import ObservationFiltersDep
from app.observations.schemas import ObservationPage
from app.observations.service import list_observations

router = APIRouter(prefix="/classes", tags=["classes"])


@router.get(
    "/{class_id}/observations",
    response_model=ObservationPage,
    summary="The class's observations, for its teacher",
    description="Every observation of the class, whatever its status, with exact positions, "
    "and the same filters and cursors as `GET /observations`: those its pupils recorded, and "
    "those of the classes it continues or that continue it (they share one observer); never "
    "anyone else's.",
    responses={**AUTH, **NOT_FOUND},
)
def class_observations(
    class_id: uuid.UUID,
    session: SessionDep,
    teacher: TeacherUser,
    filters: ObservationFiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: CursorQuery = None,
) -> ObservationPage:
    school_class = classes_service.class_of_teacher(session, class_id, teacher)
    account = session.get(User, school_class.account_id)
    # The class's account is the observer of everything its pupils record: its own sightings,
    # not every one it may see (the residents' validated ones would fill the list).
    own = dataclasses.replace(filters, mine=True)
    return list_observations(
        session,
        viewer=Viewer.of(account) if account is not None else None,
        filters=own,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/{class_id}/check",
    response_model=CheckAnswer,
    summary="Mark the class's observations checked",
    description="The teacher's check: until then the class's observations wait outside the "
    "ecologists' review queue.",
    responses={**AUTH, **NOT_FOUND, 422: problem_doc("An id is not an observation of the class.")},
)
def check_observations(
    class_id: uuid.UUID, data: CheckRequest, session: SessionDep, teacher: TeacherUser
) -> CheckAnswer:
    school_class = classes_service.class_of_teacher(session, class_id, teacher)
    return CheckAnswer(checked=service.check_observations(session, school_class, data.ids))


YearQuery = Annotated[
    int | None, Query(ge=2000, le=2100, description="The local year (default: this year).")
]


def _summary_of(
    class_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    pupil_class: ActingClass,
    year: YearQuery = None,
) -> ClassSummary:
    """Its teacher (or staff) and its pupils, whose tokens name the class."""
    if pupil_class is not None:
        school_class = session.get(SchoolClass, class_id) if pupil_class == class_id else None
        if school_class is None:
            raise NotFound("No class of yours has this id.", code="class.not_found")
    else:
        school_class = classes_service.class_of_teacher(session, class_id, user)
    year = year if year is not None else utcnow().astimezone(settings.tz).year
    return summary.class_summary(session, settings, school_class, year)


SummaryDep = Annotated[ClassSummary, Depends(_summary_of)]


@router.get(
    "/{class_id}/summary",
    dependencies=[PUPILS_ADMITTED],
    response_model=ClassSummary,
    summary="What the class saw this year and last year",
    description="Species seen by the class that year, their counts and the first date each "
    "was seen, the swallows' return date, and the same for the year before. For its teacher "
    "and its pupils.",
    responses={**AUTH, **NOT_FOUND},
)
def class_summary(result: SummaryDep) -> ClassSummary:
    return result


@router.get(
    "/{class_id}/summary.html",
    dependencies=[PUPILS_ADMITTED],
    response_class=HTMLResponse,
    summary="The class's summary as a French page, for the classroom projector",
    responses={**AUTH, **NOT_FOUND, 200: {"content": {"text/html": {}}}},
)
def class_summary_html(result: SummaryDep) -> HTMLResponse:
    return HTMLResponse(summary.summary_html(result))


@router.get(
    "/{class_id}/summary.svg",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    summary="The class's counts this year and last year, as an SVG chart in French",
    responses={**AUTH, **NOT_FOUND, 200: {"content": {"image/svg+xml": {}}}},
)
def class_summary_svg(result: SummaryDep) -> Response:
    return Response(summary.summary_svg(result), media_type="image/svg+xml")
