"""The protocols' yearly values of many sites at once, computed by the database.

``app.surveys.yearly`` states the rules as pure functions over one site's visits; the statistics
need them for every site of the territory, and reading every visit and count into Python to
apply them took seconds at a town's ten years of surveys. Here the same rules are one SQL
statement, so that only the (site, species, year) values cross the wire:

1. per visit and species, the visit's figure: its count, or its occupied nests, natural and
   nest boxes added up (``COALESCE(count, occupied, 0)`` summed over the visit's rows);
2. per site, species, year and month, the largest figure;
3. a complete visit counted every species, so a species the site counted at least once (any
   year) gets a zero in each year with a complete visit: its year then has the value 0 rather
   than none;
4. per site, species and year, the largest monthly figure at a nest site, their sum elsewhere.

Local years and months are ``CASE`` expressions over the instants they begin, computed here in
the territory's time zone (as ``app.stats.yearly`` does for observations): the same SQL on
SQLite and PostgreSQL. ``tests/surveys/test_protocol_aggregates.py`` checks these values against the
pure functions on random visits.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, null, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.surveys.models import Site, Visit, VisitCount
from app.surveys.yearly import SiteKind


@dataclass(frozen=True, slots=True)
class SiteYearValue:
    site_id: uuid.UUID
    zone_id: uuid.UUID | None
    kind: str
    species_id: uuid.UUID
    year: int
    value: int


def _start(year: int, month: int, tz: ZoneInfo) -> datetime:
    if month > 12:
        year, month = year + 1, 1
    return datetime(year, month, 1, tzinfo=tz)


def year_start(year: int, tz: ZoneInfo) -> datetime:
    """The instant the local year ``year`` begins."""
    return _start(year, 1, tz)


def local_year(column: Any, first: int, last: int, tz: ZoneInfo) -> Any:
    """SQL giving the local year of ``column`` (a UTC instant) within ``first..last``."""
    whens = [(column < _start(y + 1, 1, tz), literal(y)) for y in range(first, last + 1)]
    return case(*whens, else_=null())


def local_month(column: Any, first: int, last: int, tz: ZoneInfo) -> Any:
    """SQL giving the local month (1..12) of ``column`` within ``first..last``: a ``CASE`` on
    the years' first instants, each year's branch a ``CASE`` on its months' (a dozen
    comparisons a row rather than twelve a year)."""
    years = []
    for y in range(first, last + 1):
        months = [(column < _start(y, m + 1, tz), literal(m)) for m in range(1, 12)]
        years.append((column < _start(y + 1, 1, tz), case(*months, else_=literal(12))))
    return case(*years, else_=null())


def _materialized(cte: Any, session: Session) -> Any:
    """``AS MATERIALIZED`` where the database knows it (PostgreSQL 12, SQLite 3.35): the
    visits' local years and months are then computed once, not at each reference."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql" or (
        dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)
    ):
        return cte.prefix_with("MATERIALIZED")
    return cte


def _site_clauses(
    zone_id: uuid.UUID | None, site_ids: Collection[uuid.UUID] | None = None
) -> list[Any]:
    clauses: list[Any] = [col(Site.deleted_at).is_(None)]
    if zone_id is not None:
        clauses.append(col(Site.zone_id) == zone_id)
    if site_ids is not None:
        clauses.append(col(Site.id).in_(list(site_ids)))
    return clauses


def _visit_clauses(statuses: Sequence[str]) -> list[Any]:
    return [col(Visit.deleted_at).is_(None), col(Visit.status).in_(statuses)]


def visited_span(
    session: Session, *, statuses: Sequence[str], tz: ZoneInfo
) -> tuple[int, int] | None:
    """The first and last local years with a visit of these statuses, if any."""
    first, last = session.execute(
        sa_select(func.min(col(Visit.started_at)), func.max(col(Visit.started_at))).where(
            *_visit_clauses(statuses)
        )
    ).one()
    if first is None:
        return None
    return first.astimezone(tz).year, last.astimezone(tz).year


