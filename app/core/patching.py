"""What every PATCH body shares: fields that may be left out but not set to null.

A PATCH names only what changes; ``null`` for a required field would be a request to erase it,
which no such field allows. Each domain refuses it with its own code (``site.null_not_allowed``)
so that the phone can translate the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError


def refuse_null(*fields: str, code: str) -> Any:
    """A before-validator for ``fields`` that refuses ``null`` with ``code``; assign it in the
    model's body (``_no_null = refuse_null("name", code="site.null_not_allowed")``)."""

    def check(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(code, "This field may be left out, not set to null.")
        return value

    check.refuses_null = True  # type: ignore[attr-defined]  # read by not_null_in_document
    validator: Callable[[Any], Any] = check
    return field_validator(*fields, mode="before")(validator)


def refused_nulls(model: type[BaseModel]) -> set[str]:
    """The fields of ``model`` that ``refuse_null`` guards."""
    fields: set[str] = set()
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if getattr(decorator.func, "refuses_null", False):
            fields.update(decorator.info.fields)
    return fields


def not_null_in_document(document: dict[str, Any]) -> None:
    """Take ``null`` out of the schema of every field that ``refuse_null`` guards.

    The type of such a field is ``X | None`` so that it may be left out of a partial update;
    the document must still say that ``null`` is refused, or a generated client and a fuzzer
    send it.
    """
    components = document.get("components", {}).get("schemas", {})
    for model in _models(BaseModel):
        fields = refused_nulls(model)
        if not fields:
            continue
        for name in (model.__name__, f"{model.__name__}-Input"):
            properties = components.get(name, {}).get("properties", {})
            for field in fields & set(properties):
                _drop_null(properties[field])


def _drop_null(schema: dict[str, Any]) -> None:
    branches = schema.get("anyOf")
    if not branches:
        return
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) == 1:
        del schema["anyOf"]
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept
    if schema.get("default", ...) is None:
        del schema["default"]


def _models(base: type[BaseModel]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for sub in base.__subclasses__():
        found.append(sub)
        found.extend(_models(sub))
    return found
