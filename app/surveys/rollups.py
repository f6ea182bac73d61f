"""Rollups: the statistics' yearly figures, kept up to date in the transaction of each change.

``GET /stats/yearly`` and ``GET /stats/comparison`` used to aggregate every validated observation
and every validated visit on each call. They now read two small tables:

- ``stats_yearly_cell``: per audience (``staff``, or ``public`` where a sensitive species is
  counted for the whole territory only, ``zone_id`` null), local year, accepted taxon
  (``cd_ref``) and zone, the validated observations' figures: individuals and nests (sums of
  the counts in each unit), the number of observations in all and in each unit, the largest
  count in individuals, and the distinct observers (which cannot be added up over zones or
  synonyms: hence a cell per audience, computed by the database from the raw rows);
- ``stats_site_year``: each live site's yearly value per species from its validated visits
  (``app.surveys.aggregates.site_year_values``), with the site's zone and kind.

**Kept in the same transaction.** Every change that can move a figure marks what it touches in
the session (``session.info``): ORM changes are seen by a ``before_flush`` listener (an
observation, visit, visit count, site or species added, changed or deleted; the values before
the change are read from the database, which still holds them), and bulk ``UPDATE``, ``DELETE``
and ``INSERT`` statements on those tables sent through ``Session.execute`` by a
``do_orm_execute`` listener (the rows they match, before and after). Right after the flush or
the statement, the marked cells are recomputed in SQL: for observations, every (local year,
``cd_ref``) touched, deleted and inserted again by one ``INSERT ... SELECT`` per year and
audience; for sites, every year of each site touched (a complete visit gives zeros to the
species the site counted in any year, so one visit can move its site's other years). A species
whose ``cd_ref`` or sensitivity changes recomputes its old and new taxa, all years; a TAXREF
upsert and the demo's removals recompute everything. Zones re-imported and accounts erased
change no figure: an observation keeps the zone it was placed in and its observer's id.
Statements sent on ``session.connection()`` are not seen: the record capture inserts pending
rows that way, which count for nothing until reviewed; anything else writing validated rows so
(a bulk load in SQL) calls ``rebuild`` after.

``rebuild`` recomputes both tables from scratch (``sentinelles rollups rebuild``, the migration
that creates them); ``expected_cells`` and ``expected_site_years`` give what they should hold,
for the tests.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Index, Uuid, case, delete, event, func, insert, literal
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel, col

from app.observations.models import CountUnit, Observation, ObservationStatus
from app.species.models import Species
from app.surveys.aggregates import local_year, site_year_values, year_start
from app.surveys.models import Site, Visit, VisitCount

DEFAULT_TZ = "Europe/Paris"
VALIDATED = ObservationStatus.validated.value
STAFF, PUBLIC = "staff", "public"
NO_ZONE = uuid.UUID(int=0)
AUDIENCES = (STAFF, PUBLIC)


class YearlyCell(SQLModel, table=True):
    """Validated observations' figures per audience, local year, taxon and zone."""

    __tablename__ = "stats_yearly_cell"
    __table_args__ = (Index("ix_stats_yearly_cell_cd_ref_year", "cd_ref", "year"),)

    audience: str = Field(max_length=8, primary_key=True)
    year: int = Field(primary_key=True)
    cd_ref: int = Field(primary_key=True)
    # ``NO_ZONE`` for observations outside every zone and a sensitive species' public cells:
    # a key column is never null.
    zone_id: uuid.UUID = Field(primary_key=True)
    individuals: int = 0
    nests: int = 0
    observations: int = 0
    in_individuals: int = 0
    in_nests: int = 0
    largest: int | None = None
    observers: int = 0


class SiteYear(SQLModel, table=True):
    """A live site's yearly value per species, from its validated visits."""

    __tablename__ = "stats_site_year"

    site_id: uuid.UUID = Field(primary_key=True)
    species_id: uuid.UUID = Field(primary_key=True)
    year: int = Field(primary_key=True, index=True)
    zone_id: uuid.UUID | None = None
    kind: str = Field(max_length=16)
    value: int


_CELLS: Any = YearlyCell.__table__  # type: ignore[attr-defined]
_SITE_YEARS: Any = SiteYear.__table__  # type: ignore[attr-defined]


# --- what a transaction touched -----------------------------------------------------------


