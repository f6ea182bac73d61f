"""Observations: what a sentinel saw, where and when."""

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
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow
from app.records.models import EDITABLE_STATUSES as EDITABLE_STATUSES
from app.records.models import ObservationStatus as ObservationStatus


class CountUnit(StrEnum):
    individuals = "individuals"
    nests = "nests"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


# What the review queue lists; its partial indexes keep the queue's first page fast however
# many validated records pile up.
AWAITING_REVIEW = ("pending", "needs_info")
AWAITING_REVIEW_SQL = f"status IN ('{AWAITING_REVIEW[0]}', '{AWAITING_REVIEW[1]}')"


def awaiting_review_index(table: str) -> Index:
    """The review queue's partial index on a table of records (observations, visits): their
    arrival order, for the rows awaiting a decision only, on both databases."""
    return Index(
        f"ix_{table}_review_queue",
        "created_at",
        "id",
        sqlite_where=text(AWAITING_REVIEW_SQL),
        postgresql_where=text(AWAITING_REVIEW_SQL),
    )


class Observation(SQLModel, table=True):
    """A sighting. Deletion is soft (``deleted_at``) so that phones syncing with
    ``updated_since`` learn of it; the row keeps its ``updated_at`` bumped like any other
    change."""

    __tablename__ = "observation"
    __table_args__ = (
        UniqueConstraint("observer_id", "client_id"),
        CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude_range"),
        CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude_range"),
        CheckConstraint('"count" >= 0 AND "count" <= 100000', name="count_range"),
        CheckConstraint(f"count_unit IN ({_in(CountUnit)})", name="count_unit_known"),
        CheckConstraint(f"status IN ({_in(ObservationStatus)})", name="status_known"),
        Index("ix_observation_observed_at_id", "observed_at", "id"),
        Index("ix_observation_observer_id_observed_at", "observer_id", "observed_at"),
        # The duplicate flag: an observer's sightings of a species around given times.
        Index(
            "ix_observation_observer_id_species_id_observed_at",
            "observer_id",
            "species_id",
            "observed_at",
        ),
        Index("ix_observation_status_observed_at", "status", "observed_at"),
        # Per-species lists and the first date of each year (phenology).
        Index("ix_observation_species_id_observed_at", "species_id", "observed_at"),
        Index("ix_observation_zone_id", "zone_id"),
        Index("ix_observation_updated_at", "updated_at"),
        Index(
            "ix_observation_public_longitude_public_latitude", "public_longitude", "public_latitude"
        ),
        awaiting_review_index("observation"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    observer_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    species_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("species.id", ondelete="RESTRICT"), nullable=False)
    )
    observed_at: datetime = Field(sa_type=UTCDateTime)
    latitude: float
    longitude: float
    accuracy_m: float | None = None
    count: int = 1
    count_unit: str = Field(default=CountUnit.individuals.value, max_length=16)
    notes: str | None = Field(default=None, max_length=2000)
    # The position everyone but the observer and staff sees: the exact one, or for a sensitive
    # species the centre of its grid cell. Computed on write (and again when a species'
    # sensitivity changes) so that every output and every bbox filter reads it without
    # projecting anything per row.
    public_latitude: float
    public_longitude: float
    public_accuracy_m: float | None = None
    generalised: bool = False
    zone_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("zone.id", ondelete="SET NULL"), nullable=True),
    )
    status: str = Field(default=ObservationStatus.pending.value, max_length=16)
    # Plausibility flags (app.observations.flags) computed on arrival: shown to ecologists, never a
    # reason to refuse.
    flags: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )
    # A school class's observation: the pupil who made it (their pseudonym, until erased), and
    # when the teacher checked it (only then does it reach the ecologists' review queue).
    pupil_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("pupil.id", ondelete="SET NULL"), nullable=True),
    )
    class_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
