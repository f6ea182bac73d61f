"""The rows every export writes, read from the database in chunks.

An export may hold the town's whole history: it is never loaded at once. Rows are read in
keyset order, ``(observed_at, id)`` for observations and ``(started_at, id)`` for visits, a
chunk at a time, each chunk in a session of its own that is closed before the chunk is written:
a slow client holds no connection and no transaction while it reads, and a client that goes
away stops the reading at the next chunk. (Chunks are read at slightly different instants: a
row edited during a long export shows its state at its chunk's reading.)

Visibility is the one of the lists (``app.observations.visibility``): what ``GET /observations``
shows a viewer, their exports hold, at the same precision: exact positions of sensitive species
for their observer and staff only, the generalised one for everyone else. Survey visits follow
``GET /sites``: their owner and staff, nobody else (a garden is a home).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, literal, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.accounts.models import User
from app.accounts.schemas import looks_like_contact
from app.classes.models import SchoolClass
from app.core.db import Database
from app.core.viewer import Viewer, is_staff
from app.media.models import ObservationPhoto
from app.media.schemas import PHOTOS_PATH
from app.observations.models import Observation, ObservationStatus
from app.observations.schemas import ObservationFilters
from app.observations.service import filter_clauses
from app.observations.visibility import public_position
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.zones.models import Zone

CHUNK_ROWS = 1000
E = TypeVar("E")


def observer_pseudonym(observer_id: uuid.UUID | None, key: bytes = b"") -> str:
    """A stable identifier for an observer that says nothing of them: a keyed hash of their
    account id (the key is the deployment's secret, so nobody can link it to an account id
    seen elsewhere). The same from one export to the next while the secret stays."""
    digest = hmac.new(key, f"observer:{observer_id}".encode(), hashlib.sha256).hexdigest()
    return f"Sentinelle {digest[:10]}"


def published_observer(name: str, observer_id: uuid.UUID | None, key: bytes = b"") -> str:
    """The name an export writes for an observer: their display name, unless it looks like an
    e-mail address or a phone number, which are replaced by the pseudonym."""
    if looks_like_contact(name):
        return observer_pseudonym(observer_id, key)
    return name


@dataclass(frozen=True, slots=True)
class Taxon:
    cd_nom: int
    cd_ref: int
    scientific_name: str
    authority: str | None
    vernacular_name: str | None
    rank: str | None
    kingdom: str | None
    group: str
    taxref_version: str | None
    sensitive: bool
    generalisation: str


@dataclass(frozen=True, slots=True)
class Photo:
    url: str
    licence: str
    media_type: str = ""
    creator: str = ""  # the observer as published: pseudonym, never an address
    created: datetime | None = None


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and one is made
# per exported row.
@dataclass(slots=True)
class ObservationRow:
    id: uuid.UUID
    observed_at: datetime
    taxon: Taxon
    latitude: float
    longitude: float
    accuracy_m: float | None
    generalised: bool  # the position is the generalised one (cell or commune)
    count: int
    count_unit: str
    zone_code: str | None
    zone_name: str | None
    status: str
    observer: str  # the pseudonym
    updated_at: datetime
    photos: tuple[Photo, ...] = ()
    observer_id: uuid.UUID | None = None
    observer_role: str = ""
    # The observer agreed to be credited by name in the open data (see ``credited``).
    observer_credited: bool = False


@dataclass(frozen=True, slots=True)
class VisitCountRow:
    taxon: Taxon
    count: int  # individuals, or occupied nests (natural and nest boxes together)


@dataclass(frozen=True, slots=True)
class VisitRow:
    id: uuid.UUID
    site_id: uuid.UUID
    site_kind: str
    site_name: str
    site_code: str | None
    latitude: float
    longitude: float
    geometry: str | None
    zone_code: str | None
    started_at: datetime
    duration_min: int
    observers: int
    complete: bool
    status: str
    observer: str
    counts: tuple[VisitCountRow, ...] = field(default=())
    # A complete visit counted every species of its protocol: those counted at the site at
    # some visit but not at this one were absent (the yearly rules' zeros).
    absent: tuple[Taxon, ...] = field(default=())
    observer_id: uuid.UUID | None = None
    observer_credited: bool = False
    # Set when the site's position is generalised (a home, a sensitive species counted there):
    # the uncertainty is then the cell's, and these say why in the published records.
    accuracy_m: float | None = None
    withheld: str = ""
    generalisations: str = ""


def credited(pupil_id: Any) -> Any:
    """Whether a row's observer is credited by name in the open data, as a column of the row's
    own statement (joined to ``User``): they agreed (``credit_by_name``), their account was not
    anonymised, it is not a school class's, and no pupil made the row (``pupil_id``)."""
    return and_(
        col(User.credit_by_name),
        col(User.anonymised_at).is_(None),
        pupil_id.is_(None),
        ~sa_select(col(SchoolClass.id)).where(col(SchoolClass.account_id) == col(User.id)).exists(),
    )