@dataclass
class Marks:
    points: set[tuple[uuid.UUID, datetime]] = field(default_factory=set)  # (species, instant)
    taxa: set[int] = field(default_factory=set)  # every year of these cd_ref
    sites: set[uuid.UUID] = field(default_factory=set)
    visits: set[uuid.UUID] = field(default_factory=set)  # their sites, if validated
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.points or self.taxa or self.sites or self.visits or self.everything)


def _marks(session: OrmSession) -> Marks:
    marks = session.info.get("rollups")
    if marks is None:
        marks = session.info["rollups"] = Marks()
    return marks


def tz_of(session: OrmSession) -> ZoneInfo:
    tz = session.info.get("tz")
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(DEFAULT_TZ)


def mark_observations(session: OrmSession, ids: Collection[uuid.UUID]) -> None:
    """Before a bulk statement changes these observations: their cells as they stand."""
    if not ids:
        return
    rows = session.connection().execute(
        sa_select(col(Observation.species_id), col(Observation.observed_at)).where(
            col(Observation.id).in_(list(ids))
        )
    )
    _marks(session).points.update((s, at) for s, at in rows)


def mark_visits(session: OrmSession, ids: Collection[uuid.UUID]) -> None:
    """Before a bulk statement changes these visits: their sites."""
    if not ids:
        return
    rows = session.connection().execute(
        sa_select(col(Visit.site_id)).where(col(Visit.id).in_(list(ids))).distinct()
    )
    _marks(session).sites.update(site for (site,) in rows)


def mark_everything(session: OrmSession) -> None:
    """After a change too wide to follow (a TAXREF import, bulk removals): recompute all."""
    _marks(session).everything = True


_OBSERVATION_FIELDS = ("species_id", "observed_at", "status", "deleted_at")
_OBSERVATION_FIGURES = ("count", "count_unit", "zone_id", "observer_id")


def _counts(status: Any, deleted_at: Any) -> bool:
    return bool(status == VALIDATED and deleted_at is None)


def _before_flush(session: OrmSession, _context: Any, _instances: Any) -> None:
    observations: list[tuple[Observation, bool]] = []
    visits: list[tuple[Visit, bool]] = []
    sites: list[Site] = []
    species: list[Species] = []
    marks = _marks(session)
    for obj in session.new:
        if isinstance(obj, Observation) and _counts(obj.status, obj.deleted_at):
            marks.points.add((obj.species_id, obj.observed_at))
        elif isinstance(obj, Visit) and _counts(obj.status, obj.deleted_at):
            marks.sites.add(obj.site_id)
        elif isinstance(obj, VisitCount):
            marks.visits.add(obj.visit_id)
    changed = [(obj, False) for obj in session.dirty if session.is_modified(obj)]
    for obj, deleted in changed + [(obj, True) for obj in session.deleted]:
        if isinstance(obj, Observation):
            observations.append((obj, deleted))
        elif isinstance(obj, Visit):
            visits.append((obj, deleted))
        elif isinstance(obj, VisitCount):
            marks.visits.add(obj.visit_id)
        elif isinstance(obj, Site):
            sites.append(obj)
        elif isinstance(obj, Species):
            species.append(obj)
    if not (observations or visits or sites or species):
        return
    connection = session.connection()
    if observations:
        fields = [getattr(Observation, f) for f in ("id", *_OBSERVATION_FIELDS)]
        before = {
            row[0]: row[1:]
            for row in connection.execute(
                sa_select(*fields).where(col(Observation.id).in_([o.id for o, _ in observations]))
            )
        }
        for obj, gone in observations:
            old = before.get(obj.id)
            if old is not None and _counts(old[2], old[3]):
                marks.points.add((old[0], old[1]))
            if not gone and _counts(obj.status, obj.deleted_at):
                marks.points.add((obj.species_id, obj.observed_at))
    if visits:
        before_sites = dict(
            connection.execute(
                sa_select(col(Visit.id), col(Visit.site_id)).where(
                    col(Visit.id).in_([v.id for v, _ in visits])
                )
            ).all()
        )
        for visit, _gone in visits:
            if visit.id in before_sites:
                marks.sites.add(before_sites[visit.id])
            marks.sites.add(visit.site_id)
    marks.sites.update(site.id for site in sites)
    if species:
        old_taxa = dict(
            connection.execute(
                sa_select(col(Species.id), col(Species.cd_ref)).where(
                    col(Species.id).in_([s.id for s in species])
                )
            ).all()
        )
        for taxon in species:
            if taxon.id in old_taxa:
                marks.taxa.add(old_taxa[taxon.id])
            marks.taxa.add(taxon.cd_ref)


