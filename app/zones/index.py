"""Point-in-zone look-ups in process: an STRtree over the zones' shapes, rebuilt when they change.

Zones are few and change rarely, while every observation needs its zone: holding the shapes in
memory beats a spatial query per point, and works the same on SQLite and PostgreSQL without a
spatial extension. Each process keeps one index per database and checks a cheap revision
(``count(*)``, ``max(updated_at)``) at most every ``reference_cache_seconds`` to notice imports made
elsewhere, or zones that vanished with a rolled-back transaction.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import shape
from sqlmodel import Session, select

from app.core.cache import RevisionCache, table_revision
from app.core.settings import Settings
from app.zones.models import Zone


@dataclass(frozen=True, slots=True)
class IndexedZone:
    id: uuid.UUID
    code: str
    area_m2: float
    kind: str = "zone"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a point falls: its zone (the smallest holding it) and the codes of every zone
    holding it; ``NOWHERE`` outside every zone."""

    zone_id: uuid.UUID | None
    codes: frozenset[str]


NOWHERE = Place(zone_id=None, codes=frozenset())


@dataclass(frozen=True, slots=True)
class Area:
    """A zone as a blurred position: its centre and the radius that covers all of it."""

    latitude: float
    longitude: float
    radius_m: float


_GEOD = Geod(ellps="WGS84")


def _area_of(geometry: shapely.Geometry) -> Area:
    centre = geometry.centroid
    if not geometry.contains(centre):
        centre = geometry.representative_point()
    coords = shapely.get_coordinates(geometry.boundary)
    if len(coords) == 0:
        return Area(round(centre.y, 7), round(centre.x, 7), 0.0)
    _, _, distances = _GEOD.inv(
        np.full(len(coords), centre.x), np.full(len(coords), centre.y), coords[:, 0], coords[:, 1]
    )
    return Area(round(centre.y, 7), round(centre.x, 7), round(float(np.max(distances)), 1))


class ZoneIndex:
    """Where zones overlap, a point belongs to the smallest (a slag heap inside its commune)."""

    def __init__(self, zones: Iterable[tuple[IndexedZone, shapely.Geometry]]) -> None:
        # Smallest first, so the first hit in index order is the answer.
        ordered = sorted(zones, key=lambda z: (z[0].area_m2, z[0].code))
        self.zones = [z for z, _ in ordered]
        geometries = [g for _, g in ordered]
        self._areas: dict[int, Area] = {}
        self._geometries = geometries
        for geometry in geometries:
            shapely.prepare(geometry)
        self._tree = shapely.STRtree(geometries)

    @classmethod
    def from_rows(cls, rows: Iterable[Zone]) -> ZoneIndex:
        return cls(
            (
                IndexedZone(id=z.id, code=z.code, area_m2=z.area_m2, kind=z.kind),
                shape(json.loads(z.geometry)),
            )
            for z in rows
        )

    def __len__(self) -> int:
        return len(self.zones)

    def locate(self, lon: float, lat: float) -> uuid.UUID | None:
        return self.locate_many([(lon, lat)])[0]

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[uuid.UUID | None]:
        """Zones of ``(lon, lat)`` points, in one vectorised tree query."""
        return [place.zone_id for place in self.places_many(points)]

    def places_many(self, points: Sequence[tuple[float, float]]) -> list[Place]:
        """Each ``(lon, lat)`` point's zone and the codes of every zone holding it, from one
        vectorised tree query: capture needs both (the zone to store, the codes for the
        outside-territory flag), and the point-in-polygon tests are most of the cost."""
        answers = [NOWHERE] * len(points)
        if not points or not self.zones:
            return answers
        finite = [i for i, (x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
        if not finite:
            return answers
        coords = np.array([points[i] for i in finite], dtype=float)
        geometries = shapely.points(coords)
        hits: Any = self._tree.query(geometries, predicate="intersects")
        held: dict[int, list[int]] = {}
        for point_i, zone_i in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
            held.setdefault(point_i, []).append(zone_i)
        for point_i, zone_indexes in held.items():
            answers[finite[point_i]] = Place(
                # Zones are ordered smallest first: the lowest index is the answer.
                zone_id=self.zones[min(zone_indexes)].id,
                codes=frozenset(self.zones[z].code for z in zone_indexes),
            )
        return answers

    def commune_area(self, lon: float, lat: float, kind: str = "commune") -> Area | None:
        """The commune (the largest zone of ``kind``) holding a point, as a centre and a
        radius: how a species generalised "to the commune" is shown. None outside every one."""
        if not self.zones or not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        hits: Any = self._tree.query(shapely.points(lon, lat), predicate="intersects")
        candidates = [int(i) for i in np.atleast_1d(hits) if self.zones[int(i)].kind == kind]
        if not candidates:
            return None
        zone_i = max(candidates)  # zones are ordered smallest first
        if zone_i not in self._areas:
            self._areas[zone_i] = _area_of(self._geometries[zone_i])
        return self._areas[zone_i]


_cache: RevisionCache[ZoneIndex] = RevisionCache(
    revision_of=lambda session: table_revision(session, Zone),
    build=lambda session: ZoneIndex.from_rows(session.exec(select(Zone))),
)


def invalidate_zone_index() -> None:
    """Forget every index of this process: the next look-up rebuilds from the database."""
    _cache.invalidate()


def get_zone_index(session: Session, settings: Settings) -> ZoneIndex:
    """This process's index of the zones the session sees, rebuilt when they changed."""
    return _cache.get(session, max_age=settings.reference_cache_seconds)
