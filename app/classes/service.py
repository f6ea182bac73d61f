"""Classes: opening, joining, checking, closing, and forgetting the pupils' pseudonyms.

Join codes are 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S,
8/B): about 2^43 codes, drawn with ``secrets``, so that guessing one at the throttle's pace
(a handful of failures per address per window) would take longer than a school year has days.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.accounts import throttle
from app.accounts.models import TeacherInvitation, User
from app.classes.models import Pupil, SchoolClass
from app.classes.schemas import ClassCreate, JoinRequest
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.security import create_pupil_token
from app.core.settings import Settings
from app.core.vocabulary import Role

CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 10
JOIN_THROTTLE_CODE = "class.too_many_attempts"


class JoinRefused(throttle.PersistentFailure, NotFound):
    code = "class.not_found"


def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """What a pupil types, as stored: case, spaces and dashes do not matter."""
    return re.sub(r"[\s-]", "", raw).upper()


def create_class(session: Session, teacher: User, data: ClassCreate) -> SchoolClass:
    account_id: uuid.UUID
    if data.continues is not None:
        previous = session.get(SchoolClass, data.continues)
        if previous is None or previous.teacher_id != teacher.id:
            raise NotFound("No class of yours has this id.", code="class.not_found")
        account_id = previous.account_id
        account = session.get(User, account_id)
        if account is not None:
            account.display_name = _account_name(data.name, data.school)
            session.add(account)
    else:
        account = User(
            email=f"class-{uuid.uuid4().hex}@classes.invalid",
            display_name=_account_name(data.name, data.school),
            # No password anyone could type: nobody signs in as a class. A sentinel's role, so
            # that its rights are a resident's; pupils' tokens are narrower still.
            password_hash="!",
            role=Role.sentinel.value,
        )
        session.add(account)
        session.flush()
        account_id = account.id
    school_class = SchoolClass(
        teacher_id=teacher.id,
        account_id=account_id,
        name=data.name,
        school=data.school,
        school_year=data.school_year,
        join_code=new_join_code(),
    )
    session.add(school_class)
    session.flush()
    return school_class


def _account_name(name: str, school: str) -> str:
    return f"{name} ({school})"[:80]


def class_of_teacher(session: Session, class_id: uuid.UUID, teacher: User) -> SchoolClass:
    """The class, if ``teacher`` runs it (staff may act on any); 404 otherwise, so that
    another teacher cannot even learn that it exists."""
    school_class = session.get(SchoolClass, class_id)
    if school_class is None or (
        school_class.teacher_id != teacher.id
        and teacher.role not in (Role.ecologist.value, Role.admin.value)
    ):
        raise NotFound("No class of yours has this id.", code="class.not_found")
    return school_class


def list_classes(session: Session, teacher: User) -> list[SchoolClass]:
    return list(
        session.exec(
            select(SchoolClass)
            .where(col(SchoolClass.teacher_id) == teacher.id)
            .order_by(col(SchoolClass.created_at).desc())
        )
    )


def regenerate_code(session: Session, school_class: SchoolClass) -> SchoolClass:
    if not school_class.active:
        raise Conflict("The class is closed.", code="class.closed")
    school_class.join_code = new_join_code()
    school_class.updated_at = utcnow()
    session.add(school_class)
    session.flush()
    return school_class


def pupil_count(session: Session, class_id: uuid.UUID) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Pupil).where(col(Pupil.class_id) == class_id)
        ).one()
    )


def pupil_pseudonyms(session: Session, class_id: uuid.UUID) -> list[str]:
    """The pseudonyms of the class's pupils not erased yet, in alphabetical order."""
    pupils = session.exec(
        select(Pupil).where(col(Pupil.class_id) == class_id, col(Pupil.erased_at).is_(None))
    )
    return sorted((p.pseudonym for p in pupils if p.pseudonym), key=str.casefold)


def join(
    session: Session, settings: Settings, data: JoinRequest, *, client_ip: str
) -> tuple[Pupil, SchoolClass, str, int]:
    """A pupil joins with the class's code and a pseudonym; failures count against the
    client's address, as sign-ins do."""
    key = throttle.throttle_key("join", client_ip)
    throttle.check(session, key, code=JOIN_THROTTLE_CODE)
    school_class = session.exec(
        select(SchoolClass).where(col(SchoolClass.join_code) == normalise_code(data.join_code))
    ).first()
    if school_class is None or not school_class.active:
        throttle.record_failure(
            session,
            key,
            settings,
            max_failures=settings.join_max_failures,
        )
        raise JoinRefused("No open class has this code.")
    if pupil_count(session, school_class.id) >= settings.max_pupils_per_class:
        raise Conflict(
            f"The class already has {settings.max_pupils_per_class} pupils.",
            code="class.full",
        )
    pupil = Pupil(class_id=school_class.id, pseudonym=data.pseudonym)
    try:
        with session.begin_nested():
            session.add(pupil)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "This pseudonym is already taken in the class; choose another.",
            code="class.pseudonym_taken",
        ) from None
    token, lifetime = create_pupil_token(
        school_class.account_id, settings, pupil_id=pupil.id, class_id=school_class.id
    )
    return pupil, school_class, token, lifetime


def close_class(session: Session, school_class: SchoolClass) -> SchoolClass:
    """Every pupil token stops working at once (they are checked against the class on every
    request); the observations stay, attributed to the class."""
    if school_class.active:
        now = utcnow()
        school_class.active = False
        school_class.closed_at = now
        school_class.updated_at = now
        session.add(school_class)
        session.flush()
    return school_class


def create_invitation(session: Session, settings: Settings, creator: User) -> TeacherInvitation:
    invitation = TeacherInvitation(
        code=f"PROF-{new_join_code()}",
        created_by=creator.id,
        expires_at=utcnow() + timedelta(days=settings.teacher_invitation_days),
    )
    session.add(invitation)
    session.flush()
    return invitation
