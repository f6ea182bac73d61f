"""Personal data through the HTTP API: the export holds exactly the caller's data, and deleting an
account leaves the science (same ids, same records) with nothing that names the person.

The participant here has a name and an address found nowhere else in the database, so that
"nothing personal remains" can be checked by searching for them, in API answers and in rows.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Connection, event, text, update
from sqlmodel import Session, col, func, select

from app.accounts.models import LoginThrottle, RefreshToken, User
from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity, AuditEvent
from app.core.db import Database
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.main import create_app
from app.media.models import ObservationPhoto
from app.observations.models import Observation
from app.privacy.schemas import EXAMPLE_EXPORT, PersonalDataExport
from app.records.models import ReviewDecision
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user

SWALLOW = 3696  # Hirondelle rustique, not sensitive
PEREGRINE = 2938  # Faucon pèlerin, sensitive: others see a 10 km cell
HOUSE_MARTIN = 459478  # Hirondelle de fenêtre, counted in nests
LOOS = (50.4571, 2.7852)
NEST = (50.45123, 2.77456)
# What the phone's GPS wrote: 50°27'25.56" N, 2°47'6.72" E.
EXIF_LATITUDE = 50 + 27 / 60 + 25.56 / 3600
EXIF_LONGITUDE = 2 + 47 / 60 + 6.72 / 3600

NAME = "Élodie Vasseur-Delattre"
EMAIL = "elodie.vasseur@example.org"
# JSON columns may store non-ASCII letters escaped: search for an ASCII part of the name too.
PERSONAL = (NAME, "Vasseur-Delattre", EMAIL, "elodie.vasseur")
ERASED = "[effacé]"

GARDEN_POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [[2.7850, 50.4570], [2.7855, 50.4570], [2.7855, 50.4573], [2.7850, 50.4573],
         [2.7850, 50.4570]]
    ],
}  # fmt: skip
TRANSECT_LINE = {
    "type": "LineString",
    "coordinates": [[2.7801, 50.4602], [2.7835, 50.4611], [2.7866, 50.4598]],
}


# --- images ----------------------------------------------------------------------------------


def gps_jpeg() -> bytes:
    """A small JPEG carrying what a phone writes: a GPS position and the time taken."""
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (50.0, 27.0, 25.56)
    gps[3], gps[4] = "E", (2.0, 47.0, 6.72)
    exif.get_ifd(0x8769)[0x9003] = "2026:04:12 07:44:51"  # DateTimeOriginal, Paris time
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 60)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


# --- the API ---------------------------------------------------------------------------------


def post_observation(
    client: TestClient, headers: dict[str, str], *, cd_nom: int = SWALLOW, **fields: Any
) -> dict[str, Any]:
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": "2026-04-12T07:45:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "count": 2,
        **fields,
    }
    answer = client.post("/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def post_photo(client: TestClient, observation_id: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.post(
        f"/observations/{observation_id}/photos",
        files={"file": ("photo.jpg", gps_jpeg(), "image/jpeg")},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def post_site(
    client: TestClient, headers: dict[str, str], *, kind: str = "nest_site", **fields: Any
) -> dict[str, Any]:
    body = {
        "client_id": str(uuid.uuid4()),
        "kind": kind,
        "name": "Façades de la rue Jean Jaurès",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        **fields,
    }
    answer = client.post("/sites", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def post_visit(
    client: TestClient, site_id: str, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "client_id": str(uuid.uuid4()),
        "started_at": "2026-05-16T09:30:00+02:00",
        "duration_min": 30,
        "complete": True,
        "counts": [
            {"cd_nom": HOUSE_MARTIN, "occupied": 5, "unoccupied": 2, "destroyed": 0},
            {"cd_nom": SWALLOW, "occupied": 1, "unoccupied": 0, "destroyed": 1},
        ],
        **fields,
    }
    answer = client.post(f"/sites/{site_id}/visits", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def delete_account(
    client: TestClient, headers: dict[str, str], password: str = DEFAULT_PASSWORD
) -> Any:
    return client.post("/me/delete", json={"password": password}, headers=headers)


def sign_in(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> Any:
    return client.post("/auth/token", data={"username": email, "password": password})


def set_status(session: Session, observation_id: str, status: str) -> None:
    """What a review does, without the review endpoint."""
    session.execute(
        update(Observation)
        .where(col(Observation.id) == uuid.UUID(observation_id))
        .values(status=status)
    )
    session.flush()


def fresh(session: Session, user: User) -> User:
    """The user's row as the database holds it now (the app changed it in its own session)."""
    session.expire_all()
    found = session.get(User, user.id)
    assert found is not None
    return found


