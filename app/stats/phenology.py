"""The first report of a species each year (phenology): "the swallows are back".

Years are the territory's local years, and SQL date functions differ between SQLite and
PostgreSQL, so nothing is bucketed by year in SQL. Instead each source is walked year by year
with one indexed ``ORDER BY time LIMIT 1`` query per step: the earliest report at or after
the start of a year belongs to the first year that has one, and the next step starts at the
year after it. A species seen in 1950 and 2026 takes three steps, not seventy-seven, and
each step walks the (species_id, observed_at) index from the year's start until its first
validated report.

Synonyms report the same taxon: everything is gathered by ``cd_ref``, as every statistic is.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.errors import FieldError
from app.core.settings import Settings
from app.observations.models import Observation, ObservationStatus
from app.species.models import Species
from app.stats.parameters import invalid, resolve_species, year_range
from app.stats.schemas import PhenologyItem, PhenologyResponse, SightingSource
from app.surveys.models import Site, Visit, VisitCount

# At the same instant, an observation is listed before a visit.
_SOURCE_RANK = {SightingSource.observation: 0, SightingSource.visit: 1}


@dataclass(frozen=True, slots=True)
class Sighting:
    """One report of the species: when (aware), by whom (pseudonym), from which source."""

    at: datetime
    observer: str
    source: SightingSource


# --- the reduction (pure) -----------------------------------------------------------------


def first_per_year(sightings: Iterable[Sighting], *, tz: ZoneInfo) -> list[PhenologyItem]:
    """The earliest sighting of each local year that has one, oldest year first. At the same
    instant an observation wins over a visit, then the observer's name decides (so that the
    answer does not depend on the order the sightings come in)."""
    first: dict[int, tuple[tuple[datetime, int, str], Sighting]] = {}
    for sighting in sightings:
        at = sighting.at.astimezone(UTC)
        year = at.astimezone(tz).year
        key = (at, _SOURCE_RANK[sighting.source], sighting.observer)
        if year not in first or key < first[year][0]:
            first[year] = (key, sighting)
    items = []
    for year in sorted(first):
        (at, _, _), sighting = first[year]
        items.append(
            PhenologyItem(
                year=year,
                first_date=at.astimezone(tz).date(),
                observer=sighting.observer,
                first_at=at,
                source=sighting.source,
            )
        )
    return items


def median_day_of_year(dates: Sequence[date]) -> float | None:
    """The median day of the year (1 = 1 January) of ``dates``; None when there are none.

    Days are counted from 1 January of each date's own year, as first-arrival series usually
    are, so that from March on a leap year's date is one day further than the same date of a
    common year (1 April is day 91, or 92): a shift small beside how much first dates vary
    from one year to the next.
    """
    if not dates:
        return None
    return float(statistics.median(d.timetuple().tm_yday for d in dates))


def phenology(sightings: Iterable[Sighting], *, tz: ZoneInfo) -> PhenologyResponse:
    """Each year's first sighting among ``sightings``, and the median of their dates."""
    items = first_per_year(sightings, tz=tz)
    return PhenologyResponse(
        items=items, median_day_of_year=median_day_of_year([i.first_date for i in items])
    )


# --- the request --------------------------------------------------------------------------


def _taxon_ids(session: Session, species: Species) -> list[uuid.UUID]:
    """The ids of every name of the species' taxon (its synonyms included), in a stable
    order."""
    query = (
        select(Species.id)
        .where(col(Species.cd_ref) == species.cd_ref)
        .order_by(col(Species.cd_nom))
    )
    return list(session.exec(query).all()) or [species.id]


# The first report at or after a time and before another: (time, pseudonym), or None.
FirstAfter = Callable[[datetime, datetime], tuple[datetime, str] | None]


