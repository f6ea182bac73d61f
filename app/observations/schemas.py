"""What the phone sends and what it gets back for observations.

Every bound the contract names is checked here, so that a single POST, a batch item and a PATCH
refuse the same things with the same codes. The species itself is checked against the
reference by the service (it needs the database).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.core.numbers import JSON_NUMBER
from app.core.patching import refuse_null
from app.media.schemas import PhotoPublic
from app.observations.models import CountUnit, ObservationStatus
from app.records.schemas import BatchResponse as BatchResponse
from app.records.schemas import BatchResult as BatchResult
from app.records.schemas import BatchStatus as BatchStatus
from app.records.schemas import ReviewPublic

MAX_COUNT = 100_000
MAX_NOTES = 2000
MAX_ACCURACY_M = 100_000
MAX_BATCH = 500
# An observation may be stamped slightly ahead of the server's clock: phones drift.
FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST_OBSERVED_AT = datetime(1900, 1, 1, tzinfo=UTC)
# TAXREF ids are positive 32-bit integers (the column is an INTEGER on every database).
MAX_CD_NOM = 2_147_483_647

EXAMPLE_CLIENT_ID = "5d0c6f0e-8a63-4c1e-9d55-0f3b2a7e9c41"
EXAMPLE_SPECIES_ID = "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90"
EXAMPLE_CREATE: dict[str, Any] = {
    "client_id": EXAMPLE_CLIENT_ID,
    "cd_nom": 3696,
    "observed_at": "2026-04-12T07:45:00+02:00",
    "latitude": 50.4571,
    "longitude": 2.7852,
    "accuracy_m": 12,
    "count": 3,
    "count_unit": "individuals",
    "notes": "sur le fil électrique",
}
EXAMPLE_OBSERVATION: dict[str, Any] = {
    "id": "9a1e3c55-2f4b-4d7a-8e6c-1b2a3c4d5e6f",
    "client_id": EXAMPLE_CLIENT_ID,
    "species_id": EXAMPLE_SPECIES_ID,
    "cd_nom": 3696,
    "observed_at": "2026-04-12T05:45:00Z",
    "latitude": 50.4571,
    "longitude": 2.7852,
    "accuracy_m": 12.0,
    "count": 3,
    "count_unit": "individuals",
    "notes": "sur le fil électrique",
    "zone_id": "3f7b9c2d-1e4a-4b6c-8d9e-0a1b2c3d4e5f",
    "status": "pending",
    "observer_id": "c2d4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f",
    "photos": [],
    "created_at": "2026-04-12T05:46:10Z",
    "updated_at": "2026-04-12T05:46:10Z",
    "generalised": False,
    "deleted": False,
    "flags": [],
    "reviews": [],
}


def _too_old() -> PydanticCustomError:
    return PydanticCustomError(
        "observation.observed_at_too_old", "The observation time must be in 1900 or later."
    )


def _in_future() -> PydanticCustomError:
    return PydanticCustomError(
        "observation.observed_at_in_future",
        "The observation time is in the future (more than 10 minutes ahead).",
    )


def check_observed_at(value: datetime) -> datetime:
    """An aware time, within [1900, now + 10 min], returned in UTC."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        # Only the ends of datetime's range (year 1 or 9999 with an offset) get here.
        raise (_too_old() if value.year < EARLIEST_OBSERVED_AT.year else _in_future()) from None
    if utc < EARLIEST_OBSERVED_AT:
        raise _too_old()
    if utc > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise _in_future()
    return utc


def check_text(value: str | None) -> str | None:
    """Text every database stores as given: no NUL character, nothing that is not Unicode."""
    if value is None:
        return None
    if "\x00" in value:
        raise PydanticCustomError(
            "observation.invalid_characters", "The text holds a NUL character."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "observation.invalid_characters", "The text holds characters that are not Unicode."
        ) from None
    return value


