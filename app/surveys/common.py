"""What the survey modules share: a model's table for bulk inserts, the 422 of a list of field
errors, a batch item's parsing, and keyset pagination (newest first, or oldest change first
for sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Table, and_, inspect, or_

from app.core.errors import FieldError, Unprocessable, validation_errors
from app.core.pagination import decode_position
from app.core.validation import item_errors


def table_of(model: type) -> Table:
    table: Any = inspect(model).local_table
    assert isinstance(table, Table)
    return table


_NEWEST_FIRST = "s"
_CHANGES = "c"


def raise_for(errors: list[FieldError]) -> None:
    if errors:
        raise Unprocessable(
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            code=errors[0].code,
            errors=errors,
        )


def parse_item(model: type[Any], item: Any) -> Any:
    """``item`` validated as ``model``, or the errors that refuse it (batch items)."""
    if not isinstance(item, Mapping):
        return [
            FieldError(
                field="body", message="Each item must be a JSON object.", code="visit.not_an_object"
            )
        ]
    if unstorable := item_errors(item):
        return unstorable
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        return validation_errors(exc.errors(include_url=False, include_input=False))


def keyset(
    clauses: list[ColumnElement[bool]],
    *,
    cursor: str | None,
    sync: bool,
    at_column: Any,
    id_column: Any,
) -> tuple[str, tuple[Any, Any]]:
    """Adds the cursor's condition to ``clauses``; the cursor kind and the ORDER BY."""
    kind = _CHANGES if sync else _NEWEST_FIRST
    if cursor is not None:
        at, last_id = decode_position(cursor, kind=kind)
        if sync:
            clauses.append(or_(at_column > at, and_(at_column == at, id_column > last_id)))
        else:
            clauses.append(or_(at_column < at, and_(at_column == at, id_column < last_id)))
    order = (at_column.asc(), id_column.asc()) if sync else (at_column.desc(), id_column.desc())
    return kind, order
