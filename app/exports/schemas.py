"""What ``GET /open-data`` and ``POST /exports/publish`` answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OpenDataFile(BaseModel):
    name: str = Field(examples=["dwca.zip"])
    url: str = Field(examples=["https://sentinelles.example.org/api/v1/open-data/dwca.zip"])
    media_type: str = Field(examples=["application/zip"])
    size: int = Field(description="Bytes.", examples=[182345])
    sha256: str = Field(description="The file's SHA-256, also its `ETag`.")
    records: int = Field(description="Occurrences (archive) or sightings (CSV, GeoJSON).")
    licence: str = Field(examples=["https://creativecommons.org/licenses/by/4.0/legalcode"])
    modified: str = Field(
        description="When the snapshot was built (RFC 3339, local time with its offset).",
        examples=["2026-04-12T07:45:00+02:00"],
    )


class OpenDataSnapshot(BaseModel):
    generated_at: str | None = Field(
        description="When the snapshot was built; null when none was published yet."
    )
    licence: str | None = None
    dataset_id: str | None = None
    files: list[OpenDataFile] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="What the publisher should fix (publish only)."
    )
