"""The audit trail: every change to the records the CPIE answers for, never edited.

One row per change: who (``actor_id``; null once that account is deleted, or for the command
line), when, what (``entity``, ``entity_id``), the action, and the fields changed as
``{"field": [before, after]}``. Rows are only ever inserted; the API has no route that changes
or deletes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class AuditEntity(StrEnum):
    observation = "observation"
    visit = "visit"
    site = "site"
    species = "species"
    zone = "zone"
    baseline = "baseline"
    user = "user"


class AuditAction(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"
    review = "review"
    anonymise = "anonymise"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity_entity_id_at", "entity", "entity_id", "at"),
        Index("ix_audit_event_at_id", "at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    entity: str = Field(max_length=16)
    entity_id: uuid.UUID
    action: str = Field(max_length=16)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
