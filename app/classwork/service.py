"""Work on the records of a class: its teacher's check and the erasure of its pupils' names."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.classes.models import Pupil, SchoolClass
from app.core.db import utcnow
from app.core.errors import Unprocessable
from app.core.settings import Settings
from app.observations.models import Observation
from app.surveys.models import Visit


def check_observations(session: Session, school_class: SchoolClass, ids: list[uuid.UUID]) -> int:
    """The teacher's check: these observations of the class now reach the review queue."""
    found = list(
        session.exec(
            select(Observation).where(
                col(Observation.id).in_(ids),
                col(Observation.observer_id) == school_class.account_id,
                col(Observation.deleted_at).is_(None),
            )
        )
    )
    missing = set(ids) - {o.id for o in found}
    if missing:
        raise Unprocessable(
            f"{len(missing)} of these ids are not observations of the class.",
            code="class.not_its_observation",
        )
    now = utcnow()
    for observation in found:
        if observation.class_checked_at is None:
            observation.class_checked_at = now
            observation.updated_at = now
            session.add(observation)
    session.flush()
    return len(found)


def erase_expired_pupils(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Erase the pseudonyms of pupils of classes closed longer than the retention period;
    their observations and visits stay, attributed to the class alone. Returns how many."""
    now = now or utcnow()
    horizon = now - timedelta(days=settings.pupil_retention_days)
    classes = list(
        session.exec(
            select(SchoolClass).where(
                col(SchoolClass.active).is_(False),
                col(SchoolClass.closed_at) <= horizon,
                col(SchoolClass.pupils_erased_at).is_(None),
            )
        )
    )
    erased = 0
    for school_class in classes:
        erased += erase_pupils(session, school_class, now)
    session.flush()
    return erased


def erase_pupils(session: Session, school_class: SchoolClass, now: datetime | None = None) -> int:
    """Erase the pseudonyms of a closed class's pupils: at the end of the retention period, or
    when its teacher chooses to at once on closing it (the caller closes it first). Their
    observations and visits stay, attributed to the class alone. Returns how many."""
    now = now or utcnow()
    pupils = select(Pupil.id).where(col(Pupil.class_id) == school_class.id)
    session.execute(
        update(Observation)
        .where(col(Observation.pupil_id).in_(pupils))
        .values(pupil_id=None, updated_at=now)
    )
    session.execute(update(Visit).where(col(Visit.pupil_id).in_(pupils)).values(pupil_id=None))
    result = session.execute(
        update(Pupil)
        .where(col(Pupil.class_id) == school_class.id, col(Pupil.erased_at).is_(None))
        .values(pseudonym=None, erased_at=now)
    )
    school_class.pupils_erased_at = now
    session.add(school_class)
    session.flush()
    return getattr(result, "rowcount", 0) or 0