def _apply(session: OrmSession) -> None:
    marks = session.info.pop("rollups", None)
    if marks:
        refresh(session, marks)


def _after_flush(session: OrmSession, _context: Any) -> None:
    _apply(session)


def _before_commit(session: OrmSession) -> None:
    session.flush()
    _apply(session)


def _forget(session: OrmSession, *_args: Any) -> None:
    session.info.pop("rollups", None)


_WATCHED = frozenset(
    {"observation", "survey_visit", "survey_visit_count", "survey_site", "species"}
)


_KEYS = {
    "observation": ("species_id", "observed_at"),
    "survey_visit": ("site_id",),
    "survey_visit_count": ("visit_id",),
    "survey_site": ("id",),
    "species": ("cd_ref",),
}


def _rows_of(params: Any) -> list[dict[str, Any]]:
    if isinstance(params, dict):
        return [params]
    return [p for p in params or [] if isinstance(p, dict)]


def _do_orm_execute(state: Any) -> Any:
    """Bulk statements on the watched tables, however sent through the session: what they
    touch is marked, before and after, and recomputed at once."""
    statement = state.statement
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name not in _WATCHED:
        return None
    session = state.session
    marks = _marks(session)
    connection = session.connection()
    if state.is_insert:
        rows = _rows_of(state.parameters)
        result = state.invoke_statement()
        if name == "observation":
            marks.points.update(
                (r["species_id"], r["observed_at"])
                for r in rows
                if r.get("status") == VALIDATED and "species_id" in r and "observed_at" in r
            )
            if not rows:
                marks.everything = True
        elif name == "survey_visit":
            marks.sites.update(r["site_id"] for r in rows if "site_id" in r)
        elif name == "survey_visit_count":
            marks.visits.update(r["visit_id"] for r in rows if "visit_id" in r)
        elif name == "species" and getattr(statement, "_post_values_clause", None) is not None:
            marks.everything = True  # an upsert may change names' taxa
        _apply(session)
        return result
    where = statement.whereclause
    c: Any = table.c  # type: ignore[union-attr]
    key = [c[k] for k in _KEYS[name]]

    def touched() -> list[Any]:
        query = sa_select(c.id, *key)
        return list(connection.execute(query if where is None else query.where(where)))

    before = touched()
    result = state.invoke_statement()
    after: list[Any] = []
    if state.is_update and before:
        ids = [r[0] for r in before]
        after = list(connection.execute(sa_select(c.id, *key).where(c.id.in_(ids))))
    for row in [*before, *after]:
        if name == "observation":
            marks.points.add((row[1], row[2]))
        elif name == "survey_visit_count":
            marks.visits.add(row[1])
        elif name == "species":
            marks.taxa.add(row[1])
        else:
            marks.sites.add(row[1])
    _apply(session)
    return result


event.listen(OrmSession, "before_flush", _before_flush)
event.listen(OrmSession, "after_flush_postexec", _after_flush)
event.listen(OrmSession, "before_commit", _before_commit)
event.listen(OrmSession, "after_rollback", _forget)
event.listen(OrmSession, "do_orm_execute", _do_orm_execute)


# --- recomputing ----------------------------------------------------------------------------


def _cells_select(
    audience: str, *, first: int, last: int, tz: ZoneInfo, cd_refs: Collection[int] | None
) -> Any:
    """The cells of ``first..last`` (of these taxa) computed from the observations."""
    year = local_year(col(Observation.observed_at), first, last, tz)
    zone: Any = func.coalesce(col(Observation.zone_id), literal(NO_ZONE, Uuid()))
    if audience == PUBLIC:
        zone = case((col(Species.sensitive), literal(NO_ZONE, Uuid())), else_=zone)
    unit = col(Observation.count_unit)
    individual = unit == CountUnit.individuals.value
    nest = unit == CountUnit.nests.value
    clauses: list[Any] = [
        col(Observation.status) == VALIDATED,
        col(Observation.deleted_at).is_(None),
        col(Observation.observed_at) >= year_start(first, tz),
        col(Observation.observed_at) < year_start(last + 1, tz),
    ]
    if cd_refs is not None:
        clauses.append(
            col(Observation.species_id).in_(
                sa_select(col(Species.id)).where(col(Species.cd_ref).in_(list(cd_refs)))
            )
        )
    return (
        sa_select(
            literal(audience).label("audience"),
            year.label("year"),
            col(Species.cd_ref).label("cd_ref"),
            zone.label("zone_id"),
            func.coalesce(func.sum(case((individual, col(Observation.count)), else_=0)), 0),
            func.coalesce(func.sum(case((nest, col(Observation.count)), else_=0)), 0),
            func.count(),
            func.count(case((individual, 1))),
            func.count(case((nest, 1))),
            func.max(case((individual, col(Observation.count)))),
            func.count(func.distinct(col(Observation.observer_id))),
        )
        .select_from(Observation)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .where(*clauses)
        .group_by(year, col(Species.cd_ref), zone)
    )


