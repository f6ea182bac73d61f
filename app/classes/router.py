"""``/classes``: teachers open and close classes, pupils join with a code and a pseudonym."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from app.accounts.dependencies import PUPILS_ADMITTED, require_roles
from app.accounts.models import User
from app.accounts.throttle import ClientAddress, FailureKeepingSession
from app.classes import service
from app.classes.models import SchoolClass
from app.classes.schemas import (
    ClassCreate,
    ClassList,
    ClassPublic,
    InvitationPublic,
    JoinAnswer,
    JoinRequest,
)
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.vocabulary import Role

router = APIRouter(prefix="/classes", tags=["classes"])
invitations_router = APIRouter(tags=["classes"])

TeacherUser = Annotated[User, Depends(require_roles(Role.teacher, Role.ecologist, Role.admin))]
STAFF_OR_TEACHER = "a teacher (an ecologist or admin may act for any class)"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("No class of yours has this id.")}
AUTH: dict[int | str, dict[str, Any]] = {
    401: problem_doc("No valid token."),
    403: problem_doc("The token's role may not do this (a pupil's token, a sentinel's)."),
}


def _public(session: SessionDep, school_class: SchoolClass) -> ClassPublic:
    return ClassPublic(
        id=school_class.id,
        name=school_class.name,
        school=school_class.school,
        school_year=school_class.school_year,
        join_code=school_class.join_code,
        active=school_class.active,
        pupils=service.pupil_count(session, school_class.id),
        created_at=school_class.created_at,
        closed_at=school_class.closed_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ClassPublic,
    summary="Open a class",
    description="For " + STAFF_OR_TEACHER + ". The class gets a join code of 10 characters "
    "without look-alikes (no 0/O, 1/I/L…) that pupils type on the class's tablets. With "
    "`continues`, the new school year's class keeps last year's sites and series.",
    responses={**AUTH, **NOT_FOUND, 422: problem_doc("Invalid name, school or school year.")},
)
def create_class(data: ClassCreate, session: SessionDep, teacher: TeacherUser) -> ClassPublic:
    return _public(session, service.create_class(session, teacher, data))


@router.get(
    "",
    response_model=ClassList,
    summary="The teacher's classes",
    description="Newest first.",
    responses=AUTH,
)
def my_classes(session: SessionDep, teacher: TeacherUser) -> ClassList:
    return ClassList(items=[_public(session, c) for c in service.list_classes(session, teacher)])


@router.post(
    "/join",
    dependencies=[PUPILS_ADMITTED],
    status_code=status.HTTP_201_CREATED,
    response_model=JoinAnswer,
    summary="A pupil joins a class (no account)",
    description="With the class's code and a pseudonym (not a name; refused if it looks like "
    "an e-mail address or a phone number). Answers a token that records observations, sites "
    "and visits for the class and reads the class's own data, nothing else. Failed attempts "
    "count against the client's address: 429 with `Retry-After` once too many.",
    responses={
        404: problem_doc("No open class has this code (`class.not_found`)."),
        409: problem_doc(
            "Pseudonym taken in the class (`class.pseudonym_taken`), or the class is full "
            "(`class.full`)."
        ),
        422: problem_doc("Invalid pseudonym."),
        429: problem_doc("Too many failed attempts from this address."),
    },
)
def join_class(
    data: JoinRequest,
    session: FailureKeepingSession,
    settings: SettingsDep,
    client_ip: ClientAddress,
) -> JoinAnswer:
    pupil, school_class, token, lifetime = service.join(
        session, settings, data, client_ip=client_ip
    )
    return JoinAnswer(
        pupil_id=pupil.id,
        pseudonym=pupil.pseudonym or "",
        class_id=school_class.id,
        access_token=token,
        expires_in=lifetime,
    )


@router.post(
    "/{class_id}/join-code",
    response_model=ClassPublic,
    summary="Regenerate the join code",
    description="The old code stops working; pupils who joined keep their tokens.",
    responses={**AUTH, **NOT_FOUND, 409: problem_doc("The class is closed.")},
)
def regenerate_code(class_id: uuid.UUID, session: SessionDep, teacher: TeacherUser) -> ClassPublic:
    school_class = service.class_of_teacher(session, class_id, teacher)
    return _public(session, service.regenerate_code(session, school_class))


@router.post(
    "/{class_id}/close",
    response_model=ClassPublic,
    summary="Close the class (end of the school year)",
    description="Every pupil token of the class stops working at once; the observations stay, "
    "attributed to the class. After the retention period "
    "(`SENTINELLES_PUPIL_RETENTION_DAYS`), the pupils' pseudonyms are erased.",
    responses={**AUTH, **NOT_FOUND},
)
def close_class(class_id: uuid.UUID, session: SessionDep, teacher: TeacherUser) -> ClassPublic:
    school_class = service.class_of_teacher(session, class_id, teacher)
    return _public(session, service.close_class(session, school_class))


@invitations_router.post(
    "/teacher-invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationPublic,
    summary="A teacher invitation code",
    description="For ecologists and admins: a one-time code that gives the `teacher` role to "
    "whoever registers with it (`POST /auth/register` with `invitation_code`).",
    responses=AUTH,
)
def create_invitation(
    session: SessionDep,
    settings: SettingsDep,
    staff: Annotated[User, Depends(require_roles(Role.ecologist, Role.admin))],
) -> InvitationPublic:
    invitation = service.create_invitation(session, settings, staff)
    return InvitationPublic(code=invitation.code, expires_at=invitation.expires_at)
