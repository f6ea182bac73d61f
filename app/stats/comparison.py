"""A year compared with the CPIE's inventory baselines, species by species.

For each taxon with a baseline or seen that year, the latest baseline up to that year is set
against the year's value *in the baseline's unit*, so that nests are compared with nests; the
answer names the figure compared (``compared_figure``):

- ``nests``: the protocols' nest value (``protocol_nests``: the sum of the nest sites' yearly
  values), or where no nest site counted the species, the sum of the validated casual
  observations counted in nests (``observed_nests``);
- ``individuals``: the protocols' individuals value (``protocol_individuals``: gardens and
  transects) where any of those sites counted the species, else the largest single validated
  casual count in individuals (``observed_individuals``: sightings of the same birds add up to
  far more than there are; the largest flock seen is what atlases compare with a census);
- ``presence``: 1 when the species was reported (a count above 0, any unit), else 0.

Nests are never compared with individuals: where nothing was counted in the baseline's unit that
year (``none``), the count is 0 and the change null (there is nothing to compare), and the status
``not_seen``; ``reported`` says whether the species had validated data in another unit. A species
without a baseline is compared in individuals where it was counted so, else in nests.

The status, when no trend decides it (see ``trend_classes``): ``new`` (seen, no baseline),
``not_seen`` (a baseline, nothing that year: how the CPIE learns that a rare plant has not been
reported for years), else by the change against the baseline: ``increase`` from +20 %,
``decline`` from −20 %, ``stable`` between. Where a TRIM trend of the species' survey sites is
available, its class decides ``increase``, ``stable`` or ``decline`` instead (uncertain trends
fall back to the thresholds): a count's change over one year says less than a trend.

``comparison_statistics`` answers ``GET /stats/comparison`` (and its chart).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.baselines.models import Baseline, BaselineUnit
from app.core.db import utcnow
from app.core.settings import Settings
from app.observations.models import CountUnit, Observation, ObservationStatus
from app.species.models import Species
from app.stats.parameters import accepted_species
from app.stats.schemas import ComparisonItem, ComparisonResponse, ComparisonStatus
from app.stats.trends import trend_classes
from app.stats.yearly import YearlyRow, add_protocols
from app.surveys.aggregates import year_start

INCREASE_FROM = 0.20
DECLINE_FROM = -0.20

# TRIM's slope classes, as rtrim names them, to the comparison's status.
TREND_STATUS = {
    "strong increase": "increase",
    "moderate increase": "increase",
    "stable": "stable",
    "moderate decline": "decline",
    "steep decline": "decline",
}


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    cd_ref: int
    baseline_year: int | None
    baseline_count: float | None
    baseline_unit: str | None
    count: float
    unit: str
    change: float | None
    change_pct: float | None
    status: str
    source: str
    compared_figure: str
    reported: bool
    trend_class: str | None


def status_of(
    baseline: float | None, count: float, seen: bool, trend_class: str | None = None
) -> str:
    if baseline is None:
        return "new" if seen else "not_seen"
    if not seen:
        return "not_seen"
    if trend_class in TREND_STATUS:
        return TREND_STATUS[trend_class]
    if baseline == 0:
        return "increase"
    change = (count - baseline) / baseline
    if change >= INCREASE_FROM:
        return "increase"
    if change <= DECLINE_FROM:
        return "decline"
    return "stable"


def _latest_baselines(
    session: Session, *, year: int, zone_id: uuid.UUID | None
) -> dict[int, tuple[Baseline, Species]]:
    """Per taxon, the latest baseline up to ``year`` for the zone (or the whole territory);
    site baselines belong to their sites' series, not here."""
    statement = (
        select(Baseline, Species)
        .join(Species, col(Species.id) == col(Baseline.species_id))
        .where(col(Baseline.year) <= year, col(Baseline.site_id).is_(None))
        .order_by(col(Baseline.year), col(Baseline.updated_at))
    )
    if zone_id is None:
        statement = statement.where(col(Baseline.zone_id).is_(None))
    else:
        statement = statement.where(col(Baseline.zone_id) == zone_id)
    latest: dict[int, tuple[Baseline, Species]] = {}
    for baseline, species in session.exec(statement):
        latest[species.cd_ref] = (baseline, species)  # later years overwrite earlier ones
    return latest


@dataclass
class _Year:
    """A taxon's figures for the year: validated casual observations (their number, those in
    each unit, the sum of those counted in nests, the largest counted in individuals) and the
    protocols' values per unit."""

    observations: int = 0
    in_individuals: int = 0
    in_nests: int = 0
    nests: int = 0
    largest: int = 0
    protocol: dict[str, int] = field(default_factory=dict)

    def reported(self) -> bool:
        """Validated data of the taxon, in any unit, zeros included."""
        return self.observations > 0 or bool(self.protocol)

    def positive(self) -> bool:
        return self.largest > 0 or self.nests > 0 or any(v > 0 for v in self.protocol.values())


