"""What the phone sends and gets back for survey sites and visits.

Every bound is checked here, so that a single POST, a batch item and a PATCH refuse the same
things with the same codes. What needs the database or the site (the species reference, which
figures a count carries at this kind of site) is checked by the service.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.validation import explain_validity

from app.core.numbers import JSON_NUMBER
from app.core.patching import refuse_null
from app.observations.schemas import (
    EARLIEST_OBSERVED_AT,
    FUTURE_TOLERANCE,
    MAX_BATCH,
    MAX_COUNT,
    CdNom,
    Latitude,
    Longitude,
    Notes,
    check_text,
    require_text,
)
from app.records.models import ObservationStatus
from app.surveys.models import VisitFlag, Wind
from app.surveys.yearly import SiteKind

MAX_NESTS = 10_000
MAX_COUNTS_PER_VISIT = 200
MAX_GEOMETRY_VERTICES = 5_000
MAX_DURATION_MIN = 24 * 60
MAX_OBSERVERS = 100

EXAMPLE_SITE_CLIENT_ID = "7c3e1a9b-52d4-4f0e-8b6a-2d9c4e1f3a57"
EXAMPLE_SITE_ID = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a10"
EXAMPLE_SPECIES_ID = "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90"
EXAMPLE_SITE_CREATE: dict[str, Any] = {
    "client_id": EXAMPLE_SITE_CLIENT_ID,
    "kind": "nest_site",
    "name": "Façades de la rue Jean Jaurès, n° 12 à 30",
    "latitude": 50.4571,
    "longitude": 2.7852,
}
EXAMPLE_SITE: dict[str, Any] = {
    "id": EXAMPLE_SITE_ID,
    **EXAMPLE_SITE_CREATE,
    "geometry": None,
    "zone_id": "3f7b9c2d-1e4a-4b6c-8d9e-0a1b2c3d4e5f",
    "owner_id": "c2d4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f",
    "class_id": None,
    "created_at": "2026-04-02T16:10:00Z",
    "updated_at": "2026-04-02T16:10:00Z",
    "deleted": False,
}
EXAMPLE_VISIT_CLIENT_ID = "4a8d2c6e-1b3f-4e5a-9c7d-8e6f5a4b3c21"
EXAMPLE_VISIT_CREATE: dict[str, Any] = {
    "client_id": EXAMPLE_VISIT_CLIENT_ID,
    "started_at": "2026-05-16T09:30:00+02:00",
    "duration_min": 30,
    "observers": 2,
    "complete": True,
    "notes": "deux nids refaits sous le balcon du 18",
    "counts": [
        {"cd_nom": 459478, "occupied": 5, "unoccupied": 2, "destroyed": 0, "artificial": False},
        {"cd_nom": 459478, "occupied": 1, "unoccupied": 0, "destroyed": 0, "artificial": True},
        {"cd_nom": 3696, "occupied": 2, "unoccupied": 0, "destroyed": 1, "artificial": False},
    ],
}
EXAMPLE_GARDEN_VISIT: dict[str, Any] = {
    "client_id": "6b9e3d7f-2c4a-4f6b-8d8e-9f7a6b5c4d32",
    "started_at": "2026-07-04T14:00:00+02:00",
    "duration_min": 20,
    "observers": 1,
    "complete": True,
    "weather": {"temperature_c": 24, "wind": "leger", "cloud_pct": 20},
    "counts": [{"cd_nom": 608364, "count": 4}, {"cd_nom": 219831, "count": 2}],
}


# --- values ----------------------------------------------------------------------------------


def check_started_at(value: datetime) -> datetime:
    """An aware time within [1900, now + 10 min], returned in UTC."""
    too_old = PydanticCustomError(
        "visit.started_at_too_old", "The visit must have started in 1900 or later."
    )
    in_future = PydanticCustomError(
        "visit.started_at_in_future",
        "The visit starts in the future (more than 10 minutes ahead).",
    )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise (too_old if value.year < EARLIEST_OBSERVED_AT.year else in_future) from None
    if utc < EARLIEST_OBSERVED_AT:
        raise too_old
    if utc > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise in_future
    return utc


StartedAt = Annotated[
    AwareDatetime,
    BeforeValidator(require_text),
    AfterValidator(check_started_at),
    Field(
        description="When the visit started, RFC 3339 with an offset; stored and returned in "
        "UTC. At most 10 minutes ahead of the server's clock.",
        examples=["2026-05-16T09:30:00+02:00"],
    ),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(check_text),
    Field(examples=["Jardin des Tilleuls"]),
]
Nests = Annotated[int, Field(ge=0, le=MAX_NESTS, description="Number of nests."), JSON_NUMBER]
Count = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_COUNT,
        description="The largest number of the species seen at the same time.",
        examples=[4],
    ),
    JSON_NUMBER,
]


def _vertices(coordinates: Any, depth: int) -> list[tuple[float, float]]:
    """The positions of GeoJSON ``coordinates`` nested ``depth`` levels deep, or a 422."""
    bad = PydanticCustomError(
        "site.invalid_geometry", "The geometry's coordinates are not well formed."
    )
    if depth == 0:
        if (
            not isinstance(coordinates, list | tuple)
            or len(coordinates) not in (2, 3)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in coordinates)
        ):
            raise bad
        lon, lat = float(coordinates[0]), float(coordinates[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise bad
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise PydanticCustomError(
                "site.geometry_out_of_range",
                "Coordinates are [longitude, latitude] in WGS 84 degrees, within range.",
            )
        return [(lon, lat)]
    if not isinstance(coordinates, list | tuple):
        raise bad
    positions: list[tuple[float, float]] = []
    for part in coordinates:
        positions.extend(_vertices(part, depth - 1))
        if len(positions) > MAX_GEOMETRY_VERTICES:
            raise PydanticCustomError(
                "site.geometry_too_large",
                "The geometry has more than {limit} vertices.",
                {"limit": MAX_GEOMETRY_VERTICES},
            )
    return positions


def check_geometry(value: Any) -> dict[str, Any]:
    """A GeoJSON Polygon or LineString (RFC 7946), well formed and valid, as sent."""
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "LineString"):
        raise PydanticCustomError(
            "site.invalid_geometry", "The geometry must be a GeoJSON Polygon or LineString."
        )
    depth = 2 if value["type"] == "Polygon" else 1
    _vertices(value.get("coordinates"), depth)
    coordinates = value["coordinates"]
    if value["type"] == "LineString" and len(coordinates) < 2:
        raise PydanticCustomError(
            "site.invalid_geometry", "A LineString needs at least two positions."
        )
    if value["type"] == "Polygon":
        # RFC 7946 §3.1.6: linear rings of four positions or more, closed.
        if not coordinates:
            raise PydanticCustomError("site.invalid_geometry", "A Polygon needs a ring.")
        for ring in coordinates:
            if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
                raise PydanticCustomError(
                    "site.invalid_geometry",
                    "Each ring of a Polygon has at least four positions, the last the same as "
                    "the first (RFC 7946).",
                )
    try:
        geometry = shape({"type": value["type"], "coordinates": coordinates})
    except (ValueError, TypeError, IndexError, AttributeError, ShapelyError):
        raise PydanticCustomError(
            "site.invalid_geometry", "The geometry's coordinates are not well formed."
        ) from None
    if geometry.is_empty or not geometry.is_valid:
        reason = "it is empty" if geometry.is_empty else explain_validity(geometry)
        raise PydanticCustomError(
            "site.invalid_geometry", "The geometry is not valid: {reason}.", {"reason": reason}
        )
    return {"type": value["type"], "coordinates": value["coordinates"]}


Geometry = Annotated[
    dict[str, Any],
    AfterValidator(check_geometry),
    WithJsonSchema(
        {
            "type": "object",
            "description": "GeoJSON (RFC 7946) Polygon for a garden, LineString for a "
            "transect; `[longitude, latitude]` in WGS 84.",
            "example": {
                "type": "LineString",
                "coordinates": [[2.7801, 50.4602], [2.7835, 50.4611], [2.7866, 50.4598]],
            },
        }
    ),
]

GEOMETRY_OF_KIND = {
    SiteKind.nest_site: (),
    SiteKind.garden: ("Polygon",),
    SiteKind.transect: ("LineString",),
}


def geometry_error(kind: SiteKind, geometry: dict[str, Any] | None) -> str | None:
    """Why ``geometry`` does not suit a site of ``kind``, or None."""
    allowed = GEOMETRY_OF_KIND[kind]
    if geometry is None:
        if kind == SiteKind.transect:
            return "A transect needs its walked line as a GeoJSON LineString."
        return None
    if geometry["type"] not in allowed:
        if not allowed:
            return "A nest site is a point: give no geometry."
        return f"A {kind.value} takes a GeoJSON {allowed[0]}."
    return None


# --- sites -----------------------------------------------------------------------------------


class SiteCreate(BaseModel):
    """A site as the phone records it, offline or not."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_SITE_CREATE]})

    client_id: uuid.UUID = Field(
        description="Made on the phone (UUID v4); sending it again never makes a duplicate, and "
        "visits synced in the same go may name the site by it (`site_client_id`).",
        examples=[EXAMPLE_SITE_CLIENT_ID],
    )
    kind: SiteKind
    name: Name
    latitude: Latitude
    longitude: Longitude
    geometry: Geometry | None = Field(default=None, validate_default=True)

    @field_validator("geometry")
    @classmethod
    def _geometry_suits_kind(
        cls, value: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        kind = info.data.get("kind")
        if kind is not None:
            error = geometry_error(kind, value)
            if error is not None:
                raise PydanticCustomError("site.geometry_kind_mismatch", error)
        return value


class SiteUpdate(BaseModel):
    """Any subset of `name`, `latitude`, `longitude`, `geometry` (which may be set to null,
    except on a transect). The kind of a site never changes: its series would mean something
    else."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Façades rue Jean Jaurès"}]}
    )

    name: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    geometry: Geometry | None = None

    _no_null = refuse_null("name", "latitude", "longitude", code="site.null_not_allowed")


class SitePublic(BaseModel):
    """A survey site. Seen by its owner (and their class) and by ecologists and admins only: a
    garden is someone's home."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_SITE]})

    id: uuid.UUID
    client_id: uuid.UUID
    kind: SiteKind
    name: str
    latitude: float
    longitude: float
    geometry: dict[str, Any] | None
    zone_id: uuid.UUID | None
    owner_id: uuid.UUID
    class_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    deleted: bool = Field(
        default=False,
        description="True for a deleted site; only listed with `updated_since`.",
    )


class SitePage(BaseModel):
    items: list[SitePublic]
    next_cursor: str | None = None


def geometry_text(geometry: dict[str, Any] | None) -> str | None:
    return None if geometry is None else json.dumps(geometry, separators=(",", ":"))


# --- visits ----------------------------------------------------------------------------------


class Weather(BaseModel):
    """The weather of a butterfly count, as the French schemes record it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"temperature_c": 24, "wind": "leger", "cloud_pct": 20}]},
    )

    temperature_c: (
        Annotated[float, Field(ge=-30, le=50, allow_inf_nan=False), JSON_NUMBER] | None
    ) = None
    wind: Wind | None = Field(
        default=None, description="`nul`, `leger`, `modere` or `fort` (Beaufort 0, 1–3, 4–5, 6+)."
    )
    cloud_pct: (
        Annotated[int, Field(ge=0, le=100, description="Cloud cover, %."), JSON_NUMBER] | None
    ) = None


class VisitCountIn(BaseModel):
    """One species' figures: at a nest site `occupied`, `unoccupied`, `destroyed` (nests) and
    `artificial` (true for nest boxes; a species may be listed once natural and once
    artificial); at a garden or transect `count`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"cd_nom": 459478, "occupied": 5, "unoccupied": 2, "destroyed": 0},
                {"cd_nom": 608364, "count": 4},
            ]
        },
    )

    species_id: uuid.UUID | None = None
    cd_nom: CdNom | None = None
    count: Count | None = None
    occupied: Nests | None = None
    unoccupied: Nests | None = None
    destroyed: Nests | None = None
    artificial: bool | None = None

    @model_validator(mode="after")
    def _names_a_species(self) -> VisitCountIn:
        if self.species_id is None and self.cd_nom is None:
            raise PydanticCustomError(
                "visit.species_required", "Give the species as `species_id` or `cd_nom`."
            )
        return self


