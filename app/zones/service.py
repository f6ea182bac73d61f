"""Survey zones: loading GeoJSON boundaries and placing points in them."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.core.db import utcnow
from app.core.errors import FieldError, NotFound, Unprocessable
from app.core.settings import Settings
from app.zones.index import NOWHERE, Area, Place, get_zone_index, invalidate_zone_index
from app.zones.models import Zone

DEFAULT_ZONES_FILE = (
    Path(__file__).parent / "data" / "communes-loos-en-gohelle-and-neighbours.geojson"
)

MAX_CODE = 64
MAX_NAME = 200
MAX_KIND = 32
MAX_REPORTED_ERRORS = 100
GEOMETRY_TYPES = ("Polygon", "MultiPolygon")


@dataclass(frozen=True, slots=True)
class ZoneImportReport:
    created: int
    updated: int
    total: int


@dataclass(frozen=True, slots=True)
class _ParsedZone:
    code: str
    name: str
    kind: str
    geometry: BaseGeometry


@lru_cache(maxsize=1)
def _to_lambert93() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def area_m2(geometry: BaseGeometry) -> float:
    """The area in Lambert-93, the projection French surveyors measure in."""
    projected = shapely.transform(geometry, _project)
    return float(projected.area)


def _project(xy: Any) -> Any:
    x, y = _to_lambert93().transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


# --- reading ------------------------------------------------------------------------------------


def _text_property(properties: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = properties.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | str):
            text = str(value).strip()
            if text:
                return text
    return None


def _coordinates_in_range(geometry: BaseGeometry) -> bool:
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0:
        return False
    lon, lat = coords[:, 0], coords[:, 1]
    return bool(((lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)).all())


def _parse_feature(feature: Any, *, default_kind: str) -> _ParsedZone | str:
    """A zone, or the reason the feature cannot be one."""
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        return "not a GeoJSON Feature"
    properties = feature.get("properties") or {}
    if not isinstance(properties, Mapping):
        return "properties must be an object"
    code = _text_property(properties, ("code", "insee", "id"))
    if code is None:
        return "no code: give a `code` (or `insee`, `id`) property"
    if len(code) > MAX_CODE:
        return f"code is longer than {MAX_CODE} characters"
    name = _text_property(properties, ("name", "nom"))
    if name is None:
        return "no name: give a `name` (or `nom`) property"
    if len(name) > MAX_NAME:
        return f"name is longer than {MAX_NAME} characters"
    kind = _text_property(properties, ("kind",)) or default_kind
    if len(kind) > MAX_KIND:
        return f"kind is longer than {MAX_KIND} characters"
    raw_geometry = feature.get("geometry")
    if not isinstance(raw_geometry, Mapping) or raw_geometry.get("type") not in GEOMETRY_TYPES:
        return "geometry must be a Polygon or a MultiPolygon"
    try:
        geometry = shape(raw_geometry)
    except Exception:  # shapely raises several types for malformed coordinates
        return "the coordinates do not form a Polygon or MultiPolygon"
    if geometry.is_empty:
        return "the geometry is empty"
    if not _coordinates_in_range(geometry):
        return "coordinates must be WGS 84 [longitude, latitude] within ±180, ±90"
    if not geometry.is_valid:
        return f"invalid geometry: {explain_validity(geometry)}"
    # Stored with RFC 7946's winding (exterior rings counter-clockwise), whatever the file had.
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    return _ParsedZone(code=code, name=name, kind=kind, geometry=oriented)


def _read_source(source: Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    try:
        data = json.loads(Path(source).read_bytes())
    except (OSError, ValueError) as exc:
        raise Unprocessable(
            "The zones file is not readable GeoJSON.",
            code="zone.invalid_file",
            errors=[FieldError(field="file", message="not a readable JSON file")],
        ) from exc
    if not isinstance(data, Mapping):
        raise _not_a_collection()
    return data


def _not_a_collection() -> Unprocessable:
    return Unprocessable(
        "A GeoJSON FeatureCollection is expected.",
        code="zone.invalid_file",
        errors=[FieldError(field="type", message="must be a FeatureCollection with features")],
    )


def parse_feature_collection(
    data: Mapping[str, Any], *, default_kind: str = "commune"
) -> list[_ParsedZone]:
    """Every zone of a FeatureCollection, or a 422 listing every bad feature."""
    features = data.get("features")
    if data.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise _not_a_collection()
    zones: list[_ParsedZone] = []
    errors: list[FieldError] = []
    first_seen: dict[str, int] = {}
    for i, feature in enumerate(features):
        parsed = _parse_feature(feature, default_kind=default_kind)
        if isinstance(parsed, str):
            errors.append(
                FieldError(field=f"features[{i}]", message=parsed, code="zone.invalid_feature")
            )
            continue
        if parsed.code in first_seen:
            first = first_seen[parsed.code]
            errors.append(
                FieldError(
                    field=f"features[{i}]",
                    message=f"code {parsed.code!r} already used by features[{first}]",
                    code="zone.invalid_feature",
                )
            )
            continue
        first_seen[parsed.code] = i
        zones.append(parsed)
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        raise Unprocessable(
            f"{len(errors)} feature(s) cannot be zones; nothing was stored.",
            code="zone.invalid_file",
            errors=shown,
        )
    if not zones:
        raise Unprocessable(
            "The FeatureCollection holds no feature.",
            code="zone.invalid_file",
            errors=[FieldError(field="features", message="at least one feature is needed")],
        )
    return zones


# --- writing ------------------------------------------------------------------------------------


# What the audit trail keeps of a zone. The geometry is kept as its digest: a commune's boundary
# runs to thousands of vertices, and the trail needs to show that it changed, not to hold it.
AUDITED_FIELDS = (
    "code",
    "name",
    "kind",
    "geometry_sha256",
    "area_m2",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
)


def _audited(zone: Zone) -> dict[str, Any]:
    values = {name: getattr(zone, name) for name in AUDITED_FIELDS if name != "geometry_sha256"}
    values["geometry_sha256"] = hashlib.sha256(zone.geometry.encode("utf-8")).hexdigest()
    return values


def import_zones(
    session: Session,
    source: Path | Mapping[str, Any],
    *,
    default_kind: str = "commune",
    actor_id: uuid.UUID | None = None,
) -> ZoneImportReport:
    """Creates or updates (by ``code``) the zones of a GeoJSON FeatureCollection, all or nothing.

    Each zone created, and each zone whose name, kind or boundary changed, gets an event in the
    audit trail in the same unit of work, by ``actor_id`` (None: the command line). Re-importing
    an unchanged zone records nothing.
    """
    parsed = parse_feature_collection(_read_source(source), default_kind=default_kind)
    existing = {
        z.code: z
        for z in session.exec(select(Zone).where(col(Zone.code).in_([p.code for p in parsed])))
    }
    now = utcnow()
    created = 0
    for item in parsed:
        min_lon, min_lat, max_lon, max_lat = item.geometry.bounds
        values = {
            "name": item.name,
            "kind": item.kind,
            "geometry": json.dumps(mapping(item.geometry), separators=(",", ":")),
            "min_lon": min_lon,
            "min_lat": min_lat,
            "max_lon": max_lon,
            "max_lat": max_lat,
            "area_m2": area_m2(item.geometry),
            "updated_at": now,
        }
        zone = existing.get(item.code)
        if zone is None:
            zone = Zone(code=item.code, created_at=now, **values)
            session.add(zone)
            created += 1
            action, changes = AuditAction.create, audit.diff({}, _audited(zone))
        else:
            before = _audited(zone)
            for field, value in values.items():
                setattr(zone, field, value)
            session.add(zone)
            action, changes = AuditAction.update, audit.diff(before, _audited(zone))
        if changes:
            audit.record(
                session,
                actor_id=actor_id,
                entity=AuditEntity.zone,
                entity_id=zone.id,
                action=action,
                changes=changes,
                at=now,
            )
    session.flush()
    invalidate_zone_index()
    return ZoneImportReport(created=created, updated=len(parsed) - created, total=len(parsed))


# --- reading for the API and other domains --------------------------------------------------------


def list_zones(session: Session, *, kind: str | None = None) -> list[Zone]:
    query = select(Zone)
    if kind is not None:
        query = query.where(Zone.kind == kind)
    return list(session.exec(query.order_by(col(Zone.code))))


def get_zone(session: Session, zone_id: uuid.UUID) -> Zone:
    zone = session.get(Zone, zone_id)
    if zone is None:
        raise NotFound("No zone has this id.", code="zone.not_found")
    return zone


def locate_zone(
    session: Session, settings: Settings, *, latitude: float, longitude: float
) -> uuid.UUID | None:
    """The zone holding a point (the smallest where zones overlap), None outside every zone."""
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    return get_zone_index(session, settings).locate(longitude, latitude)


def commune_area(
    session: Session, settings: Settings, *, latitude: float, longitude: float
) -> Area | None:
    """The commune holding a point as a centre and radius (a sensitive species' blur)."""
    return get_zone_index(session, settings).commune_area(longitude, latitude)


def locate_zones(
    session: Session, settings: Settings, points: Sequence[tuple[float, float]]
) -> list[uuid.UUID | None]:
    """``locate_zone`` for a batch of ``(latitude, longitude)``, with one revision check."""
    if not points:
        return []
    index = get_zone_index(session, settings)
    return index.locate_many([(lon, lat) for lat, lon in points])


def place(session: Session, settings: Settings, *, latitude: float, longitude: float) -> Place:
    """``locate_zone`` with the codes of every zone holding the point (the territory flag's
    answer), from the same tree query."""
    return places(session, settings, [(latitude, longitude)])[0]


def places(
    session: Session, settings: Settings, points: Sequence[tuple[float, float]]
) -> list[Place]:
    """``place`` for a batch of ``(latitude, longitude)``, with one revision check."""
    if not points:
        return []
    if not any(math.isfinite(lat) and math.isfinite(lon) for lat, lon in points):
        return [NOWHERE] * len(points)
    index = get_zone_index(session, settings)
    return index.places_many([(lon, lat) for lat, lon in points])
