"""The audit trail as ecologists and admins read it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.audit.models import AuditAction, AuditEntity

EXAMPLE_EVENT: dict[str, Any] = {
    "id": "6f1e2d3c-4b5a-4697-8877-66554433aa11",
    "at": "2026-05-02T09:12:44Z",
    "actor_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    "entity": "observation",
    "entity_id": "9a1e3c55-2f4b-4d7a-8e6c-1b2a3c4d5e6f",
    "action": "review",
    "changes": {"status": ["pending", "validated"]},
}


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_EVENT]})

    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None = Field(
        description="Who made the change; null for the command line or a deleted account."
    )
    entity: AuditEntity
    entity_id: uuid.UUID
    action: AuditAction
    changes: dict[str, Any] = Field(
        description='The fields changed, as `{"field": [before, after]}`; for a creation, '
        "`before` is null."
    )


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None = None