Counts = Annotated[
    list[VisitCountIn],
    Field(
        max_length=MAX_COUNTS_PER_VISIT,
        description=f"At most {MAX_COUNTS_PER_VISIT} entries; one per species (per species and "
        "`artificial` at a nest site).",
    ),
]
DurationMin = Annotated[int, Field(ge=1, le=MAX_DURATION_MIN, examples=[30]), JSON_NUMBER]
Observers = Annotated[
    int, Field(ge=1, le=MAX_OBSERVERS, description="Number of observers."), JSON_NUMBER
]


class VisitCreate(BaseModel):
    """A visit as the phone records it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_VISIT_CREATE, EXAMPLE_GARDEN_VISIT]},
    )

    client_id: uuid.UUID = Field(
        description="Made on the phone (UUID v4); sending it again never makes a duplicate.",
        examples=[EXAMPLE_VISIT_CLIENT_ID],
    )
    started_at: StartedAt
    duration_min: DurationMin
    observers: Observers = 1
    complete: bool = Field(
        default=False,
        description="Every target species was counted: one not listed was absent (a zero).",
    )
    weather: Weather | None = None
    notes: Notes | None = None
    counts: Counts = Field(default_factory=list)


class VisitBatchItem(VisitCreate):
    """A visit of a batch: names its site by `site_id`, or by `site_client_id` (the
    `client_id` of one of the caller's own sites, synced before or in the same go)."""

    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID | None = None
    site_client_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _names_a_site(self) -> VisitBatchItem:
        if self.site_id is None and self.site_client_id is None:
            raise PydanticCustomError(
                "visit.site_required", "Give the site as `site_id` or `site_client_id`."
            )
        return self


_VISIT_NOT_NULLABLE = ("started_at", "duration_min", "observers", "complete", "counts")


class VisitUpdate(BaseModel):
    """Any subset of the fields of a creation except `client_id`; `counts`, when given,
    replaces the visit's counts; `weather` and `notes` may be set to null."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"duration_min": 45, "observers": 3}]}
    )

    started_at: StartedAt | None = None
    duration_min: DurationMin | None = None
    observers: Observers | None = None
    complete: bool | None = None
    weather: Weather | None = None
    notes: Notes | None = None
    counts: Counts | None = None

    _no_null = refuse_null(*_VISIT_NOT_NULLABLE, code="visit.null_not_allowed")


class VisitCountPublic(BaseModel):
    species_id: uuid.UUID
    cd_nom: int
    count: int | None = Field(description="At a garden or transect; null at a nest site.")
    occupied: int | None = Field(description="At a nest site; null elsewhere.")
    unoccupied: int | None
    destroyed: int | None
    artificial: bool | None = Field(description="At a nest site: true for nest boxes.")


class VisitPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968",
                    "client_id": EXAMPLE_VISIT_CLIENT_ID,
                    "site_id": EXAMPLE_SITE_ID,
                    "observer_id": "c2d4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f",
                    "started_at": "2026-05-16T07:30:00Z",
                    "duration_min": 30,
                    "observers": 2,
                    "complete": True,
                    "weather": None,
                    "notes": "deux nids refaits sous le balcon du 18",
                    "counts": [
                        {
                            "species_id": EXAMPLE_SPECIES_ID,
                            "cd_nom": 459478,
                            "count": None,
                            "occupied": 5,
                            "unoccupied": 2,
                            "destroyed": 0,
                            "artificial": False,
                        }
                    ],
                    "status": "pending",
                    "flags": [],
                    "created_at": "2026-05-16T08:05:00Z",
                    "updated_at": "2026-05-16T08:05:00Z",
                    "deleted": False,
                }
            ]
        }
    )

    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID
    observer_id: uuid.UUID
    started_at: datetime
    duration_min: int
    observers: int
    complete: bool
    weather: Weather | None
    notes: str | None
    counts: list[VisitCountPublic]
    status: ObservationStatus
    flags: list[VisitFlag] = Field(
        description="`out_of_season`: a nest visit outside April–August or a butterfly count "
        "outside March–October (local time). Stored anyway, for the ecologists to look at."
    )
    created_at: datetime
    updated_at: datetime
    deleted: bool = Field(
        default=False, description="True for a deleted visit; only listed with `updated_since`."
    )


class VisitPage(BaseModel):
    items: list[VisitPublic]
    next_cursor: str | None = None


VisitBatchEntry = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/VisitBatchItem"})]


class VisitBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"visits": [{**EXAMPLE_VISIT_CREATE, "site_client_id": EXAMPLE_SITE_CLIENT_ID}]}
            ]
        },
    )

    visits: list[VisitBatchEntry] = Field(
        max_length=MAX_BATCH,
        description=f"At most {MAX_BATCH} visits, each as for `POST /sites/{{id}}/visits` plus "
        "`site_id` or `site_client_id`.",
    )


# --- yearly values ---------------------------------------------------------------------------


class YearlyItem(BaseModel):
    year: int
    species_id: uuid.UUID
    cd_nom: int
    value: int = Field(
        description="Nest sites: the year's largest number of occupied nests. Gardens and "
        "transects: the sum over months of each month's largest count."
    )
    unit: str = Field(description="`nests` or `individuals`.")
    visits: int = Field(description="Visits of that year at the site.")


class YearlyResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "year": 2026,
                            "species_id": EXAMPLE_SPECIES_ID,
                            "cd_nom": 459478,
                            "value": 7,
                            "unit": "nests",
                            "visits": 3,
                        }
                    ]
                }
            ]
        }
    )

    items: list[YearlyItem]
