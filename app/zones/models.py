"""Survey zones: named areas (communes, districts, slag heaps) observations fall into."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class Zone(SQLModel, table=True):
    """A zone's geometry is kept as GeoJSON text (WGS 84): portable across SQLite and PostgreSQL
    without a spatial extension. Point-in-zone lookups use an in-process STRtree built from it;
    the bounding box and area are stored so that index can be rebuilt cheaply and the smallest
    zone wins where zones overlap."""

    __tablename__ = "zone"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(default="zone", max_length=32)
    geometry: str = Field(sa_type=Text)
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    # Area in square metres (Lambert-93), used to pick the smallest of overlapping zones.
    area_m2: float
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
