"""Numbers of request bodies: JSON numbers, and nothing that merely converts to one.

Pydantic's lax mode reads ``true`` as 1 and ``"50.4"`` as 50.4: a sighting sent with
``latitude: true`` was stored in the Gulf of Guinea. Every numeric field of every request body is
declared with one of these types, which refuse booleans and strings before the usual validation
(bounds, integer-valued floats for integers) runs. Query parameters arrive as text and keep the
framework's own parsing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def json_number(value: Any) -> Any:
    """Let JSON numbers (and null, for optional fields) through; refuse ``true`` and ``"1"``."""
    if isinstance(value, bool) or not isinstance(value, int | float | None):
        raise PydanticCustomError("number_type", "Input should be a number")
    return value


JSON_NUMBER = BeforeValidator(json_number)
"""Put it last in an ``Annotated[int | float, Field(...), JSON_NUMBER]``: after the bounds, so
that they stay ``minimum``/``maximum`` in the JSON Schema (before them, Pydantic cannot
express them there)."""

JsonFloat = Annotated[float, JSON_NUMBER]
"""A JSON number (an integer is fine) as a float."""

JsonInt = Annotated[int, JSON_NUMBER]
"""A JSON number with no fractional part, as an int."""
