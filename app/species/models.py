"""The species reference: TAXREF names the survey may record."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class Generalisation(StrEnum):
    """How far a sensitive species' positions are blurred for the public: the Lambert-93 grid
    cell of 1 km or 10 km holding the point, or the commune (the zone) holding it."""

    grid_1km = "grid_1km"
    grid_10km = "grid_10km"
    commune = "commune"


GENERALISATION_VALUES = ", ".join(f"'{g.value}'" for g in Generalisation)


class Species(SQLModel, table=True):
    """A TAXREF name. ``cd_nom`` names this name, ``cd_ref`` the accepted taxon: statistics
    aggregate by ``cd_ref`` so that observations under a later synonym stay with their taxon."""

    __tablename__ = "species"
    __table_args__ = (
        Index("ix_species_cd_ref", "cd_ref"),
        Index("ix_species_group", "group"),
        CheckConstraint(
            f"generalisation IN ({GENERALISATION_VALUES})", name="generalisation_known"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    cd_nom: int = Field(unique=True)
    cd_ref: int
    scientific_name: str = Field(max_length=255)
    authority: str | None = Field(default=None, max_length=255)
    vernacular_name: str | None = Field(default=None, max_length=500)
    vernacular_en: str | None = Field(default=None, max_length=500)
    group: str = Field(default="other", max_length=32)
    rank: str | None = Field(default=None, max_length=8)
    kingdom: str | None = Field(default=None, max_length=32)
    family: str | None = Field(default=None, max_length=100)
    sensitive: bool = False
    # Used only while ``sensitive``: the contract's default is the 10 km cell.
    generalisation: str = Field(
        default=Generalisation.grid_10km.value,
        max_length=16,
        sa_column_kwargs={"server_default": Generalisation.grid_10km.value},
    )
    taxref_version: str | None = Field(default=None, max_length=16)
    # Lower-cased, accent-free scientific and French names: search with a plain LIKE on any DB.
    search_text: str = Field(default="", max_length=1200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
