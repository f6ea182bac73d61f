"""Writing and reading the audit trail.

Services call :func:`record` in the same unit of work as the change itself, so that a change and
its trace are committed (or rolled back) together. Values are kept as JSON: datetimes as RFC 3339
text, UUIDs as text, enums as their value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, SQLModel, col, select

from app.audit.models import AuditAction, AuditEntity, AuditEvent
from app.core.db import utcnow
from app.core.pagination import decode_position, encode_position

_ORDER = "a"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def snapshot(row: SQLModel, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON values of ``fields`` of ``row``: what :func:`diff` compares."""
    return {name: _json_value(getattr(row, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for the fields whose value changed."""
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def record(
    session: Session,
    *,
    actor_id: uuid.UUID | None,
    entity: AuditEntity,
    entity_id: uuid.UUID,
    action: AuditAction,
    changes: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Adds one event to the trail (flushed with the caller's unit of work)."""
    event = AuditEvent(
        at=at or utcnow(),
        actor_id=actor_id,
        entity=entity.value,
        entity_id=entity_id,
        action=action.value,
        changes=_json_value(dict(changes or {})),
    )
    session.add(event)
    return event


def record_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Adds many events at once (a bulk review): one multi-row INSERT of ready rows (``id``,
    ``at``, ``actor_id``, ``entity``, ``entity_id``, ``action``, ``changes``), built as plain
    dicts because 500 model instances would cost more than the INSERT."""
    if rows:
        session.connection().execute(AuditEvent.__table__.insert(), list(rows))  # type: ignore[attr-defined]


def list_events(
    session: Session,
    *,
    entity: AuditEntity | None,
    entity_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEvent], str | None]:
    """Newest first, by ``(at, id)`` descending."""
    clauses = []
    if entity is not None:
        clauses.append(col(AuditEvent.entity) == entity.value)
    if entity_id is not None:
        clauses.append(col(AuditEvent.entity_id) == entity_id)
    if actor_id is not None:
        clauses.append(col(AuditEvent.actor_id) == actor_id)
    if since is not None:
        clauses.append(col(AuditEvent.at) >= since)
    at_column, id_column = col(AuditEvent.at), col(AuditEvent.id)
    if cursor is not None:
        at, last_id = decode_position(cursor, kind=_ORDER)
        clauses.append(or_(at_column < at, and_(at_column == at, id_column < last_id)))
    statement = (
        select(AuditEvent)
        .where(*clauses)
        .order_by(at_column.desc(), id_column.desc())
        .limit(limit + 1)
    )
    rows = list(session.exec(statement).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_position(_ORDER, rows[-1].at, rows[-1].id)
    return rows, next_cursor
