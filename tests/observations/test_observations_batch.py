"""``POST /observations/batch``: a phone back online pushes what it recorded offline."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.models import Observation
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import (
    ATLANTIC,
    PEREGRINE,
    SWALLOW,
    count_rows,
    payload,
    species_by_cd_nom,
    zone_by_code,
)


def send(client: TestClient, user: User, settings: Settings, body: Any) -> Any:
    return client.post("/observations/batch", json=body, headers=auth_headers(user, settings))


def test_mixed_batch_answers_each_item_in_order(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    already = payload()
    first = client.post("/observations", json=already, headers=auth_headers(sentinel, settings))
    assert first.status_code == 201
    swallow = species_by_cd_nom(session, SWALLOW)

    good = payload(cd_nom=..., species_id=str(swallow.id), count=7)
    bad_latitude = payload(latitude=91)
    good_elsewhere = payload(cd_nom=PEREGRINE, latitude=ATLANTIC[0], longitude=ATLANTIC[1])
    unknown_species = payload(cd_nom=99999999)
    resent_changed = {**already, "count": 50}
    many_errors = payload(count=-1, notes="x" * 2001, colour="rouge")
    items = [good, bad_latitude, already, good_elsewhere, unknown_species, resent_changed,
             many_errors]  # fmt: skip

    r = send(client, sentinel, settings, {"observations": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "created", "rejected", "existing", "created", "rejected", "existing", "rejected",
    ]  # fmt: skip
    assert [x["client_id"] for x in results] == [i["client_id"] for i in items]
    for x in results:
        assert set(x) == {"client_id", "status", "id", "errors"}

    assert results[0]["errors"] == []
    assert results[2]["id"] == first.json()["id"]
    assert results[5]["id"] == first.json()["id"]
    assert results[1]["id"] is None
    assert [e["field"] for e in results[1]["errors"]] == ["latitude"]
    assert [e["field"] for e in results[4]["errors"]] == ["cd_nom"]
    assert results[4]["errors"][0]["code"] == "observation.unknown_species"
    assert {e["field"] for e in results[6]["errors"]} == {"count", "notes", "colour"}

    # What was created is stored as a single POST would have stored it.
    headers = auth_headers(sentinel, settings)
    stored = client.get(f"/observations/{results[0]['id']}", headers=headers).json()
    assert stored["count"] == 7
    assert stored["species_id"] == str(swallow.id)
    assert stored["cd_nom"] == SWALLOW
    assert stored["zone_id"] == str(zone_by_code(session, "62528").id)
    assert stored["status"] == "pending"
    assert stored["observed_at"] in ("2026-04-12T05:45:00Z", "2026-04-12T05:45:00+00:00")
    elsewhere = client.get(f"/observations/{results[3]['id']}", headers=headers).json()
    assert elsewhere["zone_id"] is None
    assert elsewhere["cd_nom"] == PEREGRINE
    unchanged = client.get(f"/observations/{first.json()['id']}", headers=headers).json()
    assert unchanged["count"] == already["count"]
    assert count_rows(session, observer_id=sentinel.id) == 3


def test_sensitive_batch_item_gets_its_public_position(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    r = send(client, sentinel, settings, {"observations": [payload(cd_nom=PEREGRINE)]})
    created = r.json()["results"][0]
    row = session.get(Observation, uuid.UUID(created["id"]))
    assert row is not None
    assert row.generalised is True
    assert row.public_accuracy_m == 7071.1
    assert (row.public_latitude, row.public_longitude) != (row.latitude, row.longitude)


def test_the_same_batch_three_times_stores_each_item_once(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    items = [payload(count=i) for i in range(25)]
    answers = [send(client, sentinel, settings, {"observations": items}) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers)
    assert {x["status"] for x in answers[0].json()["results"]} == {"created"}
    for later in answers[1:]:
        assert {x["status"] for x in later.json()["results"]} == {"existing"}
        assert [x["id"] for x in later.json()["results"]] == [
            x["id"] for x in answers[0].json()["results"]
        ]
    for item in items:
        assert count_rows(session, observer_id=sentinel.id, client_id=item["client_id"]) == 1
    assert count_rows(session, observer_id=sentinel.id) == 25


def test_a_client_id_twice_in_one_batch(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    item = payload()
    r = send(client, sentinel, settings, {"observations": [item, {**item, "count": 9}]})
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "existing"]
    assert results[0]["id"] == results[1]["id"]
    assert count_rows(session, observer_id=sentinel.id, client_id=item["client_id"]) == 1


def test_a_rejected_item_does_not_take_its_client_id(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    item = payload()
    r = send(client, sentinel, settings, {"observations": [{**item, "latitude": 100}, item]})
    assert [x["status"] for x in r.json()["results"]] == ["rejected", "created"]


@pytest.mark.parametrize("item", [42, "observation", None, [1, 2], True])
def test_an_item_that_is_not_an_object_is_rejected(
    client: TestClient, session: Session, settings: Settings, sentinel: User, item: Any
) -> None:
    good = payload()
    r = send(client, sentinel, settings, {"observations": [item, good]})
    assert r.status_code == 200, r.text
    rejected, created = r.json()["results"]
    assert rejected["status"] == "rejected"
    assert rejected["client_id"] is None
    assert rejected["id"] is None
    assert rejected["errors"][0]["field"] == "body"
    assert rejected["errors"][0]["code"] == "observation.not_an_object"
    assert created["status"] == "created"


def test_rejected_item_with_a_readable_client_id_reports_it(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    item = payload(observed_at="hier")
    r = send(client, sentinel, settings, {"observations": [item, {"client_id": "nope"}]})
    first, second = r.json()["results"]
    assert first["client_id"] == item["client_id"]
    assert [e["field"] for e in first["errors"]] == ["observed_at"]
    assert second["client_id"] is None
    assert "client_id" in {e["field"] for e in second["errors"]}


def test_500_items_is_the_limit(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    items = [payload(count=i % 10) for i in range(501)]
    too_many = send(client, sentinel, settings, {"observations": items})
    assert too_many.status_code == 422
    assert too_many.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in too_many.json()["errors"]} == {"observations"}
    assert count_rows(session, observer_id=sentinel.id) == 0

    ok = send(client, sentinel, settings, {"observations": items[:500]})
    assert ok.status_code == 200
    assert [x["status"] for x in ok.json()["results"]] == ["created"] * 500
    assert count_rows(session, observer_id=sentinel.id) == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "observations"),
        ({"observations": {"client_id": "x"}}, "observations"),
        ({"observations": "all of them"}, "observations"),
        ({"observations": None}, "observations"),
        ({"observations": [], "extra": 1}, "extra"),
        ([payload()], "body"),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused_whole(
    client: TestClient, settings: Settings, sentinel: User, body: Any, field: str
) -> None:
    r = send(client, sentinel, settings, body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}


def test_an_empty_batch_answers_no_results(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = send(client, sentinel, settings, {"observations": []})
    assert r.status_code == 200
    assert r.json() == {"results": []}


def test_batch_needs_a_signed_in_user(client: TestClient) -> None:
    r = client.post("/observations/batch", json={"observations": [payload()]})
    assert r.status_code == 401
    assert r.json()["code"] == "auth.unauthenticated"


def test_batches_of_two_users_do_not_collide(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    other = create_user(session, settings)
    items = [payload() for _ in range(3)]
    mine = send(client, sentinel, settings, {"observations": items}).json()["results"]
    theirs = send(client, other, settings, {"observations": items}).json()["results"]
    assert [x["status"] for x in mine] == ["created"] * 3
    assert [x["status"] for x in theirs] == ["created"] * 3
    assert {x["id"] for x in mine}.isdisjoint({x["id"] for x in theirs})
