"""What the personal-data endpoints read and answer.

The export reuses the shapes the API already answers (an observation as its observer sees it, a
site, a visit), so that a participant recognises their data and a tool that reads the API reads
the export too. Reviews are the exception: who reviewed is the CPIE's business, so a decision
says "CPIE" and nothing of the ecologist behind it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.accounts.schemas import PASSWORD_MAX_LENGTH
from app.audit.models import AuditAction, AuditEntity
from app.core.vocabulary import PhotoLicence, Role
from app.media.schemas import EXAMPLE_PHOTO
from app.observations.schemas import EXAMPLE_OBSERVATION, ObservationPublic
from app.records.models import Decision, ReviewTarget
from app.surveys.schemas import EXAMPLE_SITE, EXAMPLE_SITE_ID, SitePublic, VisitPublic

REVIEWER: Final = "CPIE"

EXAMPLE_USER_ID = "c2d4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f"
EXAMPLE_VISIT_ID = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968"
EXAMPLE_EXPORT: dict[str, Any] = {
    "exported_at": "2026-06-01T18:30:00Z",
    "account": {
        "id": EXAMPLE_USER_ID,
        "email": "camille.durand@example.org",
        "display_name": "Camille",
        "role": "sentinel",
        "photo_licence": "CC-BY-4.0",
        "credit_by_name": False,
        "created_at": "2026-04-01T17:02:00Z",
        "updated_at": "2026-04-12T05:50:00Z",
    },
    "observations": [
        {
            **EXAMPLE_OBSERVATION,
            "status": "validated",
            "photos": [EXAMPLE_PHOTO],
        }
    ],
    "sites": [EXAMPLE_SITE],
    "visits": [
        {
            "id": EXAMPLE_VISIT_ID,
            "client_id": "4a8d2c6e-1b3f-4e5a-9c7d-8e6f5a4b3c21",
            "site_id": EXAMPLE_SITE_ID,
            "observer_id": EXAMPLE_USER_ID,
            "started_at": "2026-05-16T07:30:00Z",
            "duration_min": 30,
            "observers": 2,
            "complete": True,
            "weather": None,
            "notes": "deux nids refaits sous le balcon du 18",
            "counts": [
                {
                    "species_id": "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90",
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
    ],
    "review_decisions": [
        {
            "target": "observation",
            "target_id": EXAMPLE_OBSERVATION["id"],
            "decision": "validated",
            "comment": "Belle observation, merci !",
            "reviewer": REVIEWER,
            "created_at": "2026-04-14T09:12:44Z",
        }
    ],
    "audit_events": [
        {
            "at": "2026-04-12T05:46:10Z",
            "entity": "observation",
            "entity_id": EXAMPLE_OBSERVATION["id"],
            "action": "create",
        }
    ],
}


class AccountExport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    photo_licence: PhotoLicence
    credit_by_name: bool = Field(
        default=False, description="Whether the published open data credits them by name."
    )
    created_at: datetime
    updated_at: datetime


class ReviewDecisionExport(BaseModel):
    """A decision of the CPIE about one of the participant's observations or visits."""

    target: ReviewTarget
    target_id: uuid.UUID = Field(description="The observation's or the visit's id.")
    decision: Decision
    comment: str | None
    reviewer: Literal["CPIE"] = Field(
        default=REVIEWER, description="Always the CPIE: which ecologist decided is not exported."
    )
    created_at: datetime


class AuditEventExport(BaseModel):
    """A change the participant made, as the audit trail recorded it (without the values)."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    entity: AuditEntity
    entity_id: uuid.UUID
    action: AuditAction


class PersonalDataExport(BaseModel):
    """Everything the service holds about the signed-in participant, in one document."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_EXPORT]})

    exported_at: datetime
    account: AccountExport
    observations: list[ObservationPublic] = Field(
        description="Every observation not deleted, oldest first, with its exact position and "
        "its photos (each with what its EXIF said)."
    )
    sites: list[SitePublic] = Field(description="The sites the participant registered.")
    visits: list[VisitPublic] = Field(description="The visits the participant made, with counts.")
    review_decisions: list[ReviewDecisionExport] = Field(
        description="The CPIE's decisions and comments on those observations and visits."
    )
    audit_events: list[AuditEventExport] = Field(
        description="The changes the audit trail records the participant as having made."
    )


class AccountDeletion(BaseModel):
    """The password again: deleting an account cannot be undone, so a borrowed phone or a
    stolen access token must not be enough."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"password": "hirondelles-2026"}]}
    )

    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