def _taxon(species: Any) -> Taxon:
    return Taxon(
        cd_nom=species.cd_nom,
        cd_ref=species.cd_ref,
        scientific_name=species.scientific_name,
        authority=species.authority,
        vernacular_name=species.vernacular_name,
        rank=species.rank,
        kingdom=species.kingdom,
        group=species.group,
        taxref_version=species.taxref_version,
        sensitive=species.sensitive,
        generalisation=species.generalisation,
    )


def export_filters(filters: ObservationFilters) -> ObservationFilters:
    """Exports hold validated data unless another status is asked for, and never tombstones
    (``updated_since`` selects by change time only)."""
    if filters.status is not None:
        return filters
    return ObservationFilters(
        mine=filters.mine,
        species_id=filters.species_id,
        zone_id=filters.zone_id,
        status=ObservationStatus.validated,
        year=filters.year,
        updated_since=filters.updated_since,
        bbox=filters.bbox,
    )


def count_observations(db: Database, *, viewer: Viewer | None, filters: ObservationFilters) -> int:
    """How many rows :func:`observation_rows` will give (for a progress bar)."""
    clauses = [*filter_clauses(filters, viewer=viewer), col(Observation.deleted_at).is_(None)]
    with db.session() as session:
        statement = (
            sa_select(func.count())
            .select_from(Observation)
            .join(Species, col(Species.id) == col(Observation.species_id))
            .where(*clauses)
        )
        return int(session.execute(statement).scalar_one())


def _pages(
    db: Database,
    statement: Any,
    order: tuple[Any, Any],
    position_of: Callable[[Any], tuple[Any, Any]],
    chunk: int,
    enrich: Callable[[Session, Sequence[Any]], E],
) -> Iterator[tuple[Sequence[Any], E]]:
    """Keyset pages of ``statement`` in ``order`` (an instant, then the id), each read in a
    session of its own together with what ``enrich`` reads about the same page, the session
    closed before the page is handed on.

    The ``at >= last`` bound beside the usual ``(at, id) > (last, last_id)`` is what lets the
    index seek to the page: the ``OR`` alone is read as a filter, and every page would scan
    from the first row again (quadratic over a million rows)."""
    at, id_ = order
    position: tuple[Any, Any] | None = None
    while True:
        page = statement
        if position is not None:
            last_at, last_id = position
            page = page.where(at >= last_at, or_(at > last_at, and_(at == last_at, id_ > last_id)))
        page = page.order_by(at, id_).limit(chunk)
        with db.session() as session:
            rows = session.execute(page).all()
            extra = enrich(session, rows)
        yield rows, extra
        if len(rows) < chunk:
            return
        position = position_of(rows[-1])


def _raw_pages(
    db: Database,
    statement: Any,
    order: tuple[Any, Any],
    position_of: Callable[[Sequence[Any]], tuple[Any, Any]],
    chunk: int,
    enrich: Callable[[Session, Sequence[Sequence[Any]]], E],
) -> Iterator[tuple[Sequence[Sequence[Any]], E]]:
    """:func:`_pages`, the rows as the driver gives them: tuples, without a ``Row`` object nor
    a result processor per value (they took two fifths of an export's time). SQLAlchemy still
    builds and binds the statement; the caller converts the few values it needs
    (:class:`_Driver`)."""
    at, id_ = order
    position: tuple[Any, Any] | None = None
    while True:
        page = statement
        if position is not None:
            last_at, last_id = position
            page = page.where(at >= last_at, or_(at > last_at, and_(at == last_at, id_ > last_id)))
        page = page.order_by(at, id_).limit(chunk)
        with db.session() as session:
            result = session.connection().execute(page)
            rows = result.cursor.fetchall()
            result.close()
            extra = enrich(session, rows)
        yield rows, extra
        if len(rows) < chunk:
            return
        position = position_of(rows[-1])


