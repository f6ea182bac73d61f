"""Reference data kept by ecologists through the API: species added from TAXREF and corrected
(names, group, sensitivity), zones imported, each change in the audit trail.

A change of sensitivity is the delicate one: the public position stored on each observation must
follow at once, for every observation of the species, deleted ones included.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import event, update
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.observations.sensitivity import regeneralise_observations
from app.species.models import Species
from app.zones.grid import CELL_1KM, CELL_10KM, cell_of
from app.zones.service import commune_area, import_zones
from tests.factories import auth_headers, create_user

SWALLOW = 3696  # Hirondelle rustique, not sensitive in the shipped reference
PEREGRINE = 2938  # Faucon pèlerin, sensitive (10 km) in the shipped reference
LOOS_CODE = "62528"
# Two points in Loos-en-Gohelle, in different 1 km cells, each well away from its cells'
# centres and from the commune's centre; and one in Arras, outside every shipped zone.
IN_LOOS = (50.4630, 2.7700)
ALSO_IN_LOOS = (50.4500, 2.8050)
ARRAS = (50.2910, 2.7770)

NEW_SPECIES: dict[str, Any] = {
    "cd_nom": 4001,
    "scientific_name": "Delichon urbicum",
    "authority": "(Linnaeus, 1758)",
    "vernacular_name": "Hirondelle de fenêtre, Hirondelle des fenêtres",
    "vernacular_en": "Common House Martin",
    "group": "bird",
    "rank": "es",
    "kingdom": "Animalia",
    "family": "Hirundinidae",
    "taxref_version": "18.0",
}

_GEOD = Geod(ellps="WGS84")


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(_GEOD.inv(a[1], a[0], b[1], b[0])[2])


@dataclass
class People:
    ecologist: User
    sentinel: User
    ecologist_headers: dict[str, str]
    sentinel_headers: dict[str, str]


@pytest.fixture
def people(session: Session, settings: Settings) -> People:
    ecologist = create_user(session, settings, role=Role.ecologist, display_name="Élise")
    sentinel = create_user(session, settings, role=Role.sentinel, display_name="Camille")
    return People(
        ecologist=ecologist,
        sentinel=sentinel,
        ecologist_headers=auth_headers(ecologist, settings),
        sentinel_headers=auth_headers(sentinel, settings),
    )


# A species of its own, so that no observation left by another test (tests on a committing
# engine leave some) is moved along with the test's.
FRESH = 4_242_424


@pytest.fixture
def fresh(client: TestClient, people: People) -> str:
    body = {
        "cd_nom": FRESH,
        "scientific_name": "Martinetus testi",
        "vernacular_name": "Martinet d'essai",
        "group": "bird",
    }
    answer = client.post("/species", json=body, headers=people.ecologist_headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def species_id(session: Session, cd_nom: int) -> str:
    found = session.exec(select(Species.id).where(col(Species.cd_nom) == cd_nom)).one()
    return str(found)


def search(client: TestClient, q: str) -> list[int]:
    answer = client.get("/species", params={"q": q, "limit": 500})
    assert answer.status_code == 200, answer.text
    return [item["cd_nom"] for item in answer.json()["items"]]


def observe(
    client: TestClient, people: People, cd_nom: int, point: tuple[float, float]
) -> dict[str, Any]:
    answer = client.post(
        "/observations",
        json={
            "client_id": str(uuid.uuid4()),
            "cd_nom": cd_nom,
            "observed_at": "2025-05-10T08:30:00+02:00",
            "latitude": point[0],
            "longitude": point[1],
            "accuracy_m": 8,
        },
        headers=people.sentinel_headers,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def validate(session: Session, observation_id: str) -> None:
    """What a review does, without the review endpoint."""
    session.execute(
        update(Observation)
        .where(col(Observation.id) == uuid.UUID(observation_id))
        .values(status="validated")
    )
    session.flush()


def public_view(client: TestClient, observation_id: str) -> dict[str, Any]:
    answer = client.get(f"/observations/{observation_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def patch(client: TestClient, people: People, target: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.patch(f"/species/{target}", json=body, headers=people.ecologist_headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def audit_events(
    client: TestClient, people: People, entity: str, entity_id: str
) -> list[dict[str, Any]]:
    answer = client.get(
        "/audit",
        params={"entity": entity, "entity_id": entity_id},
        headers=people.ecologist_headers,
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def assert_problem(answer: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    if code is not None:
        assert body["code"] == code
    return body


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- adding a species -------------------------------------------------------------------------


def test_ecologist_adds_a_species_from_its_taxref_fields(
    client: TestClient, people: People, session: Session
) -> None:
    answer = client.post("/species", json=NEW_SPECIES, headers=people.ecologist_headers)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body == {
        "id": body["id"],
        "cd_nom": 4001,
        "cd_ref": 4001,  # defaults to cd_nom
        "scientific_name": "Delichon urbicum",
        "authority": "(Linnaeus, 1758)",
        "vernacular_name": "Hirondelle de fenêtre, Hirondelle des fenêtres",
        "vernacular_en": "Common House Martin",
        "group": "bird",
        "rank": "ES",
        "sensitive": False,
        "generalisation": "grid_10km",
    }
    assert client.get(f"/species/{body['id']}").json() == body
    stored = session.get(Species, uuid.UUID(body["id"]))
    assert stored is not None
    assert (stored.kingdom, stored.family, stored.taxref_version) == (
        "Animalia",
        "Hirundinidae",
        "18.0",
    )
    # Found by every name, without accents, like the imported species.
    assert 4001 in search(client, "fenetres")
    assert 4001 in search(client, "DELICHON")
    assert search(client, "4001") == [4001]


def test_a_new_species_is_listed_in_order_and_observable_at_once(
    client: TestClient, people: People, session: Session
) -> None:
    body = {**NEW_SPECIES, "cd_nom": 4002, "vernacular_name": "Aaa test", "sensitive": True}
    created = client.post("/species", json=body, headers=people.ecologist_headers)
    assert created.status_code == 201, created.text

    first = client.get("/species", params={"limit": 1}).json()["items"][0]
    assert first["cd_nom"] == 4002
    observation = observe(client, people, 4002, IN_LOOS)
    validate(session, observation["id"])
    shown = public_view(client, observation["id"])
    cell = cell_of(*IN_LOOS, CELL_10KM)
    assert (shown["latitude"], shown["longitude"]) == (cell.latitude, cell.longitude)
    assert shown["generalised"] is True


def test_creation_is_in_the_audit_trail(client: TestClient, people: People) -> None:
    answer = client.post(
        "/species",
        json={**NEW_SPECIES, "cd_ref": 4000, "sensitive": True, "generalisation": "commune"},
        headers=people.ecologist_headers,
    )
    assert answer.status_code == 201, answer.text

    (event_,) = audit_events(client, people, "species", answer.json()["id"])

    assert event_["action"] == "create"
    assert event_["actor_id"] == str(people.ecologist.id)
    changes = event_["changes"]
    assert changes["cd_nom"] == [None, 4001]
    assert changes["cd_ref"] == [None, 4000]
    assert changes["sensitive"] == [None, True]
    assert changes["generalisation"] == [None, "commune"]
    assert changes["scientific_name"] == [None, "Delichon urbicum"]


def test_admin_may_add_a_species(client: TestClient, session: Session, settings: Settings) -> None:
    admin = create_user(session, settings, role=Role.admin)

    answer = client.post("/species", json=NEW_SPECIES, headers=auth_headers(admin, settings))

    assert answer.status_code == 201, answer.text


def test_a_cd_nom_already_there_is_409(client: TestClient, people: People) -> None:
    answer = client.post(
        "/species", json={**NEW_SPECIES, "cd_nom": SWALLOW}, headers=people.ecologist_headers
    )

    assert_problem(answer, 409, "species.cd_nom_taken")


def test_the_same_species_twice_is_409_the_second_time(client: TestClient, people: People) -> None:
    first = client.post("/species", json=NEW_SPECIES, headers=people.ecologist_headers)
    second = client.post("/species", json=NEW_SPECIES, headers=people.ecologist_headers)

    assert first.status_code == 201
    assert_problem(second, 409, "species.cd_nom_taken")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cd_nom": None}, "cd_nom"),
        ({"cd_nom": 0}, "cd_nom"),
        ({"cd_nom": 2**31}, "cd_nom"),
        ({"cd_nom": "4001"}, "cd_nom"),
        ({"cd_nom": 4001.5}, "cd_nom"),
        ({"cd_ref": -3}, "cd_ref"),
        ({"scientific_name": ""}, "scientific_name"),
        ({"scientific_name": "   "}, "scientific_name"),
        ({"scientific_name": "x" * 256}, "scientific_name"),
        ({"scientific_name": "Delichon\turbicum"}, "scientific_name"),
        ({"scientific_name": "Delichon\x00"}, "scientific_name"),
        ({"vernacular_name": "y" * 501}, "vernacular_name"),
        ({"rank": "SUBSPECIES"}, "rank"),
        ({"group": "dragon"}, "group"),
        ({"group": None}, "group"),
        ({"generalisation": "grid_5km"}, "generalisation"),
        ({"sensitive": "yes"}, "sensitive"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_fields_are_422_problems(
    client: TestClient, people: People, change: dict[str, Any], field: str
) -> None:
    body = {**NEW_SPECIES, **change}
    if change.get(field, "") is None and field in ("cd_nom", "group"):
        del body[field]  # a required field left out

    problem = assert_problem(
        client.post("/species", json=body, headers=people.ecologist_headers), 422
    )

    assert field in {e["field"] for e in problem["errors"]}
    assert 4001 not in search(client, "4001")


def test_sentinel_may_not_add_species(client: TestClient, people: People) -> None:
    answer = client.post("/species", json=NEW_SPECIES, headers=people.sentinel_headers)

    assert_problem(answer, 403, "auth.role_required")
    assert search(client, "4001") == []


def test_anonymous_may_not_add_species(client: TestClient) -> None:
    assert_problem(client.post("/species", json=NEW_SPECIES), 401)


# --- correcting a species ---------------------------------------------------------------------


def test_renaming_a_species_changes_what_search_finds(
    client: TestClient, people: People, session: Session
) -> None:
    target = species_id(session, SWALLOW)

    body = patch(client, people, target, {"vernacular_name": "Hirondelle des cheminées"})

    assert body["vernacular_name"] == "Hirondelle des cheminées"
    assert body["scientific_name"] == "Hirundo rustica"
    assert search(client, "cheminees") == [SWALLOW]
    assert search(client, "CHEMINÉES") == [SWALLOW]
    assert SWALLOW not in search(client, "rustique")
    assert search(client, "hirundo rustica") == [SWALLOW]


def test_renaming_the_scientific_name_and_clearing_the_french_one(
    client: TestClient, people: People, session: Session
) -> None:
    target = species_id(session, SWALLOW)

    body = patch(
        client,
        people,
        target,
        {"scientific_name": "Hirundo rustica rustica", "vernacular_name": None, "group": "other"},
    )

    assert body["scientific_name"] == "Hirundo rustica rustica"
    assert body["vernacular_name"] is None
    assert body["group"] == "other"
    assert search(client, "rustica rustica") == [SWALLOW]
    assert SWALLOW not in search(client, "hirondelle")
    listed = client.get("/species", params={"group": "other", "limit": 500}).json()["items"]
    assert SWALLOW in [item["cd_nom"] for item in listed]


def test_a_correction_is_audited_with_before_and_after(
    client: TestClient, people: People, session: Session
) -> None:
    target = species_id(session, SWALLOW)

    patch(client, people, target, {"vernacular_en": "Barn Swallow", "authority": None})

    (event_,) = audit_events(client, people, "species", target)
    assert event_["action"] == "update"
    assert event_["actor_id"] == str(people.ecologist.id)
    assert event_["changes"] == {
        "vernacular_en": [None, "Barn Swallow"],
        "authority": ["Linnaeus, 1758", None],
    }


def test_a_correction_that_changes_nothing_records_nothing(
    client: TestClient, people: People, fresh: str
) -> None:
    target = fresh
    observation = observe(client, people, FRESH, IN_LOOS)

    body = patch(client, people, target, {"vernacular_name": "Martinet d'essai"})
    patch(client, people, target, {"generalisation": "commune"})  # not sensitive: no move

    assert body["vernacular_name"] == "Martinet d'essai"
    events = audit_events(client, people, "species", target)
    assert [e["action"] for e in events] == ["update", "create"]
    assert events[0]["changes"] == {"generalisation": ["grid_10km", "commune"]}
    mine = client.get(f"/observations/{observation['id']}", headers=people.sentinel_headers).json()
    assert mine["updated_at"] == observation["updated_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"scientific_name": None},
        {"sensitive": None},
        {"generalisation": None},
        {"group": None},
        {"generalisation": "department"},
        {"cd_nom": 5},
        {"vernacular_name": ""},
        {"sensitive": 1},
    ],
)
def test_bad_corrections_are_422_problems(
    client: TestClient, people: People, session: Session, body: dict[str, Any]
) -> None:
    target = species_id(session, SWALLOW)

    answer = client.patch(f"/species/{target}", json=body, headers=people.ecologist_headers)

    problem = assert_problem(answer, 422)
    assert set(body) & {e["field"] for e in problem["errors"]}
    assert audit_events(client, people, "species", target) == []


def test_correcting_an_unknown_species_is_404(client: TestClient, people: People) -> None:
    answer = client.patch(
        f"/species/{uuid.uuid4()}", json={"sensitive": True}, headers=people.ecologist_headers
    )

    assert_problem(answer, 404, "species.not_found")


def test_sentinel_and_anonymous_may_not_correct_species(
    client: TestClient, people: People, session: Session
) -> None:
    target = species_id(session, SWALLOW)

    as_sentinel = client.patch(
        f"/species/{target}", json={"sensitive": True}, headers=people.sentinel_headers
    )
    as_nobody = client.patch(f"/species/{target}", json={"sensitive": True})

    assert_problem(as_sentinel, 403, "auth.role_required")
    assert_problem(as_nobody, 401)
    assert client.get(f"/species/{target}").json()["sensitive"] is False


# --- sensitivity moves the public positions ---------------------------------------------------


def test_making_a_species_sensitive_blurs_its_observations_and_back(
    client: TestClient, people: People, session: Session, fresh: str
) -> None:
    target = fresh
    observation = observe(client, people, FRESH, IN_LOOS)
    validate(session, observation["id"])
    other = observe(client, people, PEREGRINE, ALSO_IN_LOOS)
    other_before = client.get(
        f"/observations/{other['id']}", headers=people.sentinel_headers
    ).json()["updated_at"]
    shown = public_view(client, observation["id"])
    assert (shown["latitude"], shown["longitude"], shown["generalised"]) == (*IN_LOOS, False)
    before = shown["updated_at"]

    body = patch(client, people, target, {"sensitive": True})

    assert body["sensitive"] is True
    assert body["generalisation"] == "grid_10km"
    cell = cell_of(*IN_LOOS, CELL_10KM)
    blurred = public_view(client, observation["id"])
    assert (blurred["latitude"], blurred["longitude"]) == (cell.latitude, cell.longitude)
    assert blurred["accuracy_m"] == round(cell.half_diagonal_m, 1)
    assert blurred["generalised"] is True
    assert at(blurred["updated_at"]) > at(before)
    # In lists too, and a phone syncing since before the change receives it again.
    synced = client.get(
        "/observations", params={"updated_since": before, "species_id": target}
    ).json()["items"]
    assert [(i["id"], i["latitude"]) for i in synced] == [(observation["id"], cell.latitude)]
    listed = client.get("/observations", params={"species_id": target}).json()["items"]
    assert [(i["latitude"], i["longitude"]) for i in listed] == [(cell.latitude, cell.longitude)]
    # Its observer and staff still see the point.
    for headers in (people.sentinel_headers, people.ecologist_headers):
        exact = client.get(f"/observations/{observation['id']}", headers=headers).json()
        assert (exact["latitude"], exact["longitude"], exact["generalised"]) == (*IN_LOOS, False)
    # Another species' observations are left alone.
    other_after = client.get(
        f"/observations/{other['id']}", headers=people.sentinel_headers
    ).json()["updated_at"]
    assert other_after == other_before

    patch(client, people, target, {"sensitive": False})

    again = public_view(client, observation["id"])
    assert (again["latitude"], again["longitude"], again["accuracy_m"]) == (*IN_LOOS, 8)
    assert again["generalised"] is False
    assert at(again["updated_at"]) > at(blurred["updated_at"])
    events = audit_events(client, people, "species", target)[:2]
    assert [e["changes"] for e in events] == [
        {"sensitive": [True, False]},
        {"sensitive": [False, True]},
    ]
    assert {e["actor_id"] for e in events} == {str(people.ecologist.id)}


def test_captures_after_the_change_are_blurred_too(
    client: TestClient, people: People, session: Session, fresh: str
) -> None:
    patch(client, people, fresh, {"sensitive": True})

    observation = observe(client, people, FRESH, IN_LOOS)
    validate(session, observation["id"])

    shown = public_view(client, observation["id"])
    cell = cell_of(*IN_LOOS, CELL_10KM)
    assert (shown["latitude"], shown["longitude"]) == (cell.latitude, cell.longitude)


def test_deleted_observations_move_too(
    client: TestClient, people: People, session: Session, fresh: str
) -> None:
    """Syncing phones keep receiving deleted observations as tombstones, with a position."""
    observation = observe(client, people, FRESH, IN_LOOS)
    validate(session, observation["id"])
    deleted = client.delete(f"/observations/{observation['id']}", headers=people.sentinel_headers)
    assert deleted.status_code == 204
    since = client.get("/observations", params={"updated_since": "2000-01-01T00:00:00Z"}).json()[
        "items"
    ]
    (tombstone,) = [i for i in since if i["id"] == observation["id"]]
    assert (tombstone["latitude"], tombstone["deleted"]) == (IN_LOOS[0], True)

    patch(client, people, fresh, {"sensitive": True})

    since = client.get("/observations", params={"updated_since": tombstone["updated_at"]})
    (moved,) = [i for i in since.json()["items"] if i["id"] == observation["id"]]
    cell = cell_of(*IN_LOOS, CELL_10KM)
    assert (moved["latitude"], moved["longitude"]) == (cell.latitude, cell.longitude)
    assert moved["deleted"] is True
    assert at(moved["updated_at"]) > at(tombstone["updated_at"])


@pytest.mark.parametrize("size", [CELL_1KM, CELL_10KM])
def test_grid_generalisation_gives_the_lambert93_cell_centre(
    client: TestClient, people: People, session: Session, size: int
) -> None:
    level = {CELL_1KM: "grid_1km", CELL_10KM: "grid_10km"}[size]
    target = species_id(session, PEREGRINE)
    if level != "grid_10km":
        patch(client, people, target, {"generalisation": level})
    observations = [observe(client, people, PEREGRINE, p) for p in (IN_LOOS, ALSO_IN_LOOS)]
    for observation in observations:
        validate(session, observation["id"])
    # Moved when already stored, and computed so when captured after the change.
    patch(client, people, target, {"generalisation": "commune"})
    patch(client, people, target, {"generalisation": level})

    for observation, point in zip(observations, (IN_LOOS, ALSO_IN_LOOS), strict=True):
        shown = public_view(client, observation["id"])
        cell = cell_of(*point, size)
        assert (shown["latitude"], shown["longitude"]) == (cell.latitude, cell.longitude)
        assert shown["accuracy_m"] == round(cell.half_diagonal_m, 1)
        assert shown["generalised"] is True
        assert metres(point, (shown["latitude"], shown["longitude"])) <= cell.half_diagonal_m


def test_commune_generalisation_gives_the_commune_centre_and_radius(
    client: TestClient, people: People, session: Session, settings: Settings
) -> None:
    target = species_id(session, PEREGRINE)
    observations = [observe(client, people, PEREGRINE, p) for p in (IN_LOOS, ALSO_IN_LOOS, ARRAS)]
    for observation in observations:
        validate(session, observation["id"])

    body = patch(client, people, target, {"generalisation": "commune"})

    assert body["generalisation"] == "commune"
    zones = client.get("/zones").json()["features"]
    (loos,) = [z for z in zones if z["properties"]["code"] == LOOS_CODE]
    boundary = shape(loos["geometry"])
    area = commune_area(session, settings, latitude=IN_LOOS[0], longitude=IN_LOOS[1])
    assert area is not None
    # The centre is the commune's own (its centroid, inside it), and the radius reaches all of
    # its boundary from there.
    assert (area.latitude, area.longitude) == (
        round(boundary.centroid.y, 7),
        round(boundary.centroid.x, 7),
    )
    farthest = max(
        metres((area.latitude, area.longitude), (lat, lon))
        for ring in loos["geometry"]["coordinates"]
        for lon, lat in ring
    )
    assert area.radius_m == pytest.approx(farthest, abs=0.1)
    for observation in observations[:2]:
        shown = public_view(client, observation["id"])
        assert (shown["latitude"], shown["longitude"]) == (area.latitude, area.longitude)
        assert shown["accuracy_m"] == area.radius_m
        assert shown["generalised"] is True
    # Outside every commune, the 10 km cell rather than the point.
    outside = public_view(client, observations[2]["id"])
    cell = cell_of(*ARRAS, CELL_10KM)
    assert (outside["latitude"], outside["longitude"]) == (cell.latitude, cell.longitude)


def test_positions_are_rewritten_in_chunks(
    client: TestClient, people: People, session: Session, settings: Settings, fresh: str
) -> None:
    """Chunks of at most ``chunk_rows`` rows, one executemany UPDATE each, whatever the
    number of observations: a species with 100,000 never sits in memory at once."""
    points = [(IN_LOOS[0] + i * 0.001, IN_LOOS[1]) for i in range(5)]
    ids = [observe(client, people, FRESH, p)["id"] for p in points]
    species = session.exec(select(Species).where(col(Species.cd_nom) == FRESH)).one()
    species.sensitive = True
    updates: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE OBSERVATION"):
            updates.append(len(params) if many else 1)

    engine = session.connection().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        moved = regeneralise_observations(session, settings, species, chunk_rows=2)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert moved == 5
    assert updates == [2, 2, 1]
    rows = session.exec(select(Observation).where(col(Observation.id).in_(map(uuid.UUID, ids))))
    for row in rows:
        cell = cell_of(row.latitude, row.longitude, CELL_10KM)
        assert (row.public_latitude, row.public_longitude) == (cell.latitude, cell.longitude)
        assert row.generalised is True
    # Nothing left to move: a second pass writes nothing.
    assert regeneralise_observations(session, settings, species, chunk_rows=2) == 0


# --- zones ------------------------------------------------------------------------------------


def _square(code: str, name: str, lon: float, lat: float, half: float = 0.001) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": code, "name": name, "kind": "slag_heap"},
    }


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def test_zone_imports_are_audited(client: TestClient, people: People) -> None:
    heap = _square("terril-11-19", "Terrils jumeaux", 2.78, 50.45)

    created = client.post("/zones/import", json=_collection(heap), headers=people.ecologist_headers)
    assert created.status_code == 200, created.text
    zones = client.get("/zones", params={"kind": "slag_heap"}).json()["features"]
    (zone,) = [z for z in zones if z["properties"]["code"] == "terril-11-19"]
    (creation,) = audit_events(client, people, "zone", zone["id"])
    assert creation["action"] == "create"
    assert creation["actor_id"] == str(people.ecologist.id)
    assert creation["changes"]["code"] == [None, "terril-11-19"]
    assert creation["changes"]["name"] == [None, "Terrils jumeaux"]
    assert creation["changes"]["kind"] == [None, "slag_heap"]
    assert len(creation["changes"]["geometry_sha256"][1]) == 64

    # The same file again changes nothing and records nothing; a new name and boundary do.
    again = client.post("/zones/import", json=_collection(heap), headers=people.ecologist_headers)
    assert again.status_code == 200
    assert len(audit_events(client, people, "zone", zone["id"])) == 1
    moved = _square("terril-11-19", "Terrils jumeaux du 11/19", 2.78, 50.45, half=0.002)
    changed = client.post(
        "/zones/import", json=_collection(moved), headers=people.ecologist_headers
    )
    assert changed.status_code == 200

    latest, first = audit_events(client, people, "zone", zone["id"])
    assert first == creation
    assert latest["action"] == "update"
    assert latest["changes"]["name"] == ["Terrils jumeaux", "Terrils jumeaux du 11/19"]
    assert {"geometry_sha256", "area_m2", "min_lon", "max_lat"} <= set(latest["changes"])
    assert "code" not in latest["changes"]


def test_a_refused_zone_import_records_nothing(client: TestClient, people: People) -> None:
    bad = _square("bad", "Mauvais", 2.78, 50.45)
    bad["geometry"]["type"] = "Point"

    answer = client.post(
        "/zones/import",
        json=_collection(_square("good", "Bon", 2.7, 50.4), bad),
        headers=people.ecologist_headers,
    )

    assert answer.status_code == 422
    events = client.get("/audit", params={"entity": "zone"}, headers=people.ecologist_headers)
    assert all(e["changes"].get("code", [None, None])[1] != "good" for e in events.json()["items"])


def test_zone_imports_from_the_command_line_have_no_actor(session: Session) -> None:
    report = import_zones(session, _collection(_square("cli-heap", "Terril", 2.8, 50.45)))

    assert report.created == 1
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.entity) == "zone").order_by(col(AuditEvent.at))
    ).all()
    (event_,) = [e for e in events if e.changes.get("code") == [None, "cli-heap"]]
    assert event_.actor_id is None
    assert event_.action == "create"
