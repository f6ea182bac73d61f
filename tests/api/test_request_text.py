"""Text a database cannot store (NUL, lone UTF-16 surrogates) is refused at the edge.

PostgreSQL refused it with a 500 and a dropped connection, SQLite stored it: one rule
(app.core.validation) now answers 422 naming the field for every query, form and JSON body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlmodel import Session

from app.accounts.models import User
from app.classes.models import SchoolClass
from app.core.deps import SessionDep
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.zones.models import Zone
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user
from tests.observations.test_observations import payload

NUL = "\u0000"
SURROGATE = "\ud800"


def raw_json(value: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A JSON body with its escapes kept, as a client that sends a lone surrogate does."""
    return {
        "content": json.dumps(value, ensure_ascii=True),
        "headers": {**(headers or {}), "Content-Type": "application/json"},
    }


def assert_refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "request.unstorable_text"
    assert [e["field"] for e in body["errors"]] == [field]


def count(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one()[0])  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/species?q=hir%00", "q"),
        ("/zones?kind=%00", "kind"),
        ("/species?limit=5&q=%00ab", "q"),
    ],
)
def test_nul_in_a_public_query_is_422_naming_it(client: TestClient, path: str, field: str) -> None:
    assert_refused(client.get(path), field)
    # The connection (and on PostgreSQL the test's transaction) keeps working.
    assert client.get("/species?q=hir").status_code == 200


def test_nul_in_a_review_query_is_422(
    client: TestClient, session: Session, settings: Settings
) -> None:
    ecologist = create_user(session, settings, role=Role.ecologist)
    headers = auth_headers(ecologist, settings)
    for path in ("/review/observations?group=%00", "/review/visits?group=bird%00"):
        assert_refused(client.get(path, headers=headers), "group")
    assert client.get("/review/observations?group=bird", headers=headers).status_code == 200


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
@pytest.mark.parametrize("field", ["display_name", "invitation_code"])
def test_register_refuses_unstorable_text_and_stores_nothing(
    client: TestClient, session: Session, field: str, bad: str
) -> None:
    before = count(session, User)
    body = {"email": "camille@example.org", "password": "hirondelles-2026", "display_name": "C"}
    body[field] = f"Ca{bad}mille"
    assert_refused(client.post("/auth/register", **raw_json(body)), field)
    assert count(session, User) == before
    body.pop("invitation_code", None)
    body["display_name"] = "Camille"
    assert client.post("/auth/register", json=body).status_code == 201


def test_sign_in_form_refuses_a_nul(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    form = {"username": user.email + NUL, "password": DEFAULT_PASSWORD}
    assert_refused(client.post("/auth/token", data=form), "username")
    form["username"] = user.email
    assert client.post("/auth/token", data=form).status_code == 200


def test_profile_and_classes_refuse_a_nul(
    client: TestClient, session: Session, settings: Settings
) -> None:
    teacher = create_user(session, settings, role=Role.teacher, display_name="Mme Lefebvre")
    headers = auth_headers(teacher, settings)
    r = client.patch("/me", **raw_json({"display_name": f"A{SURROGATE}"}, headers))
    assert_refused(r, "display_name")
    session.refresh(teacher)
    assert teacher.display_name == "Mme Lefebvre"

    before = count(session, SchoolClass)
    for field in ("name", "school"):
        body = {"name": "CM1", "school": "École Basly", "school_year": "2025-2026"}
        body[field] += NUL
        r = client.post("/classes", headers=headers, json=body)
        assert_refused(r, field)
    assert count(session, SchoolClass) == before

    r = client.post("/classes/join", json={"join_code": "ABCD-1234", "pseudonym": f"Renard{NUL}"})
    assert_refused(r, "pseudonym")


def test_zone_import_names_the_feature(
    client: TestClient, session: Session, settings: Settings
) -> None:
    ecologist = create_user(session, settings, role=Role.ecologist)
    ring = [[2.78, 50.45], [2.79, 50.45], [2.79, 50.46], [2.78, 50.45]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": "X1", "name": f"Terril{NUL}", "kind": "slag_heap"},
    }
    body = {"type": "FeatureCollection", "features": [feature]}
    before = count(session, Zone)
    r = client.post("/zones/import", json=body, headers=auth_headers(ecologist, settings))
    assert_refused(r, "features[0].properties.name")
    assert count(session, Zone) == before


def test_escapes_that_decode_to_storable_text_pass(client: TestClient) -> None:
    """A pair of surrogate escapes is one character (an emoji), and an escaped backslash
    followed by ``u0000`` is six ordinary characters: both are fine."""
    body = {"email": "emoji@example.org", "password": "hirondelles-2026"}
    for name in ("Camille \U0001f426", "C:\\u0000"):
        r = client.post("/auth/register", **raw_json({**body, "display_name": name}))
        assert r.status_code == 201, r.text
        assert r.json()["display_name"] == name
        body["email"] = "emoji2@example.org"


def test_a_value_the_database_refuses_is_422_not_500(
    app: FastAPI, client: TestClient, backend: str
) -> None:
    """What escapes validation and is refused by the database (psycopg's ``DataError``) is the
    request's fault: a 422 problem+json, and the service keeps answering."""
    if backend != "postgresql":
        pytest.skip("SQLite converts what PostgreSQL refuses")

    @app.get("/api/v1/_refused")
    def refused(session: SessionDep) -> None:
        session.execute(text("SELECT CAST('not a number' AS integer)"))

    r = client.get("/_refused")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "request.unstorable_value"
    assert client.get("/species?q=hir").status_code == 200


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_a_batch_rejects_only_the_item_holding_unstorable_text(
    client: TestClient, session: Session, settings: Settings, bad: str
) -> None:
    """Valid items of a batch are stored even when others are rejected (the contract)."""
    sentinel = create_user(session, settings)
    good, spoilt = payload(), payload(notes=f"nid{bad}")
    before = count(session, Observation)
    r = client.post(
        "/observations/batch",
        **raw_json({"observations": [good, spoilt]}, auth_headers(sentinel, settings)),
    )
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["status"] == "created"
    assert second["status"] == "rejected"
    assert [(e["field"], e["code"]) for e in second["errors"]] == [
        ("notes", "request.unstorable_text")
    ]
    assert count(session, Observation) == before + 1