_CELL_COLUMNS = [
    "audience",
    "year",
    "cd_ref",
    "zone_id",
    "individuals",
    "nests",
    "observations",
    "in_individuals",
    "in_nests",
    "largest",
    "observers",
]


def _fill_cells(
    session: OrmSession, *, first: int, last: int, tz: ZoneInfo, cd_refs: Collection[int] | None
) -> None:
    table = YearlyCell.__table__  # type: ignore[attr-defined]
    for audience in AUDIENCES:
        session.connection().execute(
            insert(table).from_select(
                _CELL_COLUMNS,
                _cells_select(audience, first=first, last=last, tz=tz, cd_refs=cd_refs),
            )
        )


def _observed_span(
    session: OrmSession, tz: ZoneInfo, cd_refs: Collection[int] | None = None
) -> tuple[int, int] | None:
    statement = sa_select(
        func.min(col(Observation.observed_at)), func.max(col(Observation.observed_at))
    ).where(col(Observation.status) == VALIDATED, col(Observation.deleted_at).is_(None))
    if cd_refs is not None:
        statement = statement.where(
            col(Observation.species_id).in_(
                sa_select(col(Species.id)).where(col(Species.cd_ref).in_(list(cd_refs)))
            )
        )
    first, last = session.execute(statement).one()
    if first is None:
        return None
    return first.astimezone(tz).year, last.astimezone(tz).year


def _fill_site_years(
    session: OrmSession, tz: ZoneInfo, site_ids: Collection[uuid.UUID] | None
) -> int:
    statement = sa_select(func.min(col(Visit.started_at)), func.max(col(Visit.started_at))).where(
        col(Visit.status) == VALIDATED, col(Visit.deleted_at).is_(None)
    )
    if site_ids is not None:
        statement = statement.where(col(Visit.site_id).in_(list(site_ids)))
    first, last = session.execute(statement).one()
    if first is None:
        return 0
    values = site_year_values(
        session,  # type: ignore[arg-type]
        statuses=(VALIDATED,),
        tz=tz,
        first=first.astimezone(tz).year,
        last=last.astimezone(tz).year,
        site_ids=site_ids,
    )
    if values:
        session.connection().execute(
            insert(_SITE_YEARS),
            [
                {
                    "site_id": v.site_id,
                    "zone_id": v.zone_id,
                    "kind": v.kind,
                    "species_id": v.species_id,
                    "year": v.year,
                    "value": v.value,
                }
                for v in values
            ],
        )
    return len(values)


def refresh(session: OrmSession, marks: Marks) -> None:
    """Recomputes what ``marks`` touched, in the session's transaction."""
    with session.no_autoflush:
        _refresh(session, marks)


