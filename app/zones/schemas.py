"""Zones as GeoJSON (RFC 7946): ``[longitude, latitude]`` in WGS 84."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.zones.models import Zone

_SQUARE: Any = [[[2.78, 50.45], [2.79, 50.45], [2.79, 50.46], [2.78, 50.46], [2.78, 50.45]]]


class ZoneGeometry(BaseModel):
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(description="RFC 7946 coordinates, `[longitude, latitude]`.")


class ZoneProperties(BaseModel):
    id: uuid.UUID
    code: str = Field(description="The zone's code (INSEE code for a commune).", examples=["62528"])
    name: str = Field(examples=["Loos-en-Gohelle"])
    kind: str = Field(description="`commune`, `district`, `slag_heap`...", examples=["commune"])


class ZoneFeature(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "Feature",
                    "id": "5f0c3e7a-2b1d-4a8e-9c6f-1d2e3f4a5b6c",
                    "bbox": [2.78, 50.45, 2.79, 50.46],
                    "geometry": {"type": "Polygon", "coordinates": _SQUARE},
                    "properties": {
                        "id": "5f0c3e7a-2b1d-4a8e-9c6f-1d2e3f4a5b6c",
                        "code": "62528",
                        "name": "Loos-en-Gohelle",
                        "kind": "commune",
                    },
                }
            ]
        }
    )

    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    bbox: list[float] = Field(description="`[min_lon, min_lat, max_lon, max_lat]`.")
    geometry: ZoneGeometry
    properties: ZoneProperties

    @classmethod
    def from_zone(cls, zone: Zone) -> ZoneFeature:
        return cls(
            id=zone.id,
            bbox=[zone.min_lon, zone.min_lat, zone.max_lon, zone.max_lat],
            geometry=ZoneGeometry.model_validate(json.loads(zone.geometry)),
            properties=ZoneProperties(id=zone.id, code=zone.code, name=zone.name, kind=zone.kind),
        )


class ZoneCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ZoneFeature]


class ZoneImport(BaseModel):
    """A GeoJSON FeatureCollection of Polygons or MultiPolygons to create or update by code.

    Each feature's properties give `code` (else `insee`, `id`), `name` (else `nom`) and
    optionally `kind` (default `commune`). RFC 7946 allows foreign members (`name`, `crs`...)
    beside `type` and `features`: they are accepted and ignored, so files exported by GIS tools
    load as they are. Features are checked by the service, which names each bad one.
    """

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Polygon", "coordinates": _SQUARE},
                            "properties": {
                                "code": "terril-11-19",
                                "name": "Terrils jumeaux du 11/19",
                                "kind": "slag_heap",
                            },
                        }
                    ],
                }
            ]
        },
    )

    type: Literal["FeatureCollection"]
    features: list[Any] = Field(
        max_length=10_000, description="GeoJSON Features; each is checked and named if bad."
    )


class ZoneImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"created": 1, "updated": 9, "total": 10}]}
    )

    created: int
    updated: int
    total: int
