"""Visits to survey sites through the HTTP API: counting nests at a façade and butterflies in a
garden, the batch a phone syncs, the lists, corrections and deletions, and each site's yearly
values as its owner reads them."""

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
from app.species.models import Species
from app.surveys.models import Visit, VisitCount
from tests.factories import auth_headers
from tests.surveys.test_sites import TRANSECT_LINE, create_site, ids, problem_fields
from tests.surveys.test_sites import payload as site_payload

SWALLOW = 3696  # Hirondelle rustique
HOUSE_MARTIN = 459478  # Hirondelle de fenêtre
SAND_MARTIN = 3688  # Hirondelle de rivage
SWIFT = 3551  # Martinet noir
PEACOCK = 608364  # Paon-du-jour (a butterfly)
SMALL_WHITE = 219831  # Piéride de la Rave
RED_ADMIRAL = 53741  # Vulcain

VISIT_FIELDS = {
    "id", "client_id", "site_id", "observer_id", "started_at", "duration_min", "observers",
    "complete", "weather", "notes", "counts", "status", "flags", "created_at", "updated_at",
    "deleted",
}  # fmt: skip
COUNT_FIELDS = {
    "species_id", "cd_nom", "count", "occupied", "unoccupied", "destroyed", "artificial",
}  # fmt: skip


