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
from app.baselines.models import Baseline
from app.core.db import utcnow
from app.core.errors import FieldError, Unprocessable
from app.core.settings import Settings
from app.observations.models import Observation, ObservationStatus
from app.species import service as species_service
from app.species.models import Species
from app.stats.comparison import compare
from app.stats.schemas import (
    ComparisonItem,
    ComparisonResponse,
    ComparisonStatus,
    CountSource,
    PhenologyItem,
    PhenologyResponse,
    SightingSource,
    TrendResponse,
    YearlyStatsItem,
    YearlyStatsResponse,
)
from app.stats.trends import species_trend, trend_classes
from app.stats.trim import TrimError, TrimResult
from app.stats.yearly import yearly_rows
from app.surveys.models import Site, Visit, VisitCount

MIN_YEAR = 1900  # no observation or visit may be older (the capture API refuses them)
MAX_YEAR = 2100
MAX_YEARS = 200

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


def _invalid(errors: list[FieldError]) -> Unprocessable:
    return Unprocessable(
        "; ".join(f"{e.field}: {e.message}" for e in errors), code=errors[0].code, errors=errors
    )


def _year_range(
    from_year: int | None, to_year: int | None, *, tz: ZoneInfo
) -> tuple[int, int] | FieldError:
    """The years asked for: by default the last ``MAX_YEARS`` up to the current local year,
    which hold every stored report (none is from before 1900)."""
    if from_year is not None and to_year is not None:
        if from_year > to_year:
            return FieldError(
                field="from_year",
                message="`from_year` must not come after `to_year`.",
                code="stats.invalid_year_range",
            )
        if to_year - from_year + 1 > MAX_YEARS:
            return FieldError(
                field="to_year",
                message=f"Ask for at most {MAX_YEARS} years at once.",
                code="stats.invalid_year_range",
            )
        return from_year, to_year
    if to_year is None:
        to_year = utcnow().astimezone(tz).year
        if from_year is not None:
            # Asking from a year to come is not an inverted range: it has no report yet.
            to_year = max(to_year, from_year)
    if from_year is None:
        from_year = max(MIN_YEAR, to_year - MAX_YEARS + 1)
    return from_year, to_year


def _resolve(
    session: Session, settings: Settings, *, species_id: uuid.UUID | None, cd_nom: int | None
) -> Species:
    species = species_service.resolve_species(
        session,
        settings,
        species_id=species_id,
        cd_nom=None if species_id is not None else cd_nom,
    )
    if species is None:
        raise _invalid(
            [
                FieldError(
                    field="species_id" if species_id is not None else "cd_nom",
                    message="No species of the reference has this id.",
                    code="stats.unknown_species",
                )
            ]
        )
    if species_id is not None and cd_nom is not None and species.cd_nom != cd_nom:
        raise _invalid(
            [
                FieldError(
                    field="cd_nom",
                    message=f"`cd_nom` {cd_nom} is not the species `species_id` names "
                    f"({species.cd_nom}).",
                    code="stats.species_mismatch",
                )
            ]
        )
    return species


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
    years = _year_range(from_year, to_year, tz=tz)
    if isinstance(years, FieldError):
        errors.append(years)
    if errors:
        raise _invalid(errors)
    assert not isinstance(years, FieldError)

    species = _resolve(session, settings, species_id=species_id, cd_nom=cd_nom)
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


# --- yearly statistics -------------------------------------------------------------------------

DEFAULT_YEARLY_SPAN = 25


def yearly_statistics(
    session: Session,
    settings: Settings,
    *,
    staff: bool,
    species_id: uuid.UUID | None,
    cd_nom: int | None,
    zone_id: uuid.UUID | None,
    from_year: int | None,
    to_year: int | None,
) -> YearlyStatsResponse:
    """``GET /stats/yearly``: by default the last 25 years up to the current local year."""
    tz = settings.tz
    if from_year is None and to_year is None:
        to_year = utcnow().astimezone(tz).year
        from_year = to_year - DEFAULT_YEARLY_SPAN + 1
    years = _year_range(from_year, to_year, tz=tz)
    if isinstance(years, FieldError):
        raise _invalid([years])
    cd_ref = None
    if species_id is not None or cd_nom is not None:
        cd_ref = _resolve(session, settings, species_id=species_id, cd_nom=cd_nom).cd_ref
    rows = yearly_rows(
        session, tz=tz, first=years[0], last=years[1], cd_ref=cd_ref, zone_id=zone_id, staff=staff
    )
    taxa = _accepted_species(session, {row.cd_ref for row in rows})
    return YearlyStatsResponse(
        items=[
            YearlyStatsItem(
                year=row.year,
                species_id=taxa[row.cd_ref],
                cd_ref=row.cd_ref,
                zone_id=row.zone_id,
                count=row.count_sum if row.observations else (row.protocol_value or 0),
                observations=row.observations,
                observers=row.observers,
                count_source=CountSource.observations if row.observations else CountSource.protocol,
                observed_count=row.count_sum,
                protocol_value=row.protocol_value,
                protocol_unit=row.protocol_unit,
                sites=row.sites,
            )
            for row in rows
        ]
    )


