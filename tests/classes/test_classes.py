"""Classes through the API: a teacher opens a class, pupils join on tablets with a code and a
pseudonym, record an outing, the teacher checks it; the codes, the throttle, closing and the
retention erasure. No child's personal data is stored: only pseudonyms, inside a class."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text, update
from sqlmodel import Session, col, select

from app.accounts.dependencies import PUPILS_ADMITTED
from app.accounts.models import User
from app.classes import service
from app.classes.models import Pupil, SchoolClass
from app.classes.schemas import check_pseudonym
from app.classwork.service import erase_expired_pupils
from app.core.db import utcnow
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from tests.factories import auth_headers, create_user, load_reference_data

SWALLOW, PEACOCK = 3696, 608364
SCHOOL = (50.4585, 2.7830)


def _open(client: TestClient, teacher: User, settings: Settings, **extra: Any) -> dict[str, Any]:
    body = {"name": "CM1 B", "school": "École Basly", "school_year": "2025-2026", **extra}
    answer = client.post("/classes", json=body, headers=auth_headers(teacher, settings))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _join(client: TestClient, code: str, pseudonym: str) -> Any:
    return client.post("/classes/join", json={"join_code": code, "pseudonym": pseudonym})


def _pupil(client: TestClient, code: str, pseudonym: str) -> dict[str, str]:
    answer = _join(client, code, pseudonym)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _sighting(cd_nom: int, when: str, count: int = 1) -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": when,
        "latitude": SCHOOL[0],
        "longitude": SCHOOL[1],
        "count": count,
    }


@pytest.fixture
def teacher(reference_data: None, teacher: User) -> User:
    """The conftest's teacher, on the shipped species and zones loaded again (an upsert)."""
    return teacher


def test_a_class_outing_from_opening_to_the_teachers_check(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    school_class = _open(client, teacher, settings)
    code = school_class["join_code"]
    assert len(code) >= 8 and set(code) <= set(service.CODE_ALPHABET)
    assert not set(code) & set("0O1IL2Z5S8B")
    assert school_class["active"] is True

    # 25 pupils join on the class's tablets; one types the code in lower case with a dash.
    tablets = [_pupil(client, code, f"Renard {i}") for i in range(24)]
    tablets.append(_pupil(client, f"{code[:5].lower()}-{code[5:].lower()}", "Chouette"))
    assert (
        client.get("/classes", headers=auth_headers(teacher, settings)).json()["items"][0]["pupils"]
        == 25
    )

    # The outing: each tablet records what its pupil saw.
    for i, headers in enumerate(tablets):
        cd_nom = SWALLOW if i % 2 else PEACOCK
        answer = client.post(
            "/observations", json=_sighting(cd_nom, "2026-04-14T10:00:00+02:00"), headers=headers
        )
        assert answer.status_code == 201, answer.text
    ids = [o.id for o in session.exec(select(Observation))]
    assert len(ids) == 25
    # Attributed to the class and to the pupil's pseudonym inside it; no account per child.
    account = session.get(User, uuid.UUID(str(_class_row(session).account_id)))
    assert account is not None and account.role == "sentinel"
    assert account.email.endswith("@classes.invalid") and account.password_hash == "!"
    assert {o.observer_id for o in session.exec(select(Observation))} == {account.id}
    assert all(o.pupil_id is not None for o in session.exec(select(Observation)))
    assert session.exec(select(User).where(col(User.email).like("class-%"))).all() == [account]

    # A pupil reads the class's own data (pending included), not other people's.
    mine = client.get("/observations", headers=tablets[0]).json()["items"]
    assert len(mine) == 25 and {o["status"] for o in mine} == {"pending"}

    # The class's observations wait for the teacher before reaching the CPIE's queue.
    ecologist = create_user(session, settings, role=Role.ecologist)
    staff = auth_headers(ecologist, settings)
    assert client.get("/review/observations", headers=staff).json()["items"] == []
    listed = client.get(
        f"/classes/{school_class['id']}/observations?limit=500",
        headers=auth_headers(teacher, settings),
    ).json()["items"]
    assert len(listed) == 25
    # The teacher corrects one count and deletes a mistaken sighting.
    fix = client.patch(
        f"/observations/{listed[0]['id']}",
        json={"count": 3},
        headers=auth_headers(teacher, settings),
    )
    assert fix.status_code == 200, fix.text
    gone = client.delete(
        f"/observations/{listed[1]['id']}", headers=auth_headers(teacher, settings)
    )
    assert gone.status_code == 204
    checked = client.post(
        f"/classes/{school_class['id']}/check",
        json={"ids": [o["id"] for o in listed[2:]] + [listed[0]["id"]]},
        headers=auth_headers(teacher, settings),
    )
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"checked": 24}
    queue = client.get("/review/observations?limit=100", headers=staff).json()["items"]
    assert len(queue) == 24
    # Another teacher can neither see nor touch this class.
    other = create_user(session, settings, role=Role.teacher)
    assert (
        client.post(
            f"/classes/{school_class['id']}/close", headers=auth_headers(other, settings)
        ).status_code
        == 404
    )
    assert (
        client.patch(
            f"/observations/{listed[2]['id']}",
            json={"count": 9},
            headers=auth_headers(other, settings),
        ).status_code
        == 404
    )


