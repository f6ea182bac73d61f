"""Keyword-only factories for test data, written straight through the models (or, for zones,
the importer), inside the caller's session: the test's transaction, rolled back at its end.

One factory per entity, each with defaults that make a valid row in Loos-en-Gohelle, so that a
test names only what it is about. A factory flushes, so that the row has its id and the
database's constraints have been checked when it returns.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.accounts.models import User
from app.baselines.models import Baseline
from app.baselines.service import natural_key
from app.classes.models import Pupil, SchoolClass
from app.core.security import create_access_token, hash_password
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.media.models import ObservationPhoto
from app.observations.models import Observation
from app.records.models import ReviewDecision
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.zones.models import Zone

DEFAULT_PASSWORD = "correct horse battery staple"
# A point in Loos-en-Gohelle (INSEE 62528), one of the shipped zones; the swallow, a shipped
# species that is not sensitive.
LOOS_AT = (50.4571, 2.7852)
SWALLOW = 3696


def load_reference_data(session: Session) -> None:
    """The species and zones that ship with the package, as a fresh install has them."""
    from app.species.service import DEFAULT_SPECIES_FILE, import_species
    from app.zones.service import DEFAULT_ZONES_FILE, import_zones

    import_species(session, DEFAULT_SPECIES_FILE)
    import_zones(session, DEFAULT_ZONES_FILE)


def _id(who: User | uuid.UUID) -> uuid.UUID:
    return who.id if isinstance(who, User) else who


def _saved(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


# --- accounts ---------------------------------------------------------------------------------


def create_user(
    session: Session,
    settings: Settings,
    *,
    role: Role | str = Role.sentinel,
    email: str | None = None,
    display_name: str = "Camille",
    password: str = DEFAULT_PASSWORD,
) -> User:
    user = User(
        email=(email or f"user-{uuid.uuid4().hex[:10]}@example.org").lower(),
        display_name=display_name,
        password_hash=hash_password(password, settings),
        role=str(Role(role).value),
    )
    return _saved(session, user)  # type: ignore[no-any-return]


def auth_headers(user: User, settings: Settings) -> dict[str, str]:
    token, _ = create_access_token(user.id, settings)
    return {"Authorization": f"Bearer {token}"}


# --- reference data ---------------------------------------------------------------------------


def species_by_cd_nom(session: Session, cd_nom: int) -> Species:
    """A species of the shipped reference (or one a factory made)."""
    return session.exec(select(Species).where(col(Species.cd_nom) == cd_nom)).one()


def create_species(
    session: Session,
    *,
    cd_nom: int | None = None,
    cd_ref: int | None = None,
    scientific_name: str = "Testus testus",
    group: str = "bird",
    **fields: Any,
) -> Species:
    number = cd_nom if cd_nom is not None else 90_000_000 + uuid.uuid4().int % 9_000_000
    species = Species(
        cd_nom=number,
        cd_ref=cd_ref if cd_ref is not None else number,
        scientific_name=scientific_name,
        group=group,
        search_text=fields.pop("search_text", scientific_name.lower()),
        **fields,
    )
    return _saved(session, species)  # type: ignore[no-any-return]


def create_zone(
    session: Session,
    *,
    code: str | None = None,
    name: str = "Zone d'essai",
    kind: str = "zone",
    centre: tuple[float, float] = LOOS_AT,
    half: float = 0.002,
) -> Zone:
    """A square zone of ``half`` degrees each side of ``centre`` (latitude, longitude), through
    the importer, so that its bounds and the zone index are what an import gives."""
    from app.zones.service import import_zones

    code = code or f"zone-{uuid.uuid4().hex[:8]}"
    lat, lon = centre
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": code, "name": name, "kind": kind},
    }
    import_zones(session, {"type": "FeatureCollection", "features": [feature]})
    return session.exec(select(Zone).where(col(Zone.code) == code)).one()


# --- records ----------------------------------------------------------------------------------


def create_observation(
    session: Session,
    *,
    observer: User | uuid.UUID,
    cd_nom: int = SWALLOW,
    observed_at: datetime | str = "2026-04-12T09:00:00+02:00",
    at: tuple[float, float] = LOOS_AT,
    status: str = "pending",
    deleted: bool = False,
    **fields: Any,
) -> Observation:
    """An observation as stored, its public position the exact one (no generalisation: pass
    ``public_latitude``/``public_longitude`` for a sensitive species)."""
    when = datetime.fromisoformat(observed_at) if isinstance(observed_at, str) else observed_at
    observation = Observation(
        client_id=fields.pop("client_id", uuid.uuid4()),
        observer_id=_id(observer),
        species_id=species_by_cd_nom(session, cd_nom).id,
        observed_at=when,
        latitude=at[0],
        longitude=at[1],
        public_latitude=fields.pop("public_latitude", at[0]),
        public_longitude=fields.pop("public_longitude", at[1]),
        status=status,
        deleted_at=datetime.now(UTC) if deleted else None,
        **fields,
    )
    return _saved(session, observation)  # type: ignore[no-any-return]


def create_photo(
    session: Session, *, observation: Observation, uploader: User | None = None, **fields: Any
) -> ObservationPhoto:
    """A photo's row only: no file is stored (use the API for a photo that must be served)."""
    photo = ObservationPhoto(
        observation_id=observation.id,
        uploader_id=(uploader.id if uploader else observation.observer_id),
        content_hash=fields.pop("content_hash", uuid.uuid4().hex * 2),
        full_sha256=fields.pop("full_sha256", uuid.uuid4().hex * 2),
        large_sha256=fields.pop("large_sha256", uuid.uuid4().hex * 2),
        small_sha256=fields.pop("small_sha256", uuid.uuid4().hex * 2),
        width=fields.pop("width", 320),
        height=fields.pop("height", 240),
        media_type=fields.pop("media_type", "image/jpeg"),
        bytes_full=fields.pop("bytes_full", 1000),
        bytes_large=fields.pop("bytes_large", 800),
        bytes_small=fields.pop("bytes_small", 200),
        source_format=fields.pop("source_format", "jpeg"),
        **fields,
    )
    return _saved(session, photo)  # type: ignore[no-any-return]