def _accepted_species(session: Session, cd_refs: set[int]) -> dict[int, uuid.UUID]:
    """For each taxon, its accepted name's species id (``cd_nom == cd_ref``), else any of its
    names (the reference may hold only a synonym)."""
    if not cd_refs:
        return {}
    found: dict[int, uuid.UUID] = {}
    statement = select(Species.id, Species.cd_nom, Species.cd_ref).where(
        col(Species.cd_ref).in_(cd_refs)
    )
    for id_, cd_nom, cd_ref in session.exec(statement.order_by(col(Species.cd_nom))):
        if cd_ref not in found or cd_nom == cd_ref:
            found[cd_ref] = id_
    return found


# --- comparison with the baselines -------------------------------------------------------------


def comparison_statistics(
    session: Session,
    settings: Settings,
    *,
    staff: bool,
    year: int | None,
    zone_id: uuid.UUID | None,
) -> ComparisonResponse:
    """``GET /stats/comparison``: by default the current local year."""
    year = year if year is not None else utcnow().astimezone(settings.tz).year
    with_baseline = _taxa_with_baselines(session, year=year, zone_id=zone_id)
    classes = trend_classes(
        session, cd_refs=with_baseline, zone_id=zone_id, tz=settings.tz, until_year=year
    )
    rows = compare(
        session, year=year, zone_id=zone_id, tz=settings.tz, staff=staff, trend_classes=classes
    )
    ids = _accepted_species(session, {row.cd_ref for row in rows})
    names = {
        s.id: s for s in session.exec(select(Species).where(col(Species.id).in_(ids.values())))
    }
    items = []
    for row in rows:
        species = names[ids[row.cd_ref]]
        items.append(
            ComparisonItem(
                species_id=species.id,
                cd_nom=row.cd_ref,
                vernacular_name=species.vernacular_name,
                scientific_name=species.scientific_name,
                baseline_year=row.baseline_year,
                baseline_count=row.baseline_count,
                baseline_unit=row.baseline_unit,
                count=row.count,
                unit=row.unit,
                change=row.change,
                change_pct=row.change_pct,
                status=ComparisonStatus(row.status),
                source=row.source,
                trend_class=row.trend_class,
            )
        )
    items.sort(key=lambda i: (i.vernacular_name or i.scientific_name).casefold())
    return ComparisonResponse(year=year, zone_id=zone_id, items=items)


# --- trends -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendRequest:
    species_id: uuid.UUID | None
    cd_nom: int | None
    zone_id: uuid.UUID | None
    model: int
    changepoints: list[int] | None
    base_year: int | None
    covariate: str | None
    overdispersion: bool
    serial_correlation: bool


def parse_changepoints(raw: str | None) -> list[int] | None:
    if raw is None or not raw.strip():
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise _invalid(
            [
                FieldError(
                    field="changepoints",
                    message="Give the changepoints as years separated by commas (2012,2018).",
                    code="stats.invalid_changepoints",
                )
            ]
        ) from None


def fit_species_trend(
    session: Session, settings: Settings, request: TrendRequest
) -> tuple[Species, TrimResult, int]:
    """TRIM for the species' survey sites, or a 422 saying why the data cannot support it."""
    species = _resolve_required(session, settings, request.species_id, request.cd_nom)
    try:
        result, sites = species_trend(
            session,
            cd_ref=species.cd_ref,
            zone_id=request.zone_id,
            tz=settings.tz,
            model=request.model,
            changepoints=request.changepoints,
            base_year=request.base_year,
            covariate=request.covariate,
            overdispersion=request.overdispersion,
            serial_correlation=request.serial_correlation,
        )
    except TrimError as exc:
        raise Unprocessable(
            f"No trend can be estimated: {exc}",
            code=exc.code,
            errors=[FieldError(field="species_id", message=str(exc), code=exc.code)],
        ) from None
    return species, result, sites


def _resolve_required(
    session: Session, settings: Settings, species_id: uuid.UUID | None, cd_nom: int | None
) -> Species:
    if species_id is None and cd_nom is None:
        raise _invalid(
            [
                FieldError(
                    field="species_id",
                    message="Give the species as `species_id` or `cd_nom`.",
                    code="stats.species_required",
                )
            ]
        )
    return _resolve(session, settings, species_id=species_id, cd_nom=cd_nom)


def trend_response(
    species: Species, result: TrimResult, sites: int, zone_id: uuid.UUID | None
) -> TrendResponse:
    body = result.to_dict()
    return TrendResponse.model_validate(
        {
            "species_id": species.id,
            "cd_nom": species.cd_ref,
            "zone_id": zone_id,
            "model": result.model,
            "changepoints": list(result.changepoints),
            "base_year": result.base_year,
            "sites": sites,
            "warnings": list(result.warnings),
            **body,
        }
    )


def _taxa_with_baselines(session: Session, *, year: int, zone_id: uuid.UUID | None) -> set[int]:
    statement = (
        select(Species.cd_ref)
        .join(Baseline, col(Baseline.species_id) == col(Species.id))
        .where(col(Baseline.year) <= year)
        .distinct()
    )
    if zone_id is not None:
        statement = statement.where(col(Baseline.zone_id) == zone_id)
    return set(session.exec(statement).all())
