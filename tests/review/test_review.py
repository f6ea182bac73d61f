"""The ecologist's review: the queue, single and bulk decisions, their history, and what the
observer and their phone see of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.records.models import ReviewDecision
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import LOOS, PEREGRINE, SWALLOW, payload

# Who the tests' sentinel and ecologist are (the conftest's fixtures read these names).
SENTINEL_NAME = "Martine D."
ECOLOGIST_NAME = "Claire"


def _post(client: TestClient, user: User, settings: Settings, **overrides: Any) -> dict[str, Any]:
    answer = client.post(
        "/observations", json=payload(**overrides), headers=auth_headers(user, settings)
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _queue(
    client: TestClient, user: User, settings: Settings, query: str = ""
) -> list[dict[str, Any]]:
    answer = client.get(
        f"/review/observations?limit=500{query}", headers=auth_headers(user, settings)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_queue_lists_what_awaits_a_decision_oldest_first(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    first = _post(client, sentinel, settings, observed_at="2026-04-12T07:00:00+02:00")
    second = _post(
        client, sentinel, settings, observed_at="2026-04-12T08:00:00+02:00", cd_nom=PEREGRINE
    )
    third = _post(client, sentinel, settings, observed_at="2026-04-12T09:00:00+02:00")
    headers = auth_headers(ecologist, settings)
    client.post(
        f"/observations/{third['id']}/review", json={"decision": "validated"}, headers=headers
    )
    client.post(
        f"/observations/{second['id']}/review",
        json={"decision": "needs_info", "comment": "Une photo ?"},
        headers=headers,
    )

    items = _queue(client, ecologist, settings, f"&observer_id={sentinel.id}")
    assert [i["id"] for i in items] == [first["id"], second["id"]]
    falcon = items[1]
    assert falcon["status"] == "needs_info"
    assert falcon["species"]["cd_nom"] == PEREGRINE
    assert falcon["species"]["sensitive"] is True
    # Staff see the exact position, sensitive or not.
    assert (falcon["latitude"], falcon["longitude"]) == LOOS
    assert falcon["observer"] == {"id": str(sentinel.id), "display_name": "Martine D."}
    assert [r["decision"] for r in falcon["reviews"]] == ["needs_info"]
    assert falcon["reviews"][0]["comment"] == "Une photo ?"

    only_needs_info = _queue(
        client, ecologist, settings, f"&observer_id={sentinel.id}&status=needs_info"
    )
    assert [i["id"] for i in only_needs_info] == [second["id"]]


def test_the_queue_filters(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    swallow = _post(client, sentinel, settings, observed_at="2026-04-12T07:00:00+02:00")
    falcon = _post(
        client, sentinel, settings, observed_at="2026-05-02T07:00:00+02:00", cd_nom=PEREGRINE
    )
    far = _post(
        client,
        sentinel,
        settings,
        observed_at="2026-05-03T07:00:00+02:00",
        latitude=46.0,
        longitude=-20.0,
        accuracy_m=5000,
    )
    mine = f"&observer_id={sentinel.id}"

    def ids(query: str) -> set[str]:
        return {i["id"] for i in _queue(client, ecologist, settings, mine + query)}

    falcon_species = falcon["species_id"]
    assert ids(f"&species_id={falcon_species}") == {falcon["id"]}
    assert ids("&group=bird") == {swallow["id"], falcon["id"], far["id"]}
    assert ids("&group=butterfly") == set()
    assert ids(f"&zone_id={swallow['zone_id']}") == {swallow["id"], falcon["id"]}
    assert ids("&observed_from=2026-05-01") == {falcon["id"], far["id"]}
    assert ids("&observed_to=2026-05-02") == {swallow["id"], falcon["id"]}
    assert ids("&flag=poor_location") == {far["id"]}
    assert ids("&flag=outside_territory") == {far["id"]}
    assert ids("&has_photo=true") == set()
    assert ids("&has_photo=false") == {swallow["id"], falcon["id"], far["id"]}
    other = create_user(session, settings)
    assert {
        i["id"] for i in _queue(client, ecologist, settings, f"&observer_id={other.id}")
    } == set()

    bad = client.get("/review/observations?flag=made_up", headers=auth_headers(ecologist, settings))
    assert bad.status_code == 422


def test_the_queue_pages_with_a_cursor(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    created = [
        _post(client, sentinel, settings, observed_at=f"2026-04-12T07:{m:02d}:00+02:00")["id"]
        for m in range(5)
    ]
    headers = auth_headers(ecologist, settings)
    seen: list[str] = []
    url = f"/review/observations?limit=2&observer_id={sentinel.id}"
    while url:
        page = client.get(url, headers=headers).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        url = (
            f"/review/observations?limit=2&observer_id={sentinel.id}&cursor={cursor}"
            if cursor
            else ""
        )
    assert seen == created


def test_only_staff_review(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    observation = _post(client, sentinel, settings)
    body = {"decision": "validated"}
    url = f"/observations/{observation['id']}/review"
    assert client.post(url, json=body).status_code == 401
    refused = client.post(url, json=body, headers=auth_headers(sentinel, settings))
    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.role_required"
    assert (
        client.get("/review/observations", headers=auth_headers(sentinel, settings)).status_code
        == 403
    )
    admin = create_user(session, settings, role=Role.admin)
    assert client.post(url, json=body, headers=auth_headers(admin, settings)).status_code == 200


def test_a_decision_is_kept_read_by_the_observer_and_synced(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    observation = _post(client, sentinel, settings)
    synced_at = datetime.now(UTC) - timedelta(seconds=1)
    answer = client.post(
        f"/observations/{observation['id']}/review",
        json={"decision": "needs_info", "comment": "Combien d'individus exactement ?"},
        headers=auth_headers(ecologist, settings),
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "needs_info"

    # The observer's phone learns of it at its next sync, comment included.
    since = synced_at.isoformat().replace("+00:00", "Z")
    sync = client.get(
        f"/observations?mine=true&updated_since={since}", headers=auth_headers(sentinel, settings)
    ).json()["items"]
    mine = [i for i in sync if i["id"] == observation["id"]]
    assert mine and mine[0]["status"] == "needs_info"
    assert mine[0]["reviews"][0]["comment"] == "Combien d'individus exactement ?"

    # The observer answers by correcting it, then the ecologist validates it.
    client.patch(
        f"/observations/{observation['id']}",
        json={"count": 5},
        headers=auth_headers(sentinel, settings),
    )
    client.post(
        f"/observations/{observation['id']}/review",
        json={"decision": "validated"},
        headers=auth_headers(ecologist, settings),
    )
    read = client.get(
        f"/observations/{observation['id']}", headers=auth_headers(sentinel, settings)
    ).json()
    assert read["status"] == "validated"
    assert [r["decision"] for r in read["reviews"]] == ["needs_info", "validated"]

    # Others see the validated observation but not its review history.
    public = client.get(f"/observations/{observation['id']}").json()
    assert public["reviews"] == [] and public["flags"] == []

    history = session.exec(
        select(ReviewDecision).where(col(ReviewDecision.target_id) == uuid.UUID(observation["id"]))
    ).all()
    assert [(d.decision, d.reviewer_id) for d in history] == [
        ("needs_info", ecologist.id),
        ("validated", ecologist.id),
    ]


def test_a_validated_observation_edited_by_its_observer_goes_back_to_pending(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    observation = _post(client, sentinel, settings)
    url = f"/observations/{observation['id']}"
    client.post(
        f"{url}/review", json={"decision": "validated"}, headers=auth_headers(ecologist, settings)
    )
    edited = client.patch(
        url, json={"notes": "en fait 4"}, headers=auth_headers(sentinel, settings)
    )
    assert edited.status_code == 200
    assert edited.json()["status"] == "pending"
    queue = _queue(client, ecologist, settings, f"&observer_id={sentinel.id}")
    assert [i["id"] for i in queue] == [observation["id"]]


def test_bulk_review_of_500_is_all_or_nothing(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    batch = {
        "observations": [
            payload(
                observed_at=(
                    datetime(2026, 4, 1, 6, tzinfo=UTC) + timedelta(minutes=7 * i)
                ).isoformat()
            )
            for i in range(500)
        ]
    }
    stored = client.post(
        "/observations/batch", json=batch, headers=auth_headers(sentinel, settings)
    )
    ids = [r["id"] for r in stored.json()["results"]]
    assert len(ids) == 500
    headers = auth_headers(ecologist, settings)

    unknown = str(uuid.uuid4())
    refused = client.post(
        "/review/bulk",
        json={"ids": [ids[0], unknown, ids[1]], "decision": "validated"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "review.unknown_ids"
    assert [e["field"] for e in refused.json()["errors"]] == ["ids.1"]
    statuses = session.exec(
        select(Observation.status).where(col(Observation.id).in_([uuid.UUID(i) for i in ids[:2]]))
    ).all()
    assert set(statuses) == {"pending"}

    too_many = client.post(
        "/review/bulk", json={"ids": [*ids, unknown], "decision": "validated"}, headers=headers
    )
    assert too_many.status_code == 422

    done = client.post(
        "/review/bulk",
        json={"ids": ids, "decision": "validated", "comment": "Comptage de printemps"},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["reviewed"] == 500
    session.expire_all()
    statuses = session.exec(
        select(Observation.status).where(col(Observation.observer_id) == sentinel.id)
    ).all()
    assert statuses == ["validated"] * 500
    decisions = session.exec(
        select(ReviewDecision).where(col(ReviewDecision.reviewer_id) == ecologist.id)
    ).all()
    assert len(decisions) == 500
    assert {d.comment for d in decisions} == {"Comptage de printemps"}
    events = session.exec(select(AuditEvent).where(col(AuditEvent.actor_id) == ecologist.id)).all()
    assert len(events) == 500
    assert events[0].changes["status"] == ["pending", "validated"]
    assert _queue(client, ecologist, settings, f"&observer_id={sentinel.id}") == []


def test_bulk_review_of_deleted_records_is_refused(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    observation = _post(client, sentinel, settings)
    client.delete(f"/observations/{observation['id']}", headers=auth_headers(sentinel, settings))
    refused = client.post(
        "/review/bulk",
        json={"ids": [observation["id"]], "decision": "rejected"},
        headers=auth_headers(ecologist, settings),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "review.unknown_id"


def test_review_input_is_checked(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    observation = _post(client, sentinel, settings)
    url = f"/observations/{observation['id']}/review"
    headers = auth_headers(ecologist, settings)
    for body, field in (
        ({"decision": "pending"}, "decision"),
        ({"decision": "validated", "comment": "x" * 2001}, "comment"),
        ({"decision": "validated", "extra": 1}, "extra"),
        ({}, "decision"),
    ):
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert (
        client.post(
            f"/observations/{uuid.uuid4()}/review", json={"decision": "validated"}, headers=headers
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/review/bulk", json={"ids": [], "decision": "validated"}, headers=headers
        ).status_code
        == 422
    )


def test_visits_are_reviewed_like_observations(
    client: TestClient, session: Session, settings: Settings, sentinel: User, ecologist: User
) -> None:
    headers = auth_headers(sentinel, settings)
    site = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": "garden",
            "name": "Jardin",
            "latitude": LOOS[0],
            "longitude": LOOS[1],
        },
        headers=headers,
    ).json()
    winter = client.post(
        f"/sites/{site['id']}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": "2026-01-10T14:00:00+01:00",
            "duration_min": 20,
            "counts": [{"cd_nom": 608364, "count": 1}],
        },
        headers=headers,
    ).json()
    staff = auth_headers(ecologist, settings)
    queue = client.get(f"/review/visits?observer_id={sentinel.id}", headers=staff).json()["items"]
    assert [i["visit"]["id"] for i in queue] == [winter["id"]]
    assert queue[0]["site"]["name"] == "Jardin"
    assert [f["code"] for f in queue[0]["flags"]] == ["out_of_season"]
    assert queue[0]["flags"][0]["label"] == "Hors saison"
    by_species = client.get(
        f"/review/visits?observer_id={sentinel.id}&group=butterfly", headers=staff
    ).json()["items"]
    assert len(by_species) == 1
    assert (
        client.get(f"/review/visits?observer_id={sentinel.id}&group=bird", headers=staff).json()[
            "items"
        ]
        == []
    )

    reviewed = client.post(
        f"/visits/{winter['id']}/review",
        json={"decision": "rejected", "comment": "Paon-du-jour en hibernation : hors protocole."},
        headers=staff,
    )
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == "rejected"
    assert (
        client.get(f"/review/visits?observer_id={sentinel.id}", headers=staff).json()["items"] == []
    )
    edit = client.patch(f"/visits/{winter['id']}", json={"duration_min": 25}, headers=headers)
    assert edit.status_code == 409


def test_flags_are_explained(client: TestClient) -> None:
    flags = client.get("/review/flags").json()
    assert {f["code"] for f in flags} == {
        "out_of_season",
        "outside_territory",
        "high_count",
        "poor_location",
        "probable_duplicate",
    }
    assert all(f["label"] and len(f["explanation"]) > 20 for f in flags)


def test_the_swallow_is_not_flagged_in_april(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    observation = _post(client, sentinel, settings, cd_nom=SWALLOW)
    assert observation["flags"] == []
