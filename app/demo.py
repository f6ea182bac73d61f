"""Demo data: accounts and a believable season of sightings across Loos-en-Gohelle.

A newcomer (or the CPIE showing the service to a school) needs something to look at: lists to
page through, a map with points inside the commune, sensitive species shown generalised, a
review queue. Everything here goes through the models directly, not the HTTP API, so that a
season of observations loads in a second; zones and public (generalised) positions are computed
with the functions the observation service uses.

Demo accounts are recognised by their e-mail (``demo-…@sentinelles.test``, a reserved domain):
running the demo again adds nothing, and ``reset`` replaces their observations only.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import shape
from sqlalchemy import ColumnElement, delete, func, select
from sqlmodel import Session, SQLModel, col

import app.models  # noqa: F401  (every table, so a reset finds the rows hanging on observations)
from app.accounts.models import User
from app.accounts.service import register_user
from app.core.db import utcnow
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.demo_surveys import (
    delete_demo_surveys,
    generate_surveys,
    has_demo_sites,
    load_demo_baselines,
)
from app.media.models import ObservationPhoto
from app.media.storage import storage_from_settings
from app.observations import photos as photos_service
from app.observations.models import CountUnit, Observation, ObservationStatus
from app.observations.visibility import public_position
from app.species.models import Species
from app.species.service import DEFAULT_SPECIES_FILE, import_species
from app.surveys import rollups
from app.zones.models import Zone
from app.zones.service import DEFAULT_ZONES_FILE, import_zones, locate_zones

PARIS = ZoneInfo("Europe/Paris")
DEMO_DOMAIN = "sentinelles.test"
DEMO_PREFIX = "demo-"
# Shared by every demo account and printed by `sentinelles demo`: these accounts are for
# exploring a local instance, never for a public one.
DEMO_PASSWORD = "sentinelles-demo"
MAX_SENTINELS = 99

ProgressCallback = Callable[[int, int], None]


class DemoError(Exception):
    """The demo cannot be loaded (no territory zone, no species): said in one sentence."""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    display_name: str
    role: str
    created: bool


@dataclass(slots=True)
class DemoReport:
    year: int
    accounts: list[DemoAccount] = field(default_factory=list)
    species_loaded: bool = False
    zones_loaded: bool = False
    observations_created: int = 0
    observations_deleted: int = 0
    # Demo observations already stored (a second run without ``reset`` leaves them as they are).
    observations_existing: int = 0
    sites_created: int = 0
    visits_created: int = 0
    sites_deleted: int = 0
    baselines_created: int = 0
    classes_created: int = 0
    class_observations_created: int = 0
    photos_created: int = 0


# --- who ---------------------------------------------------------------------------------------

STAFF: tuple[tuple[str, str, Role], ...] = (
    ("demo-ecologist", "Claire (CPIE Chaîne des terrils)", Role.ecologist),
    ("demo-admin", "Administration Sentinelles", Role.admin),
    ("demo-teacher", "M. Delattre (école Jean Jaurès)", Role.teacher),
)


def sentinel_email(number: int) -> str:
    return f"{DEMO_PREFIX}sentinel-{number:02d}@{DEMO_DOMAIN}"


def staff_email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


def _is_demo_email() -> ColumnElement[bool]:
    return col(User.email).like(f"{DEMO_PREFIX}%@{DEMO_DOMAIN}")


# --- what, when and how many -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """How one species shows up in a season of casual sightings at Loos-en-Gohelle."""

    cd_nom: int
    weight: float  # relative share of the observations
    start: tuple[int, int]  # (month, day) of the first sightings
    peak: tuple[int, int]
    end: tuple[int, int]
    median_count: float  # of a lognormal count, individuals
    spread: float
    max_count: int
    nests_share: float = 0.0  # share of sightings that count nests instead of individuals
    hours: tuple[int, int] = (7, 20)  # local time of day
    on_terrils: bool = False
    notes: tuple[str, ...] = ()


_P = Profile
# fmt: off
PROFILES: tuple[Profile, ...] = (
    # Swallows and the swift: April to August, nests counted on façades and in barns.
    _P(3696, 13, (4, 2), (6, 10), (8, 31), 3, 0.8, 40, nests_share=0.25, notes=(
        "sur le fil électrique", "nid dans la grange", "chasse au-dessus de la prairie",
        "nid sous le porche de la ferme", "plusieurs jeunes au nid")),
    _P(459478, 11, (4, 15), (6, 25), (8, 31), 4, 0.9, 60, nests_share=0.4, notes=(
        "colonie sous les corniches", "nids sous le toit de l'école",
        "récolte de boue au bord de la flaque", "nids artificiels occupés")),
    _P(3551, 11, (4, 28), (6, 15), (8, 10), 8, 0.9, 120, hours=(8, 20), notes=(
        "groupe criard au-dessus de la rue", "en chasse au-dessus des terrils",
        "passage au crépuscule")),
    # Garden butterflies: March to October, most in high summer.
    _P(608364, 7, (3, 10), (7, 25), (10, 15), 2, 0.7, 25, hours=(10, 18), notes=(
        "sur le buddleia", "au soleil sur le mur", "sur les orties du fond du jardin")),
    _P(54342, 6, (4, 10), (8, 5), (10, 20), 2, 0.8, 30, hours=(10, 18), notes=(
        "dans le potager, sur les choux", "ponte sur les capucines")),
    _P(219831, 5, (4, 1), (7, 20), (10, 15), 2, 0.8, 30, hours=(10, 18)),
    _P(53741, 5, (5, 1), (8, 25), (10, 31), 1, 0.6, 12, hours=(10, 18), notes=(
        "sur les fruits tombés", "sur le lierre en fleur")),
    _P(53747, 3, (5, 10), (7, 10), (9, 30), 1, 0.8, 20, hours=(10, 18), notes=(
        "en migration vers le nord", "sur les chardons du terril")),
    _P(53668, 5, (6, 1), (7, 15), (9, 10), 3, 0.8, 40, hours=(10, 18), notes=(
        "dans l'herbe haute", "prairie fleurie du parc")),
    _P(54417, 3, (3, 1), (4, 10), (10, 10), 1, 0.5, 6, hours=(10, 18), notes=(
        "premier papillon de l'année",)),
    _P(53754, 3, (3, 5), (7, 1), (10, 10), 1, 0.7, 15, hours=(10, 18)),
    _P(54279, 3, (5, 10), (8, 1), (9, 25), 2, 0.7, 20, hours=(10, 18), on_terrils=True),
    _P(53595, 3, (4, 1), (8, 15), (10, 15), 1, 0.6, 8, hours=(10, 18), notes=(
        "lisière du bois",)),
    _P(608405, 2, (7, 1), (7, 28), (8, 31), 2, 0.7, 15, hours=(10, 18)),
    _P(54829, 2, (6, 1), (8, 10), (10, 15), 1, 0.4, 4, hours=(10, 19), notes=(
        "butine les géraniums", "vol stationnaire devant les fleurs")),
    # Toads: the spring migration to the ponds, counted at dusk.
    _P(259, 5, (3, 1), (3, 20), (4, 30), 6, 1.0, 150, hours=(18, 20), notes=(
        "traversée de route vers la mare", "sauvés au seau par l'équipe de bénévoles",
        "accouplements dans la mare")),
    _P(459628, 1.5, (3, 25), (4, 20), (4, 30), 3, 0.8, 30, hours=(18, 20), on_terrils=True,
       notes=("chants dans les ornières du terril", "pontes dans une flaque temporaire")),
    # Reptiles on the warm black slopes of the slag heaps.
    _P(77756, 2, (4, 1), (6, 20), (9, 30), 2, 0.6, 10, hours=(10, 18), on_terrils=True,
       notes=("au soleil sur les schistes",)),
    # The peregrine nesting on the slag heaps: few sightings, sensitive (generalised in public).
    _P(2938, 1.2, (3, 1), (5, 20), (7, 31), 1, 0.4, 3, hours=(8, 19), on_terrils=True,
       notes=("posé au sommet du terril", "piqué sur un pigeon", "couple en parade")),
)

# Display names of the demo residents, as people pick them in the app.
SENTINEL_NAMES = (
    "Martine D.", "Jean-Pierre L.", "Sophie Vasseur", "Karim B.", "Nathalie", "Ginette et Raymond",
    "Lucas P.", "Chloé M.", "Bernard Lefebvre", "Amandine", "Thierry H.", "Fatima Z.",
    "Mathéo", "Sylvie C.", "Dominique", "Léa R.", "Patrick W.", "Inès", "Gérard Dubois",
    "Manon T.", "Hugo", "Brigitte K.", "Yannick", "Émilie S.",
)
# fmt: on

# The twin slag heaps of the 11/19 pit, Loos-en-Gohelle (WGS 84: latitude, longitude).
TERRILS: tuple[tuple[float, float], ...] = ((50.4560, 2.7720), (50.4540, 2.7665))
TERRIL_RADIUS_M = 350
HOME_RADIUS_M = 450
# Shares of review outcomes for sightings older than the review delay; newer ones are pending.
STATUS_WEIGHTS: tuple[tuple[ObservationStatus, float], ...] = (
    (ObservationStatus.validated, 0.72),
    (ObservationStatus.pending, 0.20),
    (ObservationStatus.needs_info, 0.05),
    (ObservationStatus.rejected, 0.03),
)
REVIEW_DELAY_DAYS = 10
CHUNK = 250


def default_year(today: date) -> int:
    """The current year once its season has begun, the previous one before that."""
    return today.year if (today.month, today.day) >= (3, 15) else today.year - 1


# --- the whole demo ----------------------------------------------------------------------------


def load_demo(
    session: Session,
    settings: Settings,
    rng: random.Random,
    *,
    sentinels: int = 8,
    observations: int = 1500,
    year: int | None = None,
    reset: bool = False,
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> DemoReport:
    """Loads what is missing of the demo; flushes, the caller commits."""
    if not 1 <= sentinels <= MAX_SENTINELS:
        raise DemoError(f"the number of sentinels must be between 1 and {MAX_SENTINELS}")
    if observations < 0:
        raise DemoError("the number of observations cannot be negative")
    now = now or utcnow()
    today = now.astimezone(PARIS).date()
    year = default_year(today) if year is None else year
    if not 1900 <= year <= today.year:
        raise DemoError(f"the year must be between 1900 and {today.year}")

    report = DemoReport(year=year)
    report.species_loaded, report.zones_loaded = ensure_reference_data(session)
    territory = territory_zone(session, settings)
    report.accounts = ensure_accounts(session, settings, sentinels=sentinels)

    demo_ids = list(session.scalars(select(col(User.id)).where(_is_demo_email())))
    if reset:
        delete_demo_photo_files(session, settings, demo_ids)
        report.observations_deleted = delete_demo_observations(session, demo_ids)
        report.sites_deleted = delete_demo_surveys(session, demo_ids)
    sentinel_emails = [a.email for a in report.accounts if a.role == Role.sentinel.value]
    observers = list(
        session.scalars(
            select(User).where(col(User.email).in_(sentinel_emails)).order_by(col(User.email))
        )
    )
    if not has_demo_sites(session, demo_ids):
        # Its own random stream, so that the sightings stay those of the seed whatever this does.
        survey_rng = random.Random(f"surveys-{year}-{len(observers)}")
        area = _Area(shape(json.loads(territory.geometry)), survey_rng)
        report.sites_created, report.visits_created = generate_surveys(
            session,
            settings,
            survey_rng,
            homes=[area.sample() for _ in observers],
            observers=observers,
            year=year,
            now=now,
        )
    report.baselines_created = load_demo_baselines(session, year=year)
    teacher = session.scalars(
        select(User).where(col(User.email) == staff_email("demo-teacher"))
    ).first()
    if teacher is not None:
        from app.demo_classes import load_demo_class

        report.classes_created, report.class_observations_created = load_demo_class(
            session, settings, teacher=teacher, now=now
        )
    report.observations_existing = (
        session.scalar(
            select(func.count())
            .select_from(Observation)
            .where(col(Observation.observer_id).in_(demo_ids))
        )
        or 0
    )
    if report.observations_existing:
        return report

    report.observations_created = generate_observations(
        session,
        settings,
        rng,
        territory=territory,
        observers=observers,
        count=observations,
        year=year,
        now=now,
        on_progress=on_progress,
    )
    session.flush()
    from app.demo_photos import attach_demo_photos

    report.photos_created = attach_demo_photos(
        session, settings, random.Random(f"photos-{year}"), observer_ids=[o.id for o in observers]
    )
    return report


def ensure_reference_data(session: Session) -> tuple[bool, bool]:
    """Loads the shipped species and zones into an empty database: ``(species, zones)`` loaded."""
    species_loaded = zones_loaded = False
    if not session.scalar(select(func.count()).select_from(Species)):
        import_species(session, DEFAULT_SPECIES_FILE)
        species_loaded = True
    if not session.scalar(select(func.count()).select_from(Zone)):
        import_zones(session, DEFAULT_ZONES_FILE)
        zones_loaded = True
    return species_loaded, zones_loaded


def territory_zone(session: Session, settings: Settings) -> Zone:
    codes = settings.territory_codes
    zone = session.scalars(
        select(Zone).where(col(Zone.code).in_(codes)).order_by(col(Zone.code))
    ).first()
    if zone is None:
        raise DemoError(
            f"no zone has the territory's code ({', '.join(codes)}): import the commune's "
            "boundary with `sentinelles import-zones` or set SENTINELLES_TERRITORY_CODES"
        )
    return zone


def ensure_accounts(session: Session, settings: Settings, *, sentinels: int) -> list[DemoAccount]:
    wanted = [(staff_email(local), name, role) for local, name, role in STAFF]
    wanted += [
        (sentinel_email(i), SENTINEL_NAMES[(i - 1) % len(SENTINEL_NAMES)], Role.sentinel)
        for i in range(1, sentinels + 1)
    ]
    existing = {
        u.email: u
        for u in session.scalars(select(User).where(col(User.email).in_([w[0] for w in wanted])))
    }
    accounts: list[DemoAccount] = []
    for email, name, role in wanted:
        user = existing.get(email)
        if user is None:
            register_user(
                session,
                settings,
                email=email,
                password=DEMO_PASSWORD,
                display_name=name,
                role=role,
            )
            accounts.append(DemoAccount(email, name, role.value, created=True))
        else:
            accounts.append(DemoAccount(email, user.display_name, user.role, created=False))
    session.flush()
    return accounts


def delete_demo_photo_files(
    session: Session, settings: Settings, observer_ids: Sequence[uuid.UUID]
) -> None:
    """Photos someone uploaded to demo observations: their rows, and their files once the
    reset is committed (the rows alone would go with the observations, leaving the files)."""
    if not observer_ids:
        return
    with_photos = session.scalars(
        select(col(ObservationPhoto.observation_id))
        .join(Observation, col(Observation.id) == col(ObservationPhoto.observation_id))
        .where(col(Observation.observer_id).in_(observer_ids))
        .distinct()
    ).all()
    if with_photos:
        photos_service.delete_photos_of_observations(
            session, storage_from_settings(settings), observation_ids=list(with_photos)
        )


def delete_demo_observations(session: Session, observer_ids: Sequence[uuid.UUID]) -> int:
    """Deletes the demo observations and whatever rows hang on them (photos, reviews…)."""
    if not observer_ids:
        return 0
    ids = select(col(Observation.id)).where(col(Observation.observer_id).in_(observer_ids))
    observation_table = SQLModel.metadata.tables[Observation.__tablename__]
    for table in reversed(SQLModel.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table is observation_table:
                session.execute(delete(table).where(fk.parent.in_(ids)))
    result = session.execute(
        delete(Observation).where(col(Observation.observer_id).in_(observer_ids))
    )
    rollups.mark_everything(session)
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


# --- the season --------------------------------------------------------------------------------


def generate_observations(
    session: Session,
    settings: Settings,
    rng: random.Random,
    *,
    territory: Zone,
    observers: Sequence[User],
    count: int,
    year: int,
    now: datetime,
    on_progress: ProgressCallback | None = None,
) -> int:
    if not observers or count == 0:
        return 0
    species = {
        s.cd_nom: s
        for s in session.scalars(
            select(Species).where(col(Species.cd_nom).in_([p.cd_nom for p in PROFILES]))
        )
    }
    today = now.astimezone(PARIS).date()
    profiles = [p for p in PROFILES if p.cd_nom in species and _window(p, year, today)]
    if not profiles:
        raise DemoError(
            "none of the demo species is in the reference, or none is about yet this year: "
            "load the shipped species (`sentinelles import-species`) or pass an earlier --year"
        )

    area = _Area(shape(json.loads(territory.geometry)), rng)
    homes = [area.sample() for _ in observers]
    # A few keen sentinels make most of the sightings, as in every citizen survey.
    activity = [rng.paretovariate(1.6) for _ in observers]
    weights = [p.weight for p in profiles]

    created = 0
    batch: list[Observation] = []
    while created + len(batch) < count:
        profile = rng.choices(profiles, weights)[0]
        who = rng.choices(range(len(observers)), activity)[0]
        observed_at = _when(profile, year, now, rng)
        if profile.on_terrils:
            centre = rng.choice(TERRILS)
            lat, lon = area.sample_near(centre, TERRIL_RADIUS_M)
        elif rng.random() < 0.8:
            lat, lon = area.sample_near(homes[who], HOME_RADIUS_M)
        else:
            lat, lon = area.sample()
        batch.append(
            _observation(
                rng, profile, species[profile.cd_nom], observers[who], observed_at, lat, lon, now
            )
        )
        if len(batch) >= CHUNK or created + len(batch) >= count:
            _place(session, settings, batch)
            session.add_all(batch)
            session.flush()
            created += len(batch)
            batch = []
            if on_progress is not None:
                on_progress(created, count)
    return created


def _observation(
    rng: random.Random,
    profile: Profile,
    species: Species,
    observer: User,
    observed_at: datetime,
    lat: float,
    lon: float,
    now: datetime,
) -> Observation:
    nests = rng.random() < profile.nests_share
    median = profile.median_count / 2 if nests else profile.median_count
    n = round(rng.lognormvariate(math.log(max(median, 1)), profile.spread))
    n = min(max(n, 1), profile.max_count)
    # Phones sync when they find a network: minutes to a day after the sighting.
    synced = min(observed_at + timedelta(minutes=rng.choice((1, 5, 20, 90, 600, 1400))), now)
    age = (now - observed_at).days
    if age < REVIEW_DELAY_DAYS:
        status = ObservationStatus.pending
    else:
        status = rng.choices([s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[0]
    updated = synced
    if status is not ObservationStatus.pending:
        updated = min(synced + timedelta(days=rng.uniform(1, REVIEW_DELAY_DAYS)), now)
    lat, lon = round(lat, 6), round(lon, 6)
    accuracy = float(rng.choice((4, 6, 8, 10, 12, 15, 20, 30)))
    public = public_position(
        sensitive=species.sensitive,
        latitude=lat,
        longitude=lon,
        accuracy_m=accuracy,
        generalisation=species.generalisation,
    )
    return Observation(
        client_id=uuid.uuid4(),
        observer_id=observer.id,
        species_id=species.id,
        observed_at=observed_at,
        latitude=lat,
        longitude=lon,
        accuracy_m=accuracy,
        count=n,
        count_unit=(CountUnit.nests if nests else CountUnit.individuals).value,
        notes=rng.choice(profile.notes) if profile.notes and rng.random() < 0.35 else None,
        public_latitude=public.latitude,
        public_longitude=public.longitude,
        public_accuracy_m=public.accuracy_m,
        generalised=public.generalised,
        status=status.value,
        created_at=synced,
        updated_at=updated,
    )


def _place(session: Session, settings: Settings, batch: Sequence[Observation]) -> None:
    zones = locate_zones(session, settings, [(o.latitude, o.longitude) for o in batch])
    for observation, zone_id in zip(batch, zones, strict=True):
        observation.zone_id = zone_id


def _window(profile: Profile, year: int, today: date) -> tuple[date, date, date] | None:
    """The profile's season that year, cut at today; None when it has not begun."""
    start, peak, end = (date(year, m, d) for m, d in (profile.start, profile.peak, profile.end))
    if start > today:
        return None
    end = min(end, today)
    return start, min(peak, end), end


