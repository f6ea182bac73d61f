"""Zones: the GeoJSON API, imports by ecologists, and placing points in zones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlmodel import Session

from app.core.settings import Settings
from app.core.vocabulary import Role
from app.zones.service import (
    DEFAULT_ZONES_FILE,
    import_zones,
    locate_zone,
    locate_zones,
)
from tests.factories import auth_headers, create_user

LOOS_CODE = "62528"
# The middle of Loos-en-Gohelle, checked against the polygon below.
LOOS_CENTRE = (50.4571, 2.7852)
# The Strait of Dover, far from every zone.
SEA = (51.0, 1.6)

REFERENCE = json.loads(DEFAULT_ZONES_FILE.read_text(encoding="utf-8"))
REFERENCE_NAMES = {f["properties"]["code"]: f["properties"]["nom"] for f in REFERENCE["features"]}


def square(lon: float, lat: float, half: float) -> list[list[list[float]]]:
    return [
        [
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
            [lon - half, lat - half],
        ]
    ]


def feature(
    code: str,
    name: str,
    coordinates: Any,
    *,
    kind: str | None = None,
    geometry_type: str = "Polygon",
) -> dict[str, Any]:
    properties: dict[str, Any] = {"code": code, "name": name}
    if kind is not None:
        properties["kind"] = kind
    return {
        "type": "Feature",
        "geometry": {"type": geometry_type, "coordinates": coordinates},
        "properties": properties,
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


BOWTIE = [[[2.78, 50.45], [2.79, 50.46], [2.79, 50.45], [2.78, 50.46], [2.78, 50.45]]]


def zone_codes(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/zones")
    assert response.status_code == 200
    return {f["properties"]["code"]: f for f in response.json()["features"]}


# --- reading ------------------------------------------------------------------------------------


def test_list_zones_is_a_feature_collection_of_the_ten_communes(client: TestClient) -> None:
    response = client.get("/zones", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 10
    names = {f["properties"]["code"]: f["properties"]["name"] for f in body["features"]}
    assert names == REFERENCE_NAMES
    assert names[LOOS_CODE] == "Loos-en-Gohelle"
    for item in body["features"]:
        assert item["type"] == "Feature"
        assert set(item["properties"]) == {"id", "code", "name", "kind"}
        assert item["properties"]["kind"] == "commune"
        assert item["id"] == item["properties"]["id"]
        assert item["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_listed_geometry_is_the_imported_boundary(client: TestClient) -> None:
    listed = zone_codes(client)[LOOS_CODE]
    original = next(f for f in REFERENCE["features"] if f["properties"]["code"] == LOOS_CODE)

    served = shape(listed["geometry"])
    assert served.equals(shape(original["geometry"]))
    assert served.exterior.is_ccw  # RFC 7946 winding
    min_lon, min_lat, max_lon, max_lat = listed["bbox"]
    assert (min_lon, min_lat, max_lon, max_lat) == pytest.approx(served.bounds)


def test_list_zones_filters_by_kind(client: TestClient) -> None:
    assert len(client.get("/zones", params={"kind": "commune"}).json()["features"]) == 10
    assert client.get("/zones", params={"kind": "slag_heap"}).json()["features"] == []


def test_get_one_zone(client: TestClient) -> None:
    loos = zone_codes(client)[LOOS_CODE]

    response = client.get(f"/zones/{loos['id']}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    assert response.json()["properties"] == loos["properties"]
    assert response.json()["geometry"] == loos["geometry"]


def test_unknown_zone_is_404(client: TestClient) -> None:
    response = client.get(f"/zones/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "zone.not_found"


def test_zone_id_that_is_not_a_uuid_is_422(client: TestClient) -> None:
    response = client.get("/zones/not-a-uuid")

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


# --- locating -----------------------------------------------------------------------------------


def test_point_in_the_middle_of_loos_is_in_loos(
    client: TestClient, session: Session, settings: Settings
) -> None:
    loos = zone_codes(client)[LOOS_CODE]
    lat, lon = LOOS_CENTRE
    assert shape(loos["geometry"]).contains(Point(lon, lat))

    zone_id = locate_zone(session, settings, latitude=lat, longitude=lon)

    assert zone_id == uuid.UUID(loos["id"])


def test_point_in_the_sea_is_in_no_zone(session: Session, settings: Settings) -> None:
    assert locate_zone(session, settings, latitude=SEA[0], longitude=SEA[1]) is None


def test_every_commune_holds_its_own_representative_point(
    client: TestClient, session: Session, settings: Settings
) -> None:
    zones = zone_codes(client)
    points = []
    for item in zones.values():
        inside = shape(item["geometry"]).representative_point()
        points.append((inside.y, inside.x))

    located = locate_zones(session, settings, [*points, SEA, (float("nan"), 2.78)])

    assert located[:-2] == [uuid.UUID(item["id"]) for item in zones.values()]
    assert located[-2:] == [None, None]


def test_locate_zones_of_nothing_is_empty(session: Session, settings: Settings) -> None:
    assert locate_zones(session, settings, []) == []


def test_overlapping_zones_the_smallest_wins(
    client: TestClient, session: Session, settings: Settings, ecologist_headers: dict[str, str]
) -> None:
    lat, lon = LOOS_CENTRE
    heap = feature("terril-test", "Terril d'essai", square(lon, lat, 0.002), kind="slag_heap")

    response = client.post("/zones/import", json=collection(heap), headers=ecologist_headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"created": 1, "updated": 0, "total": 1}
    zones = zone_codes(client)
    assert zones["terril-test"]["properties"]["kind"] == "slag_heap"
    heap_id = uuid.UUID(zones["terril-test"]["id"])
    loos_id = uuid.UUID(zones[LOOS_CODE]["id"])
    assert locate_zone(session, settings, latitude=lat, longitude=lon) == heap_id
    # Outside the small square, still inside Loos.
    assert locate_zone(session, settings, latitude=lat + 0.004, longitude=lon) == loos_id


def test_index_notices_zones_that_vanish_with_a_rollback(
    session: Session, settings: Settings
) -> None:
    lat, lon = LOOS_CENTRE
    loos_id = locate_zone(session, settings, latitude=lat, longitude=lon)
    savepoint = session.begin_nested()
    import_zones(session, collection(feature("tmp", "Temporaire", square(lon, lat, 0.001))))
    inner_id = locate_zone(session, settings, latitude=lat, longitude=lon)
    savepoint.rollback()

    assert inner_id not in (None, loos_id)
    assert locate_zone(session, settings, latitude=lat, longitude=lon) == loos_id


def test_index_is_reused_while_the_cache_is_fresh(session: Session, settings: Settings) -> None:
    from app.zones.index import get_zone_index, invalidate_zone_index

    cached = settings.model_copy(update={"reference_cache_seconds": 3600})
    invalidate_zone_index()  # an index left by an earlier test may hold its rolled-back zones
    first = get_zone_index(session, cached)

    assert get_zone_index(session, cached) is first
    assert len(first) == 10


# --- importing ----------------------------------------------------------------------------------


def test_reimport_updates_instead_of_duplicating(
    client: TestClient, ecologist_headers: dict[str, str]
) -> None:
    lat, lon = LOOS_CENTRE
    first = collection(feature("quartier-1", "Cité 5", square(lon, lat, 0.003), kind="district"))
    second = collection(
        feature("quartier-1", "Cité 5 (Loos)", square(lon, lat, 0.001), kind="district")
    )

    created = client.post("/zones/import", json=first, headers=ecologist_headers)
    updated = client.post("/zones/import", json=second, headers=ecologist_headers)

    assert created.json() == {"created": 1, "updated": 0, "total": 1}
    assert updated.status_code == 200
    assert updated.json() == {"created": 0, "updated": 1, "total": 1}
    zones = zone_codes(client)
    assert len(zones) == 11
    district = zones["quartier-1"]
    assert district["properties"]["name"] == "Cité 5 (Loos)"
    assert shape(district["geometry"]).equals(
        shape({"type": "Polygon", "coordinates": square(lon, lat, 0.001)})
    )


def test_reimporting_the_reference_file_changes_nothing_but_counts_updates(
    client: TestClient, ecologist_headers: dict[str, str]
) -> None:
    response = client.post("/zones/import", json=REFERENCE, headers=ecologist_headers)

    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 10, "total": 10}
    assert {c: f["properties"]["name"] for c, f in zone_codes(client).items()} == REFERENCE_NAMES


def test_multipolygon_and_alternative_property_names(
    client: TestClient, ecologist_headers: dict[str, str]
) -> None:
    parts = [square(2.70, 50.40, 0.001), square(2.71, 50.40, 0.001)]
    item = {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": parts},
        "properties": {"insee": 99001, "nom": "Deux îlots"},
    }

    response = client.post("/zones/import", json=collection(item), headers=ecologist_headers)

    assert response.status_code == 200, response.text
    stored = zone_codes(client)["99001"]
    assert stored["properties"]["name"] == "Deux îlots"
    assert stored["properties"]["kind"] == "commune"
    assert stored["geometry"]["type"] == "MultiPolygon"


def test_bowtie_polygon_is_refused_and_nothing_is_stored(
    client: TestClient, ecologist_headers: dict[str, str]
) -> None:
    lat, lon = LOOS_CENTRE
    body = collection(
        feature("bowtie", "Nœud papillon", BOWTIE),
        feature("fine", "Correcte", square(lon, lat, 0.001)),
    )

    response = client.post("/zones/import", json=body, headers=ecologist_headers)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "zone.invalid_file"
    assert [e["field"] for e in problem["errors"]] == ["features[0]"]
    assert "Self-intersection" in problem["errors"][0]["message"]
    assert set(zone_codes(client)) == set(REFERENCE_NAMES)


def test_every_bad_feature_is_named(client: TestClient, ecologist_headers: dict[str, str]) -> None:
    ok = square(2.7, 50.4, 0.001)
    body = collection(
        feature("a", "Bonne", ok),
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.7, 50.4]},
            "properties": {"code": "b", "name": "Point"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": ok},
            "properties": {"name": "Sans code"},
        },
        feature("d", "Hors limites", square(200.0, 50.4, 0.001)),
        feature("a", "Doublon", ok),
        feature("f", "Anneau ouvert", [[[2.7, 50.4], [2.8, 50.4]]]),
        {"type": "Feature", "geometry": None, "properties": {"code": "g", "name": "Vide"}},
        "not a feature",
        feature("i", "", ok),
    )

    response = client.post("/zones/import", json=body, headers=ecologist_headers)

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "zone.invalid_file"
    assert [e["field"] for e in problem["errors"]] == [f"features[{i}]" for i in range(1, 9)]
    assert "a" not in zone_codes(client)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Feature", "features": []},
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": "none"},
        [],
    ],
)
def test_body_that_is_not_a_feature_collection_is_422(
    client: TestClient, ecologist_headers: dict[str, str], body: Any
) -> None:
    response = client.post("/zones/import", json=body, headers=ecologist_headers)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_empty_feature_collection_is_422(
    client: TestClient, ecologist_headers: dict[str, str]
) -> None:
    response = client.post("/zones/import", json=collection(), headers=ecologist_headers)

    assert response.status_code == 422
    assert response.json()["code"] == "zone.invalid_file"


def test_malformed_json_is_422(client: TestClient, ecologist_headers: dict[str, str]) -> None:
    response = client.post(
        "/zones/import",
        content=b'{"type": "FeatureCollection", "features": [',
        headers={**ecologist_headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "request.malformed_json"


def test_sentinel_cannot_import_zones(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sentinel = create_user(session, settings, role=Role.sentinel)

    response = client.post(
        "/zones/import",
        json=collection(feature("x", "X", square(2.7, 50.4, 0.001))),
        headers=auth_headers(sentinel, settings),
    )

    assert response.status_code == 403
    assert response.json()["code"] == "auth.role_required"
    assert "x" not in zone_codes(client)


def test_admin_can_import_zones(client: TestClient, session: Session, settings: Settings) -> None:
    admin = create_user(session, settings, role=Role.admin)

    response = client.post(
        "/zones/import",
        json=collection(feature("x", "X", square(2.7, 50.4, 0.001))),
        headers=auth_headers(admin, settings),
    )

    assert response.status_code == 200
    assert "x" in zone_codes(client)


def test_anonymous_cannot_import_zones(client: TestClient) -> None:
    response = client.post(
        "/zones/import", json=collection(feature("x", "X", square(2.7, 50.4, 0.001)))
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_import_from_a_file(session: Session, tmp_path: Any) -> None:
    path = tmp_path / "heaps.geojson"
    path.write_text(
        json.dumps(collection(feature("h1", "Terril 1", square(2.8, 50.45, 0.001)))),
        encoding="utf-8",
    )

    report = import_zones(session, path, default_kind="slag_heap")

    assert (report.created, report.updated, report.total) == (1, 0, 1)


def test_import_from_a_file_that_is_not_json(session: Session, tmp_path: Any) -> None:
    from app.core.errors import Unprocessable

    path = tmp_path / "broken.geojson"
    path.write_bytes(b"\xff\xfe not json")

    with pytest.raises(Unprocessable) as caught:
        import_zones(session, path)

    assert caught.value.code == "zone.invalid_file"