class _Driver:
    """What the database driver hands over, as the rows' types: SQLite keeps UUIDs as 32 hex
    digits and instants as naive UTC text; psycopg gives ``UUID`` objects and aware instants."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def uuid(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value) if self.sqlite else value

    def instant(self, value: Any) -> datetime:
        if self.sqlite:
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def observation_rows(
    db: Database,
    *,
    viewer: Viewer | None,
    filters: ObservationFilters,
    base_url: str,
    chunk: int = CHUNK_ROWS,
    observer_key: bytes = b"",
) -> Iterator[ObservationRow]:
    """The observations ``viewer`` may see under ``filters``, oldest first. ``observer_key``
    keys the pseudonyms of observers whose display name looks like an address."""
    taxa: dict[int, Taxon] = {}
    base = base_url.rstrip("/") + PHOTOS_PATH
    driver = _Driver(db.dialect)
    # The position the viewer may see, chosen by the database (``visibility``): the exact one
    # for staff and for the observer, the stored public one for everyone else. ``late`` marks a
    # row written in the instant before its species became sensitive, public position not yet
    # generalised: blurred below until the recompute reaches it (as every other output does).
    exact: Any
    if is_staff(viewer):
        exact = None
    elif viewer is None:
        exact = literal(False)
    else:
        exact = col(Observation.observer_id) == viewer.id
    position: tuple[Any, ...]
    if exact is None:
        position = (
            col(Observation.latitude),
            col(Observation.longitude),
            col(Observation.accuracy_m),
            literal(False),
            literal(False),
        )
    else:
        public = (
            (col(Observation.latitude), col(Observation.public_latitude)),
            (col(Observation.longitude), col(Observation.public_longitude)),
            (col(Observation.accuracy_m), col(Observation.public_accuracy_m)),
        )
        position = (
            *(case((exact, mine), else_=others) for mine, others in public),
            and_(~exact, col(Observation.generalised)),
            and_(~exact, col(Species.sensitive), ~col(Observation.generalised)),
        )
    # Only the columns written, not whole rows as objects: building an Observation per row
    # (its JSON flags decoded, its UUIDs made) took most of an export's time.
    statement = (
        sa_select(
            col(Observation.id),
            col(Observation.observed_at),
            *position,
            col(Observation.count),
            col(Observation.count_unit),
            col(Observation.status),
            col(Observation.updated_at),
            col(Species.cd_nom),
            col(Zone.code),
            col(Zone.name),
            col(User.display_name),
            col(Observation.observer_id),
            col(User.role),
            credited(col(Observation.pupil_id)),
        )
        .join(Species, col(Species.id) == col(Observation.species_id))
        .join(User, col(User.id) == col(Observation.observer_id))
        .outerjoin(Zone, col(Zone.id) == col(Observation.zone_id))
        .where(*filter_clauses(filters, viewer=viewer), col(Observation.deleted_at).is_(None))
    )

    def photos_of(
        session: Session, rows: Sequence[Sequence[Any]]
    ) -> dict[Any, list[tuple[str, str, str, datetime]]]:
        """The page's photos by the driver's observation id, and the taxa it names that were
        not met before: one statement each, keyed by the page's ids."""
        photos: dict[Any, list[tuple[str, str, str, datetime]]] = {}
        if not rows:
            return photos
        missing = {r[11] for r in rows} - taxa.keys()
        if missing:
            for species in session.scalars(
                sa_select(Species).where(col(Species.cd_nom).in_(list(missing)))
            ):
                taxa[species.cd_nom] = _taxon(species)
        result = session.connection().execute(
            sa_select(
                col(ObservationPhoto.observation_id),
                col(ObservationPhoto.id),
                col(ObservationPhoto.licence),
                col(ObservationPhoto.media_type),
                col(ObservationPhoto.created_at),
            )
            .where(col(ObservationPhoto.observation_id).in_([driver.uuid(r[0]) for r in rows]))
            .order_by(col(ObservationPhoto.observation_id), col(ObservationPhoto.position))
        )
        for observation_id, photo_id, licence, media_type, created in result.cursor.fetchall():
            photos.setdefault(observation_id, []).append(
                (f"{base}/{driver.uuid(photo_id)}", licence, media_type, driver.instant(created))
            )
        result.close()
        return photos

    # An observer's published name and id, made once per export rather than once per row.
    observers: dict[Any, tuple[str, uuid.UUID]] = {}

    def observer_of(name: str, raw_id: Any) -> tuple[str, uuid.UUID]:
        observer_id = driver.uuid(raw_id)
        known = observers[name, raw_id] = (
            published_observer(name, observer_id, observer_key),
            observer_id,
        )
        return known

    order = (col(Observation.observed_at), col(Observation.id))
    pages = _raw_pages(
        db,
        statement,
        order,
        lambda r: (driver.instant(r[1]), driver.uuid(r[0])),
        chunk,
        photos_of,
    )
    for rows, photos in pages:
        for (
            raw_id,
            observed_at,
            lat,
            lon,
            accuracy,
            generalised,
            late,
            count,
            count_unit,
            status,
            updated_at,
            cd_nom,
            zone_code,
            zone_name,
            name,
            raw_observer,
            role,
            observer_credited,
        ) in rows:
            taxon = taxa[cd_nom]
            if late:
                blurred = public_position(
                    sensitive=True,
                    latitude=lat,
                    longitude=lon,
                    accuracy_m=accuracy,
                    generalisation=taxon.generalisation,
                )
                lat, lon = blurred.latitude, blurred.longitude
                accuracy, generalised = blurred.accuracy_m, True
            if generalised:
                # The cell's centre to the metre it stands for, not to fifteen decimals; and
                # a generalised position keeps its zone to itself: a commune says more than a
                # cell.
                lat, lon = rounded(lat, accuracy), rounded(lon, accuracy)
                zone_code = zone_name = None
            observer, observer_id = observers.get((name, raw_observer)) or observer_of(
                name, raw_observer
            )
            shown = photos.get(raw_id)
            yield ObservationRow(
                driver.uuid(raw_id),
                driver.instant(observed_at),  # UTC, as every stored instant
                taxon,
                lat,
                lon,
                accuracy,
                bool(generalised),
                count,
                count_unit,
                zone_code,
                zone_name,
                status,
                observer,
                driver.instant(updated_at),
                tuple(Photo(u, lc, m, observer, c) for u, lc, m, c in shown) if shown else (),
                observer_id,
                role,
                bool(observer_credited),
            )


