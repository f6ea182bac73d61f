"""What every PATCH body shares: fields that may be left out but not set to null.

A PATCH names only what changes; ``null`` for a required field would be a request to erase it,
which no such field allows. Each domain refuses it with its own code (``site.null_not_allowed``)
so that the phone can translate the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import field_validator
from pydantic_core import PydanticCustomError


def refuse_null(*fields: str, code: str) -> Any:
    """A before-validator for ``fields`` that refuses ``null`` with ``code``; assign it in the
    model's body (``_no_null = refuse_null("name", code="site.null_not_allowed")``)."""

    def check(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(code, "This field may be left out, not set to null.")
        return value

    validator: Callable[[Any], Any] = check
    return field_validator(*fields, mode="before")(validator)
