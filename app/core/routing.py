"""Routing details that keep the answers and the OpenAPI document truthful.

- ``{name:id}``: a path segment that is an id, never one of the literal names that sit beside
  ids in the API (``/observations/batch``, ``/visits/batch``, ``/zones/import``,
  ``/baselines/import``). Without it,
  ``PATCH /observations/batch`` reached ``PATCH /observations/{observation_id}`` and answered a
  422 about the id instead of a 405. Malformed ids still reach the route and get its 422.
- ``allowed_methods``: Starlette's 405 lists the methods of the first route that matched the
  path only (``PUT /observations`` said ``Allow: POST``, not ``GET, POST``); the error handler
  lists those of every route of the path instead.
- ``add_schemas``: models the document refers to by hand (a batch item is validated one by
  one, so the route's body is typed ``Any`` with a ``$ref``) are added to its components, and
  ``null`` is taken out of the fields that refuse it (``app.core.patching``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.routing import Match
from starlette.types import Scope

from app.core.patching import not_null_in_document

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
LITERAL_SEGMENTS = ("batch", "import")


class IdConvertor(StringConvertor):
    regex = "(?!(?:" + "|".join(LITERAL_SEGMENTS) + ")$)[^/]+"


register_url_convertor("id", IdConvertor())


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path, for a 405's ``Allow``.

    Each method is tried against the routes as the router itself would match it (included
    routers answer ``matches`` for their own routes), so nothing here depends on how the
    framework keeps its routes.
    """
    return [
        method
        for method in METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


def add_schemas(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Put ``models`` (and the models they use) in the document's components."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault(model.__name__, schema)
        not_null_in_document(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