def _observed(
    session: Session, *, year: int, zone_id: uuid.UUID | None, tz: Any, staff: bool
) -> dict[int, _Year]:
    """Per taxon, the year's validated observations: one scan, every figure at once."""
    clauses: list[Any] = [
        col(Observation.status) == ObservationStatus.validated.value,
        col(Observation.deleted_at).is_(None),
        col(Observation.observed_at) >= year_start(year, tz),
        col(Observation.observed_at) < year_start(year + 1, tz),
    ]
    if zone_id is not None:
        clauses.append(col(Observation.zone_id) == zone_id)
        if not staff:
            clauses.append(col(Species.sensitive).is_(False))
    unit = col(Observation.count_unit)
    statement = (
        sa_select(
            col(Species.cd_ref),
            func.count(),
            func.count(case((unit == CountUnit.individuals.value, 1))),
            func.count(case((unit == CountUnit.nests.value, 1))),
            func.sum(case((unit == CountUnit.nests.value, col(Observation.count)), else_=0)),
            func.max(case((unit == CountUnit.individuals.value, col(Observation.count)))),
        )
        .select_from(Observation)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .where(*clauses)
        .group_by(col(Species.cd_ref))
    )
    return {
        ref: _Year(n, in_individuals, in_nests, int(nests or 0), int(largest or 0))
        for ref, n, in_individuals, in_nests, nests, largest in session.execute(statement)
    }


def compare(
    session: Session,
    *,
    year: int,
    zone_id: uuid.UUID | None,
    tz: Any,
    staff: bool,
    trend_classes: Mapping[int, str] | None = None,
) -> list[ComparisonRow]:
    """The comparison rows, by taxon."""
    # Per taxon, the year's figures over the zone asked for, or over the whole territory (its
    # zones and what lies outside every zone added up).
    seen = _observed(session, year=year, zone_id=zone_id, tz=tz, staff=staff)
    protocols: dict[tuple[int, int, uuid.UUID | None], YearlyRow] = {}
    add_protocols(
        session, protocols, tz=tz, first=year, last=year, cd_ref=None, zone_id=zone_id, staff=staff
    )
    for row in protocols.values():  # a zone's values, or with no zone asked, each zone's
        entry = seen.setdefault(row.cd_ref, _Year())
        for protocol_unit, value in row.protocol.items():
            entry.protocol[protocol_unit] = entry.protocol.get(protocol_unit, 0) + value
    baselines = _latest_baselines(session, year=year, zone_id=zone_id)
    trends = trend_classes or {}
    rows: list[ComparisonRow] = []
    for cd_ref in sorted(set(seen) | set(baselines)):
        figures = seen.get(cd_ref)
        baseline = baselines.get(cd_ref)
        unit = BaselineUnit(baseline[0].unit) if baseline else _unit_without_baseline(figures)
        count, figure = _comparable(unit, figures)
        base = baseline[0].count if baseline else None
        comparable = base is not None and figure != "none"
        change = count - base if comparable and base is not None else None
        change_pct = (
            round(100 * (count - base) / base, 1)
            if comparable and base is not None and base > 0
            else None
        )
        seen_now = count > 0 if baseline else (figures is not None and figures.positive())
        trend = trends.get(cd_ref)
        rows.append(
            ComparisonRow(
                cd_ref=cd_ref,
                baseline_year=baseline[0].year if baseline else None,
                baseline_count=base,
                baseline_unit=unit.value if baseline else None,
                count=count,
                unit=unit.value,
                change=change,
                change_pct=change_pct,
                status=status_of(base, count, seen_now, trend),
                source=SOURCES[figure],
                compared_figure=figure,
                reported=figures is not None and figures.reported(),
                trend_class=trend,
            )
        )
    return rows


# Each figure compared, and the source it comes from (the answer's ``source``).
SOURCES = {
    "protocol_nests": "protocol",
    "protocol_individuals": "protocol",
    "observed_nests": "observations",
    "observed_individuals": "observations",
    "presence": "presence",
    "none": "none",
}


def _unit_without_baseline(figures: _Year | None) -> BaselineUnit:
    """Individuals where the species was counted so that year, else nests where it was."""
    if (
        figures is not None
        and not (figures.in_individuals or "individuals" in figures.protocol)
        and (figures.in_nests or "nests" in figures.protocol)
    ):
        return BaselineUnit.nests
    return BaselineUnit.individuals


def _comparable(unit: BaselineUnit, figures: _Year | None) -> tuple[float, str]:
    """This year's value in the baseline's unit, and the figure it is (``SOURCES``)."""
    if figures is None:
        return 0.0, "none"
    if unit is BaselineUnit.presence:
        if not figures.reported():
            return 0.0, "none"
        return (1.0 if figures.positive() else 0.0), "presence"
    if unit is BaselineUnit.nests:
        if "nests" in figures.protocol:
            return float(figures.protocol["nests"]), "protocol_nests"
        if figures.in_nests:
            return float(figures.nests), "observed_nests"
        return 0.0, "none"
    if "individuals" in figures.protocol:
        return float(figures.protocol["individuals"]), "protocol_individuals"
    if figures.in_individuals:
        return float(figures.largest), "observed_individuals"
    return 0.0, "none"


# --- the request ----------------------------------------------------------------------------


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
    ids = accepted_species(session, {row.cd_ref for row in rows})
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
                compared_figure=row.compared_figure,
                reported=row.reported,
                trend_class=row.trend_class,
            )
        )
    items.sort(key=lambda i: (i.vernacular_name or i.scientific_name).casefold())
    return ComparisonResponse(year=year, zone_id=zone_id, items=items)


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
