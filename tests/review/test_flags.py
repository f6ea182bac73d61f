"""Plausibility flags, rule by rule, on hand-made cases: each rule fires just past its threshold
and stays quiet just before it, and a flag never refuses anything."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, event, update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.flags import SpeciesProfile, distance_m, season_months
from app.observations.models import Observation
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import LOOS, SWALLOW, payload

PEACOCK = 608364  # Aglais io, a butterfly
LENS = (50.439505, 2.8185433)  # a neighbouring commune: not the territory (62528)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Profiles read fresh at every request, so that a test sees the data it just made."""
    settings.flag_profile_seconds = 0
    return settings


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


# --- duplicates at scale -----------------------------------------------------------------------

HOUSE_MARTIN = 459478
SWIFT = 3551


def _sighting_at(at: datetime, cd_nom: int, place: tuple[float, float]) -> dict[str, Any]:
    return payload(
        observed_at=at.isoformat(), cd_nom=cd_nom, latitude=place[0], longitude=place[1], count=1
    )


def _post_batch(
    client: TestClient, user: User, settings: Settings, items: list[dict[str, Any]]
) -> list[list[str]]:
    """Stores a batch and answers each item's flags, as its observer reads them back."""
    headers = auth_headers(user, settings)
    answer = client.post("/observations/batch", json={"observations": items}, headers=headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["created"] * len(items)
    ids = {r["id"] for r in results}
    flags: dict[str, list[str]] = {}
    cursor = None
    while True:
        query = {"mine": "true", "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/observations", params=query, headers=headers).json()
        flags.update({o["id"]: o["flags"] for o in page["items"] if o["id"] in ids})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return [flags[r["id"]] for r in results]


def test_a_batch_costs_the_same_statements_whatever_the_observer_stored(
    client: TestClient,
    session: Session,
    connection: Connection,
    settings: Settings,
    sentinel: User,
) -> None:
    species = [SWALLOW, HOUSE_MARTIN, SWIFT]
    start = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
    # A batch of 50, three hours apart, three species in turn.
    batch = [(start + timedelta(hours=3 * k), species[k % 3], LOOS) for k in range(50)]

    # A phone catching up after a season: 2,000 stored, 4.5 minutes apart over the batch's
    # span, every other one at the batch's spot (so that each of the batch's sightings has
    # originals among them) and the others 500 m away.
    busy = create_user(session, settings)
    stored = [
        (start + timedelta(minutes=4.5 * j), species[j % 3], LOOS if j % 2 == 0 else _moved(500))
        for j in range(2000)
    ]
    for chunk in range(0, len(stored), 500):
        _post_batch(client, busy, settings, [_sighting_at(*s) for s in stored[chunk : chunk + 500]])

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def cost(user: User) -> int:
        headers = auth_headers(user, settings)
        body = {"observations": [_sighting_at(*s) for s in batch]}
        statements.clear()
        event.listen(connection, "before_cursor_execute", count)
        try:
            answer = client.post("/observations/batch", json=body, headers=headers)
        finally:
            event.remove(connection, "before_cursor_execute", count)
        assert answer.status_code == 200, answer.text
        return len(statements)

    fresh_cost, busy_cost = cost(sentinel), cost(busy)
    assert busy_cost == fresh_cost, statements
    assert fresh_cost <= 15, statements  # a handful, never one per sighting nor per row

    # And the stored rows were looked at: each of the busy observer's sightings is a duplicate.
    fresh_flags = [o["flags"] for o in _mine(client, sentinel, settings)]
    busy_flags = [o["flags"] for o in _mine(client, busy, settings)][: len(batch)]
    assert all("probable_duplicate" not in f for f in fresh_flags)
    assert all("probable_duplicate" in f for f in busy_flags)


def _mine(client: TestClient, user: User, settings: Settings) -> list[dict[str, Any]]:
    """The user's observations, newest first (one page of up to 200)."""
    page = client.get(
        "/observations", params={"mine": "true", "limit": 200}, headers=auth_headers(user, settings)
    )
    return list(page.json()["items"])


def _expected_duplicates(
    settings: Settings,
    stored: list[tuple[datetime, int, tuple[float, float]]],
    batch: list[tuple[datetime, int, tuple[float, float]]],
) -> list[bool]:
    """The rule as the ecologists state it, pair by pair: an original stored before, or sent
    earlier in the same batch, of the same species, within the window in time and distance."""
    window = timedelta(minutes=settings.flag_duplicate_minutes)
    answers = []
    for i, (at, cd_nom, (lat, lon)) in enumerate(batch):
        answers.append(
            any(
                o_cd_nom == cd_nom
                and abs(o_at - at) <= window
                and distance_m(lat, lon, o_lat, o_lon) <= settings.flag_duplicate_distance_m
                for o_at, o_cd_nom, (o_lat, o_lon) in stored + batch[:i]
            )
        )
    return answers


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicates_in_crowded_batches_follow_the_rule_pair_by_pair(
    client: TestClient, session: Session, settings: Settings, seed: int
) -> None:
    """Many sightings close in time and space, sent out of order, on the window's edges: the
    flags are those of the rule applied to every pair."""
    rng = random.Random(seed)
    settings.flag_profile_seconds = 0
    user = create_user(session, settings)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

    def sighting() -> tuple[datetime, int, tuple[float, float]]:
        # Whole minutes over six hours (so that some pairs are exactly 60 minutes apart),
        # within about 120 m of each other, two species.
        at = start + timedelta(minutes=rng.randrange(0, 360, rng.choice([1, 20, 30])))
        place = (LOOS[0] + rng.uniform(-6e-4, 6e-4), LOOS[1] + rng.uniform(-9e-4, 9e-4))
        return at, rng.choice([SWALLOW, SWIFT]), place

    first = [sighting() for _ in range(40)]
    second = [sighting() for _ in range(60)]
    first_flags = _post_batch(client, user, settings, [_sighting_at(*s) for s in first])
    second_flags = _post_batch(client, user, settings, [_sighting_at(*s) for s in second])
    got = ["probable_duplicate" in f for f in first_flags + second_flags]
    expected = _expected_duplicates(settings, [], first) + _expected_duplicates(
        settings, first, second
    )
    assert got == expected
    assert 0 < sum(expected) < len(expected)  # the case says something
