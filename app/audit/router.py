"""The audit trail over HTTP: read-only, for ecologists and admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.dependencies import EcologistUser
from app.audit import service
from app.audit.models import AuditEntity
from app.audit.schemas import AuditEventPublic, AuditPage
from app.core.deps import SessionDep
from app.core.errors import problem_doc
from app.core.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    UpdatedSinceQuery,
    parse_updated_since,
)

router = APIRouter(prefix="/audit", tags=["review"])


@router.get(
    "",
    response_model=AuditPage,
    summary="Read the audit trail",
    description="Every change to observations, visits, sites, species, zones, baselines and "
    "accounts' anonymisation: who, when, and each field's value before and after. Newest "
    "first. Ecologists and admins only; nothing in the API changes or deletes it.",
    responses={
        401: problem_doc("No valid access token."),
        403: problem_doc("Not an ecologist or admin."),
        422: problem_doc("Invalid filter or cursor."),
    },
)
def list_audit_events(
    session: SessionDep,
    _staff: EcologistUser,
    entity: Annotated[AuditEntity | None, Query()] = None,
    entity_id: Annotated[uuid.UUID | None, Query()] = None,
    actor_id: Annotated[uuid.UUID | None, Query()] = None,
    since: Annotated[
        UpdatedSinceQuery, Query(description="Only changes at or after this time (RFC 3339).")
    ] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> AuditPage:
    events, next_cursor = service.list_events(
        session,
        entity=entity,
        entity_id=entity_id,
        actor_id=actor_id,
        since=parse_updated_since(since, field="since") if since is not None else None,
        limit=limit,
        cursor=cursor,
    )
    return AuditPage(
        items=[AuditEventPublic.model_validate(e, from_attributes=True) for e in events],
        next_cursor=next_cursor,
    )
