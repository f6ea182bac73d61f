"""The worked example of the yearly rules in docs/surveys-and-statistics.md, through the API: if
this fails, either the rules or that page are wrong."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.settings import Settings
from tests.factories import auth_headers, create_user, load_reference_data

HOUSE_MARTIN, SWALLOW = 459478, 3696
PEACOCK, SMALL_WHITE = 608364, 219831
LOOS = (50.4571, 2.7852)


def _site(client: TestClient, headers: dict[str, str], kind: str) -> str:
    body = {
        "client_id": str(uuid.uuid4()),
        "kind": kind,
        "name": "exemple",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
    }
    answer = client.post("/sites", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _visit(
    client: TestClient,
    headers: dict[str, str],
    site_id: str,
    day: str,
    counts: list[dict[str, Any]],
    *,
    complete: bool = True,
) -> None:
    body = {
        "client_id": str(uuid.uuid4()),
        "started_at": f"{day}T10:00:00+02:00",
        "duration_min": 30,
        "complete": complete,
        "counts": counts,
    }
    answer = client.post(f"/sites/{site_id}/visits", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


def _values(client: TestClient, headers: dict[str, str], site_id: str) -> dict[int, int]:
    answer = client.get(f"/sites/{site_id}/yearly", headers=headers)
    assert answer.status_code == 200
    return {item["cd_nom"]: item["value"] for item in answer.json()["items"]}


def _nests(cd_nom: int, occupied: int, *, artificial: bool = False, destroyed: int = 0) -> Any:
    return {
        "cd_nom": cd_nom,
        "occupied": occupied,
        "unoccupied": 0,
        "destroyed": destroyed,
        "artificial": artificial,
    }


def test_the_facade_of_the_readme(client: TestClient, session: Session, settings: Settings) -> None:
    load_reference_data(session)
    headers = auth_headers(create_user(session, settings), settings)
    site = _site(client, headers, "nest_site")
    for day, natural, swallows, destroyed in (
        ("2026-04-20", 3, 1, 0),
        ("2026-05-18", 5, 2, 0),
        ("2026-06-15", 2, 2, 3),
    ):
        counts = [
            _nests(HOUSE_MARTIN, natural, destroyed=destroyed),
            _nests(HOUSE_MARTIN, 1, artificial=True),
            _nests(SWALLOW, swallows),
        ]
        _visit(client, headers, site, day, counts)

    assert _values(client, headers, site) == {HOUSE_MARTIN: 6, SWALLOW: 2}


def test_the_garden_of_the_readme(client: TestClient, session: Session, settings: Settings) -> None:
    load_reference_data(session)
    headers = auth_headers(create_user(session, settings), settings)
    site = _site(client, headers, "garden")
    visits = (
        ("2026-05-03", {PEACOCK: 4, SMALL_WHITE: 2}, True),
        ("2026-05-24", {PEACOCK: 2, SMALL_WHITE: 5}, True),
        ("2026-06-14", {PEACOCK: 3}, True),
        ("2026-07-12", {SMALL_WHITE: 1}, False),
    )
    for day, counts, complete in visits:
        entries = [{"cd_nom": cd_nom, "count": n} for cd_nom, n in counts.items()]
        _visit(client, headers, site, day, entries, complete=complete)

    assert _values(client, headers, site) == {PEACOCK: 7, SMALL_WHITE: 6}