def _first_observation(session: Session, species_id: uuid.UUID) -> FirstAfter:
    """One species id at a time: ``species_id = :id ORDER BY observed_at`` is a walk along
    the (species_id, observed_at) index, which an ``IN`` list of synonyms would not be."""

    def first(start: datetime, end: datetime) -> tuple[datetime, str] | None:
        query = (
            select(Observation.observed_at, User.display_name)
            .join(User, col(User.id) == col(Observation.observer_id))
            .where(
                col(Observation.species_id) == species_id,
                col(Observation.observed_at) >= start,
                col(Observation.observed_at) < end,
                col(Observation.status) == ObservationStatus.validated.value,
                col(Observation.deleted_at).is_(None),
                col(Observation.count) > 0,
            )
            .order_by(col(Observation.observed_at), col(Observation.id))
            .limit(1)
        )
        row = session.exec(query).first()
        return None if row is None else (row[0], row[1])

    return first


def _first_visit(session: Session, species_ids: Sequence[uuid.UUID]) -> FirstAfter:
    """A validated visit to a site still kept, which counted the species: some individuals
    (garden, transect) or some occupied nests (nest site). A visit that lists it with 0
    looked for it and did not find it: not a report."""
    counted = exists().where(
        col(VisitCount.visit_id) == col(Visit.id),
        col(VisitCount.species_id).in_(species_ids),
        or_(col(VisitCount.count) > 0, col(VisitCount.occupied) > 0),
    )

    def first(start: datetime, end: datetime) -> tuple[datetime, str] | None:
        query = (
            select(Visit.started_at, User.display_name)
            .join(Site, col(Site.id) == col(Visit.site_id))
            .join(User, col(User.id) == col(Visit.observer_id))
            .where(
                col(Visit.status) == ObservationStatus.validated.value,
                col(Visit.started_at) >= start,
                col(Visit.started_at) < end,
                col(Visit.deleted_at).is_(None),
                col(Site.deleted_at).is_(None),
                counted,
            )
            .order_by(col(Visit.started_at), col(Visit.id))
            .limit(1)
        )
        row = session.exec(query).first()
        return None if row is None else (row[0], row[1])

    return first


def _year_start(year: int, tz: ZoneInfo) -> datetime:
    """Midnight on 1 January of ``year`` in the territory, in UTC."""
    return datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)


def firsts_of_each_year(
    first_after: FirstAfter, source: SightingSource, *, years: tuple[int, int], tz: ZoneInfo
) -> list[Sighting]:
    """A source's first report of each local year in ``years`` that has one: one query per
    such year, plus one that finds nothing more."""
    from_year, to_year = years
    end = _year_start(to_year + 1, tz)
    year = from_year
    found: list[Sighting] = []
    while year <= to_year:
        row = first_after(_year_start(year, tz), end)
        if row is None:
            break
        at, observer = row
        found.append(Sighting(at=at, observer=observer, source=source))
        year = at.astimezone(tz).year + 1
    return found


def species_phenology(
    session: Session,
    settings: Settings,
    *,
    species_id: uuid.UUID | None,
    cd_nom: int | None,
    from_year: int | None,
    to_year: int | None,
) -> PhenologyResponse:
    errors: list[FieldError] = []
    if species_id is None and cd_nom is None:
        errors.append(
            FieldError(
                field="species_id",
                message="Give the species as `species_id` or `cd_nom`.",
                code="stats.species_required",
            )
        )
    tz = settings.tz
    years = year_range(from_year, to_year, tz=tz)
    if isinstance(years, FieldError):
        errors.append(years)
    if errors:
        raise invalid(errors)
    assert not isinstance(years, FieldError)

    species = resolve_species(session, settings, species_id=species_id, cd_nom=cd_nom)
    ids = _taxon_ids(session, species)
    sightings: list[Sighting] = []
    for one_id in ids:
        sightings += firsts_of_each_year(
            _first_observation(session, one_id), SightingSource.observation, years=years, tz=tz
        )
    sightings += firsts_of_each_year(
        _first_visit(session, ids), SightingSource.visit, years=years, tz=tz
    )
    return phenology(sightings, tz=tz)
