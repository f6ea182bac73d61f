"""Photos of observations (their licences are shared words: ``app.core.vocabulary``).

A photo row describes files kept in the media storage (``app.media.storage``): the full-size
image and its two thumbnails, all re-encoded without metadata, and the original upload only when
the deployment keeps originals. The GPS position and the time read from the upload's EXIF stay
in this table, for the observer alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow
from app.core.vocabulary import DEFAULT_LICENCE, LICENCE_VALUES


class PhotoVariant(StrEnum):
    """The files a photo has: ``original`` only when the deployment keeps originals."""

    full = "full"
    large = "large"
    small = "small"
    original = "original"


class ObservationPhoto(SQLModel, table=True):
    """One photo of an observation.

    ``content_hash`` is the SHA-256 of the bytes as uploaded: with the unique
    ``(observation_id, content_hash)``, a phone retrying an upload gets the photo stored the first
    time. The ``*_sha256`` columns hash the files served, so that ``ETag``s and ``304``s need no
    read of the storage. ``exif_taken_at`` is in UTC; an EXIF time without an offset is taken as
    Europe/Paris local time (the survey's territory).
    """

    __tablename__ = "observation_photo"
    __table_args__ = (
        UniqueConstraint("observation_id", "content_hash"),
        CheckConstraint(f"licence IN ({LICENCE_VALUES})", name="licence_known"),
        # The photos of a page of observations, in upload order; also serves the cascade.
        Index("ix_observation_photo_observation_id_position", "observation_id", "position"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    observation_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("observation.id", ondelete="CASCADE"), nullable=False)
    )
    uploader_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    content_hash: str = Field(max_length=64)
    full_sha256: str = Field(max_length=64)
    large_sha256: str = Field(max_length=64)
    small_sha256: str = Field(max_length=64)
    width: int
    height: int
    media_type: str = Field(max_length=32)
    bytes_full: int
    bytes_large: int
    bytes_small: int
    source_format: str = Field(max_length=8)
    licence: str = Field(default=DEFAULT_LICENCE.value, max_length=16)
    has_original: bool = False
    exif_latitude: float | None = None
    exif_longitude: float | None = None
    exif_taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
