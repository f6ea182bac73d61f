"""Point-in-zone look-ups in process: an STRtree over the zones' shapes, rebuilt when they change.

Zones are few and change rarely, while every observation needs its zone: holding the shapes in
memory beats a spatial query per point, and works the same on SQLite and PostgreSQL without a
spatial extension. Each process keeps one index per database and checks a cheap revision
(``count(*)``, ``max(updated_at)``) at most every ``zone_cache_seconds`` to notice imports made
elsewhere, or zones that vanished with a rolled-back transaction.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.zones.models import Zone

Revision = tuple[int, datetime | None]


@dataclass(frozen=True, slots=True)
class IndexedZone:
    id: uuid.UUID
    code: str
    area_m2: float


class ZoneIndex:
    """Where zones overlap, a point belongs to the smallest (a slag heap inside its commune)."""

    def __init__(self, zones: Iterable[tuple[IndexedZone, shapely.Geometry]]) -> None:
        # Smallest first, so the first hit in index order is the answer.
        ordered = sorted(zones, key=lambda z: (z[0].area_m2, z[0].code))
        self.zones = [z for z, _ in ordered]
        geometries = [g for _, g in ordered]
        for geometry in geometries:
            shapely.prepare(geometry)
        self._tree = shapely.STRtree(geometries)

    @classmethod
    def from_rows(cls, rows: Iterable[Zone]) -> ZoneIndex:
        return cls(
            (IndexedZone(id=z.id, code=z.code, area_m2=z.area_m2), shape(json.loads(z.geometry)))
            for z in rows
        )

    def __len__(self) -> int:
        return len(self.zones)

    def locate(self, lon: float, lat: float) -> uuid.UUID | None:
        return self.locate_many([(lon, lat)])[0]

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[uuid.UUID | None]:
        """Zones of ``(lon, lat)`` points, in one vectorised tree query."""
        answers: list[uuid.UUID | None] = [None] * len(points)
        if not points or not self.zones:
            return answers
        finite = [i for i, (x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
        if not finite:
            return answers
        coords = np.array([points[i] for i in finite], dtype=float)
        geometries = shapely.points(coords)
        hits: Any = self._tree.query(geometries, predicate="intersects")
        best: dict[int, int] = {}
        for point_i, zone_i in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
            if point_i not in best or zone_i < best[point_i]:
                best[point_i] = zone_i
        for point_i, zone_i in best.items():
            answers[finite[point_i]] = self.zones[zone_i].id
        return answers


@dataclass
class _CacheEntry:
    index: ZoneIndex
    revision: Revision
    checked_at: float


_cache: dict[str, _CacheEntry] = {}
_lock = threading.Lock()


def invalidate_zone_index() -> None:
    """Forget every index of this process: the next look-up rebuilds from the database."""
    with _lock:
        _cache.clear()


def _database_key(session: Session) -> str:
    engine = session.get_bind().engine
    return engine.url.render_as_string(hide_password=True)


def zone_revision(session: Session) -> Revision:
    count, latest = session.exec(select(func.count(), func.max(col(Zone.updated_at)))).one()
    return int(count), latest


def get_zone_index(session: Session, settings: Settings) -> ZoneIndex:
    """This process's index of the zones the session sees, rebuilt when they changed."""
    key = _database_key(session)
    now = time.monotonic()
    with _lock:
        entry = _cache.get(key)
        if entry is not None and now - entry.checked_at < settings.zone_cache_seconds:
            return entry.index
    revision = zone_revision(session)
    if entry is not None and entry.revision == revision:
        entry.checked_at = now
        return entry.index
    index = ZoneIndex.from_rows(session.exec(select(Zone)))
    with _lock:
        _cache[key] = _CacheEntry(index=index, revision=revision, checked_at=now)
    return index
