"""The OpenAPI document is what the phone app and the CPIE's tools are generated from: every
operation must say what it does, and every JSON body must come with an example."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.main import create_app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app: FastAPI = create_app(Settings(environment="test", database_url="sqlite:///:memory:"))
    return app.openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def test_every_operation_has_a_summary(document: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, op in _operations(document) if not op.get("summary")]
    assert missing == []


def test_every_json_body_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = _schema(document, content["application/json"]["schema"])
        if not (schema.get("examples") or schema.get("example")):
            missing.append(f"{method} {path}")
    assert missing == []


def test_the_survey_answers_carry_examples(document: dict[str, Any]) -> None:
    for name in ("SitePublic", "VisitPublic", "YearlyResponse", "SiteCreate", "VisitCreate"):
        assert document["components"]["schemas"][name].get("examples"), name


def test_errors_are_documented_as_problem_details(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        statuses = set(operation["responses"])
        assert "4XX" in statuses, f"{method} {path}"


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    """A generated client fails on a dangling reference (``VisitBatchItem`` was one)."""
    text = json.dumps(document)
    names = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert names - set(document["components"]["schemas"]) == set()


def test_cursor_and_bbox_state_their_patterns(document: dict[str, Any]) -> None:
    """A fuzzer or a generated client must know what the server refuses."""
    missing = [
        f"{method} {path} {parameter['name']}"
        for method, path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["name"] in ("cursor", "bbox") and "pattern" not in parameter["schema"]
    ]
    assert missing == []


def test_fields_that_refuse_null_do_not_offer_it(document: dict[str, Any]) -> None:
    """A PATCH field that may be left out but not set to null says so: no ``null`` branch."""
    properties = document["components"]["schemas"]["ObservationUpdate"]["properties"]
    for field in ("count", "latitude", "observed_at", "species_id"):
        assert "null" not in json.dumps(properties[field]), field
    assert {"type": "null"} in properties["notes"]["anyOf"]  # notes may be erased
    user = document["components"]["schemas"]["UserUpdate"]["properties"]
    assert "null" not in json.dumps(user["display_name"])
