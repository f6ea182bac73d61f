"""Numbers of request bodies are JSON numbers: ``true`` or ``"50.4"`` is a 422 naming the field.

Lax parsing stored ``latitude: true, longitude: false, count: true`` as 1.0 / 0.0 / 1. The rule
is checked on every numeric field of every JSON body's documented example, through HTTP.
"""

from __future__ import annotations

import copy
import functools
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.errors import field_path
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.main import create_app
from app.observations.models import Observation
from tests.api.test_request_text import count
from tests.factories import auth_headers, create_user


@functools.cache
def _document() -> dict[str, Any]:
    app: FastAPI = create_app(Settings(environment="test", database_url="sqlite:///:memory:"))
    return app.openapi()


def numbers(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where the numbers of a JSON value are."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, (*loc, index))


def replaced(value: Any, loc: tuple[str | int, ...], new: Any) -> Any:
    out = copy.deepcopy(value)
    target = out
    for part in loc[:-1]:
        target = target[part]
    target[loc[-1]] = new
    return out


def cases() -> Iterator[Any]:
    document = _document()
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            for example in schema.get("examples", []):
                for loc in numbers(example):
                    if "coordinates" in loc:
                        continue  # GeoJSON geometry: checked by its own validator, below
                    yield pytest.param(
                        method.upper(), path, example, loc, id=f"{method} {path} {field_path(loc)}"
                    )


@pytest.mark.parametrize(("method", "path", "example", "loc"), list(cases()))
@pytest.mark.parametrize("bad", [True, "1"])
def test_a_boolean_or_a_string_is_not_a_number(
    client: TestClient,
    session: Session,
    settings: Settings,
    method: str,
    path: str,
    example: Any,
    loc: tuple[str | int, ...],
    bad: Any,
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    headers = auth_headers(admin, settings)
    ids = resources(client, headers) if "{" in path else {}
    url = re.sub(r"\{([^}]+)\}", lambda m: ids.get(m[1], str(uuid.uuid4())), path)
    body = replaced(example, loc, bad)
    r = client.request(method, url.removeprefix("/api/v1"), json=body, headers=headers)
    if r.status_code == 200 and "results" in r.json():
        # A batch refuses the item, with the field named within it, and keeps the others.
        (result,) = [x for x in r.json()["results"] if x["status"] == "rejected"]
        assert field_path(("body", *loc[2:])) in [e["field"] for e in result["errors"]]
        return
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field_path(("body", *loc)) in [e["field"] for e in r.json()["errors"]]


def resources(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """A site, a visit and an observation of the caller, made from the documented examples."""
    schemas = _document()["components"]["schemas"]

    def example(name: str) -> dict[str, Any]:
        return copy.deepcopy(schemas[name]["examples"][0])

    site = client.post("/sites", json=example("SiteCreate"), headers=headers)
    assert site.status_code == 201, site.text
    site_id = site.json()["id"]
    visit = client.post(f"/sites/{site_id}/visits", json=example("VisitCreate"), headers=headers)
    assert visit.status_code == 201, visit.text
    observation = client.post("/observations", json=example("ObservationCreate"), headers=headers)
    assert observation.status_code == 201, observation.text
    return {
        "site_id": site_id,
        "visit_id": visit.json()["id"],
        "observation_id": observation.json()["id"],
    }


def test_a_sighting_with_boolean_coordinates_is_not_stored(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sentinel = create_user(session, settings)
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": 3696,
        "observed_at": "2026-04-12T07:45:00+02:00",
        "latitude": True,
        "longitude": False,
        "count": True,
    }
    r = client.post("/observations", json=body, headers=auth_headers(sentinel, settings))
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"latitude", "longitude", "count"}
    assert count(session, Observation) == 0
