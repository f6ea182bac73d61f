"""What the public dashboard shows, computed once per change of the data, from the same
services as the API (``/stats/comparison``, ``/stats/yearly``, ``/stats/phenology``,
``/stats/trends.svg``, ``GET /observations``), always as an anonymous caller sees them: a
signed-in ecologist gets the town's page too, never their own wider view.

The cache. Everything the dashboard shows comes from a handful of tables; their *data
version* is each one's ``(count(*), max(updated_at))`` (``app.core.cache.table_revision``: a
capture, a review, an edit, a deletion or an import moves it, in any process). A process keeps
what it computed for a year (the rendered content, the map's GeoJSON, the charts' SVG) with the
version it was computed from, and reads the version again at most every
``reference_cache_seconds``: so a crowd of anonymous visitors costs one computation per data
change and process, and a few indexed aggregates every few seconds. No shared store is needed:
processes agree because they read the same database.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.baselines.models import Baseline
from app.core.cache import database_key, table_revision
from app.core.db import utcnow
from app.core.errors import AppError
from app.core.settings import Settings
from app.observations import service as observations
from app.observations.models import Observation
from app.observations.schemas import ObservationFilters, ObservationPublic
from app.species.models import Generalisation, Species
from app.stats import charts, comparison, phenology, yearly
from app.stats.schemas import ComparisonItem, PhenologyResponse
from app.stats.trends import TrendRequest, fit_species_trend
from app.surveys.models import Site, Visit
from app.zones.grid import CELL_1KM, CELL_10KM, cell_of, to_wgs84
from app.zones.models import Zone

# The tables every figure of the dashboard is read from; the trend charts read only the survey's.
SOURCES: tuple[Any, ...] = (Observation, Visit, Site, Baseline, Species, Zone, User)
SURVEY_SOURCES: tuple[Any, ...] = (Site, Visit, Baseline, Species)

SWALLOWS = ((3696, "Hirondelle rustique"), (459478, "Hirondelle de fenêtre"))
PHENOLOGY_YEARS = 12
# The map draws at most this many of the year's observations (the newest).
MAP_LIMIT = 3000
TRENDS_SHOWN = 4
CELL_SIZES = {Generalisation.grid_1km.value: CELL_1KM, Generalisation.grid_10km.value: CELL_10KM}

V = TypeVar("V")


def data_version(session: Session, sources: tuple[Any, ...] = SOURCES) -> tuple[Any, ...]:
    return tuple(table_revision(session, model) for model in sources)


class DashboardCache:
    """Values keyed on ``(database, key)``, valid while the data version they were built
    from is the database's; the version itself is read at most every ``max_age`` seconds.

    One computation per key at a time: requests arriving while a value is being built wait
    for it rather than building it again (a crowd after a change costs one computation).
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._versions: dict[Hashable, tuple[Hashable, float]] = {}
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def version(
        self, session: Session, *, max_age: float, sources: tuple[Any, ...] = SOURCES
    ) -> Hashable:
        key = (database_key(session), tuple(model.__name__ for model in sources))
        now = time.monotonic()
        with self._lock:
            known = self._versions.get(key)
        if known is not None and now - known[1] < max_age:
            return known[0]
        current = data_version(session, sources)
        with self._lock:
            self._versions[key] = (current, now)
        return current

    def _fresh(self, full_key: Hashable, version: Hashable) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(full_key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(full_key)
                return True, entry[1]
        return False, None

    def get(
        self,
        session: Session,
        key: Hashable,
        build: Callable[[], V],
        *,
        max_age: float,
        sources: tuple[Any, ...] = SOURCES,
    ) -> tuple[V, Hashable]:
        """The value and the version it was built from."""
        version = self.version(session, max_age=max_age, sources=sources)
        full_key = (database_key(session), key)
        found, value = self._fresh(full_key, version)
        if found:
            return value, version
        with self._lock:
            building = self._building.setdefault(full_key, threading.Lock())
        with building:
            found, value = self._fresh(full_key, version)
            if found:
                return value, version
            built = build()
            with self._lock:
                self.builds += 1
                self._entries[full_key] = (version, built)
                self._entries.move_to_end(full_key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return built, version

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()
            self._entries.clear()


CACHE = DashboardCache()


def etag(version: Hashable, *parts: Any) -> str:
    digest = hashlib.sha256(repr((version, parts)).encode()).hexdigest()[:32]
    return f'"{digest}"'


# --- what the page shows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirstReturn:
    year: int
    dates: tuple[date | None, ...]  # one per swallow, in SWALLOWS' order
    observers: tuple[str | None, ...]


@dataclass(slots=True)
class Dashboard:
    year: int
    current_year: int
    years: list[int]
    observations: int
    observers: int
    species: int
    comparison: list[ComparisonItem]
    first_returns: list[FirstReturn]
    comparison_svg: bytes | None
    trend_svgs: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    map_geojson: bytes = b""
    map_features: int = 0
    map_truncated: bool = False


def current_year(settings: Settings) -> int:
    return utcnow().astimezone(settings.tz).year


def build(session: Session, settings: Settings, year: int) -> Dashboard:
    this_year = current_year(settings)
    counts = _observation_counts(session, year)
    per_year = yearly.yearly_statistics(
        session,
        settings,
        staff=False,
        species_id=None,
        cd_nom=None,
        zone_id=None,
        from_year=min(year, this_year) - 24,
        to_year=max(year, this_year),
    )
    # Seen: some individuals or nests reported, or counted by a survey protocol.
    seen = {
        item.cd_ref
        for item in per_year.items
        if item.year == year
        and (item.count > 0 or item.nests > 0 or (item.protocol_value or 0) > 0)
    }
    years = sorted({item.year for item in per_year.items} | {this_year, year}, reverse=True)
    compared = comparison.comparison_statistics(
        session, settings, staff=False, year=year, zone_id=None
    )
    rows = charts.comparison_bars(compared.items)
    title = f"{settings.territory_name} en {year} : évolution depuis l'inventaire"
    dashboard = Dashboard(
        year=year,
        current_year=this_year,
        years=years,
        observations=counts[0],
        observers=counts[1],
        species=len(seen),
        comparison=list(compared.items),
        first_returns=_first_returns(session, settings, year),
        comparison_svg=charts.comparison_chart(rows, title=title) if rows else None,
    )
    # The trend charts (TRIM fits, the costliest part) follow the survey's data only: a new
    # casual observation does not fit them again.
    charted = tuple(item.species_id for item in compared.items if item.source == "protocol")
    dashboard.trend_svgs, _ = CACHE.get(
        session,
        ("trends", charted, settings.territory_name),
        lambda: _trends(session, settings, charted),
        max_age=settings.reference_cache_seconds,
        sources=SURVEY_SOURCES,
    )
    features, truncated = map_features(session, year)
    dashboard.map_features = len(features)
    dashboard.map_truncated = truncated
    dashboard.map_geojson = json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return dashboard


def _observation_counts(session: Session, year: int) -> tuple[int, int]:
    """The year's validated observations and their distinct observers, under the WHERE of
    ``GET /observations?year=`` for an anonymous caller."""
    clauses = observations.filter_clauses(ObservationFilters(year=year), viewer=None)
    query = select(func.count(), func.count(func.distinct(col(Observation.observer_id))))
    total, observers = session.exec(query.where(*clauses)).one()
    return int(total), int(observers)


def _first_returns(session: Session, settings: Settings, year: int) -> list[FirstReturn]:
    answers: list[PhenologyResponse] = [
        phenology.species_phenology(
            session,
            settings,
            species_id=None,
            cd_nom=cd_nom,
            from_year=year - PHENOLOGY_YEARS + 1,
            to_year=year,
        )
        for cd_nom, _ in SWALLOWS
    ]
    by_year: dict[int, list[tuple[date | None, str | None]]] = {}
    for index, answer in enumerate(answers):
        for item in answer.items:
            slot = by_year.setdefault(item.year, [(None, None)] * len(answers))
            slot[index] = (item.first_date, item.observer)
    return [
        FirstReturn(
            year=y,
            dates=tuple(d for d, _ in by_year[y]),
            observers=tuple(o for _, o in by_year[y]),
        )
        for y in sorted(by_year, reverse=True)
    ]


def _trends(
    session: Session, settings: Settings, species_ids: tuple[uuid.UUID, ...]
) -> dict[int, tuple[str, bytes]]:
    """The trend chart (``/stats/trends.svg``'s defaults) of the first species counted by the
    protocols whose data support one."""
    shown: dict[int, tuple[str, bytes]] = {}
    for species_id in species_ids:
        if len(shown) >= TRENDS_SHOWN:
            break
        request = TrendRequest(
            species_id=species_id,
            cd_nom=None,
            zone_id=None,
            model=3,
            changepoints=None,
            base_year=None,
            covariate=None,
            overdispersion=True,
            serial_correlation=True,
        )
        try:
            species, result, _ = fit_species_trend(session, settings, request)
        except AppError:
            continue
        name = species.vernacular_name or species.scientific_name
        title = f"{name} à {settings.territory_name}"
        shown[species.cd_ref] = (name, charts.trend_chart(result, title=title))
    return shown


# --- the map ----------------------------------------------------------------------------------


def map_features(session: Session, year: int) -> tuple[list[dict[str, Any]], bool]:
    """The year's validated observations as an anonymous caller of ``GET /observations``
    gets them: ordinary species as points, sensitive ones only as the polygon of the cell
    their public position is the centre of (one feature per cell, the species counted in it),
    or, for a species blurred to its commune, the commune's centre with its radius."""
    filters = ObservationFilters(year=year)
    items: list[ObservationPublic] = []
    cursor: str | None = None
    while len(items) < MAP_LIMIT:
        page = observations.list_observations(
            session, viewer=None, filters=filters, limit=500, cursor=cursor
        )
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    truncated = len(items) > MAP_LIMIT or cursor is not None
    items = items[:MAP_LIMIT]
    ids = {item.species_id for item in items}
    species = {s.id: s for s in session.exec(select(Species).where(col(Species.id).in_(ids))).all()}
    features: list[dict[str, Any]] = []
    cells: dict[str, dict[str, Any]] = {}
    for item in items:
        taxon = species[item.species_id]
        name = taxon.vernacular_name or taxon.scientific_name
        if not item.generalised:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(item.longitude, 5), round(item.latitude, 5)],
                    },
                    "properties": {
                        "kind": "point",
                        "name": name,
                        "scientific_name": taxon.scientific_name,
                        "count": item.count,
                        "date": item.observed_at.date().isoformat(),
                    },
                }
            )
            continue
        feature = _blurred(item, taxon, cells)
        if feature is not None:
            features.append(feature)
        counted = cells[_cell_key(item, taxon)]["properties"]["species"]
        counted[name] = counted.get(name, 0) + 1
    for feature in features:
        if feature["properties"]["kind"] != "point":
            feature["properties"]["species"] = [
                {"name": n, "observations": c}
                for n, c in sorted(feature["properties"]["species"].items())
            ]
    return features, truncated


