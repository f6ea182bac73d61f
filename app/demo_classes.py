"""The demo's school class: the demo teacher's CM1 of last school year (closed) and this year's,
which continues it, each with a few pupils (animal pseudonyms) and a spring of sightings around
the school, so that `GET /classes/{id}/summary` has this year next to last year to show."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from app.accounts.models import User
from app.classes import service as classes_service
from app.classes.models import Pupil, SchoolClass
from app.classes.schemas import ClassCreate
from app.core.settings import Settings
from app.observations.models import Observation, ObservationStatus
from app.observations.visibility import public_position
from app.species.models import Species
from app.zones.service import locate_zones

# École Jean Jaurès, rue Jean Jaurès: a point inside the commune.
SCHOOL = (50.4586, 2.7838)
PUPILS = ("Renard", "Hibou", "Hérisson", "Mésange", "Écureuil", "Libellule")
# What a class sees around a school in spring: (cd_nom, usual count).
SIGHTINGS = ((3696, 2), (459478, 4), (3551, 6), (608364, 1), (53741, 1))
SIGHTINGS_PER_YEAR = 24


def load_demo_class(
    session: Session, settings: Settings, *, teacher: User, now: datetime
) -> tuple[int, int]:
    """``(classes created, observations created)``; nothing when the teacher has a class."""
    if session.exec(select(SchoolClass).where(col(SchoolClass.teacher_id) == teacher.id)).first():
        return 0, 0
    species = {
        s.cd_nom: s
        for s in session.exec(
            select(Species).where(col(Species.cd_nom).in_([c for c, _ in SIGHTINGS]))
        )
    }
    if not species:
        return 0, 0
    rng = random.Random("demo-class")
    # The last spring that is over (or nearly): this year's from July, else last year's. This
    # year's class is the school year ending with it, and last year's the one before.
    local = now.astimezone(settings.tz)
    school_year = (local.year if local.month >= 7 else local.year - 1) - 1
    last = classes_service.create_class(
        session,
        teacher,
        ClassCreate(
            name="CM1", school="École Jean Jaurès", school_year=f"{school_year - 1}-{school_year}"
        ),
    )
    current = classes_service.create_class(
        session,
        teacher,
        ClassCreate(
            name="CM1",
            school="École Jean Jaurès",
            school_year=f"{school_year}-{school_year + 1}",
            continues=last.id,
        ),
    )
    created = 0
    for school_class, spring in ((last, school_year), (current, school_year + 1)):
        pupils = [Pupil(class_id=school_class.id, pseudonym=name) for name in PUPILS]
        session.add_all(pupils)
        session.flush()
        created += _outings(
            session, settings, rng, school_class, pupils, species, year=spring, now=now
        )
    classes_service.close_class(session, last)
    return 2, created


def _outings(
    session: Session,
    settings: Settings,
    rng: random.Random,
    school_class: SchoolClass,
    pupils: list[Pupil],
    species: dict[int, Species],
    *,
    year: int,
    now: datetime,
) -> int:
    """The class's spring outings of ``year`` (mid-March to June), up to ``now``."""
    rows = []
    for _ in range(SIGHTINGS_PER_YEAR):
        cd_nom, usual = rng.choice(SIGHTINGS)
        taxon = species.get(cd_nom)
        day = datetime(year, 3, 15, 9, 30, tzinfo=UTC) + timedelta(days=rng.randrange(100))
        if taxon is None or day >= now:
            continue
        lat = round(SCHOOL[0] + rng.uniform(-0.0015, 0.0015), 6)
        lon = round(SCHOOL[1] + rng.uniform(-0.002, 0.002), 6)
        public = public_position(
            sensitive=taxon.sensitive,
            latitude=lat,
            longitude=lon,
            accuracy_m=10.0,
            generalisation=taxon.generalisation,
        )
        checked = day + timedelta(days=2)
        rows.append(
            Observation(
                client_id=uuid.uuid4(),
                observer_id=school_class.account_id,
                species_id=taxon.id,
                observed_at=day,
                latitude=lat,
                longitude=lon,
                accuracy_m=10.0,
                count=max(1, round(rng.gauss(usual, usual / 3))),
                public_latitude=public.latitude,
                public_longitude=public.longitude,
                public_accuracy_m=public.accuracy_m,
                generalised=public.generalised,
                status=ObservationStatus.validated.value,
                pupil_id=rng.choice(pupils).id,
                class_checked_at=checked,
                created_at=day,
                updated_at=checked,
            )
        )
    zones = locate_zones(session, settings, [(o.latitude, o.longitude) for o in rows])
    for observation, zone_id in zip(rows, zones, strict=True):
        observation.zone_id = zone_id
    session.add_all(rows)
    session.flush()
    return len(rows)
