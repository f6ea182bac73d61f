"""Survey sites through the HTTP API: registering a façade, a garden or a transect, who sees
which site, corrections, deletions as tombstones, and the lists a phone syncs from."""

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
from app.core.vocabulary import Role
from app.surveys.models import Site
from app.zones.models import Zone
from tests.factories import auth_headers, create_user

LOOS = (50.4571, 2.7852)  # in Loos-en-Gohelle (INSEE 62528)
ATLANTIC = (46.0, -20.0)  # in no zone
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
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[2.78, 50.45], [2.79, 50.46], [2.79, 50.45], [2.78, 50.46], [2.78, 50.45]]],
}
SITE_FIELDS = {
    "id", "client_id", "kind", "name", "latitude", "longitude", "geometry", "zone_id",
    "owner_id", "class_id", "created_at", "updated_at", "deleted",
}  # fmt: skip


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid nest site as the phone sends it; ``overrides`` replace or add fields, and a
    value of ``...`` removes the field."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "kind": "nest_site",
        "name": "Façades de la rue Jean Jaurès, n° 12 à 30",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def post(client: TestClient, user: User, settings: Settings, body: Any) -> Any:
    return client.post("/sites", json=body, headers=auth_headers(user, settings))


def create_site(client: TestClient, user: User, settings: Settings, **overrides: Any) -> Any:
    r = post(client, user, settings, payload(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def loos_zone_id(session: Session) -> str:
    return str(session.exec(select(Zone).where(Zone.code == "62528")).one().id)


def site_rows(session: Session, *, owner_id: uuid.UUID, client_id: str | None = None) -> int:
    query = select(func.count()).select_from(Site).where(col(Site.owner_id) == owner_id)
    if client_id is not None:
        query = query.where(col(Site.client_id) == uuid.UUID(client_id))
    return session.exec(query).one()


def problem_fields(r: Any) -> list[str]:
    """The fields a 422 names, after checking it is a well-formed problem."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    body = r.json()
    assert body["status"] == 422
    assert body["code"]
    return [e["field"] for e in body["errors"]]


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def set_times(session: Session, site_id: str, **times: datetime) -> None:
    """Moves a site's ``created_at``/``updated_at``, to make orders independent of the clock."""
    session.execute(update(Site).where(col(Site.id) == uuid.UUID(site_id)).values(**times))
    session.flush()


# Each test starts from the shipped species and zones, loaded again (an upsert).
pytestmark = pytest.mark.usefixtures("reference_data")


# --- creation ----------------------------------------------------------------------------------


def test_create_nest_site_answers_201_with_every_field(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = payload()
    before = datetime.now(UTC)
    r = post(client, sentinel, settings, body)
    after = datetime.now(UTC)

    assert r.status_code == 201, r.text
    site = r.json()
    assert set(site) == SITE_FIELDS
    uuid.UUID(site["id"])
    assert site["client_id"] == body["client_id"]
    assert site["kind"] == "nest_site"
    assert site["name"] == "Façades de la rue Jean Jaurès, n° 12 à 30"
    assert site["latitude"] == LOOS[0]
    assert site["longitude"] == LOOS[1]
    assert site["geometry"] is None
    assert site["zone_id"] == loos_zone_id(session)
    assert site["owner_id"] == str(sentinel.id)
    assert site["class_id"] is None
    assert site["deleted"] is False
    created = datetime.fromisoformat(site["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    assert site["updated_at"] == site["created_at"]

    again = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert again.status_code == 200, again.text
    assert again.json() == site


def test_create_garden_without_geometry(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, kind="garden", name="Jardin des Tilleuls")
    assert site["kind"] == "garden"
    assert site["name"] == "Jardin des Tilleuls"
    assert site["geometry"] is None
    assert site["zone_id"] == loos_zone_id(session)


def test_create_garden_with_a_polygon_returns_it_as_sent(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, kind="garden", geometry=GARDEN_POLYGON)
    assert site["kind"] == "garden"
    assert site["geometry"] == GARDEN_POLYGON
    read = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["geometry"] == GARDEN_POLYGON


def test_create_transect_with_a_linestring(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site = create_site(
        client, sentinel, settings, kind="transect", name="Chemin du terril",
        latitude=50.4605, longitude=2.7835, geometry=TRANSECT_LINE,
    )  # fmt: skip
    assert site["kind"] == "transect"
    assert site["geometry"] == TRANSECT_LINE
    assert (site["latitude"], site["longitude"]) == (50.4605, 2.7835)
    assert site["zone_id"] == loos_zone_id(session)


def test_name_is_stored_without_surrounding_blanks(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, name="  Grange du 12  ")
    assert site["name"] == "Grange du 12"


def test_point_far_from_every_zone_has_no_zone(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, latitude=ATLANTIC[0], longitude=ATLANTIC[1])
    assert site["zone_id"] is None


def test_resending_the_same_client_id_answers_200_and_changes_nothing(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = payload()
    first = post(client, sentinel, settings, body)
    assert first.status_code == 201, first.text
    changed = {
        **body, "kind": "garden", "name": "Autre nom", "latitude": ATLANTIC[0],
        "longitude": ATLANTIC[1], "geometry": GARDEN_POLYGON,
    }  # fmt: skip
    for resent in (body, changed):
        again = post(client, sentinel, settings, resent)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    stored = client.get(f"/sites/{first.json()['id']}", headers=auth_headers(sentinel, settings))
    assert stored.json() == first.json()
    assert site_rows(session, owner_id=sentinel.id, client_id=body["client_id"]) == 1
    assert site_rows(session, owner_id=sentinel.id) == 1


def test_the_same_client_id_from_two_users_makes_two_sites(
    client: TestClient, session: Session, settings: Settings, sentinel: User, other: User
) -> None:
    body = payload()
    mine = post(client, sentinel, settings, body)
    theirs = post(client, other, settings, {**body, "name": "Chez Dominique"})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert mine.json()["owner_id"] == str(sentinel.id)
    assert theirs.json()["owner_id"] == str(other.id)
    assert theirs.json()["name"] == "Chez Dominique"
    assert site_rows(session, owner_id=sentinel.id, client_id=body["client_id"]) == 1
    assert site_rows(session, owner_id=other.id, client_id=body["client_id"]) == 1


def test_create_needs_a_signed_in_user(client: TestClient, session: Session) -> None:
    body = payload()
    r = client.post("/sites", json=body)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "auth.unauthenticated"
    stored = (
        select(func.count())
        .select_from(Site)
        .where(col(Site.client_id) == uuid.UUID(body["client_id"]))
    )
    assert session.exec(stored).one() == 0
    for path in ("/sites", f"/sites/{uuid.uuid4()}"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.json()["code"] == "auth.unauthenticated"


# --- validation --------------------------------------------------------------------------------


def _many_vertices(n: int) -> dict[str, Any]:
    """A valid LineString of ``n`` vertices."""
    return {
        "type": "LineString",
        "coordinates": [[2.78 + i * 1e-6, 50.45 + (i % 2) * 1e-6] for i in range(n)],
    }


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"name": ...}, "name", "request.invalid"),
        ({"name": ""}, "name", "request.invalid"),
        ({"name": "   "}, "name", "request.invalid"),
        ({"name": "x" * 201}, "name", "request.invalid"),
        ({"name": None}, "name", "request.invalid"),
        ({"latitude": 90.0001}, "latitude", "request.invalid"),
        ({"latitude": -91}, "latitude", "request.invalid"),
        ({"longitude": 180.0001}, "longitude", "request.invalid"),
        ({"longitude": -200}, "longitude", "request.invalid"),
        ({"latitude": ...}, "latitude", "request.invalid"),
        ({"kind": "pond"}, "kind", "request.invalid"),
        ({"kind": ...}, "kind", "request.invalid"),
        ({"client_id": "not-a-uuid"}, "client_id", "request.invalid"),
        ({"client_id": ...}, "client_id", "request.invalid"),
        ({"colour": "rouge"}, "colour", "request.invalid"),
        ({"kind": "garden", "geometry": BOW_TIE}, "geometry", "site.invalid_geometry"),
        (
            {"kind": "garden", "geometry": {"type": "Polygon", "coordinates": [[[200, 50],
             [201, 50], [201, 51], [200, 50]]]}},
            "geometry",
            "site.geometry_out_of_range",
        ),
        (
            {"kind": "garden", "geometry": {"type": "Polygon", "coordinates": [[[2.78, 95],
             [2.79, 95], [2.79, 96], [2.78, 95]]]}},
            "geometry",
            "site.geometry_out_of_range",
        ),
        ({"kind": "transect", "geometry": _many_vertices(5001)}, "geometry",
         "site.geometry_too_large"),
        ({"kind": "garden", "geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, "geometry",
         "request.invalid"),
        ({"kind": "garden", "geometry": {"type": "Point", "coordinates": [2.78, 50.45]}},
         "geometry", "site.invalid_geometry"),
        ({"kind": "garden", "geometry": {"type": "Polygon"}}, "geometry",
         "site.invalid_geometry"),
        ({"kind": "transect", "geometry": {"type": "LineString",
          "coordinates": [[2.78, 50.45], [2.78, 50.45]]}}, "geometry", "site.invalid_geometry"),
        ({"kind": "transect", "geometry": {"type": "LineString", "coordinates": []}},
         "geometry", "site.invalid_geometry"),
        ({"kind": "transect", "geometry": {"type": "LineString",
          "coordinates": [["2.78", "50.45"], [2.79, 50.46]]}}, "geometry",
         "site.invalid_geometry"),
    ],
)  # fmt: skip
def test_invalid_site_is_422_naming_the_field(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    r = post(client, sentinel, settings, payload(**overrides))
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    assert site_rows(session, owner_id=sentinel.id) == 0


def test_a_line_of_one_point_is_422_not_a_server_error(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    one_point = {"type": "LineString", "coordinates": [[2.78, 50.45]]}
    r = post(client, sentinel, settings, payload(kind="transect", geometry=one_point))
    assert problem_fields(r) == ["geometry"]
    assert r.json()["code"] == "site.invalid_geometry"
    assert site_rows(session, owner_id=sentinel.id) == 0


@pytest.mark.parametrize(
    "rings",
    [
        pytest.param(
            [[[2.78, 50.45], [2.79, 50.45], [2.79, 50.46], [2.78, 50.46]]], id="unclosed-ring"
        ),
        pytest.param(
            [[[2.78, 50.45], [2.79, 50.45], [2.79, 50.46], [2.78, 50.45]], []], id="empty-hole"
        ),
    ],
)
def test_polygon_rings_that_rfc_7946_forbids_are_422(
    client: TestClient, session: Session, settings: Settings, sentinel: User, rings: Any
) -> None:
    """A ring is closed (first and last positions equal) and has at least four positions:
    the geometry is returned as sent, so it must be GeoJSON that every reader accepts."""
    polygon = {"type": "Polygon", "coordinates": rings}
    r = post(client, sentinel, settings, payload(kind="garden", geometry=polygon))
    assert problem_fields(r) == ["geometry"]
    assert r.json()["code"] == "site.invalid_geometry"
    assert site_rows(session, owner_id=sentinel.id) == 0


def test_geometry_of_5000_vertices_is_accepted(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    line = _many_vertices(5000)
    site = create_site(client, sentinel, settings, kind="transect", geometry=line)
    assert len(site["geometry"]["coordinates"]) == 5000


GEOMETRY_KIND_MISMATCHES = [
    pytest.param({"kind": "transect"}, id="transect-without-line"),
    pytest.param({"kind": "transect", "geometry": None}, id="transect-with-null-line"),
    pytest.param({"kind": "nest_site", "geometry": GARDEN_POLYGON}, id="nest-site-with-polygon"),
    pytest.param({"kind": "nest_site", "geometry": TRANSECT_LINE}, id="nest-site-with-line"),
    pytest.param({"kind": "garden", "geometry": TRANSECT_LINE}, id="garden-with-line"),
    pytest.param({"kind": "transect", "geometry": GARDEN_POLYGON}, id="transect-with-polygon"),
]


@pytest.mark.parametrize("overrides", GEOMETRY_KIND_MISMATCHES)
def test_geometry_that_does_not_suit_the_kind_is_422(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    overrides: dict[str, Any],
) -> None:
    r = post(client, sentinel, settings, payload(**overrides))
    assert len(problem_fields(r)) == 1
    assert r.json()["code"] == "site.geometry_kind_mismatch"
    assert r.json()["errors"][0]["code"] == "site.geometry_kind_mismatch"
    assert site_rows(session, owner_id=sentinel.id) == 0


@pytest.mark.parametrize("overrides", GEOMETRY_KIND_MISMATCHES)
def test_geometry_kind_mismatch_names_the_geometry_field(
    client: TestClient, settings: Settings, sentinel: User, overrides: dict[str, Any]
) -> None:
    """The phone highlights the field at fault; PATCH /sites/{id} names it `geometry` for the
    same mistake, and so must POST /sites."""
    r = post(client, sentinel, settings, payload(**overrides))
    assert problem_fields(r) == ["geometry"]


def test_body_that_is_not_an_object_is_422(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = client.post("/sites", json=[payload()], headers=auth_headers(sentinel, settings))
    assert problem_fields(r) == ["body"]
    malformed = client.post(
        "/sites",
        content=b'{"kind": "garden",',
        headers={**auth_headers(sentinel, settings), "content-type": "application/json"},
    )
    assert problem_fields(malformed) == ["body"]
    assert malformed.json()["code"] == "request.malformed_json"


# --- who sees what -----------------------------------------------------------------------------


def test_owner_reads_their_site(client: TestClient, settings: Settings, sentinel: User) -> None:
    site = create_site(client, sentinel, settings)
    r = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert r.status_code == 200
    assert r.json() == site


def test_another_sentinel_gets_404_everywhere(
    client: TestClient, session: Session, settings: Settings, sentinel: User, other: User
) -> None:
    site = create_site(client, sentinel, settings)
    headers = auth_headers(other, settings)
    attempts = [
        client.get(f"/sites/{site['id']}", headers=headers),
        client.patch(f"/sites/{site['id']}", json={"name": "À moi"}, headers=headers),
        client.delete(f"/sites/{site['id']}", headers=headers),
        client.get(f"/sites/{site['id']}/visits", headers=headers),
        client.get(f"/sites/{site['id']}/yearly", headers=headers),
    ]
    for r in attempts:
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "site.not_found"
    # An unknown id answers exactly the same: nothing tells the site exists.
    unknown = client.get(f"/sites/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404
    assert {k: v for k, v in unknown.json().items() if k != "instance"} == {
        k: v for k, v in attempts[0].json().items() if k != "instance"
    }
    # Nothing was changed or deleted.
    after = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert after.json() == site


def test_malformed_site_id_is_422(client: TestClient, settings: Settings, sentinel: User) -> None:
    r = client.get("/sites/not-a-uuid", headers=auth_headers(sentinel, settings))
    assert problem_fields(r) == ["site_id"]


def test_ecologist_reads_any_site(
    client: TestClient, settings: Settings, sentinel: User, ecologist: User
) -> None:
    site = create_site(client, sentinel, settings)
    r = client.get(f"/sites/{site['id']}", headers=auth_headers(ecologist, settings))
    assert r.status_code == 200
    assert r.json() == site


def test_admin_reads_any_site(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    site = create_site(client, sentinel, settings)
    r = client.get(f"/sites/{site['id']}", headers=auth_headers(admin, settings))
    assert r.status_code == 200
    assert r.json()["id"] == site["id"]


def test_a_sentinel_lists_only_their_own_sites(
    client: TestClient, session: Session, settings: Settings, sentinel: User, other: User
) -> None:
    mine = [create_site(client, sentinel, settings)["id"] for _ in range(2)]
    theirs = create_site(client, other, settings)["id"]
    headers = auth_headers(sentinel, settings)
    listed = client.get("/sites?limit=500", headers=headers)
    assert listed.status_code == 200, listed.text
    assert set(ids(listed.json())) == set(mine)
    assert theirs not in ids(listed.json())
    # mine=true changes nothing for a sentinel; mine=false does not widen it.
    assert set(ids(client.get("/sites?mine=true", headers=headers).json())) == set(mine)
    assert set(ids(client.get("/sites?mine=false", headers=headers).json())) == set(mine)


def test_staff_list_every_site_and_mine_narrows(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    other: User,
    ecologist: User,
) -> None:
    a = create_site(client, sentinel, settings)["id"]
    b = create_site(client, other, settings)["id"]
    own = create_site(client, ecologist, settings, name="Façade du CPIE")["id"]
    headers = auth_headers(ecologist, settings)
    everything = client.get("/sites?limit=500", headers=headers)
    assert everything.status_code == 200
    assert {a, b, own} <= set(ids(everything.json()))
    narrowed = client.get("/sites?mine=true&limit=500", headers=headers)
    assert ids(narrowed.json()) == [own]


def test_kind_filter(client: TestClient, settings: Settings, sentinel: User) -> None:
    nest = create_site(client, sentinel, settings)["id"]
    garden = create_site(client, sentinel, settings, kind="garden")["id"]
    transect = create_site(client, sentinel, settings, kind="transect", geometry=TRANSECT_LINE)
    headers = auth_headers(sentinel, settings)
    for kind, expected in [("nest_site", [nest]), ("garden", [garden]),
                           ("transect", [transect["id"]])]:  # fmt: skip
        r = client.get(f"/sites?kind={kind}", headers=headers)
        assert r.status_code == 200, r.text
        assert ids(r.json()) == expected, kind
        assert all(item["kind"] == kind for item in r.json()["items"])


def test_zone_filter(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    in_loos = create_site(client, sentinel, settings)["id"]
    create_site(client, sentinel, settings, latitude=ATLANTIC[0], longitude=ATLANTIC[1])
    r = client.get(
        "/sites",
        params={"zone_id": loos_zone_id(session)},
        headers=auth_headers(sentinel, settings),
    )
    assert ids(r.json()) == [in_loos]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "pond"}, "kind"),
        ({"mine": "perhaps"}, "mine"),
        ({"zone_id": "62528"}, "zone_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-04-12T07:45:00"}, "updated_since"),
    ],
)
def test_bad_list_parameters_are_422(
    client: TestClient, settings: Settings, sentinel: User, query: dict[str, str], field: str
) -> None:
    r = client.get("/sites", params=query, headers=auth_headers(sentinel, settings))
    assert field in problem_fields(r)


def test_updated_since_without_offset_has_its_code(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = client.get(
        "/sites", params={"updated_since": "2026-04-12T07:45:00"},
        headers=auth_headers(sentinel, settings),
    )  # fmt: skip
    assert problem_fields(r) == ["updated_since"]
    assert r.json()["code"] == "request.invalid_datetime"


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_updated_since_beyond_the_ends_of_time_is_422_not_a_server_error(
    client: TestClient, settings: Settings, sentinel: User, since: str
) -> None:
    """Both are RFC 3339 times with an offset, but neither has a UTC equivalent."""
    r = client.get(
        "/sites", params={"updated_since": since}, headers=auth_headers(sentinel, settings)
    )
    assert problem_fields(r) == ["updated_since"]
    assert r.json()["code"] == "request.invalid_datetime"


# --- corrections -------------------------------------------------------------------------------


def patch(client: TestClient, user: User, settings: Settings, site_id: str, body: Any) -> Any:
    return client.patch(f"/sites/{site_id}", json=body, headers=auth_headers(user, settings))


def test_owner_renames_a_site(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings)
    r = patch(client, sentinel, settings, site["id"], {"name": "Façades rue Jean Jaurès"})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["name"] == "Façades rue Jean Jaurès"
    assert updated["created_at"] == site["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        site["updated_at"]
    )
    unchanged = {k: v for k, v in site.items() if k not in ("name", "updated_at")}
    assert {k: v for k, v in updated.items() if k not in ("name", "updated_at")} == unchanged
    read = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == updated


def test_moving_the_point_moves_the_zone(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings)
    assert site["zone_id"] == loos_zone_id(session)
    away = patch(client, sentinel, settings, site["id"],
                 {"latitude": ATLANTIC[0], "longitude": ATLANTIC[1]})  # fmt: skip
    assert away.status_code == 200, away.text
    assert (away.json()["latitude"], away.json()["longitude"]) == ATLANTIC
    assert away.json()["zone_id"] is None
    back = patch(client, sentinel, settings, site["id"],
                 {"latitude": LOOS[0], "longitude": LOOS[1]})  # fmt: skip
    assert back.json()["zone_id"] == loos_zone_id(session)


def test_garden_geometry_is_set_then_cleared(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, kind="garden")
    with_polygon = patch(client, sentinel, settings, site["id"], {"geometry": GARDEN_POLYGON})
    assert with_polygon.status_code == 200, with_polygon.text
    assert with_polygon.json()["geometry"] == GARDEN_POLYGON
    cleared = patch(client, sentinel, settings, site["id"], {"geometry": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["geometry"] is None
    read = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["geometry"] is None


def test_patch_without_geometry_keeps_it(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings, kind="garden", geometry=GARDEN_POLYGON)
    r = patch(client, sentinel, settings, site["id"], {"name": "Jardin partagé"})
    assert r.json()["geometry"] == GARDEN_POLYGON


@pytest.mark.parametrize(
    ("kind", "body", "field", "code"),
    [
        ("transect", {"geometry": None}, "geometry", "site.geometry_kind_mismatch"),
        ("transect", {"geometry": GARDEN_POLYGON}, "geometry", "site.geometry_kind_mismatch"),
        ("nest_site", {"geometry": GARDEN_POLYGON}, "geometry", "site.geometry_kind_mismatch"),
        ("garden", {"geometry": TRANSECT_LINE}, "geometry", "site.geometry_kind_mismatch"),
        ("garden", {"geometry": BOW_TIE}, "geometry", "site.invalid_geometry"),
        ("nest_site", {"name": None}, "name", "site.null_not_allowed"),
        ("nest_site", {"latitude": None}, "latitude", "site.null_not_allowed"),
        ("nest_site", {"name": "  "}, "name", "request.invalid"),
        ("nest_site", {"latitude": 91}, "latitude", "request.invalid"),
        ("nest_site", {"kind": "garden"}, "kind", "request.invalid"),
        ("nest_site", {"client_id": str(uuid.uuid4())}, "client_id", "request.invalid"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(
    client: TestClient,
    settings: Settings,
    sentinel: User,
    kind: str,
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    geometry = TRANSECT_LINE if kind == "transect" else None
    site = create_site(client, sentinel, settings, kind=kind, geometry=geometry)
    r = patch(client, sentinel, settings, site["id"], body)
    assert problem_fields(r) == [field]
    assert r.json()["code"] == code
    read = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert read.json() == site


def test_ecologist_may_not_patch_someone_elses_site(
    client: TestClient, settings: Settings, sentinel: User, ecologist: User
) -> None:
    site = create_site(client, sentinel, settings)
    r = patch(client, ecologist, settings, site["id"], {"name": "Renommé"})
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "site.not_owner"
    read = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert read.json()["name"] == site["name"]


def test_patch_needs_a_signed_in_user(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings)
    assert client.patch(f"/sites/{site['id']}", json={"name": "x"}).status_code == 401
    assert client.delete(f"/sites/{site['id']}").status_code == 401


# --- deletion ----------------------------------------------------------------------------------


def test_owner_deletes_a_site_and_then_it_is_gone(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    site = create_site(client, sentinel, settings)
    headers = auth_headers(sentinel, settings)
    r = client.delete(f"/sites/{site['id']}", headers=headers)
    assert r.status_code == 204
    assert r.content == b""
    gone = client.get(f"/sites/{site['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "site.not_found"
    assert client.delete(f"/sites/{site['id']}", headers=headers).status_code == 404
    assert patch(client, sentinel, settings, site["id"], {"name": "x"}).status_code == 404
    assert site["id"] not in ids(client.get("/sites", headers=headers).json())
    # Soft delete: the row stays for syncing phones.
    assert site_rows(session, owner_id=sentinel.id) == 1


def test_ecologist_may_delete_any_site(
    client: TestClient, settings: Settings, sentinel: User, ecologist: User
) -> None:
    site = create_site(client, sentinel, settings)
    r = client.delete(f"/sites/{site['id']}", headers=auth_headers(ecologist, settings))
    assert r.status_code == 204
    gone = client.get(f"/sites/{site['id']}", headers=auth_headers(sentinel, settings))
    assert gone.status_code == 404


def test_deleted_site_is_a_tombstone_for_updated_since(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    kept = create_site(client, sentinel, settings, name="Gardé")
    doomed = create_site(client, sentinel, settings, name="Supprimé")
    last_sync = datetime(2026, 4, 1, tzinfo=UTC)
    for site in (kept, doomed):
        set_times(session, site["id"], updated_at=last_sync - timedelta(days=1))
    before = datetime.now(UTC)
    assert client.delete(f"/sites/{doomed['id']}", headers=headers).status_code == 204

    r = client.get("/sites", params={"updated_since": last_sync.isoformat()}, headers=headers)
    assert r.status_code == 200, r.text
    [tombstone] = r.json()["items"]
    assert tombstone["id"] == doomed["id"]
    assert tombstone["deleted"] is True
    assert tombstone["name"] == "Supprimé"
    assert datetime.fromisoformat(tombstone["updated_at"]) >= before
    # Without updated_since only the living are listed.
    listed = client.get("/sites", headers=headers).json()["items"]
    assert [i["id"] for i in listed] == [kept["id"]]
    assert listed[0]["deleted"] is False


def test_deleting_a_site_makes_its_visits_tombstones(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    site = create_site(client, sentinel, settings)
    visit = client.post(
        f"/sites/{site['id']}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": "2026-05-16T09:30:00+02:00",
            "duration_min": 30,
            "counts": [{"cd_nom": 459478, "occupied": 5}],
        },
        headers=headers,
    )
    assert visit.status_code == 201, visit.text
    before = datetime.now(UTC)
    assert client.delete(f"/sites/{site['id']}", headers=headers).status_code == 204

    changes = client.get("/visits", params={"updated_since": before.isoformat()}, headers=headers)
    assert changes.status_code == 200, changes.text
    [tombstone] = changes.json()["items"]
    assert tombstone["id"] == visit.json()["id"]
    assert tombstone["deleted"] is True
    assert client.get(f"/visits/{visit.json()['id']}", headers=headers).status_code == 404
    assert client.get("/visits", headers=headers).json()["items"] == []


def test_resending_a_deleted_sites_client_id_does_not_bring_it_back(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    body = payload()
    site = post(client, sentinel, settings, body).json()
    assert client.delete(f"/sites/{site['id']}", headers=headers).status_code == 204
    again = post(client, sentinel, settings, body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == site["id"]
    assert again.json()["deleted"] is True
    assert client.get(f"/sites/{site['id']}", headers=headers).status_code == 404
    assert site_rows(session, owner_id=sentinel.id) == 1


# --- pages -------------------------------------------------------------------------------------


def test_cursor_pagination_walks_five_sites_newest_first(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    created = [create_site(client, sentinel, settings, name=f"Site {i}")["id"] for i in range(5)]
    # Creation times out of creation order, two of them equal: the id breaks the tie.
    base = datetime(2026, 4, 1, 8, tzinfo=UTC)
    hours = [3, 1, 4, 1, 5]
    for site_id, h in zip(created, hours, strict=True):
        set_times(session, site_id, created_at=base + timedelta(hours=h))
    expected = [
        s for _, s in sorted(zip(hours, created, strict=True),
                             key=lambda p: (p[0], uuid.UUID(p[1])), reverse=True)
    ]  # fmt: skip

    seen: list[str] = []
    pages = 0
    params: dict[str, str] = {"limit": "2"}
    while True:
        r = client.get("/sites", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += ids(page)
        pages += 1
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == expected
    assert len(set(seen)) == 5
    assert pages == 3


def test_last_full_page_has_no_next_cursor(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    for _ in range(2):
        create_site(client, sentinel, settings)
    page = client.get("/sites?limit=2", headers=auth_headers(sentinel, settings)).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


def test_updated_since_lists_changes_oldest_first_across_pages(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    created = [create_site(client, sentinel, settings)["id"] for _ in range(4)]
    base = datetime(2026, 5, 1, tzinfo=UTC)
    for i, site_id in enumerate(created):
        set_times(session, site_id, updated_at=base + timedelta(hours=3 - i))
    params: dict[str, str] = {
        "updated_since": (base + timedelta(minutes=30)).isoformat(),
        "limit": "2",
    }
    seen: list[str] = []
    while True:
        page = client.get("/sites", params=params, headers=headers).json()
        seen += ids(page)
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    # created[3] changed at base, before the sync point; the others oldest change first.
    assert seen == [created[2], created[1], created[0]]


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJvIiwieCIsInkiXQ", "!!!", "x" * 512])
def test_invalid_cursor_is_422(
    client: TestClient, settings: Settings, sentinel: User, cursor: str
) -> None:
    r = client.get("/sites", params={"cursor": cursor}, headers=auth_headers(sentinel, settings))
    assert problem_fields(r) == ["cursor"]
    assert r.json()["code"] == "request.invalid_cursor"


def test_a_newest_first_cursor_is_refused_by_the_sync_order(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    for _ in range(3):
        create_site(client, sentinel, settings)
    cursor = client.get("/sites?limit=1", headers=headers).json()["next_cursor"]
    assert cursor
    r = client.get(
        "/sites",
        params={"cursor": cursor, "updated_since": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert problem_fields(r) == ["cursor"]
    assert r.json()["code"] == "request.invalid_cursor"


def test_empty_list_shape(client: TestClient, settings: Settings, sentinel: User) -> None:
    r = client.get("/sites", headers=auth_headers(sentinel, settings))
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}