def _refresh(session: OrmSession, marks: Marks) -> None:
    tz = tz_of(session)
    conn = session.connection()
    if marks.everything:
        rebuild(session, tz=tz)
        return
    cells: dict[int, set[int]] = defaultdict(set)  # year -> cd_ref
    if marks.points:
        taxa = dict(
            session.execute(
                sa_select(col(Species.id), col(Species.cd_ref)).where(
                    col(Species.id).in_({s for s, _ in marks.points})
                )
            ).all()
        )
        for species_id, at in marks.points:
            if species_id in taxa and taxa[species_id] not in marks.taxa:
                cells[at.astimezone(tz).year].add(taxa[species_id])
    if marks.taxa:
        conn.execute(delete(_CELLS).where(_CELLS.c.cd_ref.in_(marks.taxa)))
        span = _observed_span(session, tz, marks.taxa)
        if span is not None:
            _fill_cells(session, first=span[0], last=span[1], tz=tz, cd_refs=marks.taxa)
    for year, refs in sorted(cells.items()):
        conn.execute(delete(_CELLS).where(_CELLS.c.year == year, _CELLS.c.cd_ref.in_(refs)))
        _fill_cells(session, first=year, last=year, tz=tz, cd_refs=refs)
    sites = set(marks.sites)
    if marks.visits:
        sites.update(
            site
            for (site,) in session.execute(
                sa_select(col(Visit.site_id))
                .where(col(Visit.id).in_(marks.visits), col(Visit.status) == VALIDATED)
                .distinct()
            )
        )
    if sites:
        conn.execute(delete(_SITE_YEARS).where(_SITE_YEARS.c.site_id.in_(sites)))
        _fill_site_years(session, tz, sites)


def rebuild(
    session: OrmSession,
    *,
    tz: ZoneInfo | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
) -> tuple[int, int]:
    """Recomputes both tables from scratch, a year at a time; ``(cells, site-years)``.
    ``on_step(what, done, total)`` follows the progress."""
    tz = tz or tz_of(session)
    session.connection().execute(delete(_CELLS))
    session.connection().execute(delete(_SITE_YEARS))
    span = _observed_span(session, tz)
    years = list(range(span[0], span[1] + 1)) if span else []
    total = len(years) + 1
    for done, year in enumerate(years, start=1):
        _fill_cells(session, first=year, last=year, tz=tz, cd_refs=None)
        if on_step:
            on_step(f"observations {year}", done, total)
    site_years = _fill_site_years(session, tz, None)
    if on_step:
        on_step("survey sites", total, total)
    cells = session.execute(sa_select(func.count()).select_from(YearlyCell)).scalar_one()
    return int(cells), site_years


# --- what the tables should hold, for the tests ---------------------------------------------

CellKey = tuple[str, int, int, uuid.UUID | None]


def _cell_rows(rows: Iterable[Any]) -> dict[CellKey, tuple[int | None, ...]]:
    return {
        (r[0], int(r[1]), int(r[2]), r[3]): tuple(None if v is None else int(v) for v in r[4:])
        for r in rows
    }


def stored_cells(session: OrmSession) -> dict[CellKey, tuple[int | None, ...]]:
    table = YearlyCell.__table__  # type: ignore[attr-defined]
    return _cell_rows(session.execute(sa_select(*[table.c[c] for c in _CELL_COLUMNS])))


def expected_cells(session: OrmSession) -> dict[CellKey, tuple[int | None, ...]]:
    tz = tz_of(session)
    span = _observed_span(session, tz)
    if span is None:
        return {}
    out: dict[CellKey, tuple[int | None, ...]] = {}
    for audience in AUDIENCES:
        select = _cells_select(audience, first=span[0], last=span[1], tz=tz, cd_refs=None)
        out.update(_cell_rows(session.execute(select)))
    return out


SiteYearKey = tuple[uuid.UUID, uuid.UUID, int]


def stored_site_years(session: OrmSession) -> dict[SiteYearKey, tuple[Any, ...]]:
    return {
        (r.site_id, r.species_id, r.year): (r.zone_id, r.kind, r.value)
        for r in session.execute(sa_select(SiteYear.__table__))  # type: ignore[attr-defined]
    }


def expected_site_years(session: OrmSession) -> dict[SiteYearKey, tuple[Any, ...]]:
    tz = tz_of(session)
    statement = sa_select(func.min(col(Visit.started_at)), func.max(col(Visit.started_at))).where(
        col(Visit.status) == VALIDATED, col(Visit.deleted_at).is_(None)
    )
    first, last = session.execute(statement).one()
    if first is None:
        return {}
    return {
        (v.site_id, v.species_id, v.year): (v.zone_id, v.kind, v.value)
        for v in site_year_values(
            session,  # type: ignore[arg-type]
            statuses=(VALIDATED,),
            tz=tz,
            first=first.astimezone(tz).year,
            last=last.astimezone(tz).year,
        )
    }


__all__ = [
    "SiteYear",
    "YearlyCell",
    "expected_cells",
    "expected_site_years",
    "mark_everything",
    "mark_observations",
    "mark_visits",
    "rebuild",
    "refresh",
    "stored_cells",
    "stored_site_years",
]