def rows_as_text(session: Session, table: str) -> str:
    rows = session.connection().execute(text(f"SELECT * FROM {table}")).all()
    return "\n".join(repr(tuple(row)) for row in rows)


def assert_nothing_personal(where: str) -> None:
    for needle in PERSONAL:
        assert needle.lower() not in where.lower(), needle


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def elodie(session: Session, settings: Settings) -> User:
    return create_user(session, settings, email=EMAIL, display_name=NAME)


@pytest.fixture
def headers(elodie: User, settings: Settings) -> dict[str, str]:
    return auth_headers(elodie, settings)


@pytest.fixture
def bob(session: Session, settings: Settings) -> User:
    return create_user(session, settings, email="bob.martin@example.org", display_name="Bob")


# The reviewer's name, which the erasure tests look for in what is left.
ECOLOGIST_NAME = "Dominique Écologue-Relectrice"


@pytest.fixture
def staff_headers(ecologist: User, settings: Settings) -> dict[str, str]:
    return auth_headers(ecologist, settings)


@pytest.fixture
def keeping_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A deployment that keeps the original uploads (metadata included)."""
    keeping = create_app(settings.model_copy(update={"keep_original_photos": True}), database=db)
    with TestClient(keeping, base_url="http://testserver/api/v1") as c:
        yield c


# --- export ----------------------------------------------------------------------------------


def test_the_export_is_a_json_attachment_named_by_its_date(
    client: TestClient, headers: dict[str, str], elodie: User
) -> None:
    answer = client.get("/me/export", headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    today = datetime.now(UTC).date().isoformat()
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="sentinelles-export-{today}.json"'
    )
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["exported_at"].startswith(today)
    assert body["account"] == {
        "id": str(elodie.id),
        "email": EMAIL,
        "display_name": NAME,
        "role": "sentinel",
        "photo_licence": "CC-BY-4.0",
        "credit_by_name": False,
        "created_at": elodie.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": elodie.updated_at.isoformat().replace("+00:00", "Z"),
    }
    for key in ("observations", "sites", "visits", "review_decisions", "audit_events"):
        assert body[key] == [], key


def test_the_documented_example_is_a_valid_export() -> None:
    example = PersonalDataExport.model_validate(EXAMPLE_EXPORT)

    assert example.review_decisions[0].reviewer == "CPIE"


def test_the_export_needs_a_signed_in_caller(client: TestClient) -> None:
    answer = client.get("/me/export")

    assert answer.status_code == 401
    assert answer.json()["code"] == "auth.unauthenticated"


def test_the_export_holds_exactly_the_callers_data(
    client: TestClient,
    session: Session,
    settings: Settings,
    elodie: User,
    headers: dict[str, str],
    bob: User,
    ecologist: User,
) -> None:
    bob_headers = auth_headers(bob, settings)
    swallow = post_observation(client, headers, notes="sur le fil électrique", count=3)
    falcon = post_observation(
        client, headers, cd_nom=PEREGRINE, latitude=NEST[0], longitude=NEST[1], accuracy_m=8
    )
    gone = post_observation(client, headers)
    assert client.delete(f"/observations/{gone['id']}", headers=headers).status_code == 204
    photo = post_photo(client, swallow["id"], headers)
    garden = post_site(client, headers, kind="garden", name="Mon jardin", geometry=GARDEN_POLYGON)
    facade = post_site(client, headers)
    visit = post_visit(client, facade["id"], headers, notes="deux nids refaits")
    theirs = post_observation(client, bob_headers)
    their_site = post_site(client, bob_headers)
    their_visit = post_visit(client, their_site["id"], bob_headers)

    decided_at = datetime(2026, 5, 2, 9, 12, 44, tzinfo=UTC)
    for target, target_id, comment in (
        ("observation", swallow["id"], "Une photo de plus ?"),
        ("visit", visit["id"], "Merci pour ce comptage."),
        ("observation", theirs["id"], "Pas pour Élodie"),
        ("visit", their_visit["id"], "Pas pour Élodie non plus"),
    ):
        session.add(
            ReviewDecision(
                target=target,
                target_id=uuid.UUID(target_id),
                reviewer_id=ecologist.id,
                decision="needs_info",
                comment=comment,
                created_at=decided_at,
            )
        )
    acted_at = datetime(2026, 4, 12, 5, 46, 10, tzinfo=UTC)
    audit.record(
        session,
        actor_id=elodie.id,
        entity=AuditEntity.site,
        entity_id=uuid.UUID(garden["id"]),
        action=AuditAction.update,
        changes={"name": ["Jardin", "Mon jardin"]},
        at=acted_at,
    )
    audit.record(
        session,
        actor_id=bob.id,
        entity=AuditEntity.site,
        entity_id=uuid.UUID(their_site["id"]),
        action=AuditAction.delete,
    )
    session.flush()

    answer = client.get("/me/export", headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    observations = {o["id"]: o for o in body["observations"]}
    assert set(observations) == {swallow["id"], falcon["id"]}
    assert observations[swallow["id"]]["notes"] == "sur le fil électrique"
    assert observations[swallow["id"]]["count"] == 3
    assert observations[swallow["id"]]["status"] == "pending"
    assert observations[swallow["id"]]["observed_at"] == "2026-04-12T05:45:00Z"
    assert observations[swallow["id"]]["observer_id"] == str(elodie.id)
    # The exact position of a sensitive species, which anyone else sees generalised.
    assert observations[falcon["id"]]["latitude"] == NEST[0]
    assert observations[falcon["id"]]["longitude"] == NEST[1]
    assert observations[falcon["id"]]["accuracy_m"] == 8
    assert observations[falcon["id"]]["generalised"] is False
    (exported_photo,) = observations[swallow["id"]]["photos"]
    assert exported_photo["id"] == photo["id"]
    assert exported_photo["url"] == f"/api/v1/photos/{photo['id']}"
    assert exported_photo["thumbnail_url"] == f"/api/v1/photos/{photo['id']}/small"
    assert exported_photo["exif"]["latitude"] == pytest.approx(EXIF_LATITUDE, abs=1e-6)
    assert exported_photo["exif"]["longitude"] == pytest.approx(EXIF_LONGITUDE, abs=1e-6)
    assert exported_photo["exif"]["taken_at"] == "2026-04-12T05:44:51Z"
    assert observations[falcon["id"]]["photos"] == []

    sites = {s["id"]: s for s in body["sites"]}
    assert set(sites) == {garden["id"], facade["id"]}
    assert sites[garden["id"]]["name"] == "Mon jardin"
    assert sites[garden["id"]]["geometry"] == GARDEN_POLYGON
    assert sites[facade["id"]]["kind"] == "nest_site"

    (exported_visit,) = body["visits"]
    assert exported_visit["id"] == visit["id"]
    assert exported_visit["site_id"] == facade["id"]
    assert exported_visit["notes"] == "deux nids refaits"
    assert exported_visit["started_at"] == "2026-05-16T07:30:00Z"
    counts = {
        (c["cd_nom"], c["occupied"], c["unoccupied"], c["destroyed"])
        for c in exported_visit["counts"]
    }
    assert counts == {(HOUSE_MARTIN, 5, 2, 0), (SWALLOW, 1, 0, 1)}

    decisions = sorted(body["review_decisions"], key=lambda d: d["target"])
    assert decisions == [
        {
            "target": "observation",
            "target_id": swallow["id"],
            "decision": "needs_info",
            "comment": "Une photo de plus ?",
            "reviewer": "CPIE",
            "created_at": "2026-05-02T09:12:44Z",
        },
        {
            "target": "visit",
            "target_id": visit["id"],
            "decision": "needs_info",
            "comment": "Merci pour ce comptage.",
            "reviewer": "CPIE",
            "created_at": "2026-05-02T09:12:44Z",
        },
    ]

    mine = [(e["entity"], e["entity_id"], e["action"]) for e in body["audit_events"]]
    recorded = session.exec(select(AuditEvent).where(col(AuditEvent.actor_id) == elodie.id))
    assert sorted(mine) == sorted((e.entity, str(e.entity_id), e.action) for e in recorded)
    assert ("site", garden["id"], "update") in mine
    assert "2026-04-12T05:46:10Z" in {e["at"] for e in body["audit_events"]}
    assert all(e["entity_id"] != their_site["id"] for e in body["audit_events"])
    assert set(body["audit_events"][0]) == {"at", "entity", "entity_id", "action"}

    # Nothing of the other participant, nor of the ecologist who reviewed.
    for foreign in (
        str(bob.id), bob.email, "Bob", theirs["id"], their_site["id"], their_visit["id"],
        str(ecologist.id), ecologist.email, ecologist.display_name, "Pas pour",
    ):  # fmt: skip
        assert foreign not in answer.text, foreign


def test_the_export_takes_as_many_queries_for_much_data_as_for_little(
    client: TestClient,
    connection: Connection,
    session: Session,
    headers: dict[str, str],
) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def export_queries() -> int:
        statements.clear()
        event.listen(connection, "before_cursor_execute", count)
        try:
            assert client.get("/me/export", headers=headers).status_code == 200
        finally:
            event.remove(connection, "before_cursor_execute", count)
        return len(statements)

    site = post_site(client, headers)
    obs = post_observation(client, headers)
    post_photo(client, obs["id"], headers)
    post_visit(client, site["id"], headers)
    little = export_queries()
    for _ in range(4):
        obs = post_observation(client, headers)
        post_photo(client, obs["id"], headers)
        post_visit(client, post_site(client, headers)["id"], headers)
    much = export_queries()

    assert much == little
    assert little <= 12  # the account, seven reads, and the transaction's own statements


# --- deletion: refusals ----------------------------------------------------------------------


def test_a_wrong_password_is_a_401_and_changes_nothing(
    client: TestClient, session: Session, elodie: User, headers: dict[str, str]
) -> None:
    answer = delete_account(client, headers, password="not the password")

    assert answer.status_code == 401
    assert answer.json()["code"] == "auth.wrong_password"
    assert client.get("/me", headers=headers).json()["email"] == EMAIL
    row = fresh(session, elodie)
    assert (row.email, row.display_name, row.anonymised_at) == (EMAIL, NAME, None)


def test_wrong_passwords_count_in_the_accounts_sign_in_throttle(
    client: TestClient, settings: Settings, headers: dict[str, str]
) -> None:
    for _ in range(settings.login_max_failures):
        assert delete_account(client, headers, password="guess").status_code == 401

    blocked = delete_account(client, headers)
    # The account's own count is shared with sign-ins, which then accept only addresses that
    # have not failed on it: its owner, from such an address, still signs in.
    owner_signs_in = sign_in(client, EMAIL)

    assert blocked.status_code == 429
    assert blocked.json()["code"] == "auth.too_many_attempts"
    assert int(blocked.headers["retry-after"]) > 0
    assert owner_signs_in.status_code == 200


def test_deleting_needs_a_signed_in_caller_and_a_password(
    client: TestClient, headers: dict[str, str]
) -> None:
    anonymous = client.post("/me/delete", json={"password": DEFAULT_PASSWORD})
    without_password = client.post("/me/delete", json={}, headers=headers)
    with_extra = client.post(
        "/me/delete", json={"password": DEFAULT_PASSWORD, "force": True}, headers=headers
    )

    assert anonymous.status_code == 401
    assert without_password.status_code == 422
    assert with_extra.status_code == 422
    assert client.get("/me", headers=headers).status_code == 200


def test_the_last_admin_cannot_leave(
    client: TestClient, session: Session, settings: Settings
) -> None:
    first = create_user(session, settings, role=Role.admin)
    # Only these two admins, whatever else the database holds.
    session.execute(
        update(User)
        .where(col(User.role) == Role.admin.value, col(User.id) != first.id)
        .values(role=Role.sentinel.value)
    )
    session.flush()

    alone = delete_account(client, auth_headers(first, settings))

    assert alone.status_code == 409
    assert alone.json()["code"] == "account.last_admin"
    assert fresh(session, first).anonymised_at is None

    second = create_user(session, settings, role=Role.admin)
    assert delete_account(client, auth_headers(first, settings)).status_code == 204
    # The anonymised first admin no longer counts.
    again = delete_account(client, auth_headers(second, settings))
    assert again.status_code == 409
    assert again.json()["code"] == "account.last_admin"


# --- deletion: effects -----------------------------------------------------------------------


def test_deleting_answers_204_and_the_old_access_token_stops_working(
    client: TestClient, headers: dict[str, str]
) -> None:
    answer = delete_account(client, headers)

    assert answer.status_code == 204
    assert answer.content == b""
    me = client.get("/me", headers=headers)
    assert me.status_code == 401
    assert me.json()["code"] == "auth.invalid_token"
    assert client.get("/me/export", headers=headers).status_code == 401
    assert delete_account(client, headers).status_code == 401


def test_the_old_access_token_cannot_submit_anything_more(
    client: TestClient, session: Session, elodie: User, headers: dict[str, str]
) -> None:
    delete_account(client, headers)
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": SWALLOW,
        "observed_at": "2026-04-12T07:45:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
    }
    single = client.post("/observations", json=body, headers=headers)
    assert single.status_code == 401
    batch = client.post("/observations/batch", json={"observations": [body]}, headers=headers)
    assert batch.status_code == 401
    stored = session.exec(
        select(func.count())
        .select_from(Observation)
        .where(col(Observation.observer_id) == elodie.id)
    ).one()
    assert stored == 0


def test_the_old_email_and_password_no_longer_sign_in(
    client: TestClient, elodie: User, headers: dict[str, str]
) -> None:
    assert sign_in(client, EMAIL).status_code == 200
    assert delete_account(client, headers).status_code == 204

    by_old_email = sign_in(client, EMAIL)
    by_new_email = sign_in(client, f"anonymised-{elodie.id.hex}@invalid")

    assert by_old_email.status_code == 401
    assert by_old_email.json()["code"] == "auth.invalid_credentials"
    assert by_new_email.status_code == 401


def test_the_email_may_register_a_new_account(
    client: TestClient, elodie: User, headers: dict[str, str]
) -> None:
    assert delete_account(client, headers).status_code == 204

    answer = client.post(
        "/auth/register",
        json={"email": EMAIL, "password": "une-nouvelle-vie", "display_name": "Élodie"},
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] != str(elodie.id)
    assert sign_in(client, EMAIL, "une-nouvelle-vie").status_code == 200


def test_the_account_row_stays_emptied_of_everything_personal(
    client: TestClient, session: Session, settings: Settings
) -> None:
    teacher = create_user(session, settings, role=Role.teacher, email=EMAIL, display_name=NAME)
    teacher_headers = auth_headers(teacher, settings)
    assert (
        client.patch("/me", json={"photo_licence": "CC0-1.0"}, headers=teacher_headers)
    ).status_code == 200
    before = datetime.now(UTC)

    assert delete_account(client, teacher_headers).status_code == 204

    row = fresh(session, teacher)
    assert row.email == f"anonymised-{teacher.id.hex}@invalid"
    assert row.email == row.email.lower()
    assert row.display_name == "Participant anonyme"
    assert row.password_hash == "!"
    assert row.role == "sentinel"
    assert row.photo_licence == "CC0-1.0"
    assert row.anonymised_at is not None and row.anonymised_at >= before
    assert row.updated_at == row.anonymised_at


def test_refresh_tokens_are_deleted(
    client: TestClient, session: Session, elodie: User, headers: dict[str, str]
) -> None:
    refresh_token = sign_in(client, EMAIL).json()["refresh_token"]

    assert delete_account(client, headers).status_code == 204

    stored = session.exec(select(RefreshToken).where(col(RefreshToken.user_id) == elodie.id))
    assert stored.all() == []
    refreshed = client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert refreshed.status_code == 401


def test_the_throttle_row_of_the_old_email_is_deleted(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    assert sign_in(client, EMAIL, "a wrong guess").status_code == 401
    assert session.get(LoginThrottle, f"account:{EMAIL}") is not None

    assert delete_account(client, headers).status_code == 204

    session.expire_all()
    assert session.get(LoginThrottle, f"account:{EMAIL}") is None


def test_observations_stay_public_with_the_same_ids_attributed_to_the_anonymised_row(
    client: TestClient, session: Session, elodie: User, headers: dict[str, str]
) -> None:
    validated = post_observation(client, headers, notes="au-dessus du terril")
    pending = post_observation(client, headers)
    set_status(session, validated["id"], "validated")

    assert delete_account(client, headers).status_code == 204

    single = client.get(f"/observations/{validated['id']}")
    listed = client.get("/observations", params={"limit": 200})
    assert single.status_code == 200
    assert single.json()["id"] == validated["id"]
    assert single.json()["observer_id"] == str(elodie.id)
    assert single.json()["notes"] == "au-dessus du terril"  # kept: it describes the sighting
    listed_ids = {o["id"] for o in listed.json()["items"]}
    assert validated["id"] in listed_ids
    assert pending["id"] not in listed_ids
    stored = session.exec(select(Observation).where(col(Observation.observer_id) == elodie.id))
    assert {str(o.id) for o in stored.all()} == {validated["id"], pending["id"]}
    assert_nothing_personal(single.text)
    assert_nothing_personal(listed.text)


def test_visits_keep_their_notes_and_sites_take_the_neutral_name_of_their_kind(
    client: TestClient, session: Session, headers: dict[str, str], staff_headers: dict[str, str]
) -> None:
    facade = post_site(client, headers, name="Chez Élodie Vasseur-Delattre, 12 rue Jaurès")
    garden = post_site(client, headers, kind="garden", name="Jardin d'Élodie")
    transect = post_site(
        client, headers, kind="transect", name="Le chemin d'Élodie", geometry=TRANSECT_LINE
    )
    visit = post_visit(client, facade["id"], headers, notes="deux nids refaits")

    assert delete_account(client, headers).status_code == 204

    names = {
        site["id"]: client.get(f"/sites/{site['id']}", headers=staff_headers).json()["name"]
        for site in (facade, garden, transect)
    }
    assert names == {facade["id"]: "Façade", garden["id"]: "Jardin", transect["id"]: "Transect"}
    kept = client.get(f"/visits/{visit['id']}", headers=staff_headers).json()
    assert kept["notes"] == "deux nids refaits"
    assert kept["site_id"] == facade["id"]
    assert "Élodie" not in rows_as_text(session, "survey_site")


def test_the_audit_trail_records_the_anonymisation_without_the_erased_values(
    client: TestClient,
    session: Session,
    elodie: User,
    headers: dict[str, str],
    staff_headers: dict[str, str],
) -> None:
    site = post_site(client, headers, name="Chez Élodie")

    assert delete_account(client, headers).status_code == 204

    trail = client.get("/audit", params={"actor_id": str(elodie.id)}, headers=staff_headers)
    assert trail.status_code == 200, trail.text
    events = {(e["entity"], e["entity_id"]): e for e in trail.json()["items"]}
    user_event = events[("user", str(elodie.id))]
    assert user_event["action"] == "anonymise"
    changes = user_event["changes"]
    assert changes["email"] == [ERASED, f"anonymised-{elodie.id.hex}@invalid"]
    assert changes["display_name"] == [ERASED, "Participant anonyme"]
    assert changes["password_hash"] == [ERASED, "!"]
    assert changes["anonymised_at"][0] is None
    assert "role" not in changes  # a sentinel stays a sentinel
    site_event = events[("site", site["id"])]
    assert site_event["action"] == "anonymise"
    assert site_event["changes"] == {"name": [ERASED, "Façade"]}
    assert_nothing_personal(trail.text)
    assert "Élodie" not in trail.text


def test_nothing_personal_remains_in_the_database_or_in_answers(
    client: TestClient,
    session: Session,
    settings: Settings,
    elodie: User,
    headers: dict[str, str],
    bob: User,
) -> None:
    obs = post_observation(client, headers)
    set_status(session, obs["id"], "validated")
    post_photo(client, obs["id"], headers)
    post_site(client, headers, name=f"Jardin de {NAME}")
    assert sign_in(client, EMAIL, "a wrong guess").status_code == 401

    assert delete_account(client, headers).status_code == 204

    for table in ("user_account", "audit_event", "login_throttle", "survey_site"):
        assert_nothing_personal(rows_as_text(session, table))
    others_export = client.get("/me/export", headers=auth_headers(bob, settings))
    assert others_export.status_code == 200
    assert_nothing_personal(others_export.text)
    assert_nothing_personal(client.get(f"/observations/{obs['id']}").text)
    assert_nothing_personal(json.dumps(client.get("/observations").json()))


def test_photos_lose_their_metadata_and_original_files(
    keeping_client: TestClient,
    session: Session,
    settings: Settings,
    elodie: User,
    headers: dict[str, str],
    staff_headers: dict[str, str],
) -> None:
    client = keeping_client
    obs = post_observation(client, headers)
    photo = post_photo(client, obs["id"], headers)
    folder: Path = settings.media_dir / "photos" / obs["id"] / photo["id"]
    assert (folder / "original").exists()
    (before,) = session.exec(
        select(ObservationPhoto).where(col(ObservationPhoto.id) == uuid.UUID(photo["id"]))
    ).all()
    assert (before.exif_latitude, before.has_original) == (pytest.approx(EXIF_LATITUDE), True)

    assert delete_account(client, headers).status_code == 204

    session.expire_all()
    row = session.get(ObservationPhoto, uuid.UUID(photo["id"]))
    assert row is not None
    assert row.exif_latitude is None
    assert row.exif_longitude is None
    assert row.exif_taken_at is None
    assert row.has_original is False
    assert not (folder / "original").exists()
    # The re-encoded files, without metadata, stay with the observation.
    assert {p.name for p in folder.iterdir()} == {"full.jpg", "large.jpg", "small.jpg"}
    original = client.get(f"/photos/{photo['id']}/original", headers=staff_headers)
    assert original.status_code == 404
    assert original.json()["code"] == "photo.original_not_kept"
    assert client.get(f"/photos/{photo['id']}", headers=staff_headers).status_code == 200


def test_a_deletion_rolled_back_keeps_the_original_files(
    keeping_client: TestClient,
    session: Session,
    settings: Settings,
    elodie: User,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = keeping_client
    obs = post_observation(client, headers)
    photo = post_photo(client, obs["id"], headers)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audit, "record", fail)
    with pytest.raises(RuntimeError):
        delete_account(client, headers)

    assert (settings.media_dir / "photos" / obs["id"] / photo["id"] / "original").exists()
    session.expire_all()
    row = session.get(ObservationPhoto, uuid.UUID(photo["id"]))
    assert row is not None and row.has_original and row.exif_latitude is not None
    assert fresh(session, elodie).email == EMAIL
