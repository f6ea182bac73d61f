"""What ecologists send and read while reviewing: decisions, the queue, the flags."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.media.schemas import PhotoPublic
from app.observations.models import CountUnit, ObservationStatus
from app.observations.schemas import MAX_BATCH, MAX_NOTES, check_text
from app.records.models import Decision, ReviewTarget
from app.records.schemas import ReviewPublic
from app.surveys.schemas import VisitPublic
from app.surveys.yearly import SiteKind

Comment = Annotated[
    str,
    Field(
        max_length=MAX_NOTES,
        description="Read by the observer: say what is missing or why.",
        examples=[
            "Une photo du dessous des ailes permettrait de trancher avec la Piéride du Navet."
        ],
    ),
    AfterValidator(check_text),
]


class ReviewRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "validated"},
                {
                    "decision": "needs_info",
                    "comment": "Une photo du dessous des ailes permettrait de trancher.",
                },
            ]
        },
    )

    decision: Decision
    comment: Comment | None = None


class BulkReviewRequest(BaseModel):
    """One decision for many records of the same kind, all or nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "target": "observation",
                    "ids": [
                        "9a1e3c55-2f4b-4d7a-8e6c-1b2a3c4d5e6f",
                        "4b2d6f80-1a3c-4e5f-8a7b-9c0d1e2f3a4b",
                    ],
                    "decision": "validated",
                }
            ]
        },
    )

    target: ReviewTarget = ReviewTarget.observation
    ids: list[uuid.UUID] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"At most {MAX_BATCH} ids."
    )
    decision: Decision
    comment: Comment | None = None


class BulkReviewItem(BaseModel):
    id: uuid.UUID
    status: ObservationStatus


class BulkReviewResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reviewed": 1,
                    "items": [
                        {"id": "9a1e3c55-2f4b-4d7a-8e6c-1b2a3c4d5e6f", "status": "validated"}
                    ],
                }
            ]
        }
    )

    reviewed: int
    items: list[BulkReviewItem]


class FlagPublic(BaseModel):
    code: str = Field(examples=["out_of_season"])
    label: str = Field(examples=["Hors saison"])
    explanation: str


class SpeciesBrief(BaseModel):
    id: uuid.UUID
    cd_nom: int
    scientific_name: str
    vernacular_name: str | None
    group: str
    sensitive: bool


class ObserverBrief(BaseModel):
    id: uuid.UUID
    display_name: str


class ObservationQueueItem(BaseModel):
    """An observation awaiting review, with what the ecologist needs to decide at a glance."""

    id: uuid.UUID
    species: SpeciesBrief
    observed_at: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None
    count: int
    count_unit: CountUnit
    notes: str | None
    zone_id: uuid.UUID | None
    status: ObservationStatus
    observer: ObserverBrief
    photos: list[PhotoPublic]
    flags: list[FlagPublic]
    reviews: list[ReviewPublic]
    created_at: datetime
    updated_at: datetime


class ObservationQueuePage(BaseModel):
    items: list[ObservationQueueItem]
    next_cursor: str | None = None


class SiteBrief(BaseModel):
    id: uuid.UUID
    kind: SiteKind
    name: str
    latitude: float
    longitude: float
    zone_id: uuid.UUID | None


class VisitQueueItem(BaseModel):
    visit: VisitPublic
    site: SiteBrief
    observer: ObserverBrief
    flags: list[FlagPublic]
    reviews: list[ReviewPublic]


class VisitQueuePage(BaseModel):
    items: list[VisitQueueItem]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """The queue's filters; every one optional."""

    status: ObservationStatus | None = None
    species_id: uuid.UUID | None = None
    group: str | None = None
    zone_id: uuid.UUID | None = None
    observed_from: date | None = None
    observed_to: date | None = None
    observer_id: uuid.UUID | None = None
    has_photo: bool | None = None
    flag: str | None = None
