"""A survey site's yearly value per species, by the rules the counting protocols use.

Counts made at the same site through a season are never added up: a nest counted at three
visits is one nest, a butterfly seen in May and again in May is one butterfly.

- ``nest_site`` (swallow and swift nests on a façade): for each species and year, the largest
  number of occupied nests over that year's visits.
- ``garden`` and ``transect`` (Opération Papillons, butterfly transects): for each species and
  year, the sum over months of that month's largest count — two visits in the same month are
  not added, visits in different months are.

A visit marked ``complete`` counted every target species, so a species it does not list was
absent: a zero, which gives a year without the species a value of 0 rather than no value. The
species considered are those counted at the site at least once (any year). Years and months are
those of the territory's local time: a visit at 23:30 UTC on 31 March is an April visit in
France. Pure functions: no database, so the rules can be tested and reused on their own.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class SiteKind(StrEnum):
    nest_site = "nest_site"
    garden = "garden"
    transect = "transect"


UNITS = {
    SiteKind.nest_site: "nests",
    SiteKind.garden: "individuals",
    SiteKind.transect: "individuals",
}


@dataclass(frozen=True)
class VisitCounts:
    """One visit as the rules see it: when, whether complete, and per species the visit's
    figure (occupied nests, natural and artificial together; or the largest number of a
    butterfly seen at the same time)."""

    started_at: datetime
    complete: bool
    counts: Mapping[uuid.UUID, int] = field(default_factory=dict)


@dataclass(frozen=True)
class YearlyValue:
    year: int
    species_id: uuid.UUID
    value: int
    unit: str
    visits: int


def yearly_values(
    kind: SiteKind | str, visits: Iterable[VisitCounts], *, tz: ZoneInfo
) -> list[YearlyValue]:
    """The site's value per (year, species), sorted by year then species id."""
    kind = SiteKind(kind)
    by_year: dict[int, list[tuple[int, VisitCounts]]] = defaultdict(list)
    species: set[uuid.UUID] = set()
    for visit in visits:
        if visit.started_at.tzinfo is None:
            raise ValueError("visit times must be timezone-aware")
        local = visit.started_at.astimezone(tz)
        by_year[local.year].append((local.month, visit))
        species.update(visit.counts)

    results: list[YearlyValue] = []
    for year in sorted(by_year):
        year_visits = by_year[year]
        for species_id in sorted(species, key=str):
            value = _value(kind, species_id, year_visits)
            if value is not None:
                results.append(
                    YearlyValue(
                        year=year,
                        species_id=species_id,
                        value=value,
                        unit=UNITS[kind],
                        visits=len(year_visits),
                    )
                )
    return results


def _figure(visit: VisitCounts, species_id: uuid.UUID) -> int | None:
    """The visit's figure for a species: its count, 0 when a complete visit left it out, None
    when an incomplete visit did (not looked for: no information)."""
    if species_id in visit.counts:
        return visit.counts[species_id]
    return 0 if visit.complete else None


def _value(
    kind: SiteKind, species_id: uuid.UUID, year_visits: list[tuple[int, VisitCounts]]
) -> int | None:
    if kind is SiteKind.nest_site:
        figures = [f for _, v in year_visits if (f := _figure(v, species_id)) is not None]
        return max(figures) if figures else None
    monthly: dict[int, int] = {}
    for month, visit in year_visits:
        figure = _figure(visit, species_id)
        if figure is not None:
            monthly[month] = max(monthly.get(month, 0), figure)
    return sum(monthly.values()) if monthly else None
