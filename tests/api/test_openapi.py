"""The OpenAPI document is what the phone app and the CPIE's tools are generated from: every
operation must say what it does, and every JSON body must come with an example."""

from __future__ import annotations

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
