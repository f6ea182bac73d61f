"""Cursor pagination: ``?limit=`` and an opaque ``?cursor=``, answered as ``{items, next_cursor}``.

A cursor is the sort key of the last item sent, base64url-encoded JSON. Keyset pagination keeps
pages stable while rows are added and costs the same on page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.core.errors import FieldError, Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})."),
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`."),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, length: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor``, or a 422 naming the ``cursor`` field."""
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