def site_year_values(
    session: Session,
    *,
    statuses: Sequence[str],
    tz: ZoneInfo,
    first: int,
    last: int,
    species_ids: Collection[uuid.UUID] | None = None,
    zone_id: uuid.UUID | None = None,
    site_ids: Collection[uuid.UUID] | None = None,
) -> list[SiteYearValue]:
    """Each live site's value per species and local year in ``first..last``, from its visits
    of these statuses (of the zone's sites, of these sites, of these species when given)."""
    if (species_ids is not None and not species_ids) or (site_ids is not None and not site_ids):
        return []
    start, end = _start(first, 1, tz), _start(last + 1, 1, tz)
    visits = _materialized(
        sa_select(
            col(Visit.id).label("id"),
            col(Visit.site_id).label("site_id"),
            col(Visit.complete).label("complete"),
            local_year(col(Visit.started_at), first, last, tz).label("year"),
            local_month(col(Visit.started_at), first, last, tz).label("month"),
        )
        .join(Site, col(Site.id) == col(Visit.site_id))
        .where(
            *_site_clauses(zone_id, site_ids),
            *_visit_clauses(statuses),
            col(Visit.started_at) >= start,
            col(Visit.started_at) < end,
        )
        .cte("v"),
        session,
    )
    species_clauses: list[Any] = []
    if species_ids is not None:
        species_clauses.append(col(VisitCount.species_id).in_(list(species_ids)))
    per_visit = (
        sa_select(
            visits.c.site_id.label("site_id"),
            col(VisitCount.species_id).label("species_id"),
            visits.c.year.label("year"),
            visits.c.month.label("month"),
            func.sum(func.coalesce(col(VisitCount.count), col(VisitCount.occupied), 0)).label(
                "figure"
            ),
        )
        .select_from(visits)
        .join(VisitCount, col(VisitCount.visit_id) == visits.c.id)
        .where(*species_clauses)
        .group_by(
            visits.c.id, visits.c.site_id, col(VisitCount.species_id), visits.c.year, visits.c.month
        )
        .cte("per_visit")
    )
    # The species each site counted at least once, in any year: those a complete visit that
    # leaves them out counted as absent.
    counted = (
        sa_select(
            col(Visit.site_id).label("site_id"), col(VisitCount.species_id).label("species_id")
        )
        .join(VisitCount, col(VisitCount.visit_id) == col(Visit.id))
        .join(Site, col(Site.id) == col(Visit.site_id))
        .where(*_site_clauses(zone_id, site_ids), *_visit_clauses(statuses), *species_clauses)
        .distinct()
        .cte("counted")
    )
    complete_years = (
        sa_select(visits.c.site_id, visits.c.year)
        .where(visits.c.complete.is_(True))
        .distinct()
        .cte("complete_years")
    )
    monthly = sa_select(
        per_visit.c.site_id,
        per_visit.c.species_id,
        per_visit.c.year,
        func.max(per_visit.c.figure).label("figure"),
    ).group_by(per_visit.c.site_id, per_visit.c.species_id, per_visit.c.year, per_visit.c.month)
    zeros = sa_select(
        complete_years.c.site_id,
        counted.c.species_id,
        complete_years.c.year,
        literal(0).label("figure"),
    ).join(counted, counted.c.site_id == complete_years.c.site_id)
    months = union_all(monthly, zeros).subquery("months")
    value = case(
        (col(Site.kind) == SiteKind.nest_site.value, func.max(months.c.figure)),
        else_=func.sum(months.c.figure),
    )
    statement = (
        sa_select(
            months.c.site_id,
            col(Site.zone_id),
            col(Site.kind),
            months.c.species_id,
            months.c.year,
            value,
        )
        .join(Site, col(Site.id) == months.c.site_id)
        .group_by(
            months.c.site_id, col(Site.zone_id), col(Site.kind), months.c.species_id, months.c.year
        )
    )
    return [
        SiteYearValue(site, zone, kind, species, int(year), int(total or 0))
        for site, zone, kind, species, year, total in session.execute(statement)
    ]


def visited_years(
    session: Session,
    *,
    statuses: Sequence[str],
    tz: ZoneInfo,
    first: int,
    last: int,
    zone_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, set[int]]:
    """The local years in ``first..last`` each live site had a visit of these statuses."""
    year = local_year(col(Visit.started_at), first, last, tz)
    statement = (
        sa_select(col(Visit.site_id), year)
        .join(Site, col(Site.id) == col(Visit.site_id))
        .where(
            *_site_clauses(zone_id),
            *_visit_clauses(statuses),
            col(Visit.started_at) >= _start(first, 1, tz),
            col(Visit.started_at) < _start(last + 1, 1, tz),
        )
        .distinct()
    )
    years: dict[uuid.UUID, set[int]] = {}
    for site, y in session.execute(statement):
        years.setdefault(site, set()).add(int(y))
    return years
