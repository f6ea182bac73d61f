"""Plausibility flags, rule by rule, on hand-made cases: each rule fires just past its threshold
and stays quiet just before it, and a flag never refuses anything."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.flags import SpeciesProfile, distance_m, season_months
from app.observations.models import Observation

from .factories import auth_headers, create_user
from .test_observations import LOOS, SWALLOW, payload

PEACOCK = 608364  # Aglais io, a butterfly
LENS = (50.439505, 2.8185433)  # a neighbouring commune: not the territory (62528)


@pytest.fixture
def sentinel(session: Session, settings: Settings) -> User:
    # Profiles read fresh at every request, so that a test sees the data it just made.
    settings.flag_profile_seconds = 0
    return create_user(session, settings)


def _flags(client: TestClient, user: User, settings: Settings, **overrides: Any) -> list[str]:
    answer = client.post(
        "/observations", json=payload(**overrides), headers=auth_headers(user, settings)
    )
    assert answer.status_code == 201, answer.text
    return list(answer.json()["flags"])


def _validated_history(
    client: TestClient,
    session: Session,
    settings: Settings,
    *,
    cd_nom: int,
    months: list[int],
    counts: list[int],
) -> None:
    """Validated observations of a species by someone else, far apart (no duplicates)."""
    someone = create_user(session, settings)
    ids = []
    for i, (month, count) in enumerate(zip(months, counts, strict=True)):
        body = payload(
            cd_nom=cd_nom,
            observed_at=f"2025-{month:02d}-{1 + i % 27:02d}T10:00:00+02:00",
            count=count,
        )
        answer = client.post("/observations", json=body, headers=auth_headers(someone, settings))
        ids.append(uuid.UUID(answer.json()["id"]))
    session.execute(
        update(Observation).where(col(Observation.id).in_(ids)).values(status="validated")
    )
    session.flush()


def test_an_ordinary_sighting_has_no_flag(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    assert _flags(client, sentinel, settings) == []


def test_out_of_season_from_the_group_until_the_species_has_data(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    # Butterflies: March to October by default; birds: all year.
    assert _flags(
        client, sentinel, settings, cd_nom=PEACOCK, observed_at="2026-01-15T14:00:00+01:00"
    ) == ["out_of_season"]
    assert (
        _flags(client, sentinel, settings, cd_nom=PEACOCK, observed_at="2026-03-15T14:00:00+01:00")
        == []
    )
    assert (
        _flags(client, sentinel, settings, cd_nom=SWALLOW, observed_at="2026-01-16T14:00:00+01:00")
        == []
    )


def test_out_of_season_from_the_species_own_data(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    settings.flag_min_validated = 5
    _validated_history(
        client, session, settings, cd_nom=SWALLOW, months=[5, 5, 5, 6, 6], counts=[1] * 5
    )
    # May and June, widened by a month either side: April to July.
    for month, expected in ((3, ["out_of_season"]), (4, []), (7, []), (8, ["out_of_season"])):
        at = f"2026-{month:02d}-10T10:00:00+02:00"
        assert (
            _flags(client, sentinel, settings, cd_nom=SWALLOW, observed_at=at, count=1) == expected
        ), month


def test_too_few_validated_data_keep_the_group_window(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    settings.flag_min_validated = 6
    _validated_history(
        client, session, settings, cd_nom=SWALLOW, months=[5, 5, 5, 6, 6], counts=[1] * 5
    )
    assert (
        _flags(
            client,
            sentinel,
            settings,
            cd_nom=SWALLOW,
            observed_at="2026-02-10T10:00:00+01:00",
            count=1,
        )
        == []
    )


def test_outside_the_territory(client: TestClient, settings: Settings, sentinel: User) -> None:
    assert _flags(client, sentinel, settings, latitude=LENS[0], longitude=LENS[1]) == [
        "outside_territory"
    ]
    assert _flags(client, sentinel, settings, latitude=46.0, longitude=-20.0) == [
        "outside_territory"
    ]
    assert (
        _flags(
            client,
            sentinel,
            settings,
            latitude=LOOS[0],
            longitude=LOOS[1],
            observed_at="2026-04-12T12:00:00+02:00",
        )
        == []
    )


def test_a_count_far_above_the_species_validated_counts(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    settings.flag_min_validated = 10
    _validated_history(
        client, session, settings, cd_nom=SWALLOW, months=[4] * 10, counts=list(range(1, 11))
    )
    # 99th percentile of 1..10 is 10; twice that is the limit.
    assert (
        _flags(
            client,
            sentinel,
            settings,
            cd_nom=SWALLOW,
            count=20,
            observed_at="2026-04-20T09:00:00+02:00",
        )
        == []
    )
    assert _flags(
        client,
        sentinel,
        settings,
        cd_nom=SWALLOW,
        count=21,
        observed_at="2026-04-21T09:00:00+02:00",
    ) == ["high_count"]


def test_a_poor_location(client: TestClient, settings: Settings, sentinel: User) -> None:
    assert (
        _flags(client, sentinel, settings, accuracy_m=1000, observed_at="2026-04-12T09:00:00+02:00")
        == []
    )
    assert _flags(
        client, sentinel, settings, accuracy_m=1001, observed_at="2026-04-13T09:00:00+02:00"
    ) == ["poor_location"]


def _moved(metres: float) -> tuple[float, float]:
    """LOOS moved north by about ``metres``."""
    return LOOS[0] + metres / 111_200, LOOS[1]


def test_a_probable_duplicate(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    near = _moved(40)
    assert distance_m(*LOOS, *near) < 50
    cases = [
        # (minutes after the first sighting, place, species, same observer, expected)
        (40, near, SWALLOW, True, ["probable_duplicate"]),
        (-59, LOOS, SWALLOW, True, ["probable_duplicate"]),
        (61, LOOS, SWALLOW, True, []),
        (10, _moved(60), SWALLOW, True, []),
        (10, LOOS, PEACOCK, True, []),
        (10, LOOS, SWALLOW, False, []),
    ]
    for day, (minutes, (lat, lon), cd_nom, same, expected) in enumerate(cases, start=1):
        # Each case against its own first sighting, a day apart from the others.
        first = datetime(2026, 5, day, 8, 0, tzinfo=UTC)
        assert _flags(client, sentinel, settings, observed_at=first.isoformat(), count=1) == []
        who = sentinel if same else create_user(session, settings)
        when = (first + timedelta(minutes=minutes)).isoformat()
        flags = _flags(
            client,
            who,
            settings,
            observed_at=when,
            latitude=lat,
            longitude=lon,
            cd_nom=cd_nom,
            count=1,
        )
        assert flags == expected, (minutes, cd_nom, same)


def test_duplicates_within_one_batch_and_edits_recompute(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    headers = auth_headers(sentinel, settings)
    first = payload(observed_at="2026-05-01T08:00:00+02:00")
    second = payload(observed_at="2026-05-01T08:20:00+02:00")
    stored = client.post(
        "/observations/batch", json={"observations": [first, second]}, headers=headers
    )
    ids = [r["id"] for r in stored.json()["results"]]
    flags = [client.get(f"/observations/{i}", headers=headers).json()["flags"] for i in ids]
    assert flags == [[], ["probable_duplicate"]]

    # Moved 2 km away by its observer: no longer a duplicate.
    lat, lon = _moved(2000)
    moved = client.patch(
        f"/observations/{ids[1]}", json={"latitude": lat, "longitude": lon}, headers=headers
    )
    assert moved.json()["flags"] == []


def test_flags_never_refuse(client: TestClient, settings: Settings, sentinel: User) -> None:
    flags = _flags(
        client,
        sentinel,
        settings,
        cd_nom=PEACOCK,
        observed_at="2026-01-15T14:00:00+01:00",
        latitude=46.0,
        longitude=-20.0,
        accuracy_m=5000,
    )
    assert flags == ["out_of_season", "outside_territory", "poor_location"]


@given(
    months=st.frozensets(st.integers(1, 12), max_size=12),
    validated=st.integers(0, 100),
    minimum=st.integers(1, 100),
)
def test_a_species_season_holds_its_data_and_a_month_either_side(
    months: frozenset[int], validated: int, minimum: int
) -> None:
    settings = Settings(environment="test", flag_min_validated=minimum)
    profile = SpeciesProfile(validated=validated, months=months, p99_count=None)
    season = season_months(profile, "bird", settings)
    assert season <= frozenset(range(1, 13))
    if validated >= minimum:
        assert months <= season
        assert len(season) <= 3 * len(months)
        for month in season:
            assert {((month - 1 + d) % 12) + 1 for d in (-1, 0, 1)} & months
    else:
        assert season == frozenset(range(1, 13))  # birds: all year until the data say otherwise