def _class_row(session: Session) -> SchoolClass:
    return session.exec(select(SchoolClass)).one()


def test_pupils_tokens_are_scoped_to_the_class(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    code = _open(client, teacher, settings)["join_code"]
    pupil = _pupil(client, code, "Renard")
    for method, path in (
        ("GET", "/exports/observations.csv"),
        ("GET", "/review/observations"),
        ("GET", "/me"),
        ("GET", "/audit"),
        ("POST", "/classes"),
        ("DELETE", f"/observations/{uuid.uuid4()}"),
    ):
        answer = client.request(method, path, headers=pupil)
        assert answer.status_code == 403, (method, path)
        assert answer.json()["code"] == "auth.pupil_not_allowed"
    assert client.get("/species?q=hirondelle", headers=pupil).status_code == 200
    # Another user's pending observation is out of reach.
    sentinel = create_user(session, settings)
    theirs = client.post(
        "/observations",
        json=_sighting(SWALLOW, "2026-04-14T10:00:00+02:00"),
        headers=auth_headers(sentinel, settings),
    ).json()
    assert client.get(f"/observations/{theirs['id']}", headers=pupil).status_code == 404
    assert client.get("/observations", headers=pupil).json()["items"] == []


def test_the_school_garden_is_the_class_site_and_next_year_continues_it(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    first = _open(client, teacher, settings)
    pupil = _pupil(client, first["join_code"], "Renard")
    garden = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": "garden",
            "name": "Jardin de l'école",
            "latitude": SCHOOL[0],
            "longitude": SCHOOL[1],
        },
        headers=pupil,
    )
    assert garden.status_code == 201, garden.text
    visit = client.post(
        f"/sites/{garden.json()['id']}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": "2026-05-12T10:00:00+02:00",
            "duration_min": 20,
            "counts": [{"cd_nom": PEACOCK, "count": 2}],
        },
        headers=pupil,
    )
    assert visit.status_code == 201, visit.text
    client.post(f"/classes/{first['id']}/close", headers=auth_headers(teacher, settings))

    following = _open(client, teacher, settings, school_year="2026-2027", continues=first["id"])
    next_pupil = _pupil(client, following["join_code"], "Renard")  # the same pseudonym is free
    sites = client.get("/sites", headers=next_pupil).json()["items"]
    assert [s["name"] for s in sites] == ["Jardin de l'école"]
    assert sites[0]["class_id"] == first["id"]
    again = client.post(
        f"/sites/{sites[0]['id']}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": "2026-10-06T10:00:00+02:00",
            "duration_min": 20,
            "counts": [{"cd_nom": PEACOCK, "count": 3}],
        },
        headers=next_pupil,
    )
    assert again.status_code == 201, again.text
    # Only one's own classes can be continued.
    other = create_user(session, settings, role=Role.teacher)
    refused = client.post(
        "/classes",
        json={"name": "X", "school": "Y", "school_year": "2026-2027", "continues": first["id"]},
        headers=auth_headers(other, settings),
    )
    assert refused.status_code == 404


def test_a_new_route_is_closed_to_pupils_until_it_admits_them(
    app: FastAPI, client: TestClient, settings: Settings, teacher: User
) -> None:
    """No allow-list to forget: a route added without ``PUPILS_ADMITTED`` refuses a pupil's
    token, even one that asks for no account at all; declaring it opens the route."""

    def hello() -> dict[str, str]:
        return {"hello": "world"}

    app.add_api_route("/api/v1/hello", hello, methods=["GET"])
    app.add_api_route(
        "/api/v1/hello-pupils", hello, methods=["GET"], dependencies=[PUPILS_ADMITTED]
    )
    pupil = _pupil(client, _open(client, teacher, settings)["join_code"], "Blaireau")

    closed = client.get("/hello", headers=pupil)
    assert closed.status_code == 403
    assert closed.json()["code"] == "auth.pupil_not_allowed"
    assert client.get("/hello").json() == {"hello": "world"}
    assert client.get("/hello", headers=auth_headers(teacher, settings)).status_code == 200
    assert client.get("/hello-pupils", headers=pupil).json() == {"hello": "world"}