def create_site(
    session: Session,
    *,
    owner: User | uuid.UUID,
    kind: str = "nest_site",
    name: str = "Façade de la mairie",
    at: tuple[float, float] = LOOS_AT,
    **fields: Any,
) -> Site:
    site = Site(
        client_id=fields.pop("client_id", uuid.uuid4()),
        owner_id=_id(owner),
        kind=kind,
        name=name,
        latitude=at[0],
        longitude=at[1],
        **fields,
    )
    return _saved(session, site)  # type: ignore[no-any-return]


def create_visit(
    session: Session,
    *,
    site: Site,
    started_at: datetime | str = "2026-05-16T09:30:00+02:00",
    counts: list[dict[str, Any]] = (),  # type: ignore[assignment]
    status: str = "pending",
    **fields: Any,
) -> Visit:
    """A visit by the site's owner; ``counts``: each row's ``cd_nom`` and figures (``count``,
    ``occupied``, ``unoccupied``, ``destroyed``, ``artificial``)."""
    when = datetime.fromisoformat(started_at) if isinstance(started_at, str) else started_at
    visit = _saved(
        session,
        Visit(
            client_id=fields.pop("client_id", uuid.uuid4()),
            site_id=site.id,
            observer_id=fields.pop("observer_id", site.owner_id),
            started_at=when,
            duration_min=fields.pop("duration_min", 30),
            status=status,
            **fields,
        ),
    )
    for row in counts:
        figures = {k: v for k, v in row.items() if k != "cd_nom"}
        species_id = species_by_cd_nom(session, row["cd_nom"]).id
        session.add(VisitCount(visit_id=visit.id, species_id=species_id, **figures))
    session.flush()
    return visit  # type: ignore[no-any-return]


def create_review_decision(
    session: Session,
    *,
    target: Observation | Visit,
    reviewer: User,
    decision: str = "validated",
    comment: str | None = None,
) -> ReviewDecision:
    """A decision in the history, and the record's status set to it, as a review leaves them."""
    kind = "observation" if isinstance(target, Observation) else "visit"
    target.status = decision
    session.add(target)
    row = ReviewDecision(
        target=kind,
        target_id=target.id,
        reviewer_id=reviewer.id,
        decision=decision,
        comment=comment,
    )
    return _saved(session, row)  # type: ignore[no-any-return]


# --- classes ----------------------------------------------------------------------------------


def create_class(
    session: Session,
    settings: Settings,
    *,
    teacher: User | None = None,
    name: str = "CM1 B",
    school: str = "École Basly",
    school_year: str = "2025-2026",
) -> SchoolClass:
    """A class with its teacher (made when not given) and its own account, which owns what the
    class records, as opening a class makes them."""
    teacher = teacher or create_user(
        session, settings, role=Role.teacher, display_name="M. Lefebvre"
    )
    account = _saved(
        session,
        User(
            email=f"class-{uuid.uuid4().hex}@classes.invalid",
            display_name=f"{name} · {school}",
            password_hash="!",
            role=Role.sentinel.value,
        ),
    )
    school_class = SchoolClass(
        teacher_id=teacher.id,
        account_id=account.id,
        name=name,
        school=school,
        school_year=school_year,
        join_code=uuid.uuid4().hex[:10].upper(),
    )
    return _saved(session, school_class)  # type: ignore[no-any-return]


def create_pupil(
    session: Session, *, school_class: SchoolClass, pseudonym: str = "Renard"
) -> Pupil:
    return _saved(session, Pupil(class_id=school_class.id, pseudonym=pseudonym))  # type: ignore[no-any-return]


# --- baselines --------------------------------------------------------------------------------


def create_baseline(
    session: Session,
    *,
    year: int = 2020,
    cd_nom: int = SWALLOW,
    zone: Zone | None = None,
    site: Site | None = None,
    count: float = 12,
    unit: str = "nests",
    **fields: Any,
) -> Baseline:
    species_id = species_by_cd_nom(session, cd_nom).id
    zone_id = zone.id if zone else None
    site_id = site.id if site else None
    baseline = Baseline(
        year=year,
        species_id=species_id,
        zone_id=zone_id,
        site_id=site_id,
        count=count,
        unit=unit,
        natural_key=natural_key(year, species_id, zone_id, site_id, unit),
        **fields,
    )
    return _saved(session, baseline)  # type: ignore[no-any-return]
