"""``GET /observations``: who sees what, filters, pagination and the phone's sync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.zones.grid import generalise
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import (
    ATLANTIC,
    LOOS,
    PEREGRINE,
    SWALLOW,
    payload,
    set_status,
    species_by_cd_nom,
    zone_by_code,
)


class World:
    """Two sentinels' observations in every status, a sensitive one among them."""

    def __init__(self, client: TestClient, session: Session, settings: Settings) -> None:
        self.client, self.session, self.settings = client, session, settings
        self.alice = create_user(session, settings, display_name="Alice")
        self.bob = create_user(session, settings, display_name="Bob")
        self.ecologist = create_user(session, settings, role=Role.ecologist)
        self.admin = create_user(session, settings, role=Role.admin)
        self.stranger = create_user(session, settings)
        self.ids: dict[str, str] = {}
        # name: (observer, status, overrides)
        plan: dict[str, tuple[User, str, dict[str, Any]]] = {
            "alice_pending": (self.alice, "pending", {}),
            "alice_validated": (self.alice, "validated",
                                {"observed_at": "2025-06-01T10:00:00+02:00"}),
            "alice_falcon": (self.alice, "validated", {"cd_nom": PEREGRINE}),
            "bob_validated": (self.bob, "validated",
                              {"latitude": ATLANTIC[0], "longitude": ATLANTIC[1]}),
            "bob_rejected": (self.bob, "rejected", {"count": 0}),
            "bob_needs_info": (self.bob, "needs_info", {"count_unit": "nests"}),
        }  # fmt: skip
        for minute, (name, (user, status, overrides)) in enumerate(plan.items()):
            body = payload(**{"observed_at": f"2026-04-12T07:{minute:02d}:00+02:00", **overrides})
            r = client.post("/observations", json=body, headers=self.headers(user))
            assert r.status_code == 201, r.text
            self.ids[name] = r.json()["id"]
            if status != "pending":
                set_status(session, r.json()["id"], status)

    def headers(self, user: User | None) -> dict[str, str]:
        return {} if user is None else auth_headers(user, self.settings)

    def names(self, user: User | None, query: str = "") -> set[str]:
        r = self.client.get(f"/observations?limit=500{query}", headers=self.headers(user))
        assert r.status_code == 200, r.text
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[item["id"]] for item in r.json()["items"] if item["id"] in by_id}

    def items(self, user: User | None, query: str = "") -> list[dict[str, Any]]:
        r = self.client.get(f"/observations?limit=500{query}", headers=self.headers(user))
        assert r.status_code == 200, r.text
        return [i for i in r.json()["items"] if i["id"] in self.ids.values()]


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> World:
    return World(client, session, settings)


VALIDATED = {"alice_validated", "alice_falcon", "bob_validated"}
EVERYTHING = set(VALIDATED) | {"alice_pending", "bob_rejected", "bob_needs_info"}


def test_visibility_per_role(world: World) -> None:
    assert world.names(None) == VALIDATED
    assert world.names(world.stranger) == VALIDATED
    assert world.names(world.alice) == VALIDATED | {"alice_pending"}
    assert world.names(world.bob) == VALIDATED | {"bob_rejected", "bob_needs_info"}
    assert world.names(world.ecologist) == EVERYTHING
    assert world.names(world.admin) == EVERYTHING


def test_sensitive_positions_in_lists(world: World) -> None:
    cell_lat, cell_lon, accuracy = generalise(*LOOS)
    falcon_id = world.ids["alice_falcon"]
    for viewer in (None, world.bob, world.stranger):
        [falcon] = [i for i in world.items(viewer) if i["id"] == falcon_id]
        assert falcon["generalised"] is True
        assert falcon["latitude"] == pytest.approx(cell_lat)
        assert falcon["longitude"] == pytest.approx(cell_lon)
        assert falcon["accuracy_m"] == accuracy
    for viewer in (world.alice, world.ecologist, world.admin):
        [falcon] = [i for i in world.items(viewer) if i["id"] == falcon_id]
        assert falcon["generalised"] is False
        assert (falcon["latitude"], falcon["longitude"]) == LOOS


