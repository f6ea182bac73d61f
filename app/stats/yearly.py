"""Yearly counts per species and zone: validated observations, and the survey protocols' values.

Years are those of the territory's local time. Rather than a date function (each database has
its own, and none knows the territory's time zone), the year is a ``CASE`` over the instants
the years begin, computed here in local time: one scan, the same SQL on SQLite and PostgreSQL.

Species are counted by ``cd_ref``, the accepted taxon, so that observations recorded under a
synonym stay with their taxon. A sensitive species is counted for the whole territory only
(``zone_id`` null) for anyone but staff: a count per commune would place it more precisely than
its blur allows.

Units are never added together: a casual sighting counts individuals or nests
(``count_unit``), and the row keeps the two apart (``individuals``, ``nests``). The protocols'
values are another figure again, kept apart per unit too: a (year, species, zone)'s nest value
is the sum over that zone's nest sites of their yearly values (the largest count of occupied
nests), its individuals value the sum over its gardens and transects of theirs (the sum over
months of each month's largest count), from validated visits only. No figure stands in for
another where it is missing: a year only counted by a protocol has no casual individuals.

``yearly_statistics`` answers ``GET /stats/yearly`` from these rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, null
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.core.db import utcnow
from app.core.errors import FieldError
from app.core.settings import Settings
from app.observations.models import CountUnit, Observation, ObservationStatus
from app.species.models import Species
from app.stats.parameters import accepted_species, invalid, resolve_species, year_range
from app.stats.schemas import CountSource, YearlyStatsItem, YearlyStatsResponse
from app.surveys.aggregates import local_year, site_year_values, year_start
from app.surveys.yearly import UNITS, SiteKind


@dataclass
class YearlyRow:
    year: int
    cd_ref: int
    zone_id: uuid.UUID | None
    individuals: int = 0
    nests: int = 0
    observations: int = 0
    observers: int = 0
    # Per unit (``nests``, ``individuals``), the sum of the sites' yearly values and the sites.
    protocol: dict[str, int] = field(default_factory=dict)
    protocol_sites: dict[str, int] = field(default_factory=dict)

    @property
    def protocol_unit(self) -> str | None:
        """The unit of ``protocol_value``: nests where a nest site counted the taxon."""
        if "nests" in self.protocol:
            return "nests"
        return "individuals" if "individuals" in self.protocol else None

    @property
    def protocol_value(self) -> int | None:
        unit = self.protocol_unit
        return None if unit is None else self.protocol[unit]

    @property
    def sites(self) -> int:
        unit = self.protocol_unit
        return 0 if unit is None else self.protocol_sites[unit]


def yearly_rows(
    session: Session,
    *,
    tz: ZoneInfo,
    first: int,
    last: int,
    cd_ref: int | None,
    zone_id: uuid.UUID | None,
    staff: bool,
) -> list[YearlyRow]:
    """The rows of ``GET /stats/yearly``, ordered by year, taxon, zone."""
    rows: dict[tuple[int, int, uuid.UUID | None], YearlyRow] = {}

    year = local_year(col(Observation.observed_at), first, last, tz)
    zone: Any = col(Observation.zone_id)
    if not staff:
        zone = case((col(Species.sensitive), null()), else_=col(Observation.zone_id))
    clauses: list[Any] = [
        col(Observation.status) == ObservationStatus.validated.value,
        col(Observation.deleted_at).is_(None),
        col(Observation.observed_at) >= year_start(first, tz),
        col(Observation.observed_at) < year_start(last + 1, tz),
    ]
    if cd_ref is not None:
        clauses.append(col(Species.cd_ref) == cd_ref)
    if zone_id is not None:
        clauses.append(col(Observation.zone_id) == zone_id)
        if not staff:
            clauses.append(col(Species.sensitive).is_(False))
    unit = col(Observation.count_unit)
    statement = (
        sa_select(
            year.label("year"),
            col(Species.cd_ref).label("cd_ref"),
            zone.label("zone_id"),
            func.sum(case((unit == CountUnit.individuals.value, col(Observation.count)), else_=0)),
            func.sum(case((unit == CountUnit.nests.value, col(Observation.count)), else_=0)),
            func.count(),
            func.count(func.distinct(col(Observation.observer_id))),
        )
        .select_from(Observation)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .where(*clauses)
        .group_by(year, col(Species.cd_ref), zone)
    )
    for y, ref, z, individuals, nests, n, observers in session.execute(statement):
        rows[(y, ref, z)] = YearlyRow(
            year=y,
            cd_ref=ref,
            zone_id=z,
            individuals=int(individuals or 0),
            nests=int(nests or 0),
            observations=n,
            observers=observers,
        )

    add_protocols(
        session, rows, tz=tz, first=first, last=last, cd_ref=cd_ref, zone_id=zone_id, staff=staff
    )
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1], str(k[2] or "")))]


def add_protocols(
    session: Session,
    rows: dict[tuple[int, int, uuid.UUID | None], YearlyRow],
    *,
    tz: ZoneInfo,
    first: int,
    last: int,
    cd_ref: int | None,
    zone_id: uuid.UUID | None,
    staff: bool,
) -> None:
    taxa = select(Species)
    if cd_ref is not None:
        taxa = taxa.where(col(Species.cd_ref) == cd_ref)
    species = {s.id: s for s in session.exec(taxa)}
    values = site_year_values(
        session,
        statuses=(ObservationStatus.validated.value,),
        tz=tz,
        first=first,
        last=last,
        species_ids=None if cd_ref is None else list(species),
        zone_id=zone_id,
    )
    # Per (year, taxon, place) and unit: the sum of the sites' values, and the sites.
    totals: dict[tuple[int, int, uuid.UUID | None], dict[str, tuple[int, set[Any]]]] = defaultdict(
        dict
    )
    for value in values:
        taxon = species.get(value.species_id)
        if taxon is None:
            continue
        place = None if (taxon.sensitive and not staff) else value.zone_id
        key = (value.year, taxon.cd_ref, place)
        unit = UNITS[SiteKind(value.kind)]
        total, counted = totals[key].get(unit, (0, set()))
        counted.add(value.site_id)
        totals[key][unit] = (total + value.value, counted)
    for key, by_unit in totals.items():
        row = rows.setdefault(key, YearlyRow(year=key[0], cd_ref=key[1], zone_id=key[2]))
        for unit, (total, counted) in by_unit.items():
            row.protocol[unit] = total
            row.protocol_sites[unit] = len(counted)


# --- the request ----------------------------------------------------------------------------

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
    years = year_range(from_year, to_year, tz=tz)
    if isinstance(years, FieldError):
        raise invalid([years])
    cd_ref = None
    if species_id is not None or cd_nom is not None:
        cd_ref = resolve_species(session, settings, species_id=species_id, cd_nom=cd_nom).cd_ref
    rows = yearly_rows(
        session, tz=tz, first=years[0], last=years[1], cd_ref=cd_ref, zone_id=zone_id, staff=staff
    )
    taxa = accepted_species(session, {row.cd_ref for row in rows})
    return YearlyStatsResponse(
        items=[
            YearlyStatsItem(
                year=row.year,
                species_id=taxa[row.cd_ref],
                cd_ref=row.cd_ref,
                zone_id=row.zone_id,
                count=row.individuals,
                observations=row.observations,
                observers=row.observers,
                nests=row.nests,
                count_source=CountSource.observations,
                observed_count=row.individuals,
                protocol_value=row.protocol_value,
                protocol_unit=row.protocol_unit,
                sites=row.sites,
                protocol_nests=row.protocol.get("nests"),
                protocol_individuals=row.protocol.get("individuals"),
            )
            for row in rows
        ]
    )
