"""Survey protocols: sites counted year after year, their visits and the counts of each visit.

A site outlives its visits and its owners' phones: its id is what a series of yearly values
hangs on. Deletions are soft everywhere (``deleted_at``), as for observations, so that phones
syncing with ``updated_since`` learn of them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow
from app.observations.models import ObservationStatus, awaiting_review_index
from app.surveys.yearly import SiteKind


class Wind(StrEnum):
    """Wind as the French butterfly schemes record it (Beaufort 0, 1–3, 4–5, 6 and more)."""

    nul = "nul"
    leger = "leger"
    modere = "modere"
    fort = "fort"


class VisitFlag(StrEnum):
    """What a visit's figures or date make worth a second look; never a reason to refuse it."""

    out_of_season = "out_of_season"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Site(SQLModel, table=True):
    """A façade, a garden or a transect counted the same way year after year.

    ``geometry`` holds the GeoJSON geometry as sent (a garden's Polygon, a transect's
    LineString), checked on write; ``latitude``/``longitude`` is the point the site is shown
    and placed in a zone by. ``class_id`` is for a school class's sites.
    """

    __tablename__ = "survey_site"
    __table_args__ = (
        UniqueConstraint("owner_id", "client_id"),
        CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude_range"),
        CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude_range"),
        CheckConstraint(f"kind IN ({_in(SiteKind)})", name="kind_known"),
        Index("ix_survey_site_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_survey_site_created_at_id", "created_at", "id"),
        Index("ix_survey_site_updated_at", "updated_at"),
        Index("ix_survey_site_zone_id", "zone_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    owner_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    class_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    # The CPIE's own code for the site (e.g. "HIR-JAURES-12"), by which inventory baselines are
    # tied to it; set by ecologists, unique when set.
    code: str | None = Field(default=None, max_length=64, unique=True)
    latitude: float
    longitude: float
    geometry: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    zone_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("zone.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Visit(SQLModel, table=True):
    """One counting session at a site. ``complete`` says every target species was counted, so
    that a species not listed was absent (a zero for the yearly value). Reviewed like an
    observation (same statuses); ``flags`` lists :class:`VisitFlag` values."""

    __tablename__ = "survey_visit"
    __table_args__ = (
        UniqueConstraint("observer_id", "client_id"),
        CheckConstraint("duration_min >= 1 AND duration_min <= 1440", name="duration_range"),
        CheckConstraint("observers >= 1 AND observers <= 100", name="observers_range"),
        CheckConstraint(
            "temperature_c IS NULL OR (temperature_c >= -30 AND temperature_c <= 50)",
            name="temperature_range",
        ),
        CheckConstraint(
            "cloud_pct IS NULL OR (cloud_pct >= 0 AND cloud_pct <= 100)", name="cloud_range"
        ),
        CheckConstraint(f"wind IS NULL OR wind IN ({_in(Wind)})", name="wind_known"),
        CheckConstraint(f"status IN ({_in(ObservationStatus)})", name="status_known"),
        Index("ix_survey_visit_site_id_started_at", "site_id", "started_at"),
        Index("ix_survey_visit_status_started_at", "status", "started_at"),
        Index("ix_survey_visit_updated_at", "updated_at"),
        awaiting_review_index("survey_visit"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    site_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("survey_site.id", ondelete="RESTRICT"), nullable=False)
    )
    observer_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    started_at: datetime = Field(sa_type=UTCDateTime)
    duration_min: int
    observers: int = 1
    complete: bool = False
    temperature_c: float | None = None
    wind: str | None = Field(default=None, max_length=8)
    cloud_pct: int | None = None
    notes: str | None = Field(default=None, max_length=2000)
    status: str = Field(default=ObservationStatus.pending.value, max_length=16)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A school class's visit: the pupil who recorded it (see Observation.pupil_id).
    pupil_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("pupil.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VisitCount(SQLModel, table=True):
    """One species' figures in a visit: nests (``occupied``, ``unoccupied``, ``destroyed``,
    ``artificial``) at a nest site, or ``count`` (the largest number seen at the same time)
    elsewhere. A nest site may list a species twice: its natural nests and its nest boxes."""

    __tablename__ = "survey_visit_count"
    __table_args__ = (
        UniqueConstraint("visit_id", "species_id", "artificial"),
        CheckConstraint('"count" IS NULL OR ("count" >= 0 AND "count" <= 100000)', name="count"),
        CheckConstraint(
            "(occupied IS NULL OR (occupied >= 0 AND occupied <= 10000))"
            " AND (unoccupied IS NULL OR (unoccupied >= 0 AND unoccupied <= 10000))"
            " AND (destroyed IS NULL OR (destroyed >= 0 AND destroyed <= 10000))",
            name="nests",
        ),
        Index("ix_survey_visit_count_species_id", "species_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    visit_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("survey_visit.id", ondelete="CASCADE"), nullable=False)
    )
    species_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("species.id", ondelete="RESTRICT"), nullable=False)
    )
    count: int | None = None
    occupied: int | None = None
    unoccupied: int | None = None
    destroyed: int | None = None
    artificial: bool = False