def test_mine(world: World) -> None:
    assert world.names(world.alice, "&mine=true") == {
        "alice_pending", "alice_validated", "alice_falcon"
    }  # fmt: skip
    assert world.names(world.bob, "&mine=true") == {
        "bob_validated", "bob_rejected", "bob_needs_info"
    }  # fmt: skip
    assert world.names(world.ecologist, "&mine=true") == set()
    assert world.names(world.alice, "&mine=false") == VALIDATED | {"alice_pending"}
    anonymous = world.client.get("/observations?mine=true")
    assert anonymous.status_code == 401


def test_species_filter(world: World) -> None:
    falcon = species_by_cd_nom(world.session, PEREGRINE)
    swallow = species_by_cd_nom(world.session, SWALLOW)
    assert world.names(world.ecologist, f"&species_id={falcon.id}") == {"alice_falcon"}
    assert world.names(world.ecologist, f"&species_id={swallow.id}") == EVERYTHING - {
        "alice_falcon"
    }
    assert world.names(None, f"&species_id={uuid.uuid4()}") == set()


def test_zone_filter(world: World) -> None:
    loos = zone_by_code(world.session, "62528")
    assert world.names(world.ecologist, f"&zone_id={loos.id}") == EVERYTHING - {"bob_validated"}
    # The falcon is sensitive: to anyone but its observer and staff it is in no zone, so that a
    # zone filter cannot place it more precisely than its 10 km cell.
    assert world.names(None, f"&zone_id={loos.id}") == {"alice_validated"}
    assert world.names(world.bob, f"&zone_id={loos.id}") == {
        "alice_validated",
        "bob_needs_info",
        "bob_rejected",
    }
    assert "alice_falcon" in world.names(world.alice, f"&zone_id={loos.id}")
    (falcon,) = [i for i in world.items(None) if i["id"] == world.ids["alice_falcon"]]
    assert falcon["zone_id"] is None


def test_status_filter(world: World) -> None:
    assert world.names(world.ecologist, "&status=needs_info") == {"bob_needs_info"}
    assert world.names(world.ecologist, "&status=validated") == VALIDATED
    assert world.names(world.bob, "&status=rejected") == {"bob_rejected"}
    # Others' non-validated observations stay hidden whatever the filter.
    assert world.names(world.alice, "&status=rejected") == set()
    assert world.names(None, "&status=pending") == set()


def test_year_filter(world: World) -> None:
    assert world.names(world.ecologist, "&year=2025") == {"alice_validated"}
    assert world.names(world.ecologist, "&year=2026") == EVERYTHING - {"alice_validated"}
    assert world.names(world.ecologist, "&year=2024") == set()


def test_bbox_filter(world: World) -> None:
    around_loos = "&bbox=2.70,50.40,2.85,50.50"
    assert world.names(world.ecologist, around_loos) == EVERYTHING - {"bob_validated"}
    around_atlantic = (
        f"&bbox={ATLANTIC[1] - 1},{ATLANTIC[0] - 1},{ATLANTIC[1] + 1},{ATLANTIC[0] + 1}"
    )
    assert world.names(None, around_atlantic) == {"bob_validated"}
    assert world.names(None, "&bbox=-180,-90,180,90") == VALIDATED


def test_narrow_bbox_does_not_reveal_a_sensitive_point(world: World) -> None:
    lat, lon = LOOS
    narrow = f"&bbox={lon - 0.0001},{lat - 0.0001},{lon + 0.0001},{lat + 0.0001}"
    # The public only finds the common species recorded at that exact point.
    assert "alice_falcon" not in world.names(None, narrow)
    assert "alice_falcon" not in world.names(world.bob, narrow)
    assert "alice_validated" in world.names(None, narrow)
    # Its observer and staff find it.
    assert "alice_falcon" in world.names(world.alice, narrow)
    assert "alice_falcon" in world.names(world.ecologist, narrow)
    # Around the cell centre, the public finds it where it is shown.
    cell_lat, cell_lon, _ = generalise(lat, lon)
    centre = (
        f"&bbox={cell_lon - 0.0001},{cell_lat - 0.0001},{cell_lon + 0.0001},{cell_lat + 0.0001}"
    )
    assert world.names(None, centre) == {"alice_falcon"}
    assert "alice_falcon" not in world.names(world.ecologist, centre)