def _cell_key(item: ObservationPublic, taxon: Species) -> str:
    size = CELL_SIZES.get(taxon.generalisation)
    if size is None:  # the commune's centre
        return f"commune:{round(item.latitude, 6)}:{round(item.longitude, 6)}"
    return cell_of(item.latitude, item.longitude, size).code


def _blurred(
    item: ObservationPublic, taxon: Species, cells: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """A new feature for the cell of ``item``'s public position, or None when the cell has
    one already."""
    key = _cell_key(item, taxon)
    if key in cells:
        return None
    size = CELL_SIZES.get(taxon.generalisation)
    if size is None:
        feature = {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [round(item.longitude, 5), round(item.latitude, 5)],
            },
            "properties": {"kind": "commune", "radius_m": item.accuracy_m, "species": {}},
        }
    else:
        cell = cell_of(item.latitude, item.longitude, size)
        feature = {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [_ring(cell.code, cell.x0, cell.y0, size)],
            },
            "properties": {
                "kind": "cell",
                "cell": cell.code,
                "size_km": size / 1000,
                "species": {},
            },
        }
    cells[key] = feature
    return feature


def _ring(code: str, x0: float, y0: float, size: int) -> list[list[float]]:
    """The cell's corners in WGS 84 (as published by the grid: nothing inside the cell)."""
    if "WGS84" in code:
        step = size / 100_000
        corners = [(x0, y0), (x0 + step, y0), (x0 + step, y0 + step), (x0, y0 + step)]
    else:
        corners = [
            to_wgs84(x, y)
            for x, y in ((x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size))
        ]
    ring = [[round(x, 6), round(y, 6)] for x, y in corners]
    return [*ring, ring[0]]
