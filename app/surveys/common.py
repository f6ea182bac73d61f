"""What the survey modules share: a model's table for bulk inserts, the 422 of a list of field
errors, a batch item's parsing, and how sites and visits are listed (``records.listing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, inspect

from app.core.errors import FieldError, Unprocessable, validation_errors
from app.core.validation import item_errors
from app.records.listing import Listing
from app.surveys.models import Site, Visit


def table_of(model: type) -> Table:
    table: Any = inspect(model).local_table
    assert isinstance(table, Table)
    return table


# Newest first (sites by creation, visits by their start), or oldest change first for sync; the
# cursor kinds of earlier versions, shared by both lists as they always were.
SITES = Listing(Site, own_time="created_at", newest_first="s", changes="c")
VISITS = Listing(Visit, own_time="started_at", newest_first="s", changes="c")


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