@pytest.mark.parametrize(
    "bbox",
    [
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "",
        "2.85,50.40,2.70,50.50",  # min lon > max lon
        "2.70,50.50,2.85,50.40",  # min lat > max lat
        "-181,0,0,0",
        "0,0,181,0",
        "0,-91,0,0",
        "0,0,0,91",
        "nan,0,1,1",
        "0,0,inf,1",
        "0,0,1e400,1",
    ],
)
def test_bad_bbox_is_422(client: TestClient, bbox: str) -> None:
    r = client.get("/observations", params={"bbox": bbox})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["bbox"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "approved"}, "status"),
        ({"species_id": "falcon"}, "species_id"),
        ({"zone_id": "62528"}, "zone_id"),
        ({"year": "1899"}, "year"),
        ({"year": "twenty"}, "year"),
        ({"updated_since": "2026-04-12T07:45:00"}, "updated_since"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"mine": "perhaps"}, "mine"),
    ],
)
def test_bad_query_parameters_are_422(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    r = client.get("/observations", params=query)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}


def test_default_order_is_newest_first(world: World) -> None:
    items = world.items(world.ecologist)
    keys = [(i["observed_at"], i["id"]) for i in items]
    assert keys == sorted(keys, reverse=True)
    assert items[-1]["id"] == world.ids["alice_validated"]  # observed in 2025


def test_cursor_pagination_walks_every_page(
    client: TestClient, session: Session, settings: Settings
) -> None:
    walker = create_user(session, settings)
    headers = auth_headers(walker, settings)
    created = []
    # Two of them at the same instant: the id breaks the tie.
    for observed_at in ["2026-04-01T08:00:00Z", "2026-04-02T08:00:00Z", "2026-04-02T08:00:00Z",
                        "2026-03-01T08:00:00Z", "2026-05-01T08:00:00+02:00"]:  # fmt: skip
        r = client.post("/observations", json=payload(observed_at=observed_at), headers=headers)
        created.append(r.json())
    expected = [
        o["id"]
        for o in sorted(
            created, key=lambda o: (datetime.fromisoformat(o["observed_at"]), o["id"]), reverse=True
        )
    ]

    seen: list[str] = []
    pages = 0
    url = "/observations?mine=true&limit=2"
    cursor = None
    while True:
        r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


