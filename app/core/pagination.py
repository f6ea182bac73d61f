"""Cursor pagination: ``?limit=`` and an opaque ``?cursor=``, answered as ``{items, next_cursor}``.

A cursor is the sort key of the last item sent, base64url-encoded JSON. Keyset pagination keeps
pages stable while rows are added and costs the same on page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from app.core.errors import FieldError, Unprocessable, validation_errors

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})."),
]
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"
"""The alphabet of ``encode_cursor``: URL-safe base64 without padding."""

CursorQuery = Annotated[
    str | None,
    Query(
        max_length=512,
        description="Opaque cursor from the previous page's `next_cursor`.",
        # Stated for clients and fuzzers; decode_cursor checks it with its own code.
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, length: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor``, or a 422 naming the ``cursor`` field."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise invalid_cursor()  # base64 decoding would drop the foreign characters silently
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise invalid_cursor()
    return values


def invalid_cursor() -> Unprocessable:
    """The 422 for a cursor this service did not give out (or that was damaged on the way)."""
    return Unprocessable(
        "The cursor is not one this service gave out for this list.",
        code="request.invalid_cursor",
        errors=[
            FieldError(
                field="cursor", message="Unknown or damaged cursor.", code="request.invalid_cursor"
            )
        ],
    )


def encode_position(kind: str, at: datetime, id_: uuid.UUID) -> str:
    """A cursor after the row ``(at, id_)`` of a list sorted by a time then the id; ``kind``
    names the order, so that a cursor of one order is refused by the other."""
    return encode_cursor([kind, at.isoformat(), id_.hex])


def decode_position(cursor: str, *, kind: str) -> tuple[datetime, uuid.UUID]:
    """The ``(at, id)`` of a cursor made by :func:`encode_position` for the order ``kind``."""
    values = decode_cursor(cursor, length=3)
    try:
        if values[0] != kind or not isinstance(values[1], str) or not isinstance(values[2], str):
            raise ValueError(cursor)
        at = datetime.fromisoformat(values[1])
        if at.tzinfo is None:
            raise ValueError(cursor)
        return at.astimezone(UTC), uuid.UUID(hex=values[2])
    except (ValueError, OverflowError):
        raise invalid_cursor() from None


_aware_datetime = TypeAdapter(AwareDatetime)


def parse_updated_since(raw: str, *, field: str = "updated_since") -> datetime:
    """An RFC 3339 time with an offset, or a 422 naming ``field``. A ``+`` left
    unescaped in a URL arrives as a space (``...T07:45:00 02:00``); it is read as the ``+``
    it was."""
    text = raw.strip()
    if len(text) > 6 and text[-6] == " " and text[-3] == ":":
        text = text[:-6] + "+" + text[-5:]
    try:
        # In UTC, as stored: a time at the ends of the calendar with an offset has no UTC
        # equivalent and is refused here rather than overflowing in the database.
        return _aware_datetime.validate_python(text).astimezone(UTC)
    except (ValidationError, OverflowError) as exc:
        errors = (
            validation_errors(exc.errors(include_url=False, include_input=False))
            if isinstance(exc, ValidationError)
            else []
        )
        message = errors[0].message if errors else "Not an RFC 3339 time with an offset."
        code = "request.invalid_datetime"
        raise Unprocessable(
            f"{field}: {message}",
            code=code,
            errors=[FieldError(field=field, message=message, code=code)],
        ) from None


UpdatedSinceQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="RFC 3339 time with an offset: what changed at or after it, deletions "
        "included, oldest change first.",
        examples=["2026-04-12T07:45:00+02:00"],
        json_schema_extra={"format": "date-time"},
    ),
]
