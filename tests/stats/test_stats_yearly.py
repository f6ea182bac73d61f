"""``GET /stats/yearly`` on hand-built data with known answers: local years, synonyms by
``cd_ref``, validated data only, sensitive species by territory only, the protocols' values,
individuals, nests and the protocols' values each apart."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.species.models import Species
from app.surveys.models import Visit
from tests.factories import auth_headers, create_user, load_reference_data

LOOS = (50.4571, 2.7852)
SWALLOW, PEREGRINE, PEACOCK = 3696, 2938, 608364


def _observe(
    client: TestClient,
    headers: dict[str, str],
    cd_nom: int,
    at: str,
    count: int,
    unit: str = "individuals",
) -> str:
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": at,
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "count": count,
        "count_unit": unit,
    }
    answer = client.post("/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _validate(session: Session, ids: list[str]) -> None:
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    session.flush()


def _rows(client: TestClient, query: str, headers: dict[str, str] | None = None) -> list[Any]:
    answer = client.get(f"/stats/yearly?{query}", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_counts_by_local_year_taxon_and_zone(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    swallow = session.exec(select(Species).where(col(Species.cd_nom) == SWALLOW)).one()
    synonym = Species(
        cd_nom=999_3696, cd_ref=SWALLOW, scientific_name="Hirundo rustica rustica", group="bird"
    )
    session.add(synonym)
    session.flush()
    alice, bob = create_user(session, settings), create_user(session, settings)
    a, b = auth_headers(alice, settings), auth_headers(bob, settings)
    validated = [
        _observe(client, a, SWALLOW, "2025-05-01T10:00:00+02:00", 3),
        _observe(client, b, 999_3696, "2025-06-01T10:00:00+02:00", 4),
        # 23:30 UTC on 31 December 2024 is 2025 in Paris.
        _observe(client, a, SWALLOW, "2024-12-31T23:30:00Z", 1),
        _observe(client, a, SWALLOW, "2026-04-20T10:00:00+02:00", 2),
    ]
    _observe(client, b, SWALLOW, "2025-07-01T10:00:00+02:00", 50)  # pending: not counted
    _validate(session, validated)

    rows = _rows(client, f"cd_nom={SWALLOW}&from_year=2024&to_year=2026")
    assert [(r["year"], r["count"], r["observations"], r["observers"]) for r in rows] == [
        (2025, 8, 3, 2),
        (2026, 2, 1, 1),
    ]
    assert {r["species_id"] for r in rows} == {str(swallow.id)}
    assert all(r["cd_ref"] == SWALLOW and r["count_source"] == "observations" for r in rows)
    assert rows[0]["zone_id"] is not None
    # Asking by the synonym gives the same taxon.
    assert _rows(client, "cd_nom=9993696&from_year=2024&to_year=2026") == rows


def test_a_sensitive_species_is_counted_for_the_territory_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    observer = create_user(session, settings)
    ids = [
        _observe(
            client, auth_headers(observer, settings), PEREGRINE, "2025-05-01T10:00:00+02:00", 1
        )
    ]
    _validate(session, ids)
    public = _rows(client, f"cd_nom={PEREGRINE}&from_year=2025&to_year=2025")
    assert [(r["zone_id"], r["count"]) for r in public] == [(None, 1)]
    ecologist = create_user(session, settings, role=Role.ecologist)
    staff = _rows(
        client, f"cd_nom={PEREGRINE}&from_year=2025&to_year=2025", auth_headers(ecologist, settings)
    )
    assert staff[0]["zone_id"] is not None
    zone = staff[0]["zone_id"]
    assert _rows(client, f"cd_nom={PEREGRINE}&zone_id={zone}&from_year=2025&to_year=2025") == []


def test_the_protocols_value_is_the_sum_of_the_sites_yearly_values(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    owners = [create_user(session, settings) for _ in range(2)]
    visit_ids = []
    for owner, counts in zip(owners, ([(5, 4), (6, 2), (6, 3)], [(5, 1), (7, 2)]), strict=True):
        headers = auth_headers(owner, settings)
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
        for month, n in counts:
            visit = client.post(
                f"/sites/{site['id']}/visits",
                json={
                    "client_id": str(uuid.uuid4()),
                    "started_at": f"2025-{month:02d}-10T14:00:00+02:00",
                    "duration_min": 20,
                    "counts": [{"cd_nom": PEACOCK, "count": n}],
                },
                headers=headers,
            ).json()
            visit_ids.append(uuid.UUID(visit["id"]))
    # The last visit stays pending: not in the statistics.
    session.execute(
        update(Visit).where(col(Visit.id).in_(visit_ids[:-1])).values(status="validated")
    )
    session.flush()

    (row,) = _rows(client, f"cd_nom={PEACOCK}&from_year=2025&to_year=2025")
    # Garden 1: May 4 + June max(2, 3) = 7; garden 2: May 1 (July pending) = 1.
    assert (row["protocol_value"], row["protocol_unit"], row["sites"]) == (8, "individuals", 2)
    # Only the protocols counted it: no casual individuals, nothing falls back.
    assert (row["count"], row["nests"], row["observations"]) == (0, 0, 0)
    assert (row["protocol_individuals"], row["protocol_nests"]) == (8, None)


def _site(client: TestClient, headers: dict[str, str], kind: str) -> str:
    site = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": kind,
            "name": f"Site {kind}",
            "latitude": LOOS[0],
            "longitude": LOOS[1],
        },
        headers=headers,
    )
    assert site.status_code == 201, site.text
    return str(site.json()["id"])


def _visit(
    client: TestClient, headers: dict[str, str], site_id: str, at: str, counts: list[Any]
) -> uuid.UUID:
    visit = client.post(
        f"/sites/{site_id}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": at,
            "duration_min": 30,
            "counts": counts,
        },
        headers=headers,
    )
    assert visit.status_code == 201, visit.text
    return uuid.UUID(visit.json()["id"])


def test_individuals_nests_and_the_protocols_are_never_added_together(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    alice, bob = create_user(session, settings), create_user(session, settings)
    a, b = auth_headers(alice, settings), auth_headers(bob, settings)
    validated = [
        # 2026: 558 individuals and 90 nests reported as casual sightings.
        _observe(client, a, SWALLOW, "2026-05-01T10:00:00+02:00", 500),
        _observe(client, b, SWALLOW, "2026-06-01T10:00:00+02:00", 58),
        _observe(client, a, SWALLOW, "2026-06-02T10:00:00+02:00", 60, "nests"),
        _observe(client, b, SWALLOW, "2026-06-03T10:00:00+02:00", 30, "nests"),
    ]
    _validate(session, validated)
    farm = _site(client, a, "nest_site")
    garden = _site(client, a, "garden")
    visits = [
        # The farm's nests: 2025 (only the protocol that year) 25, 2026 max(20, 31) = 31.
        _visit(client, a, farm, "2025-06-10T10:00:00+02:00", [{"cd_nom": SWALLOW, "occupied": 25}]),
        _visit(client, a, farm, "2026-05-10T10:00:00+02:00", [{"cd_nom": SWALLOW, "occupied": 20}]),
        _visit(client, a, farm, "2026-06-10T10:00:00+02:00", [{"cd_nom": SWALLOW, "occupied": 31}]),
        # A garden's swallows in 2026: 12 in June.
        _visit(client, a, garden, "2026-06-11T10:00:00+02:00", [{"cd_nom": SWALLOW, "count": 12}]),
    ]
    session.execute(update(Visit).where(col(Visit.id).in_(visits)).values(status="validated"))
    session.flush()

    rows = {r["year"]: r for r in _rows(client, f"cd_nom={SWALLOW}&from_year=2024&to_year=2026")}
    assert sorted(rows) == [2025, 2026]
    only_protocol, both = rows[2025], rows[2026]
    assert (both["count"], both["nests"], both["observations"], both["observers"]) == (
        558,
        90,
        4,
        2,
    )
    assert (both["protocol_value"], both["protocol_unit"], both["sites"]) == (31, "nests", 1)
    assert (both["protocol_nests"], both["protocol_individuals"]) == (31, 12)
    assert both["observed_count"] == 558 and both["count_source"] == "observations"
    # A year with only a protocol visit: no casual sighting, so no individuals; the nests
    # stay in the protocol's fields.
    assert (only_protocol["count"], only_protocol["nests"], only_protocol["observations"]) == (
        0,
        0,
        0,
    )
    assert (only_protocol["protocol_value"], only_protocol["protocol_unit"]) == (25, "nests")
    assert (only_protocol["protocol_nests"], only_protocol["protocol_individuals"]) == (25, None)


def test_bad_requests(client: TestClient, session: Session) -> None:
    load_reference_data(session)
    assert client.get("/stats/yearly?cd_nom=123456789").status_code == 422
    bad = client.get("/stats/yearly?from_year=2026&to_year=2020")
    assert bad.status_code == 422 and bad.json()["code"] == "stats.invalid_year_range"
    assert client.get("/stats/yearly?from_year=1800").status_code == 422