def require_text(value: Any) -> Any:
    """Times travel as RFC 3339 text; a bare number (a Unix time?) is refused, not guessed at."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Give the time as RFC 3339 text with an offset.")
    return value


ObservedAt = Annotated[
    AwareDatetime,
    BeforeValidator(require_text),
    AfterValidator(check_observed_at),
    Field(
        description="When, RFC 3339 with an offset; stored and returned in UTC. At most 10 "
        "minutes ahead of the server's clock, and not before 1900.",
        examples=["2026-04-12T07:45:00+02:00"],
    ),
]
Latitude = Annotated[
    float,
    Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84", examples=[50.4571]),
    JSON_NUMBER,
]
Longitude = Annotated[
    float,
    Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84", examples=[2.7852]),
    JSON_NUMBER,
]
AccuracyM = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_ACCURACY_M,
        allow_inf_nan=False,
        description="Radius of the position's uncertainty, in metres.",
        examples=[12],
    ),
    JSON_NUMBER,
]
Count = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_COUNT,
        description='How many were seen; 0 means "looked for, none seen".',
        examples=[3],
    ),
    JSON_NUMBER,
]
_CD_NOM = Field(
    ge=1, le=MAX_CD_NOM, description="TAXREF id, instead of `species_id`.", examples=[3696]
)
CdNom = Annotated[int, _CD_NOM, JSON_NUMBER]
CdNomQuery = Annotated[int, _CD_NOM]
"""As a query parameter: text, read as an integer."""
Notes = Annotated[
    str,
    Field(max_length=MAX_NOTES, examples=["sur le fil électrique"]),
    AfterValidator(check_text),
]


class ObservationCreate(BaseModel):
    """A sighting as the phone records it. Give the species as `species_id` or `cd_nom`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_CREATE]})

    client_id: uuid.UUID = Field(
        description="Made on the phone (UUID v4); sending it again never makes a duplicate.",
        examples=[EXAMPLE_CLIENT_ID],
    )
    species_id: uuid.UUID | None = Field(default=None, examples=[EXAMPLE_SPECIES_ID])
    cd_nom: CdNom | None = None
    observed_at: ObservedAt
    latitude: Latitude
    longitude: Longitude
    accuracy_m: AccuracyM | None = None
    count: Count = 1
    count_unit: CountUnit = CountUnit.individuals
    notes: Notes | None = None


# Fields that may be absent from a PATCH but, when present, may not be null.
_NOT_NULLABLE = (
    "species_id",
    "cd_nom",
    "observed_at",
    "latitude",
    "longitude",
    "count",
    "count_unit",
)


class ObservationUpdate(BaseModel):
    """Any subset of the fields of a creation, except `client_id`; `notes` and `accuracy_m`
    may be set to null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"count": 4, "notes": "sur le fil électrique, 4 au nid"}]},
    )

    species_id: uuid.UUID | None = None
    cd_nom: CdNom | None = None
    observed_at: ObservedAt | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy_m: AccuracyM | None = None
    count: Count | None = None
    count_unit: CountUnit | None = None
    notes: Notes | None = None

    _no_null = refuse_null(*_NOT_NULLABLE, code="observation.null_not_allowed")


class ObservationPublic(BaseModel):
    """An observation as a given viewer may see it. Where the species is sensitive and the
    viewer is neither its observer nor staff, the position is the centre of its 10 km
    Lambert-93 cell, `accuracy_m` the cell's half-diagonal, and `generalised` is true."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_OBSERVATION]})

    id: uuid.UUID
    client_id: uuid.UUID
    species_id: uuid.UUID
    cd_nom: int
    observed_at: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None
    count: int
    count_unit: CountUnit
    notes: str | None
    zone_id: uuid.UUID | None
    status: ObservationStatus
    observer_id: uuid.UUID
    photos: list[PhotoPublic] = Field(
        default_factory=list,
        description="In upload order; `exif` in each only for the observer.",
    )
    created_at: datetime
    updated_at: datetime
    generalised: bool = Field(
        default=False, description="True when the position is generalised to a 10 km cell."
    )
    deleted: bool = Field(
        default=False,
        description="True for a deleted observation; only listed with `updated_since`, so "
        "that a syncing phone removes it.",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Plausibility flags (see `GET /review/flags`), for its observer and staff "
        "only: what an ecologist will look at twice. Never a refusal.",
    )
    reviews: list[ReviewPublic] = Field(
        default_factory=list,
        description="The ecologists' decisions on it, oldest first, with their comments: for "
        "its observer and staff only.",
    )


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True, slots=True)
class ObservationFilters:
    """The filters of ``GET /observations``, shared with the exports that take the same ones."""

    mine: bool = False
    species_id: uuid.UUID | None = None
    zone_id: uuid.UUID | None = None
    status: ObservationStatus | None = None
    year: int | None = None
    updated_since: datetime | None = None
    bbox: BBox | None = None


class ObservationPage(BaseModel):
    items: list[ObservationPublic]
    next_cursor: str | None = None


# A batch item is validated one by one, so that one bad item does not refuse the others: the
# body schema takes any JSON value per item and documents it as an ObservationCreate.
BatchItem = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/ObservationCreate"})]


class ObservationBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"observations": [EXAMPLE_CREATE]}]},
    )

    observations: list[BatchItem] = Field(
        max_length=MAX_BATCH, description=f"At most {MAX_BATCH} observations, each as for POST."
    )
