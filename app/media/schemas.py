"""What the photo endpoints answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.vocabulary import PhotoLicence
from app.media.models import ObservationPhoto

# Photo URLs are paths under the API's prefix (app.main.API_PREFIX), so that a client joins them
# to the server it already talks to.
PHOTOS_PATH = "/api/v1/photos"

EXAMPLE_PHOTO_ID = "7c1f0a9e-3b2d-4e5f-8a6b-9c0d1e2f3a4b"
# One example photo, for PhotoPublic and for every schema that nests photos (the personal-data
# export), so that the documented photo is the same wherever it appears.
EXAMPLE_PHOTO: dict[str, Any] = {
    "id": EXAMPLE_PHOTO_ID,
    "url": f"{PHOTOS_PATH}/{EXAMPLE_PHOTO_ID}",
    "thumbnail_url": f"{PHOTOS_PATH}/{EXAMPLE_PHOTO_ID}/small",
    "large_url": f"{PHOTOS_PATH}/{EXAMPLE_PHOTO_ID}/large",
    "width": 3024,
    "height": 4032,
    "licence": "CC-BY-4.0",
    "created_at": "2026-04-12T05:47:02Z",
    "exif": {
        "latitude": 50.4571,
        "longitude": 2.7852,
        "taken_at": "2026-04-12T05:44:51Z",
    },
}


class PhotoExif(BaseModel):
    """What the upload's metadata said, for its observer only (the app may propose them)."""

    latitude: float | None = Field(description="WGS 84, from the EXIF GPS position.")
    longitude: float | None
    taken_at: datetime | None = Field(
        description="When the photo was taken, in UTC; a camera time without an offset is read "
        "as Europe/Paris local time."
    )


class PhotoPublic(BaseModel):
    """A photo of an observation. Every file served is re-encoded without any metadata; `exif`
    is present for the observation's observer only."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PHOTO]})

    id: uuid.UUID
    url: str = Field(description="The full-size JPEG.")
    thumbnail_url: str = Field(description="A JPEG 400 px on its long side.")
    large_url: str = Field(description="A JPEG 1600 px on its long side (at most full size).")
    width: int = Field(description="Of the full-size image, upright.")
    height: int
    licence: PhotoLicence
    created_at: datetime
    # Absent rather than null for anyone but the observer: nothing hints at metadata.
    exif: PhotoExif | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Only in answers to the observer; absent for anyone else.",
    )


def present_photo(photo: ObservationPhoto, *, with_exif: bool) -> PhotoPublic:
    """``photo`` as answered; ``with_exif`` only for the observation's observer."""
    base = f"{PHOTOS_PATH}/{photo.id}"
    exif = None
    if with_exif:
        exif = PhotoExif(
            latitude=photo.exif_latitude,
            longitude=photo.exif_longitude,
            taken_at=photo.exif_taken_at,
        )
    return PhotoPublic(
        id=photo.id,
        url=base,
        thumbnail_url=f"{base}/small",
        large_url=f"{base}/large",
        width=photo.width,
        height=photo.height,
        licence=PhotoLicence(photo.licence),
        created_at=photo.created_at,
        exif=exif,
    )
