"""Capturing, reading, correcting and deleting single observations, through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.models import Observation
from app.species.models import Species
from app.zones.grid import generalise
from app.zones.models import Zone
from tests.factories import auth_headers

SWALLOW = 3696  # Hirondelle rustique, not sensitive
PEREGRINE = 2938  # Faucon pèlerin, sensitive in the reference
LOOS = (50.4571, 2.7852)  # in Loos-en-Gohelle (INSEE 62528)
ATLANTIC = (46.0, -20.0)


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid observation as the phone sends it; ``overrides`` replace or add fields, and a
    value of ``...`` removes the field."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": SWALLOW,
        "observed_at": "2026-04-12T07:45:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "accuracy_m": 12,
        "count": 3,
        "count_unit": "individuals",
        "notes": "sur le fil électrique",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def species_by_cd_nom(session: Session, cd_nom: int) -> Species:
    return session.exec(select(Species).where(Species.cd_nom == cd_nom)).one()


def zone_by_code(session: Session, code: str) -> Zone:
    return session.exec(select(Zone).where(Zone.code == code)).one()


def set_status(session: Session, observation_id: str | uuid.UUID, status: str) -> None:
    """What a review does, without the review endpoint: tests of visibility need it."""
    session.execute(
        update(Observation)
        .where(col(Observation.id) == uuid.UUID(str(observation_id)))
        .values(status=status)
    )
    session.flush()


def count_rows(session: Session, *, observer_id: uuid.UUID, client_id: str | None = None) -> int:
    query = (
        select(func.count())
        .select_from(Observation)
        .where(col(Observation.observer_id) == observer_id)
    )
    if client_id is not None:
        query = query.where(col(Observation.client_id) == uuid.UUID(client_id))
    return session.exec(query).one()


def post(client: TestClient, user: User, settings: Settings, body: Any) -> Any:
    return client.post("/observations", json=body, headers=auth_headers(user, settings))


# --- creation ----------------------------------------------------------------------------------


def test_create_answers_201_with_every_field(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    swallow = species_by_cd_nom(session, SWALLOW)
    body = payload(species_id=str(swallow.id), cd_nom=...)
    before = datetime.now(UTC)
    r = post(client, sentinel, settings, body)
    after = datetime.now(UTC)

    assert r.status_code == 201, r.text
    obs = r.json()
    assert set(obs) == {
        "id", "client_id", "species_id", "cd_nom", "observed_at", "latitude", "longitude",
        "accuracy_m", "count", "count_unit", "notes", "zone_id", "status", "observer_id",
        "photos", "created_at", "updated_at", "generalised", "deleted", "flags", "reviews",
    }  # fmt: skip
    uuid.UUID(obs["id"])
    assert obs["client_id"] == body["client_id"]
    assert obs["species_id"] == str(swallow.id)
    assert obs["cd_nom"] == SWALLOW
    assert obs["observed_at"] in ("2026-04-12T05:45:00Z", "2026-04-12T05:45:00+00:00")
    assert obs["latitude"] == 50.4571
    assert obs["longitude"] == 2.7852
    assert obs["accuracy_m"] == 12
    assert obs["count"] == 3
    assert obs["count_unit"] == "individuals"
    assert obs["notes"] == "sur le fil électrique"
    assert obs["zone_id"] == str(zone_by_code(session, "62528").id)
    assert obs["status"] == "pending"
    assert obs["observer_id"] == str(sentinel.id)
    assert obs["photos"] == []
    assert obs["generalised"] is False
    assert obs["deleted"] is False
    assert obs["flags"] == []
    assert obs["reviews"] == []
    created = datetime.fromisoformat(obs["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    assert obs["updated_at"] == obs["created_at"]

    stored = session.get(Observation, uuid.UUID(obs["id"]))
    assert stored is not None
    assert stored.observed_at == datetime(2026, 4, 12, 5, 45, tzinfo=UTC)
    assert stored.observer_id == sentinel.id

    # What was stored reads back the same.
    again = client.get(f"/observations/{obs['id']}", headers=auth_headers(sentinel, settings))
    assert again.status_code == 200
    assert again.json() == obs


def test_defaults_and_optional_fields(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    body = payload(accuracy_m=..., count=..., count_unit=..., notes=...)
    r = post(client, sentinel, settings, body)
    assert r.status_code == 201, r.text
    obs = r.json()
    assert obs["count"] == 1
    assert obs["count_unit"] == "individuals"
    assert obs["accuracy_m"] is None
    assert obs["notes"] is None


def test_cd_nom_instead_of_species_id(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    r = post(client, sentinel, settings, payload(cd_nom=SWALLOW, count_unit="nests", count=0))
    assert r.status_code == 201, r.text
    assert r.json()["species_id"] == str(species_by_cd_nom(session, SWALLOW).id)
    assert r.json()["count_unit"] == "nests"
    assert r.json()["count"] == 0


def test_species_id_and_agreeing_cd_nom_are_accepted(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    swallow = species_by_cd_nom(session, SWALLOW)
    r = post(client, sentinel, settings, payload(species_id=str(swallow.id), cd_nom=SWALLOW))
    assert r.status_code == 201, r.text
    assert r.json()["cd_nom"] == SWALLOW


def test_point_outside_every_zone_has_no_zone(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = post(client, sentinel, settings, payload(latitude=ATLANTIC[0], longitude=ATLANTIC[1]))
    assert r.status_code == 201, r.text
    assert r.json()["zone_id"] is None


def test_resending_the_same_client_id_changes_nothing(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = payload()
    first = post(client, sentinel, settings, body)
    assert first.status_code == 201
    again = post(client, sentinel, settings, body)
    assert again.status_code == 200
    assert again.json() == first.json()

    # A different payload under the same client_id is not applied either.
    changed = post(client, sentinel, settings, {**body, "count": 99, "notes": "autre"})
    assert changed.status_code == 200
    assert changed.json()["id"] == first.json()["id"]
    assert changed.json()["count"] == 3
    assert changed.json()["notes"] == "sur le fil électrique"
    assert count_rows(session, observer_id=sentinel.id, client_id=body["client_id"]) == 1


def test_the_same_client_id_from_another_user_is_another_observation(
    client: TestClient, session: Session, settings: Settings, sentinel: User, other: User
) -> None:
    body = payload()
    mine = post(client, sentinel, settings, body)
    theirs = post(client, other, settings, body)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["observer_id"] == str(other.id)


def test_create_needs_a_signed_in_user(client: TestClient) -> None:
    r = client.post("/observations", json=payload())
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "auth.unauthenticated"


def _problem_fields(r: Any) -> set[str]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    body = r.json()
    assert body["status"] == r.status_code
    assert body["code"]
    return {e["field"] for e in body["errors"]}


@pytest.mark.parametrize(
    ("field", "inside", "outside"),
    [
        ("latitude", [-90, 90, 89.999999], [-90.000001, 90.000001, 1000]),
        ("longitude", [-180, 180, -179.99999], [-180.000001, 180.000001, -1000]),
        ("count", [0, 100000], [-1, 100001, 10**30]),
        ("accuracy_m", [0, 100000, None], [-0.001, 100000.5]),
    ],
)
def test_bounds_are_checked_just_inside_and_just_outside(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    field: str,
    inside: list[Any],
    outside: list[Any],
) -> None:
    for value in inside:
        r = post(client, sentinel, settings, payload(**{field: value}))
        assert r.status_code == 201, (value, r.text)
        assert r.json()[field] == value
    for value in outside:
        r = post(client, sentinel, settings, payload(**{field: value}))
        assert r.status_code == 422, (value, r.text)
        assert _problem_fields(r) == {field}


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity"])
@pytest.mark.parametrize("field", ["latitude", "longitude", "accuracy_m"])
def test_non_finite_numbers_are_refused(
    client: TestClient, settings: Settings, sentinel: User, field: str, literal: str
) -> None:
    import json

    text = json.dumps(payload(**{field: 0.0})).replace(f'"{field}": 0.0', f'"{field}": {literal}')
    r = client.post(
        "/observations",
        content=text,
        headers={**auth_headers(sentinel, settings), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert _problem_fields(r) == {field}


def test_notes_up_to_2000_characters(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    ok = post(client, sentinel, settings, payload(notes="é" * 2000))
    assert ok.status_code == 201, ok.text
    assert ok.json()["notes"] == "é" * 2000
    too_long = post(client, sentinel, settings, payload(notes="é" * 2001))
    assert too_long.status_code == 422
    assert _problem_fields(too_long) == {"notes"}


def test_notes_with_a_nul_character_are_refused(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = post(client, sentinel, settings, payload(notes="nid\x00"))
    assert r.status_code == 422
    assert _problem_fields(r) == {"notes"}


def test_observed_at_bounds(client: TestClient, settings: Settings, sentinel: User) -> None:
    now = datetime.now(UTC)
    paris = timezone_plus(2)
    accepted = [
        (now + timedelta(minutes=9)).isoformat(),
        (now + timedelta(minutes=9)).astimezone(paris).isoformat(),
        "1900-01-01T00:00:00Z",
        "1900-01-01T01:00:00+01:00",
    ]
    for value in accepted:
        r = post(client, sentinel, settings, payload(observed_at=value))
        assert r.status_code == 201, (value, r.text)
        assert r.json()["observed_at"].endswith(("Z", "+00:00"))

    refused = {
        (now + timedelta(minutes=11)).isoformat(): "observation.observed_at_in_future",
        (now + timedelta(minutes=11)).astimezone(paris).isoformat(): (
            "observation.observed_at_in_future"
        ),
        "9999-12-31T23:59:59-14:00": "observation.observed_at_in_future",
        "1899-12-31T23:59:59Z": "observation.observed_at_too_old",
        "1900-01-01T00:30:00+01:00": "observation.observed_at_too_old",
        "0001-01-01T00:00:00+14:00": "observation.observed_at_too_old",
    }
    for value, code in refused.items():
        r = post(client, sentinel, settings, payload(observed_at=value))
        assert r.status_code == 422, (value, r.text)
        assert _problem_fields(r) == {"observed_at"}
        assert r.json()["code"] == code
        assert r.json()["errors"][0]["code"] == code


def timezone_plus(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


@pytest.mark.parametrize(
    "value", ["2026-04-12T07:45:00", "2026-04-12", "12/04/2026 07:45", "", 1712900700, None]
)
def test_observed_at_must_be_a_time_with_an_offset(
    client: TestClient, settings: Settings, sentinel: User, value: Any
) -> None:
    r = post(client, sentinel, settings, payload(observed_at=value))
    assert r.status_code == 422, r.text
    assert _problem_fields(r) == {"observed_at"}


def test_unknown_species_names_the_field(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    by_id = post(client, sentinel, settings, payload(cd_nom=..., species_id=str(uuid.uuid4())))
    assert by_id.status_code == 422
    assert by_id.json()["code"] == "observation.unknown_species"
    assert _problem_fields(by_id) == {"species_id"}

    by_cd_nom = post(client, sentinel, settings, payload(cd_nom=99999999))
    assert by_cd_nom.status_code == 422
    assert by_cd_nom.json()["code"] == "observation.unknown_species"
    assert _problem_fields(by_cd_nom) == {"cd_nom"}


def test_species_is_required(client: TestClient, settings: Settings, sentinel: User) -> None:
    r = post(client, sentinel, settings, payload(cd_nom=...))
    assert r.status_code == 422
    assert r.json()["code"] == "observation.species_required"
    assert _problem_fields(r) == {"species_id"}


def test_species_id_and_cd_nom_that_disagree_are_refused(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    swallow = species_by_cd_nom(session, SWALLOW)
    r = post(client, sentinel, settings, payload(species_id=str(swallow.id), cd_nom=PEREGRINE))
    assert r.status_code == 422
    assert r.json()["code"] == "observation.species_mismatch"
    assert _problem_fields(r) == {"cd_nom"}


def test_unknown_field_is_named(client: TestClient, settings: Settings, sentinel: User) -> None:
    r = post(client, sentinel, settings, payload(weather="pluie"))
    assert r.status_code == 422
    assert _problem_fields(r) == {"weather"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "not-a-uuid"),
        ("client_id", ...),
        ("latitude", ...),
        ("longitude", "north"),
        ("count", 1.5),
        ("count", "many"),
        ("count_unit", "pairs"),
        ("notes", 12),
        ("species_id", "nope"),
        ("cd_nom", 0),
        ("cd_nom", 2**31),
    ],
)
def test_wrong_values_name_their_field(
    client: TestClient, settings: Settings, sentinel: User, field: str, value: Any
) -> None:
    r = post(client, sentinel, settings, payload(**{field: value}))
    assert r.status_code == 422, r.text
    assert _problem_fields(r) == {field}


def test_body_that_is_not_an_object_is_refused(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = post(client, sentinel, settings, [payload()])
    assert r.status_code == 422
    assert _problem_fields(r) == {"body"}


# --- sensitive species -------------------------------------------------------------------------


def test_sensitive_species_is_generalised_for_everyone_but_observer_and_staff(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
    admin: User,
) -> None:
    r = post(client, sentinel, settings, payload(cd_nom=PEREGRINE))
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["latitude"], created["longitude"]) == LOOS
    assert created["generalised"] is False
    set_status(session, created["id"], "validated")

    cell_lat, cell_lon, half_diagonal = generalise(*LOOS)
    assert half_diagonal == 7071.1
    url = f"/observations/{created['id']}"
    for headers in ({}, auth_headers(other, settings)):
        seen = client.get(url, headers=headers)
        assert seen.status_code == 200, seen.text
        obs = seen.json()
        assert obs["latitude"] == pytest.approx(cell_lat, abs=1e-9)
        assert obs["longitude"] == pytest.approx(cell_lon, abs=1e-9)
        assert (obs["latitude"], obs["longitude"]) != LOOS
        assert obs["accuracy_m"] == 7071.1
        assert obs["generalised"] is True
        assert obs["status"] == "validated"

    for user in (sentinel, ecologist, admin):
        seen = client.get(url, headers=auth_headers(user, settings))
        assert seen.status_code == 200
        obs = seen.json()
        assert (obs["latitude"], obs["longitude"]) == LOOS
        assert obs["accuracy_m"] == 12
        assert obs["generalised"] is False


def test_sensitive_cell_centre_is_a_real_cell_centre() -> None:
    lat, lon, accuracy = generalise(*LOOS)
    # The centre of a 10 km cell is within its half-diagonal of any point of the cell.
    assert abs(lat - LOOS[0]) < 0.1
    assert abs(lon - LOOS[1]) < 0.15
    assert accuracy == 7071.1


def test_common_species_is_exact_for_everyone(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    set_status(session, created["id"], "validated")
    obs = client.get(f"/observations/{created['id']}").json()
    assert (obs["latitude"], obs["longitude"], obs["accuracy_m"]) == (*LOOS, 12)
    assert obs["generalised"] is False


# --- reading -----------------------------------------------------------------------------------


def test_pending_observation_is_hidden_from_others(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    url = f"/observations/{created['id']}"
    for headers in ({}, auth_headers(other, settings)):
        r = client.get(url, headers=headers)
        assert r.status_code == 404
        assert r.json()["code"] == "observation.not_found"
    assert client.get(url, headers=auth_headers(ecologist, settings)).status_code == 200
    assert client.get(url, headers=auth_headers(sentinel, settings)).status_code == 200


def test_unknown_observation_is_404(client: TestClient) -> None:
    r = client.get(f"/observations/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["code"] == "observation.not_found"


def test_malformed_observation_id_is_422(client: TestClient) -> None:
    r = client.get("/observations/not-a-uuid")
    assert r.status_code == 422
    assert _problem_fields(r) == {"observation_id"}


# --- correcting --------------------------------------------------------------------------------


def test_observer_corrects_a_pending_observation(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    r = client.patch(
        f"/observations/{created['id']}",
        json={"count": 4, "notes": None, "observed_at": "2026-04-13T08:00:00+02:00"},
        headers=auth_headers(sentinel, settings),
    )
    assert r.status_code == 200, r.text
    obs = r.json()
    assert obs["count"] == 4
    assert obs["notes"] is None
    assert datetime.fromisoformat(obs["observed_at"]) == datetime(2026, 4, 13, 6, tzinfo=UTC)
    assert obs["latitude"] == created["latitude"]
    assert obs["client_id"] == created["client_id"]
    assert obs["created_at"] == created["created_at"]
    assert datetime.fromisoformat(obs["updated_at"]) > datetime.fromisoformat(created["updated_at"])
    reread = client.get(f"/observations/{created['id']}", headers=auth_headers(sentinel, settings))
    assert reread.json() == obs


def test_patch_moves_zone_and_species_and_public_position(
    client: TestClient, session: Session, settings: Settings, sentinel: User, other: User
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    url = f"/observations/{created['id']}"
    headers = auth_headers(sentinel, settings)

    moved = client.patch(url, json={"latitude": ATLANTIC[0], "longitude": ATLANTIC[1]},
                         headers=headers)  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert moved.json()["zone_id"] is None

    back = client.patch(url, json={"latitude": LOOS[0], "longitude": LOOS[1], "cd_nom": PEREGRINE},
                        headers=headers)  # fmt: skip
    assert back.status_code == 200, back.text
    assert back.json()["zone_id"] == str(zone_by_code(session, "62528").id)
    assert back.json()["cd_nom"] == PEREGRINE
    assert back.json()["species_id"] == str(species_by_cd_nom(session, PEREGRINE).id)

    # The species is now sensitive: once validated, others get the generalised position.
    set_status(session, created["id"], "needs_info")
    still_editable = client.patch(url, json={"accuracy_m": 5}, headers=headers)
    assert still_editable.status_code == 200
    set_status(session, created["id"], "validated")
    public = client.get(url, headers=auth_headers(other, settings)).json()
    assert public["generalised"] is True
    assert public["accuracy_m"] == 7071.1


def test_patch_validates_like_create(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    url = f"/observations/{created['id']}"
    headers = auth_headers(sentinel, settings)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"latitude": 91}, "latitude"),
        ({"count": 100001}, "count"),
        ({"notes": "x" * 2001}, "notes"),
        ({"observed_at": future}, "observed_at"),
        ({"observed_at": "2026-04-12T07:45:00"}, "observed_at"),
        ({"client_id": str(uuid.uuid4())}, "client_id"),
        ({"colour": "red"}, "colour"),
        ({"cd_nom": 99999999}, "cd_nom"),
        ({"species_id": str(uuid.uuid4())}, "species_id"),
    ]
    for body, field in cases:
        r = client.patch(url, json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert field in _problem_fields(r), body
    for field in ("latitude", "observed_at", "count", "count_unit", "cd_nom"):
        null = client.patch(url, json={field: None}, headers=headers)
        assert null.status_code == 422, null.text
        assert _problem_fields(null) == {field}
        assert null.json()["code"] == "observation.null_not_allowed"
    unchanged = client.get(url, headers=headers).json()
    assert unchanged["updated_at"] == created["updated_at"]


def test_patch_rules(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    url = f"/observations/{created['id']}"

    # Someone who cannot see it: as if it did not exist.
    hidden = client.patch(url, json={"count": 1}, headers=auth_headers(other, settings))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "observation.not_found"
    # Staff see it, but only its observer edits it.
    staff = client.patch(url, json={"count": 1}, headers=auth_headers(ecologist, settings))
    assert staff.status_code == 403
    # Anonymous: 401.
    assert client.patch(url, json={"count": 1}).status_code == 401

    set_status(session, created["id"], "validated")
    visible = client.patch(url, json={"count": 1}, headers=auth_headers(other, settings))
    assert visible.status_code == 403
    # A validated observation corrected by its observer goes back to the review queue.
    reviewed = client.patch(url, json={"count": 1}, headers=auth_headers(sentinel, settings))
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == "pending"
    assert reviewed.json()["count"] == 1

    set_status(session, created["id"], "rejected")
    rejected = client.patch(url, json={"count": 2}, headers=auth_headers(sentinel, settings))
    assert rejected.status_code == 409
    assert rejected.json()["code"] == "observation.not_editable"


# --- deleting ----------------------------------------------------------------------------------


def test_observer_deletes_and_then_it_is_gone(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    created = post(client, sentinel, settings, payload()).json()
    url = f"/observations/{created['id']}"
    headers = auth_headers(sentinel, settings)
    r = client.delete(url, headers=headers)
    assert r.status_code == 204
    assert r.content == b""
    assert client.get(url, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert client.patch(url, json={"count": 2}, headers=headers).status_code == 404
    stored = session.get(Observation, uuid.UUID(created["id"]))
    assert stored is not None
    session.refresh(stored)
    assert stored.deleted_at is not None
    assert stored.updated_at >= stored.deleted_at


def test_delete_rules(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
    admin: User,
) -> None:
    first = post(client, sentinel, settings, payload()).json()
    second = post(client, sentinel, settings, payload()).json()

    assert client.delete(f"/observations/{first['id']}").status_code == 401
    hidden = client.delete(f"/observations/{first['id']}", headers=auth_headers(other, settings))
    assert hidden.status_code == 404
    set_status(session, first["id"], "validated")
    visible = client.delete(f"/observations/{first['id']}", headers=auth_headers(other, settings))
    assert visible.status_code == 403
    assert visible.json()["code"] == "observation.not_observer"

    # Staff may delete anyone's, validated or not.
    r = client.delete(f"/observations/{first['id']}", headers=auth_headers(ecologist, settings))
    assert r.status_code == 204
    r = client.delete(f"/observations/{second['id']}", headers=auth_headers(admin, settings))
    assert r.status_code == 204
    assert client.get(f"/observations/{first['id']}", headers=auth_headers(admin, settings)
                      ).status_code == 404  # fmt: skip


def test_resending_a_deleted_observation_does_not_bring_it_back(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = payload()
    created = post(client, sentinel, settings, body).json()
    client.delete(f"/observations/{created['id']}", headers=auth_headers(sentinel, settings))
    again = post(client, sentinel, settings, body)
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]
    assert again.json()["deleted"] is True
    assert count_rows(session, observer_id=sentinel.id, client_id=body["client_id"]) == 1