def test_closing_refuses_every_pupil_token_at_once(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    school_class = _open(client, teacher, settings)
    pupils = [_pupil(client, school_class["join_code"], f"Hibou {i}") for i in range(3)]
    assert all(client.get("/observations", headers=p).status_code == 200 for p in pupils)
    closed = client.post(
        f"/classes/{school_class['id']}/close", headers=auth_headers(teacher, settings)
    )
    assert closed.status_code == 200 and closed.json()["active"] is False
    for headers in pupils:
        answer = client.post(
            "/observations", json=_sighting(SWALLOW, "2026-06-01T10:00:00+02:00"), headers=headers
        )
        assert answer.status_code == 401
        assert answer.json()["code"] == "auth.pupil_revoked"
    # Nobody joins a closed class, and its code answers like an unknown one.
    assert _join(client, school_class["join_code"], "Nouveau").status_code == 404


def test_codes_pseudonyms_and_the_size_of_a_class(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    settings.max_pupils_per_class = 3
    school_class = _open(client, teacher, settings)
    code = school_class["join_code"]
    assert _join(client, code, "Renard").status_code == 201
    taken = _join(client, code, "Renard")
    assert taken.status_code == 409 and taken.json()["code"] == "class.pseudonym_taken"
    for bad in ("lea.martin@gmail.com", "06 12 34 56 78", "+33612345678", "x"):
        answer = _join(client, code, bad)
        assert answer.status_code == 422, bad
    assert _join(client, code, "Hibou").status_code == 201
    assert _join(client, code, "Loutre").status_code == 201
    full = _join(client, code, "Castor")
    assert full.status_code == 409 and full.json()["code"] == "class.full"
    # A new code: the old one stops working, pupils who joined keep theirs.
    renewed = client.post(
        f"/classes/{school_class['id']}/join-code", headers=auth_headers(teacher, settings)
    ).json()
    assert renewed["join_code"] != code
    assert _join(client, code, "Blaireau").status_code == 404
    # Only pseudonyms: no pupil column could hold anything else.
    assert {c["name"] for c in inspect(session.get_bind()).get_columns("pupil")} == {
        "id",
        "class_id",
        "pseudonym",
        "created_at",
        "erased_at",
    }


def test_guessing_join_codes_is_throttled(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    settings.join_max_failures = 4
    code = _open(client, teacher, settings)["join_code"]
    for i in range(4):
        assert _join(client, f"AAAAAAAA{i:02d}", f"Essai {i}").status_code == 404
    blocked = _join(client, code, "Renard")  # even the right code, once blocked
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json()["code"] == "class.too_many_attempts"


def test_retention_erases_pseudonyms_and_keeps_observations(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    school_class = _open(client, teacher, settings)
    pupil = _pupil(client, school_class["join_code"], "Renard")
    posted = client.post(
        "/observations", json=_sighting(SWALLOW, "2026-04-14T10:00:00+02:00"), headers=pupil
    )
    assert posted.status_code == 201
    session.execute(update(Observation).values(status="validated"))
    session.flush()
    before = client.get("/stats/yearly?cd_nom=3696&from_year=2026&to_year=2026").json()["items"]
    assert erase_expired_pupils(session, settings) == 0  # still open
    client.post(f"/classes/{school_class['id']}/close", headers=auth_headers(teacher, settings))
    assert erase_expired_pupils(session, settings) == 0  # not yet past the retention
    later = utcnow() + timedelta(days=settings.pupil_retention_days + 1)
    assert erase_expired_pupils(session, settings, now=later) == 1
    assert erase_expired_pupils(session, settings, now=later) == 0  # done once
    pupil_row = session.exec(select(Pupil)).one()
    assert pupil_row.pseudonym is None and pupil_row.erased_at is not None
    observation = session.exec(select(Observation)).one()
    assert observation.pupil_id is None and observation.deleted_at is None
    assert observation.observer_id == uuid.UUID(str(_class_row(session).account_id))
    after = client.get("/stats/yearly?cd_nom=3696&from_year=2026&to_year=2026").json()["items"]
    assert after == before and after[0]["observations"] == 1
    names = session.execute(text("SELECT pseudonym FROM pupil")).scalars().all()
    assert names == [None]


def test_teacher_invitations(client: TestClient, session: Session, settings: Settings) -> None:
    load_reference_data(session)
    admin = create_user(session, settings, role=Role.admin)
    code = client.post("/teacher-invitations", headers=auth_headers(admin, settings)).json()["code"]
    body = {"email": "prof@ecole.fr", "password": "observer-la-nature", "display_name": "Prof"}
    registered = client.post("/auth/register", json={**body, "invitation_code": code})
    assert registered.status_code == 201, registered.text
    assert registered.json()["role"] == "teacher"
    again = client.post(
        "/auth/register",
        json={**body, "email": "autre@ecole.fr", "invitation_code": code},
    )
    assert again.status_code == 422 and again.json()["code"] == "user.invalid_invitation"
    assert session.exec(select(User).where(col(User.email) == "autre@ecole.fr")).first() is None
    # The role cannot be given by hand.
    assert (
        client.patch(
            f"/users/{registered.json()['id']}",
            json={"role": "class"},
            headers=auth_headers(admin, settings),
        ).status_code
        == 422
    )


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("Renard 12", True),
        ("Petit Hibou", True),
        ("ana@ecole", False),
        ("07.12.34.56.78", False),
        ("CM1 2026", True),
    ],
)
def test_pseudonym_rules(raw: str, ok: bool) -> None:
    if ok:
        assert check_pseudonym(raw) == raw
    else:
        with pytest.raises(ValueError):
            check_pseudonym(raw)


def test_a_class_lists_its_own_sightings_only_this_year_and_the_next(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    """A class's list is the class's sightings, not the town's: residents' validated sightings
    (which anyone may see) and another class's stay out, for the teacher and for the pupils.
    The class that continues it next year shares its observer, so both years' lists hold the
    sightings of both years' pupils, and only those."""
    residents = [create_user(session, settings, display_name=f"Voisin {i}") for i in range(3)]
    theirs = [
        client.post(
            "/observations",
            json=_sighting(SWALLOW, f"2026-04-1{i}T09:00:00+02:00"),
            headers=auth_headers(resident, settings),
        ).json()["id"]
        for i, resident in enumerate(residents)
    ]
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in theirs[:2]]))
        .values(status="validated")
    )
    session.flush()
    elsewhere = create_user(session, settings, role=Role.teacher)
    other_class = _open(client, elsewhere, settings, name="CE2")
    _record(client, _pupil(client, other_class["join_code"], "Loutre"), "2026-04-15")

    first = _open(client, teacher, settings)
    ours = [
        _record(client, _pupil(client, first["join_code"], name), day)
        for name, day in (("Renard", "2026-04-14"), ("Hibou", "2026-05-02"))
    ]
    assert _class_list(client, teacher, settings, first["id"]) == set(ours)
    client.post(f"/classes/{first['id']}/close", headers=auth_headers(teacher, settings))

    following = _open(client, teacher, settings, school_year="2026-2027", continues=first["id"])
    next_pupil = _pupil(client, following["join_code"], "Renard")
    ours.append(_record(client, next_pupil, "2026-10-06"))
    for class_id in (first["id"], following["id"]):
        assert _class_list(client, teacher, settings, class_id) == set(ours)
        mine = _class_list(client, teacher, settings, class_id, "&mine=true")
        assert mine == set(ours)
    pupils_list = client.get("/observations?limit=500", headers=next_pupil).json()["items"]
    assert {o["id"] for o in pupils_list} == set(ours)
    # The residents' validated sightings are there for anyone else to see.
    public = {o["id"] for o in client.get("/observations?limit=500").json()["items"]}
    assert set(theirs[:2]) <= public


def _record(client: TestClient, pupil: dict[str, str], day: str) -> str:
    answer = client.post(
        "/observations", json=_sighting(PEACOCK, f"{day}T10:00:00+02:00"), headers=pupil
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _class_list(
    client: TestClient, teacher: User, settings: Settings, class_id: str, query: str = ""
) -> set[str]:
    answer = client.get(
        f"/classes/{class_id}/observations?limit=500{query}",
        headers=auth_headers(teacher, settings),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return {o["id"] for o in answer.json()["items"]}


def test_a_whole_class_behind_one_address_mistyping_the_code_still_joins(
    client: TestClient, session: Session, settings: Settings, teacher: User
) -> None:
    """A school's NAT: 30 pupils type the code on their tablets, each mistyping it three times
    first (90 failures from one address in a few minutes); with the default limits, every one
    of them joins."""
    code = _open(client, teacher, settings)["join_code"]
    for pupil in range(30):
        for typo in range(3):
            assert _join(client, f"{code[:-1]}{typo}", f"Élève {pupil}").status_code == 404
        assert _join(client, code, f"Élève {pupil}").status_code == 201, pupil
