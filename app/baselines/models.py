"""Inventory baselines: the counts of the CPIE's inventory (2008 onwards) that yearly figures are
compared with.

A baseline is one count of one species in one year, for the whole territory (``zone_id`` null),
a zone, or a survey site (``site_id``: it then opens that site's series, as its first years).
Its natural key, ``(year, species, zone, site, unit)``, is what makes re-importing the same file
change nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class BaselineUnit(StrEnum):
    individuals = "individuals"
    nests = "nests"
    presence = "presence"


UNIT_VALUES = ", ".join(f"'{u.value}'" for u in BaselineUnit)


class Baseline(SQLModel, table=True):
    __tablename__ = "baseline"
    __table_args__ = (
        CheckConstraint(f"unit IN ({UNIT_VALUES})", name="unit_known"),
        CheckConstraint('"count" >= 0', name="count_not_negative"),
        CheckConstraint("year >= 1900 AND year <= 2100", name="year_range"),
        # The natural key; NULL zone/site compare as a fixed sentinel so that the whole
        # territory's baseline is unique too (see the service's upsert).
        Index("ix_baseline_natural_key", "natural_key", unique=True),
        Index("ix_baseline_species_id_year", "species_id", "year"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    year: int
    species_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("species.id", ondelete="RESTRICT"), nullable=False)
    )
    zone_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("zone.id", ondelete="RESTRICT"), nullable=True),
    )
    site_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("survey_site.id", ondelete="RESTRICT"), nullable=True),
    )
    count: float
    unit: str = Field(max_length=16)
    method: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=500)
    # "year|species_id|zone_id|site_id|unit", with "-" for a missing zone or site: one unique
    # index that treats the whole territory like any zone, on every database.
    natural_key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