def _when(profile: Profile, year: int, now: datetime, rng: random.Random) -> datetime:
    today = now.astimezone(PARIS).date()
    window = _window(profile, year, today)
    assert window is not None  # profiles out of season were left out
    start, peak, end = window
    for _ in range(20):
        offset = rng.triangular(0, (end - start).days, (peak - start).days)
        day = start + timedelta(days=round(offset))
        first, last = profile.hours
        minute = rng.randrange(first * 60, last * 60)
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=PARIS)
        moment = local.astimezone(UTC)
        if moment <= now:
            return moment
    # Only today is left in the window and its hours are still ahead: a little earlier today.
    return now - timedelta(minutes=rng.randint(5, 120))


class _Area:
    """Random points inside a zone's shape (rejection sampling over its bounding box)."""

    def __init__(self, geometry: shapely.Geometry, rng: random.Random) -> None:
        shapely.prepare(geometry)
        self.geometry = geometry
        self.bounds = geometry.bounds
        self.rng = rng

    def _inside(self, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(self.geometry, lon, lat))

    def sample(self) -> tuple[float, float]:
        min_lon, min_lat, max_lon, max_lat = self.bounds
        while True:
            lon = self.rng.uniform(min_lon, max_lon)
            lat = self.rng.uniform(min_lat, max_lat)
            if self._inside(lon, lat):
                return lat, lon

    def sample_near(self, centre: tuple[float, float], radius_m: float) -> tuple[float, float]:
        """A point within ``radius_m`` of ``centre`` (latitude, longitude), inside the zone."""
        lat0, lon0 = centre
        for _ in range(50):
            r = radius_m * math.sqrt(self.rng.random())
            theta = self.rng.uniform(0, 2 * math.pi)
            lat = lat0 + (r * math.cos(theta)) / 111_320
            lon = lon0 + (r * math.sin(theta)) / (111_320 * math.cos(math.radians(lat0)))
            if self._inside(lon, lat):
                return lat, lon
        return self.sample()