@functools.lru_cache(maxsize=4096)
def decimals_for(uncertainty_m: float | None) -> int:
    """The decimals of a degree a position of this uncertainty supports: one more than the
    place where a degree's step (about 111 km) falls under the uncertainty, seven at most."""
    if uncertainty_m is None or not math.isfinite(uncertainty_m) or uncertainty_m <= 0:
        return 5
    return max(1, min(7, math.ceil(math.log10(111_320 / uncertainty_m)) + 1))


def rounded(value: float, uncertainty_m: float | None) -> float:
    """A coordinate rounded to what its uncertainty supports."""
    return round(value, decimals_for(uncertainty_m))


def visit_rows(
    db: Database,
    *,
    viewer: Viewer | None,
    filters: ObservationFilters,
    chunk: int = CHUNK_ROWS,
    observer_key: bytes = b"",
) -> Iterator[VisitRow]:
    """The survey visits ``viewer`` may see (their own sites', or every site for staff) under
    the same filters: status (validated by default), year of the visit (UTC, as the lists),
    zone of the site, species counted (the visit's other counts are then left out)."""
    if viewer is None:
        return
    status = (filters.status or ObservationStatus.validated).value
    where: list[Any] = [
        col(Visit.deleted_at).is_(None),
        col(Site.deleted_at).is_(None),
        col(Visit.status) == status,
    ]
    if not is_staff(viewer) or filters.mine:
        where.append(col(Site.owner_id) == viewer.id)
    if filters.zone_id is not None:
        where.append(col(Site.zone_id) == filters.zone_id)
    if filters.year is not None:
        where.append(col(Visit.started_at) >= datetime(filters.year, 1, 1, tzinfo=UTC))
        where.append(col(Visit.started_at) < datetime(filters.year + 1, 1, 1, tzinfo=UTC))
    if filters.updated_since is not None:
        where.append(col(Visit.updated_at) >= filters.updated_since)
    if filters.bbox is not None:
        box = filters.bbox
        where.extend(
            [
                col(Site.latitude) >= box.min_lat,
                col(Site.latitude) <= box.max_lat,
                col(Site.longitude) >= box.min_lon,
                col(Site.longitude) <= box.max_lon,
            ]
        )
    if filters.species_id is not None:
        where.append(
            sa_select(col(VisitCount.id))
            .where(
                col(VisitCount.visit_id) == col(Visit.id),
                col(VisitCount.species_id) == filters.species_id,
            )
            .exists()
        )
    taxa: dict[uuid.UUID, Taxon] = {}
    statement = (
        sa_select(
            Visit,
            Site,
            col(Zone.code),
            col(User.display_name),
            credited(col(Visit.pupil_id)).label("observer_credited"),
        )
        .join(Site, col(Site.id) == col(Visit.site_id))
        .join(User, col(User.id) == col(Visit.observer_id))
        .outerjoin(Zone, col(Zone.id) == col(Site.zone_id))
        .where(*where)
    )

    def counts_of(
        session: Session, rows: Sequence[Any]
    ) -> tuple[dict[uuid.UUID, dict[uuid.UUID, int]], dict[uuid.UUID, list[uuid.UUID]]]:
        """Per visit of the page, each species' figure; per site with a complete visit, the
        species counted there at any visit."""
        counts: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        if not rows:
            return counts, {}
        for vc, species in session.execute(
            sa_select(VisitCount, Species)
            .join(Species, col(Species.id) == col(VisitCount.species_id))
            .where(col(VisitCount.visit_id).in_([r[0].id for r in rows]))
            .order_by(col(VisitCount.visit_id), col(Species.cd_nom))
        ):
            if filters.species_id is not None and species.id != filters.species_id:
                continue
            if species.id not in taxa:
                taxa[species.id] = _taxon(species)
            figure = (vc.occupied if vc.count is None else vc.count) or 0
            per_visit = counts.setdefault(vc.visit_id, {})
            per_visit[species.id] = per_visit.get(species.id, 0) + figure
        complete_sites = {r[1].id for r in rows if r[0].complete}
        return counts, _counted_at_sites(session, complete_sites, filters.species_id, taxa)

    order = (col(Visit.started_at), col(Visit.id))
    position = lambda row: (row[0].started_at, row[0].id)  # noqa: E731
    for rows, (counts, counted_at) in _pages(db, statement, order, position, chunk, counts_of):
        for visit, site, zone_code, observer, observer_credited in rows:
            figures = counts.get(visit.id, {})
            yield VisitRow(
                id=visit.id,
                site_id=site.id,
                site_kind=site.kind,
                site_name=site.name,
                site_code=site.code,
                latitude=site.latitude,
                longitude=site.longitude,
                geometry=site.geometry,
                zone_code=zone_code,
                started_at=visit.started_at.astimezone(UTC),
                duration_min=visit.duration_min,
                observers=visit.observers,
                complete=visit.complete,
                status=visit.status,
                observer=published_observer(observer, visit.observer_id, observer_key),
                observer_id=visit.observer_id,
                observer_credited=bool(observer_credited),
                counts=tuple(VisitCountRow(taxa[sid], figure) for sid, figure in figures.items()),
                absent=tuple(taxa[sid] for sid in counted_at.get(site.id, ()) if sid not in figures)
                if visit.complete
                else (),
            )


def _counted_at_sites(
    session: Any,
    site_ids: set[uuid.UUID],
    species_id: uuid.UUID | None,
    taxa: dict[uuid.UUID, Taxon],
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The species counted at each of these sites at any visit not deleted, by ``cd_nom``."""
    if not site_ids:
        return {}
    statement = (
        sa_select(col(Visit.site_id), Species)
        .join(VisitCount, col(VisitCount.visit_id) == col(Visit.id))
        .join(Species, col(Species.id) == col(VisitCount.species_id))
        .where(col(Visit.site_id).in_(list(site_ids)), col(Visit.deleted_at).is_(None))
        .distinct()
    )
    if species_id is not None:
        statement = statement.where(col(VisitCount.species_id) == species_id)
    found: dict[uuid.UUID, list[tuple[int, uuid.UUID]]] = {}
    for site_id, species in session.execute(statement):
        if species.id not in taxa:
            taxa[species.id] = _taxon(species)
        found.setdefault(site_id, []).append((species.cd_nom, species.id))
    return {site: [s for _, s in sorted(pairs)] for site, pairs in found.items()}