def nest_visit(**overrides: Any) -> dict[str, Any]:
    """A valid visit to a façade as the phone sends it; ``overrides`` replace or add fields,
    and a value of ``...`` removes the field."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "started_at": "2026-05-16T09:30:00+02:00",
        "duration_min": 30,
        "observers": 2,
        "complete": True,
        "notes": "deux nids refaits sous le balcon du 18",
        "counts": [
            {"cd_nom": HOUSE_MARTIN, "occupied": 5, "unoccupied": 2, "destroyed": 0,
             "artificial": False},
            {"cd_nom": HOUSE_MARTIN, "occupied": 1, "unoccupied": 0, "destroyed": 0,
             "artificial": True},
            {"cd_nom": SWALLOW, "occupied": 2, "destroyed": 1},
        ],
    }  # fmt: skip
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def garden_visit(**overrides: Any) -> dict[str, Any]:
    """A valid butterfly count in a garden; ``overrides`` as for :func:`nest_visit`."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "started_at": "2026-07-04T14:00:00+02:00",
        "duration_min": 20,
        "observers": 1,
        "complete": True,
        "weather": {"temperature_c": 24, "wind": "leger", "cloud_pct": 20},
        "counts": [{"cd_nom": PEACOCK, "count": 4}, {"cd_nom": SMALL_WHITE, "count": 2}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def nests(cd_nom: int, occupied: int, *, artificial: bool = False) -> dict[str, Any]:
    return {"cd_nom": cd_nom, "occupied": occupied, "artificial": artificial}


def post_visit(client: TestClient, user: User, settings: Settings, site_id: str, body: Any) -> Any:
    return client.post(f"/sites/{site_id}/visits", json=body, headers=auth_headers(user, settings))


def add_visit(
    client: TestClient, user: User, settings: Settings, site_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = post_visit(client, user, settings, site_id, body)
    assert r.status_code == 201, r.text
    return r.json()


def send_batch(client: TestClient, user: User, settings: Settings, body: Any) -> Any:
    return client.post("/visits/batch", json=body, headers=auth_headers(user, settings))


def species_id(session: Session, cd_nom: int) -> str:
    return str(session.exec(select(Species).where(Species.cd_nom == cd_nom)).one().id)


def visit_rows(session: Session, *, observer_id: uuid.UUID, client_id: str | None = None) -> int:
    query = select(func.count()).select_from(Visit).where(col(Visit.observer_id) == observer_id)
    if client_id is not None:
        query = query.where(col(Visit.client_id) == uuid.UUID(client_id))
    return session.exec(query).one()


def count_rows(session: Session, visit_id: str) -> list[tuple[int | None, int | None, bool]]:
    """The stored figures of a visit, ``(count, occupied, artificial)``, sorted."""
    rows = session.exec(
        select(VisitCount.count, VisitCount.occupied, VisitCount.artificial).where(
            col(VisitCount.visit_id) == uuid.UUID(visit_id)
        )
    ).all()
    return sorted(((count, occupied, artificial) for count, occupied, artificial in rows), key=str)


def set_visit(session: Session, visit_id: str, **values: Any) -> None:
    """What a review (``status``) or the passing of time (``updated_at``) does to a visit,
    without the endpoints that do it."""
    session.execute(update(Visit).where(col(Visit.id) == uuid.UUID(visit_id)).values(**values))
    session.flush()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Each test starts from the shipped species and zones, loaded again (an upsert).
pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def facade(client: TestClient, settings: Settings, sentinel: User) -> dict[str, Any]:
    """The sentinel's nest site."""
    return create_site(client, sentinel, settings, name="Façades rue Jean Jaurès")


@pytest.fixture
def garden(client: TestClient, settings: Settings, sentinel: User) -> dict[str, Any]:
    """The sentinel's garden."""
    return create_site(client, sentinel, settings, kind="garden", name="Jardin des Tilleuls")


# --- capture -----------------------------------------------------------------------------------


def test_nest_visit_answers_201_with_every_field(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    body = nest_visit()
    before = datetime.now(UTC)
    r = post_visit(client, sentinel, settings, facade["id"], body)
    after = datetime.now(UTC)

    assert r.status_code == 201, r.text
    visit = r.json()
    assert set(visit) == VISIT_FIELDS
    uuid.UUID(visit["id"])
    assert visit["client_id"] == body["client_id"]
    assert visit["site_id"] == facade["id"]
    assert visit["observer_id"] == str(sentinel.id)
    assert utc(visit["started_at"]) == datetime(2026, 5, 16, 7, 30, tzinfo=UTC)
    assert utc(visit["started_at"]).utcoffset() == timedelta(0)
    assert visit["duration_min"] == 30
    assert visit["observers"] == 2
    assert visit["complete"] is True
    assert visit["weather"] is None
    assert visit["notes"] == "deux nids refaits sous le balcon du 18"
    assert visit["status"] == "pending"
    assert visit["flags"] == []
    assert visit["deleted"] is False
    created = utc(visit["created_at"])
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    assert visit["updated_at"] == visit["created_at"]
    # Natural nests and nest boxes of the same species are two entries; by cd_nom.
    martin, swallow = species_id(session, HOUSE_MARTIN), species_id(session, SWALLOW)
    assert visit["counts"] == [
        {"species_id": swallow, "cd_nom": SWALLOW, "count": None, "occupied": 2,
         "unoccupied": None, "destroyed": 1, "artificial": False},
        {"species_id": martin, "cd_nom": HOUSE_MARTIN, "count": None, "occupied": 5,
         "unoccupied": 2, "destroyed": 0, "artificial": False},
        {"species_id": martin, "cd_nom": HOUSE_MARTIN, "count": None, "occupied": 1,
         "unoccupied": 0, "destroyed": 0, "artificial": True},
    ]  # fmt: skip

    again = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert again.status_code == 200, again.text
    assert again.json() == visit


def test_garden_visit_counts_individuals_with_the_weather(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    garden: dict[str, Any],
) -> None:
    visit = add_visit(client, sentinel, settings, garden["id"], garden_visit())
    assert set(visit) == VISIT_FIELDS
    assert visit["site_id"] == garden["id"]
    assert utc(visit["started_at"]) == datetime(2026, 7, 4, 12, 0, tzinfo=UTC)
    assert visit["weather"] == {"temperature_c": 24, "wind": "leger", "cloud_pct": 20}
    assert visit["flags"] == []
    assert visit["counts"] == [
        {"species_id": species_id(session, SMALL_WHITE), "cd_nom": SMALL_WHITE, "count": 2,
         "occupied": None, "unoccupied": None, "destroyed": None, "artificial": None},
        {"species_id": species_id(session, PEACOCK), "cd_nom": PEACOCK, "count": 4,
         "occupied": None, "unoccupied": None, "destroyed": None, "artificial": None},
    ]  # fmt: skip
    for count in visit["counts"]:
        assert set(count) == COUNT_FIELDS
    read = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == visit


def test_transect_visit_counts_individuals(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    transect = create_site(client, sentinel, settings, kind="transect", geometry=TRANSECT_LINE)
    visit = add_visit(client, sentinel, settings, transect["id"],
                      garden_visit(counts=[{"cd_nom": RED_ADMIRAL, "count": 0}]))  # fmt: skip
    assert [(c["cd_nom"], c["count"]) for c in visit["counts"]] == [(RED_ADMIRAL, 0)]


def test_species_id_instead_of_cd_nom(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    garden: dict[str, Any],
) -> None:
    peacock = species_id(session, PEACOCK)
    body = garden_visit(counts=[{"species_id": peacock, "count": 3},
                                {"species_id": species_id(session, SMALL_WHITE),
                                 "cd_nom": SMALL_WHITE, "count": 1}])  # fmt: skip
    visit = add_visit(client, sentinel, settings, garden["id"], body)
    assert {(c["species_id"], c["cd_nom"], c["count"]) for c in visit["counts"]} == {
        (peacock, PEACOCK, 3),
        (species_id(session, SMALL_WHITE), SMALL_WHITE, 1),
    }


def test_defaults_and_optional_fields(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    body = nest_visit(observers=..., complete=..., notes=..., counts=..., weather=...)
    visit = add_visit(client, sentinel, settings, facade["id"], body)
    assert visit["observers"] == 1
    assert visit["complete"] is False
    assert visit["notes"] is None
    assert visit["weather"] is None
    assert visit["counts"] == []


def test_weather_in_part(
    client: TestClient, settings: Settings, sentinel: User, garden: dict[str, Any]
) -> None:
    visit = add_visit(client, sentinel, settings, garden["id"],
                      garden_visit(weather={"wind": "fort"}))  # fmt: skip
    assert visit["weather"] == {"temperature_c": None, "wind": "fort", "cloud_pct": None}


def test_bounds_just_inside_are_accepted(
    client: TestClient, settings: Settings, sentinel: User, garden: dict[str, Any]
) -> None:
    body = garden_visit(
        duration_min=1440, observers=100, notes="n" * 2000,
        weather={"temperature_c": -30, "wind": "nul", "cloud_pct": 100},
        counts=[{"cd_nom": PEACOCK, "count": 100000}, {"cd_nom": SMALL_WHITE, "count": 0}],
    )  # fmt: skip
    visit = add_visit(client, sentinel, settings, garden["id"], body)
    assert (visit["duration_min"], visit["observers"], len(visit["notes"])) == (1440, 100, 2000)
    assert visit["weather"] == {"temperature_c": -30, "wind": "nul", "cloud_pct": 100}
    assert sorted(c["count"] for c in visit["counts"]) == [0, 100000]
    body = garden_visit(duration_min=1, weather={"temperature_c": 50, "cloud_pct": 0})
    low = add_visit(client, sentinel, settings, garden["id"], body)
    assert low["duration_min"] == 1
    assert low["weather"]["temperature_c"] == 50
    assert low["weather"]["cloud_pct"] == 0


def test_nest_figures_up_to_10000(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    body = nest_visit(counts=[{"cd_nom": SWIFT, "occupied": 10000, "unoccupied": 10000,
                               "destroyed": 10000}])  # fmt: skip
    visit = add_visit(client, sentinel, settings, facade["id"], body)
    assert visit["counts"][0]["occupied"] == 10000
    too_many = post_visit(client, sentinel, settings, facade["id"],
                          nest_visit(counts=[{"cd_nom": SWIFT, "occupied": 10001}]))  # fmt: skip
    assert problem_fields(too_many) == ["counts[0].occupied"]


def test_started_at_just_ahead_of_the_clock_is_accepted(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    visit = add_visit(client, sentinel, settings, facade["id"],
                      nest_visit(started_at=soon.isoformat()))  # fmt: skip
    assert abs(utc(visit["started_at"]) - soon) < timedelta(seconds=1)


def test_resending_the_same_client_id_answers_200_and_changes_nothing(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    body = nest_visit()
    first = post_visit(client, sentinel, settings, facade["id"], body)
    assert first.status_code == 201, first.text
    changed = {**body, "duration_min": 90, "notes": "autre chose", "complete": False,
               "counts": [nests(SWIFT, 9)]}  # fmt: skip
    for resent in (body, changed):
        again = post_visit(client, sentinel, settings, facade["id"], resent)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    read = client.get(f"/visits/{first.json()['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == first.json()
    assert visit_rows(session, observer_id=sentinel.id, client_id=body["client_id"]) == 1
    assert visit_rows(session, observer_id=sentinel.id) == 1
    assert len(count_rows(session, first.json()["id"])) == 3


def test_the_same_client_id_from_two_observers_makes_two_visits(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    body = nest_visit()
    mine = add_visit(client, sentinel, settings, facade["id"], body)
    theirs = add_visit(client, ecologist, settings, facade["id"], {**body, "duration_min": 60})
    assert mine["id"] != theirs["id"]
    assert (mine["duration_min"], theirs["duration_min"]) == (30, 60)
    assert visit_rows(session, observer_id=sentinel.id, client_id=body["client_id"]) == 1
    assert visit_rows(session, observer_id=ecologist.id, client_id=body["client_id"]) == 1


def test_unknown_or_malformed_visit_id(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    unknown = client.get(f"/visits/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "visit.not_found"
    assert problem_fields(client.get("/visits/42", headers=headers)) == ["visit_id"]


def test_visit_needs_a_signed_in_user(client: TestClient, facade: dict[str, Any]) -> None:
    r = client.post(f"/sites/{facade['id']}/visits", json=nest_visit())
    assert r.status_code == 401
    assert r.json()["code"] == "auth.unauthenticated"
    for path in (f"/sites/{facade['id']}/visits", "/visits", f"/visits/{uuid.uuid4()}"):
        assert client.get(path).status_code == 401, path
    assert client.post("/visits/batch", json={"visits": []}).status_code == 401


# --- what is refused ---------------------------------------------------------------------------


def _future() -> str:
    return (datetime.now(UTC) + timedelta(minutes=15)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"started_at": _future}, "started_at", "visit.started_at_in_future"),
        ({"started_at": "2026-05-16T09:30:00"}, "started_at", "request.invalid"),
        ({"started_at": "1899-12-31T23:59:00Z"}, "started_at", "visit.started_at_too_old"),
        ({"started_at": 1778916600}, "started_at", "request.invalid"),
        ({"started_at": "hier"}, "started_at", "request.invalid"),
        ({"started_at": ...}, "started_at", "request.invalid"),
        ({"duration_min": 0}, "duration_min", "request.invalid"),
        ({"duration_min": 1441}, "duration_min", "request.invalid"),
        ({"duration_min": ...}, "duration_min", "request.invalid"),
        ({"observers": 0}, "observers", "request.invalid"),
        ({"observers": 101}, "observers", "request.invalid"),
        ({"weather": {"temperature_c": 51}}, "weather.temperature_c", "request.invalid"),
        ({"weather": {"temperature_c": -31}}, "weather.temperature_c", "request.invalid"),
        ({"weather": {"wind": "tempete"}}, "weather.wind", "request.invalid"),
        ({"weather": {"cloud_pct": 101}}, "weather.cloud_pct", "request.invalid"),
        ({"weather": {"cloud_pct": -1}}, "weather.cloud_pct", "request.invalid"),
        ({"weather": {"rain": True}}, "weather.rain", "request.invalid"),
        ({"notes": "x" * 2001}, "notes", "request.invalid"),
        ({"notes": "nul\x00"}, "notes", "request.unstorable_text"),
        ({"client_id": "abc"}, "client_id", "request.invalid"),
        ({"client_id": ...}, "client_id", "request.invalid"),
        ({"site_id": str(uuid.uuid4())}, "site_id", "request.invalid"),
        ({"counts": [{"cd_nom": SWIFT, "occupied": -1}]}, "counts[0].occupied",
         "request.invalid"),
        ({"counts": [{"cd_nom": SWIFT, "occupied": 1, "unoccupied": -1}]},
         "counts[0].unoccupied", "request.invalid"),
        ({"counts": [{"cd_nom": SWIFT, "occupied": 1, "destroyed": -2}]},
         "counts[0].destroyed", "request.invalid"),
        ({"counts": [{"cd_nom": SWIFT, "occupied": 1, "colour": "bleu"}]},
         "counts[0].colour", "request.invalid"),
        ({"counts": [{"occupied": 1}]}, "counts[0]", "visit.species_required"),
        ({"counts": [nests(SWIFT + i, 1) for i in range(201)]}, "counts", "request.invalid"),
        ({"counts": {"cd_nom": SWIFT, "occupied": 1}}, "counts", "request.invalid"),
    ],
)  # fmt: skip
def test_invalid_visit_is_422_naming_the_field(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    values = {k: v() if callable(v) else v for k, v in overrides.items()}
    r = post_visit(client, sentinel, settings, facade["id"], nest_visit(**values))
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    assert visit_rows(session, observer_id=sentinel.id) == 0


@pytest.mark.parametrize(
    ("counts", "field", "code"),
    [
        ([{"cd_nom": PEACOCK, "count": -1}], "counts[0].count", "request.invalid"),
        ([{"cd_nom": PEACOCK, "count": 100001}], "counts[0].count", "request.invalid"),
        ([{"cd_nom": PEACOCK, "count": 2.5}], "counts[0].count", "request.invalid"),
        ([{"cd_nom": 0, "count": 1}], "counts[0].cd_nom", "request.invalid"),
        ([{"cd_nom": 99999999, "count": 1}], "counts.0.cd_nom", "visit.unknown_species"),
        ([{"species_id": str(uuid.uuid4()), "count": 1}], "counts.0.species_id",
         "visit.unknown_species"),
        ([{"cd_nom": PEACOCK, "occupied": 3}], "counts.0", "visit.count_kind_mismatch"),
        ([{"cd_nom": PEACOCK, "count": 3, "artificial": False}], "counts.0",
         "visit.count_kind_mismatch"),
        ([{"cd_nom": PEACOCK}], "counts.0.count", "visit.count_required"),
        ([{"cd_nom": PEACOCK, "count": 1}, {"cd_nom": PEACOCK, "count": 2}], "counts.1",
         "visit.duplicate_species"),
    ],
)  # fmt: skip
def test_counts_that_do_not_suit_a_garden_are_422(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    garden: dict[str, Any],
    counts: list[dict[str, Any]],
    field: str,
    code: str,
) -> None:
    r = post_visit(client, sentinel, settings, garden["id"], garden_visit(counts=counts))
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    assert visit_rows(session, observer_id=sentinel.id) == 0


@pytest.mark.parametrize(
    ("counts", "field", "code"),
    [
        ([{"cd_nom": 99999999, "occupied": 1}], "counts.0.cd_nom", "visit.unknown_species"),
        ([{"cd_nom": SWALLOW, "count": 3}], "counts.0.count", "visit.count_kind_mismatch"),
        ([{"cd_nom": SWALLOW, "occupied": 1, "count": 3}], "counts.0.count",
         "visit.count_kind_mismatch"),
        ([{"cd_nom": SWALLOW, "unoccupied": 2}], "counts.0.occupied",
         "visit.occupied_required"),
        ([nests(PEACOCK, 1)], "counts.0.cd_nom", "visit.not_a_nesting_species"),
        ([nests(SWALLOW, 1), nests(SWIFT, 1), nests(SWALLOW, 2)], "counts.2",
         "visit.duplicate_species"),
        ([nests(SWALLOW, 1, artificial=True), nests(SWALLOW, 2, artificial=True)], "counts.1",
         "visit.duplicate_species"),
    ],
)  # fmt: skip
def test_counts_that_do_not_suit_a_nest_site_are_422(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    counts: list[dict[str, Any]],
    field: str,
    code: str,
) -> None:
    r = post_visit(client, sentinel, settings, facade["id"], nest_visit(counts=counts))
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    assert r.json()["errors"][0]["code"] == code
    assert visit_rows(session, observer_id=sentinel.id) == 0


def test_butterfly_given_by_species_id_at_a_nest_site_names_species_id(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    counts = [{"species_id": species_id(session, PEACOCK), "occupied": 1}]
    r = post_visit(client, sentinel, settings, facade["id"], nest_visit(counts=counts))
    assert problem_fields(r) == ["counts.0.species_id"]
    assert r.json()["code"] == "visit.not_a_nesting_species"


def test_species_id_and_cd_nom_that_disagree_are_refused(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    counts = [{"species_id": species_id(session, SWALLOW), "cd_nom": HOUSE_MARTIN, "occupied": 1}]
    r = post_visit(client, sentinel, settings, facade["id"], nest_visit(counts=counts))
    assert problem_fields(r) == ["counts.0.cd_nom"]
    assert r.json()["code"] == "visit.species_mismatch"


def test_every_bad_count_is_named_at_once(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    counts = [nests(PEACOCK, 1), nests(SWALLOW, 3), {"cd_nom": 99999999, "occupied": 1}]
    r = post_visit(client, sentinel, settings, facade["id"], nest_visit(counts=counts))
    assert problem_fields(r) == ["counts.0.cd_nom", "counts.2.cd_nom"]
    assert [e["code"] for e in r.json()["errors"]] == [
        "visit.not_a_nesting_species", "visit.unknown_species",
    ]  # fmt: skip


def test_every_reference_species_in_one_visit(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    """The 200-entry limit itself is checked by the schema (the 201-entry case above): the
    shipped reference has fewer species than that, and a transect takes any of them."""
    transect = create_site(client, sentinel, settings, kind="transect", geometry=TRANSECT_LINE)
    species = session.exec(select(Species.cd_nom).order_by(col(Species.cd_nom))).all()
    assert len(species) >= 20
    body = garden_visit(counts=[{"cd_nom": c, "count": 1} for c in species])
    visit = add_visit(client, sentinel, settings, transect["id"], body)
    assert len(visit["counts"]) == len(species)


def test_body_that_is_not_an_object_is_422(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    r = post_visit(client, sentinel, settings, facade["id"], [nest_visit()])
    assert problem_fields(r) == ["body"]


# --- seasons -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "started_at", "flags"),
    [
        ("nest_site", "2026-03-20T10:00:00+01:00", ["out_of_season"]),  # March
        ("nest_site", "2026-03-31T21:30:00Z", ["out_of_season"]),  # 23:30 on 31 March in Paris
        ("nest_site", "2026-03-31T23:30:00Z", []),  # 01:30 on 1 April in Paris
        ("nest_site", "2026-08-31T21:30:00Z", []),  # 23:30 on 31 August in Paris
        ("nest_site", "2026-08-31T22:30:00Z", ["out_of_season"]),  # 1 September in Paris
        ("nest_site", "2025-12-24T10:00:00+01:00", ["out_of_season"]),
        ("garden", "2025-11-08T14:00:00+01:00", ["out_of_season"]),  # November
        ("garden", "2026-02-28T23:30:00Z", []),  # 1 March in Paris
        ("garden", "2025-10-31T23:30:00Z", ["out_of_season"]),  # 00:30 on 1 November in Paris
        ("garden", "2025-10-31T21:30:00Z", []),  # 22:30 on 31 October in Paris
        ("transect", "2026-01-15T10:00:00+01:00", ["out_of_season"]),
        ("transect", "2026-06-15T10:00:00+02:00", []),
    ],
)
def test_visit_out_of_season_is_stored_with_a_flag(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    kind: str,
    started_at: str,
    flags: list[str],
) -> None:
    geometry = TRANSECT_LINE if kind == "transect" else None
    site = create_site(client, sentinel, settings, kind=kind, geometry=geometry)
    body = nest_visit if kind == "nest_site" else garden_visit
    r = post_visit(client, sentinel, settings, site["id"], body(started_at=started_at))
    assert r.status_code == 201, r.text
    assert r.json()["flags"] == flags
    read = client.get(f"/visits/{r.json()['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["flags"] == flags


# --- who counts where --------------------------------------------------------------------------


def test_another_sentinel_may_not_count_at_my_site(
    client: TestClient,
    session: Session,
    settings: Settings,
    other: User,
    facade: dict[str, Any],
) -> None:
    r = post_visit(client, other, settings, facade["id"], nest_visit())
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "site.not_found"
    assert visit_rows(session, observer_id=other.id) == 0


def test_visit_to_an_unknown_or_deleted_site_is_404(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    unknown = post_visit(client, sentinel, settings, str(uuid.uuid4()), nest_visit())
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "site.not_found"
    client.delete(f"/sites/{facade['id']}", headers=auth_headers(sentinel, settings))
    deleted = post_visit(client, sentinel, settings, facade["id"], nest_visit())
    assert deleted.status_code == 404


def test_ecologist_counts_at_my_site(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    visit = add_visit(client, ecologist, settings, facade["id"], nest_visit())
    assert visit["observer_id"] == str(ecologist.id)
    assert visit["site_id"] == facade["id"]
    # The site's owner sees it, at the site and in their sync.
    mine = auth_headers(sentinel, settings)
    assert client.get(f"/visits/{visit['id']}", headers=mine).json() == visit
    assert ids(client.get(f"/sites/{facade['id']}/visits", headers=mine).json()) == [visit["id"]]
    assert ids(client.get("/visits", headers=mine).json()) == [visit["id"]]


# --- batch -------------------------------------------------------------------------------------


def test_mixed_batch_answers_each_item_in_order(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    garden: dict[str, Any],
) -> None:
    already = nest_visit()
    first = post_visit(client, sentinel, settings, facade["id"], already)
    assert first.status_code == 201

    good_nest = nest_visit(site_id=facade["id"], counts=[nests(SWIFT, 7)])
    bad_duration = nest_visit(site_id=facade["id"], duration_min=0)
    resent = {**already, "site_id": facade["id"], "notes": "changé"}
    unknown_species = garden_visit(site_id=garden["id"], counts=[{"cd_nom": 99999999, "count": 1}])
    good_garden = garden_visit(site_id=garden["id"])
    many_errors = nest_visit(site_id=facade["id"], observers=0, notes="x" * 2001, colour="bleu")
    items = [good_nest, bad_duration, resent, unknown_species, good_garden, many_errors]

    r = send_batch(client, sentinel, settings, {"visits": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "created", "rejected", "existing", "rejected", "created", "rejected",
    ]  # fmt: skip
    assert [x["client_id"] for x in results] == [i["client_id"] for i in items]
    for x in results:
        assert set(x) == {"client_id", "status", "id", "errors"}
    assert results[0]["errors"] == []
    assert results[2]["id"] == first.json()["id"]
    assert results[1]["id"] is None
    assert [e["field"] for e in results[1]["errors"]] == ["duration_min"]
    assert [e["field"] for e in results[3]["errors"]] == ["counts.0.cd_nom"]
    assert results[3]["errors"][0]["code"] == "visit.unknown_species"
    assert {e["field"] for e in results[5]["errors"]} == {"observers", "notes", "colour"}

    # What was created is stored as a single POST would have stored it.
    headers = auth_headers(sentinel, settings)
    swift_visit = client.get(f"/visits/{results[0]['id']}", headers=headers).json()
    assert swift_visit["site_id"] == facade["id"]
    assert [(c["cd_nom"], c["occupied"], c["artificial"]) for c in swift_visit["counts"]] == [
        (SWIFT, 7, False)
    ]
    assert swift_visit["status"] == "pending"
    assert utc(swift_visit["started_at"]) == datetime(2026, 5, 16, 7, 30, tzinfo=UTC)
    garden_stored = client.get(f"/visits/{results[4]['id']}", headers=headers).json()
    assert garden_stored["site_id"] == garden["id"]
    assert garden_stored["weather"] == {"temperature_c": 24, "wind": "leger", "cloud_pct": 20}
    unchanged = client.get(f"/visits/{first.json()['id']}", headers=headers).json()
    assert unchanged == first.json()
    assert visit_rows(session, observer_id=sentinel.id) == 3


def test_a_client_id_twice_in_one_batch(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    item = nest_visit(site_id=facade["id"])
    r = send_batch(client, sentinel, settings, {"visits": [item, {**item, "duration_min": 9}]})
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "existing"]
    assert results[0]["id"] == results[1]["id"]
    assert visit_rows(session, observer_id=sentinel.id, client_id=item["client_id"]) == 1
    stored = client.get(f"/visits/{results[0]['id']}", headers=auth_headers(sentinel, settings))
    assert stored.json()["duration_min"] == 30


def test_a_site_and_its_visits_in_one_go(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site_body = site_payload(kind="garden", name="Cour de l'école")
    site = client.post("/sites", json=site_body, headers=auth_headers(sentinel, settings))
    assert site.status_code == 201
    items = [
        garden_visit(site_client_id=site_body["client_id"], started_at="2026-05-02T10:00:00Z"),
        garden_visit(site_client_id=site_body["client_id"], started_at="2026-06-02T10:00:00Z"),
    ]
    r = send_batch(client, sentinel, settings, {"visits": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "created"]
    listed = client.get(
        f"/sites/{site.json()['id']}/visits", headers=auth_headers(sentinel, settings)
    ).json()
    assert ids(listed) == [results[1]["id"], results[0]["id"]]
    assert {v["site_id"] for v in listed["items"]} == {site.json()["id"]}


@pytest.mark.parametrize("naming", ["site_id", "site_client_id"])
def test_someone_elses_site_is_unknown_in_a_batch(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    facade: dict[str, Any],
    naming: str,
) -> None:
    key = facade["id"] if naming == "site_id" else facade["client_id"]
    r = send_batch(client, other, settings, {"visits": [nest_visit(**{naming: key})]})
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert result["status"] == "rejected"
    assert result["id"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == [(naming, "visit.unknown_site")]
    assert visit_rows(session, observer_id=other.id) == 0


@pytest.mark.parametrize("naming", ["site_id", "site_client_id"])
def test_unknown_or_deleted_site_is_unknown_in_a_batch(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    naming: str,
) -> None:
    client.delete(f"/sites/{facade['id']}", headers=auth_headers(sentinel, settings))
    deleted = facade["id"] if naming == "site_id" else facade["client_id"]
    items = [nest_visit(**{naming: str(uuid.uuid4())}), nest_visit(**{naming: deleted})]
    results = send_batch(client, sentinel, settings, {"visits": items}).json()["results"]
    assert [x["status"] for x in results] == ["rejected", "rejected"]
    for x in results:
        assert [(e["field"], e["code"]) for e in x["errors"]] == [(naming, "visit.unknown_site")]


def test_ecologist_batches_visits_at_a_sentinels_site(
    client: TestClient,
    settings: Settings,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    r = send_batch(client, ecologist, settings, {"visits": [nest_visit(site_id=facade["id"])]})
    assert [x["status"] for x in r.json()["results"]] == ["created"]


def test_a_batch_item_without_a_site_is_rejected(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    item = nest_visit()
    r = send_batch(client, sentinel, settings, {"visits": [item]})
    [result] = r.json()["results"]
    assert result["status"] == "rejected"
    assert result["client_id"] == item["client_id"]
    assert [e["code"] for e in result["errors"]] == ["visit.site_required"]
    assert visit_rows(session, observer_id=sentinel.id) == 0


@pytest.mark.parametrize("item", [42, "visite", None, [1, 2], True])
def test_a_batch_item_that_is_not_an_object_is_rejected(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    item: Any,
) -> None:
    good = nest_visit(site_id=facade["id"])
    r = send_batch(client, sentinel, settings, {"visits": [item, good]})
    assert r.status_code == 200, r.text
    rejected, created = r.json()["results"]
    assert rejected["status"] == "rejected"
    assert rejected["client_id"] is None
    assert rejected["id"] is None
    assert [e["field"] for e in rejected["errors"]] == ["body"]
    assert created["status"] == "created"


def test_a_batch_item_that_is_not_an_object_has_a_domain_code(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    """Every code the app translates is ``domain.reason``, as
    ``observation.not_an_object`` is in ``POST /observations/batch``."""
    r = send_batch(client, sentinel, settings, {"visits": [42]})
    [rejected] = r.json()["results"]
    assert rejected["errors"][0]["code"] == "visit.not_an_object"


def test_500_visits_is_the_limit(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    items = [nest_visit(site_id=facade["id"], counts=[nests(SWIFT, i % 7)]) for i in range(501)]
    too_many = send_batch(client, sentinel, settings, {"visits": items})
    assert problem_fields(too_many) == ["visits"]
    assert visit_rows(session, observer_id=sentinel.id) == 0

    ok = send_batch(client, sentinel, settings, {"visits": items[:500]})
    assert ok.status_code == 200, ok.text
    assert [x["status"] for x in ok.json()["results"]] == ["created"] * 500
    assert visit_rows(session, observer_id=sentinel.id) == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "visits"),
        ({"visits": None}, "visits"),
        ({"visits": {"client_id": "x"}}, "visits"),
        ({"visits": [], "extra": 1}, "extra"),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused_whole(
    client: TestClient, settings: Settings, sentinel: User, body: Any, field: str
) -> None:
    r = send_batch(client, sentinel, settings, body)
    assert field in problem_fields(r)


def test_an_empty_batch_answers_no_results(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = send_batch(client, sentinel, settings, {"visits": []})
    assert r.status_code == 200
    assert r.json() == {"results": []}


# --- lists -------------------------------------------------------------------------------------


def test_site_visits_newest_first_across_pages(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    headers = auth_headers(sentinel, settings)
    times = ["2026-05-01T08:00:00Z", "2026-06-01T08:00:00Z", "2026-04-15T08:00:00Z",
             "2026-06-01T08:00:00Z", "2025-07-01T08:00:00Z"]  # fmt: skip
    created = [
        add_visit(client, sentinel, settings, facade["id"], nest_visit(started_at=t)) for t in times
    ]
    expected = [
        v["id"]
        for v in sorted(created, key=lambda v: (utc(v["started_at"]), uuid.UUID(v["id"])),
                        reverse=True)
    ]  # fmt: skip

    seen: list[str] = []
    pages = 0
    params: dict[str, str] = {"limit": "2"}
    while True:
        r = client.get(f"/sites/{facade['id']}/visits", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += ids(page)
        pages += 1
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == expected
    assert pages == 3
    # Each listed visit is the whole visit, counts included.
    first_page = client.get(f"/sites/{facade['id']}/visits?limit=1", headers=headers).json()
    [newest] = first_page["items"]
    assert newest == client.get(f"/visits/{newest['id']}", headers=headers).json()
    assert len(newest["counts"]) == 3


def test_site_visits_lists_only_that_sites_visits(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    garden: dict[str, Any],
) -> None:
    at_facade = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    add_visit(client, sentinel, settings, garden["id"], garden_visit())
    listed = client.get(f"/sites/{facade['id']}/visits", headers=auth_headers(sentinel, settings))
    assert ids(listed.json()) == [at_facade["id"]]


def test_visits_lists_the_visits_at_my_sites_only(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    mine = add_visit(client, sentinel, settings, facade["id"], nest_visit())["id"]
    their_site = create_site(client, other, settings)
    theirs = add_visit(client, other, settings, their_site["id"], nest_visit())["id"]

    r = client.get("/visits", headers=auth_headers(sentinel, settings))
    assert r.status_code == 200, r.text
    assert ids(r.json()) == [mine]
    assert ids(client.get("/visits", headers=auth_headers(other, settings)).json()) == [theirs]
    # Another sentinel's visit is not readable either.
    hidden = client.get(f"/visits/{theirs}", headers=auth_headers(sentinel, settings))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "visit.not_found"

    staff = auth_headers(ecologist, settings)
    for site_id, visit_id in ((facade["id"], mine), (their_site["id"], theirs)):
        listed = client.get("/visits", params={"site_id": site_id}, headers=staff)
        assert ids(listed.json()) == [visit_id]
        assert client.get(f"/visits/{visit_id}", headers=staff).status_code == 200
    since = client.get(
        "/visits", params={"updated_since": "2020-01-01T00:00:00Z", "limit": 500}, headers=staff
    )
    assert {mine, theirs} <= set(ids(since.json()))


def test_visits_status_filter(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    pending = add_visit(client, sentinel, settings, facade["id"], nest_visit())["id"]
    validated = add_visit(client, sentinel, settings, facade["id"], nest_visit())["id"]
    set_visit(session, validated, status="validated")
    headers = auth_headers(sentinel, settings)
    assert ids(client.get("/visits?status=validated", headers=headers).json()) == [validated]
    assert ids(client.get("/visits?status=pending", headers=headers).json()) == [pending]
    assert ids(client.get("/visits?status=rejected", headers=headers).json()) == []


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"cursor": "garbage"}, "cursor", "request.invalid_cursor"),
        ({"updated_since": "yesterday"}, "updated_since", "request.invalid_datetime"),
        ({"updated_since": "2026-04-12T07:45:00"}, "updated_since", "request.invalid_datetime"),
        ({"status": "approved"}, "status", "request.invalid"),
        ({"site_id": "façade"}, "site_id", "request.invalid"),
        ({"limit": "0"}, "limit", "request.invalid"),
    ],
)
def test_bad_visit_list_parameters_are_422(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    query: dict[str, str],
    field: str,
    code: str,
) -> None:
    r = client.get("/visits", params=query, headers=auth_headers(sentinel, settings))
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_updated_since_beyond_the_ends_of_time_is_422_not_a_server_error(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any], since: str
) -> None:
    """Both are RFC 3339 times with an offset, but neither has a UTC equivalent."""
    headers = auth_headers(sentinel, settings)
    for path in ("/visits", f"/sites/{facade['id']}/visits"):
        r = client.get(path, params={"updated_since": since}, headers=headers)
        assert problem_fields(r) == ["updated_since"], path
        assert r.json()["code"] == "request.invalid_datetime"


def test_updated_since_syncs_changes_oldest_first_with_tombstones(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    headers = auth_headers(sentinel, settings)
    created = [
        add_visit(client, sentinel, settings, facade["id"], nest_visit())["id"] for _ in range(4)
    ]
    # Spread the changes out in time, newest created changed first.
    base = datetime(2026, 5, 1, tzinfo=UTC)
    for i, visit_id in enumerate(created):
        set_visit(session, visit_id, updated_at=base + timedelta(hours=3 - i))
    params = {"updated_since": (base + timedelta(minutes=30)).isoformat(), "limit": "2"}
    seen: list[str] = []
    while True:
        page = client.get("/visits", params=params, headers=headers).json()
        seen += ids(page)
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [created[2], created[1], created[0]]

    # A deletion and an edit after the last sync.
    last_sync = datetime.now(UTC)
    assert client.delete(f"/visits/{created[1]}", headers=headers).status_code == 204
    edited = client.patch(f"/visits/{created[3]}", json={"duration_min": 45}, headers=headers)
    assert edited.status_code == 200, edited.text
    changes = client.get(
        "/visits", params={"updated_since": last_sync.isoformat()}, headers=headers
    ).json()["items"]
    assert [c["id"] for c in changes] == [created[1], created[3]]
    assert changes[0]["deleted"] is True
    assert changes[0]["counts"] == []
    assert changes[1]["deleted"] is False
    assert changes[1]["duration_min"] == 45
    # The site's own list syncs the same way.
    at_site = client.get(
        f"/sites/{facade['id']}/visits", params={"updated_since": last_sync.isoformat()},
        headers=headers,
    ).json()["items"]  # fmt: skip
    assert [c["id"] for c in at_site] == [created[1], created[3]]
    # Without updated_since, the deleted one is gone.
    listed = ids(client.get("/visits", headers=headers).json())
    assert created[1] not in listed
    assert len(listed) == 3


# --- corrections -------------------------------------------------------------------------------


def patch_visit(
    client: TestClient, user: User, settings: Settings, visit_id: str, body: Any
) -> Any:
    return client.patch(f"/visits/{visit_id}", json=body, headers=auth_headers(user, settings))


def test_observer_replaces_the_counts(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    new_counts = [nests(SWIFT, 4), nests(SWIFT, 2, artificial=True)]
    r = patch_visit(client, sentinel, settings, visit["id"], {"counts": new_counts})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert [(c["cd_nom"], c["occupied"], c["artificial"]) for c in updated["counts"]] == [
        (SWIFT, 4, False), (SWIFT, 2, True),
    ]  # fmt: skip
    assert count_rows(session, visit["id"]) == [(None, 2, True), (None, 4, False)]
    assert updated["created_at"] == visit["created_at"]
    assert utc(updated["updated_at"]) > utc(visit["updated_at"])
    unchanged = {k: v for k, v in visit.items() if k not in ("counts", "updated_at")}
    assert {k: v for k, v in updated.items() if k not in ("counts", "updated_at")} == unchanged
    read = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == updated

    emptied = patch_visit(client, sentinel, settings, visit["id"], {"counts": []})
    assert emptied.json()["counts"] == []
    assert count_rows(session, visit["id"]) == []


def test_patch_changes_the_other_fields_and_clears_weather_and_notes(
    client: TestClient, settings: Settings, sentinel: User, garden: dict[str, Any]
) -> None:
    visit = add_visit(client, sentinel, settings, garden["id"], garden_visit(notes="soleil"))
    body = {"duration_min": 45, "observers": 3, "complete": False, "notes": None,
            "weather": None, "started_at": "2026-07-05T08:00:00+02:00"}  # fmt: skip
    r = patch_visit(client, sentinel, settings, visit["id"], body)
    assert r.status_code == 200, r.text
    updated = r.json()
    assert (updated["duration_min"], updated["observers"], updated["complete"]) == (45, 3, False)
    assert updated["notes"] is None
    assert updated["weather"] is None
    assert utc(updated["started_at"]) == datetime(2026, 7, 5, 6, 0, tzinfo=UTC)
    assert updated["counts"] == visit["counts"]
    new_weather = {"temperature_c": 18.5, "wind": "modere", "cloud_pct": 75}
    again = patch_visit(client, sentinel, settings, visit["id"], {"weather": new_weather})
    assert again.json()["weather"] == new_weather


def test_flags_follow_started_at_into_and_out_of_season(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    assert visit["flags"] == []
    into_march = patch_visit(client, sentinel, settings, visit["id"],
                             {"started_at": "2026-03-31T21:30:00Z"})  # fmt: skip
    assert into_march.status_code == 200, into_march.text
    assert into_march.json()["flags"] == ["out_of_season"]
    # A change that leaves started_at alone keeps the flag.
    still = patch_visit(client, sentinel, settings, visit["id"], {"duration_min": 10})
    assert still.json()["flags"] == ["out_of_season"]
    into_april = patch_visit(client, sentinel, settings, visit["id"],
                             {"started_at": "2026-03-31T23:30:00Z"})  # fmt: skip
    assert into_april.json()["flags"] == []
    read = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["flags"] == []


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"started_at": None}, "started_at", "visit.null_not_allowed"),
        ({"counts": None}, "counts", "visit.null_not_allowed"),
        ({"duration_min": 0}, "duration_min", "request.invalid"),
        ({"started_at": "2026-05-16T09:30:00"}, "started_at", "request.invalid"),
        ({"client_id": str(uuid.uuid4())}, "client_id", "request.invalid"),
        ({"site_id": str(uuid.uuid4())}, "site_id", "request.invalid"),
        ({"counts": [nests(PEACOCK, 1)]}, "counts.0.cd_nom", "visit.not_a_nesting_species"),
        ({"counts": [{"cd_nom": SWALLOW, "count": 1}]}, "counts.0.count",
         "visit.count_kind_mismatch"),
        ({"counts": [nests(SWALLOW, 1), nests(SWALLOW, 2)]}, "counts.1",
         "visit.duplicate_species"),
    ],
)  # fmt: skip
def test_invalid_patch_is_422_and_changes_nothing(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    r = patch_visit(client, sentinel, settings, visit["id"], body)
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    read = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == visit


def test_patch_started_at_in_the_future_is_422(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    r = patch_visit(client, sentinel, settings, visit["id"], {"started_at": _future()})
    assert problem_fields(r) == ["started_at"]
    assert r.json()["code"] == "visit.started_at_in_future"


def test_only_the_observer_corrects_a_visit(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    by_ecologist = add_visit(client, ecologist, settings, facade["id"], nest_visit())
    by_owner = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    body = {"duration_min": 5}
    # The site's owner sees the ecologist's visit but did not make it.
    owner = patch_visit(client, sentinel, settings, by_ecologist["id"], body)
    assert owner.status_code == 403, owner.text
    assert owner.json()["code"] == "visit.not_observer"
    # An ecologist sees every visit but corrects only their own.
    staff = patch_visit(client, ecologist, settings, by_owner["id"], body)
    assert staff.status_code == 403
    assert staff.json()["code"] == "visit.not_observer"
    # Another sentinel does not even see them.
    for visit in (by_ecologist, by_owner):
        outsider = patch_visit(client, other, settings, visit["id"], body)
        assert outsider.status_code == 404
        assert outsider.json()["code"] == "visit.not_found"
    headers = auth_headers(sentinel, settings)
    assert client.get(f"/visits/{by_ecologist['id']}", headers=headers).json() == by_ecologist
    assert client.get(f"/visits/{by_owner['id']}", headers=headers).json() == by_owner
    assert client.patch(f"/visits/{by_owner['id']}", json=body).status_code == 401


def test_a_rejected_visit_can_no_longer_be_edited(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    set_visit(session, visit["id"], status="rejected")
    r = patch_visit(client, sentinel, settings, visit["id"], {"counts": [nests(SWIFT, 1)]})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "visit.not_editable"
    assert len(count_rows(session, visit["id"])) == 3
    read = client.get(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["status"] == "rejected"
    assert len(read.json()["counts"]) == 3


def test_a_validated_visit_corrected_by_its_observer_goes_back_to_pending(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    """The review issue: a validated record edited by its observer is reviewed again."""
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    set_visit(session, visit["id"], status="validated")
    r = patch_visit(client, sentinel, settings, visit["id"], {"counts": [nests(SWIFT, 1)]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert [c["occupied"] for c in r.json()["counts"]] == [1]


@pytest.mark.parametrize("status", ["pending", "needs_info"])
def test_a_visit_awaiting_review_is_still_edited(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
    status: str,
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    set_visit(session, visit["id"], status=status)
    r = patch_visit(client, sentinel, settings, visit["id"], {"counts": [nests(SWIFT, 1)]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == status
    assert count_rows(session, visit["id"]) == [(None, 1, False)]


# --- deletion ----------------------------------------------------------------------------------


def test_site_owner_deletes_a_visit_and_then_it_is_gone(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    visit = add_visit(client, ecologist, settings, facade["id"], nest_visit())
    headers = auth_headers(sentinel, settings)
    r = client.delete(f"/visits/{visit['id']}", headers=headers)
    assert r.status_code == 204
    assert r.content == b""
    gone = client.get(f"/visits/{visit['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "visit.not_found"
    assert client.delete(f"/visits/{visit['id']}", headers=headers).status_code == 404
    assert ids(client.get(f"/sites/{facade['id']}/visits", headers=headers).json()) == []
    # Soft delete: the row stays for syncing phones.
    assert visit_rows(session, observer_id=ecologist.id) == 1


def test_delete_rules(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
    facade: dict[str, Any],
) -> None:
    first = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    second = add_visit(client, sentinel, settings, facade["id"], nest_visit())
    assert client.delete(f"/visits/{first['id']}").status_code == 401
    outsider = client.delete(f"/visits/{first['id']}", headers=auth_headers(other, settings))
    assert outsider.status_code == 404
    assert client.get(f"/visits/{first['id']}",
                      headers=auth_headers(sentinel, settings)).status_code == 200  # fmt: skip
    staff = client.delete(f"/visits/{first['id']}", headers=auth_headers(ecologist, settings))
    assert staff.status_code == 204
    observer = client.delete(f"/visits/{second['id']}", headers=auth_headers(sentinel, settings))
    assert observer.status_code == 204


def test_resending_a_deleted_visit_does_not_bring_it_back(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    body = nest_visit()
    visit = add_visit(client, sentinel, settings, facade["id"], body)
    client.delete(f"/visits/{visit['id']}", headers=auth_headers(sentinel, settings))
    again = post_visit(client, sentinel, settings, facade["id"], body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == visit["id"]
    assert again.json()["deleted"] is True
    batch = send_batch(client, sentinel, settings, {"visits": [{**body, "site_id": facade["id"]}]})
    assert batch.json()["results"][0]["status"] == "existing"
    assert visit_rows(session, observer_id=sentinel.id) == 1


# --- yearly values -----------------------------------------------------------------------------


def yearly(client: TestClient, user: User, settings: Settings, site_id: str) -> list[Any]:
    r = client.get(f"/sites/{site_id}/yearly", headers=auth_headers(user, settings))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"items"}
    return r.json()["items"]


def values(items: list[Any]) -> list[tuple[int, int]]:
    """``(value, visits)`` of each yearly item."""
    return [(i["value"], i["visits"]) for i in items]


def test_facade_yearly_value_is_the_seasons_largest_number_of_occupied_nests(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    for day, occupied in (("2026-04-20", 3), ("2026-05-20", 5), ("2026-06-20", 4)):
        body = nest_visit(
            started_at=f"{day}T09:00:00+02:00",
            counts=[nests(HOUSE_MARTIN, occupied), nests(HOUSE_MARTIN, 1, artificial=True)],
        )
        add_visit(client, sentinel, settings, facade["id"], body)
    assert yearly(client, sentinel, settings, facade["id"]) == [
        {"year": 2026, "species_id": species_id(session, HOUSE_MARTIN), "cd_nom": HOUSE_MARTIN,
         "value": 6, "unit": "nests", "visits": 3},
    ]  # fmt: skip


def test_a_rejected_visit_does_not_count(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    for day, occupied in (("2026-05-02", 3), ("2026-06-02", 5), ("2026-07-02", 40)):
        body = nest_visit(started_at=f"{day}T09:00:00Z", counts=[nests(SWIFT, occupied)])
        doubtful = add_visit(client, sentinel, settings, facade["id"], body)
    assert values(yearly(client, sentinel, settings, facade["id"])) == [(40, 3)]
    set_visit(session, doubtful["id"], status="rejected")
    assert yearly(client, sentinel, settings, facade["id"]) == [
        {"year": 2026, "species_id": species_id(session, SWIFT), "cd_nom": SWIFT, "value": 5,
         "unit": "nests", "visits": 2},
    ]  # fmt: skip
    # needs_info and validated visits count.
    set_visit(session, doubtful["id"], status="needs_info")
    assert values(yearly(client, sentinel, settings, facade["id"])) == [(40, 3)]
    set_visit(session, doubtful["id"], status="validated")
    assert values(yearly(client, sentinel, settings, facade["id"])) == [(40, 3)]


def test_a_deleted_visit_does_not_count(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    facade: dict[str, Any],
) -> None:
    kept = add_visit(client, sentinel, settings, facade["id"],
                     nest_visit(counts=[nests(SWALLOW, 2)]))  # fmt: skip
    doomed = add_visit(client, sentinel, settings, facade["id"],
                       nest_visit(counts=[nests(SWALLOW, 9)]))  # fmt: skip
    assert kept["id"] != doomed["id"]
    client.delete(f"/visits/{doomed['id']}", headers=auth_headers(sentinel, settings))
    assert values(yearly(client, sentinel, settings, facade["id"])) == [(2, 1)]


def test_garden_yearly_value_adds_months_not_visits(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    garden: dict[str, Any],
) -> None:
    for started_at, count in (("2026-05-03T14:00:00+02:00", 4), ("2026-05-24T14:00:00+02:00", 2),
                              ("2026-06-14T14:00:00+02:00", 3)):  # fmt: skip
        body = garden_visit(started_at=started_at, counts=[{"cd_nom": PEACOCK, "count": count}])
        add_visit(client, sentinel, settings, garden["id"], body)
    assert yearly(client, sentinel, settings, garden["id"]) == [
        {"year": 2026, "species_id": species_id(session, PEACOCK), "cd_nom": PEACOCK, "value": 7,
         "unit": "individuals", "visits": 3},
    ]  # fmt: skip


def test_a_complete_visit_without_a_species_gives_it_a_zero(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    garden: dict[str, Any],
) -> None:
    def count(started_at: str, complete: bool, counts: list[tuple[int, int]]) -> None:
        body = garden_visit(started_at=started_at, complete=complete,
                            counts=[{"cd_nom": c, "count": n} for c, n in counts])  # fmt: skip
        add_visit(client, sentinel, settings, garden["id"], body)

    count("2024-07-10T14:00:00+02:00", False, [(SMALL_WHITE, 1)])  # peacock not looked for
    count("2025-07-10T14:00:00+02:00", False, [(PEACOCK, 5)])
    count("2026-07-10T14:00:00+02:00", True, [(SMALL_WHITE, 2)])  # peacock looked for: absent
    peacock, small_white = species_id(session, PEACOCK), species_id(session, SMALL_WHITE)
    got = {(i["year"], i["cd_nom"]): (i["value"], i["visits"])
           for i in yearly(client, sentinel, settings, garden["id"])}  # fmt: skip
    assert got == {
        (2024, SMALL_WHITE): (1, 1),
        (2025, PEACOCK): (5, 1),
        (2026, PEACOCK): (0, 1),
        (2026, SMALL_WHITE): (2, 1),
    }
    items = yearly(client, sentinel, settings, garden["id"])
    assert [(i["year"], i["species_id"]) for i in items] == sorted(
        [(2024, small_white), (2025, peacock), (2026, peacock), (2026, small_white)]
    )
    assert {i["unit"] for i in items} == {"individuals"}


def test_years_are_those_of_local_time(
    client: TestClient, settings: Settings, sentinel: User, garden: dict[str, Any]
) -> None:
    # 23:30 UTC on 31 December 2025 is 00:30 on 1 January 2026 in Paris.
    add_visit(client, sentinel, settings, garden["id"],
              garden_visit(started_at="2025-12-31T23:30:00Z",
                           counts=[{"cd_nom": PEACOCK, "count": 1}]))  # fmt: skip
    assert [i["year"] for i in yearly(client, sentinel, settings, garden["id"])] == [2026]


def test_correcting_a_count_changes_the_yearly_value(
    client: TestClient, settings: Settings, sentinel: User, facade: dict[str, Any]
) -> None:
    visit = add_visit(client, sentinel, settings, facade["id"],
                      nest_visit(counts=[nests(SWIFT, 3)]))  # fmt: skip
    assert [i["value"] for i in yearly(client, sentinel, settings, facade["id"])] == [3]
    patch_visit(client, sentinel, settings, visit["id"], {"counts": [nests(SWIFT, 8)]})
    assert [i["value"] for i in yearly(client, sentinel, settings, facade["id"])] == [8]


def test_a_site_without_visits_has_no_yearly_values(
    client: TestClient, settings: Settings, sentinel: User, ecologist: User, garden: dict[str, Any]
) -> None:
    assert yearly(client, sentinel, settings, garden["id"]) == []
    assert yearly(client, ecologist, settings, garden["id"]) == []
    assert client.get(f"/sites/{garden['id']}/yearly").status_code == 401
