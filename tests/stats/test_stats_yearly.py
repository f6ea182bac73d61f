"""``GET /stats/yearly`` on hand-built data with known answers: local years, synonyms by
``cd_ref``, validated data only, sensitive species by territory only, the protocols' values."""

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


def _observe(client: TestClient, headers: dict[str, str], cd_nom: int, at: str, count: int) -> str:
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": at,
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "count": count,
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
    assert (row["count"], row["count_source"], row["observations"]) == (8, "protocol", 0)


def test_bad_requests(client: TestClient, session: Session) -> None:
    load_reference_data(session)
    assert client.get("/stats/yearly?cd_nom=123456789").status_code == 422
    bad = client.get("/stats/yearly?from_year=2026&to_year=2020")
    assert bad.status_code == 422 and bad.json()["code"] == "stats.invalid_year_range"
    assert client.get("/stats/yearly?from_year=1800").status_code == 422