def test_last_full_page_has_no_next_cursor(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    for _ in range(2):
        client.post("/observations", json=payload(), headers=headers)
    page = client.get("/observations?mine=true&limit=2", headers=headers).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor", ["garbage", "W10", "WyJvIiwgMV0", "WyJvIiwieCIsInkiXQ", "!!!", "x" * 512]
)
def test_invalid_cursor_is_422(client: TestClient, cursor: str) -> None:
    r = client.get("/observations", params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "request.invalid_cursor"
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"]


def test_a_cursor_of_one_order_is_refused_by_the_other(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    for _ in range(3):
        client.post("/observations", json=payload(), headers=headers)
    cursor = client.get("/observations?mine=true&limit=1", headers=headers).json()["next_cursor"]
    assert cursor
    r = client.get(
        "/observations",
        params={"mine": "true", "cursor": cursor, "updated_since": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "request.invalid_cursor"


def test_updated_since_sync_reports_changes_and_tombstones(
    client: TestClient, session: Session, settings: Settings
) -> None:
    phone = create_user(session, settings)
    headers = auth_headers(phone, settings)
    ids = [
        client.post("/observations", json=payload(count=i), headers=headers).json()["id"]
        for i in range(4)
    ]
    # Spread the changes out in time, as they would be in real life.
    base = datetime(2026, 5, 1, tzinfo=UTC)
    for i, id_ in enumerate(ids):
        session.execute(
            update(Observation)
            .where(col(Observation.id) == uuid.UUID(id_))
            .values(updated_at=base + timedelta(hours=i))
        )
    session.flush()
    since = (base + timedelta(minutes=30)).isoformat()

    r = client.get("/observations", params={"updated_since": since}, headers=headers)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == ids[1:]  # oldest change first

    # A deletion and an edit happen after the last sync.
    last_sync = datetime.now(UTC)
    assert client.delete(f"/observations/{ids[1]}", headers=headers).status_code == 204
    edited = client.patch(f"/observations/{ids[2]}", json={"count": 42}, headers=headers)
    assert edited.status_code == 200
    changes = client.get(
        "/observations", params={"updated_since": last_sync.isoformat()}, headers=headers
    ).json()["items"]
    assert [c["id"] for c in changes] == [ids[1], ids[2]]
    assert changes[0]["deleted"] is True
    assert changes[1]["deleted"] is False
    assert changes[1]["count"] == 42

    # Without updated_since, the deleted one is gone.
    listed = client.get("/observations?mine=true", headers=headers).json()["items"]
    assert ids[1] not in {i["id"] for i in listed}
    assert all(i["deleted"] is False for i in listed)


def test_updated_since_pages_in_change_order(
    client: TestClient, session: Session, settings: Settings
) -> None:
    phone = create_user(session, settings)
    headers = auth_headers(phone, settings)
    ids = [
        client.post("/observations", json=payload(), headers=headers).json()["id"] for _ in range(5)
    ]
    same_instant = datetime(2026, 6, 1, tzinfo=UTC)
    for id_ in ids:
        session.execute(
            update(Observation)
            .where(col(Observation.id) == uuid.UUID(id_))
            .values(updated_at=same_instant)
        )
    session.flush()
    params: dict[str, str] = {"updated_since": "2026-06-01T02:00:00+02:00", "limit": "2"}
    seen: list[str] = []
    while True:
        page = client.get("/observations", params=params, headers=headers).json()
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(ids, key=uuid.UUID)


def test_updated_since_with_an_unescaped_plus(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    client.post("/observations", json=payload(), headers=headers)
    # "+02:00" pasted into a URL unescaped arrives as " 02:00".
    r = client.get("/observations?mine=true&updated_since=2020-01-01T00:00:00+02:00",
                   headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1


def test_tombstones_only_for_what_the_viewer_could_see(
    client: TestClient, session: Session, settings: Settings
) -> None:
    owner = create_user(session, settings)
    outsider = create_user(session, settings)
    pending = client.post("/observations", json=payload(), headers=auth_headers(owner, settings))
    validated = client.post("/observations", json=payload(), headers=auth_headers(owner, settings))
    set_status(session, validated.json()["id"], "validated")
    for r in (pending, validated):
        client.delete(f"/observations/{r.json()['id']}", headers=auth_headers(owner, settings))
    since = {"updated_since": "2020-01-01T00:00:00Z"}
    ours = {pending.json()["id"], validated.json()["id"]}
    theirs = client.get("/observations", params={**since, "limit": 500},
                        headers=auth_headers(outsider, settings)).json()["items"]  # fmt: skip
    assert {i["id"] for i in theirs} & ours == {validated.json()["id"]}
    mine = client.get("/observations", params={**since, "mine": "true"},
                      headers=auth_headers(owner, settings)).json()["items"]  # fmt: skip
    assert {i["id"] for i in mine} == ours
    assert all(i["deleted"] for i in mine)


def test_empty_list_shape(client: TestClient) -> None:
    r = client.get("/observations", params={"species_id": str(uuid.uuid4())})
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("bbox=2.7e0,50.4,2.85,50.5", "request.invalid_bbox"),
        ("bbox=2.7,%2050.4,2.85,50.5", "request.invalid_bbox"),
        ("cursor=ab$cd", "request.invalid_cursor"),
    ],
)
def test_cursor_and_bbox_outside_their_documented_pattern_are_422(
    client: TestClient, query: str, code: str
) -> None:
    r = client.get(f"/observations?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
