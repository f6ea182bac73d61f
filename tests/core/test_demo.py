"""The demo season: believable, inside the commune, idempotent, and shown by the API as any data."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlmodel import Session, col, func, select

from app.accounts.models import User
from app.core.settings import Settings
from app.demo import (
    DEMO_PASSWORD,
    PARIS,
    DemoError,
    default_year,
    load_demo,
    sentinel_email,
    territory_zone,
)
from app.observations.models import Observation
from app.species.models import Species
from tests.factories import auth_headers

NOW = datetime(2025, 7, 15, 16, 30, tzinfo=UTC)
SWALLOWS_AND_SWIFT = {3696, 459478, 3551}
COMMON_TOAD = 259
PEREGRINE = 2938


def _demo_rows(session: Session) -> list[tuple[Observation, Species]]:
    rows = session.exec(
        select(Observation, Species)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .join(User, col(User.id) == col(Observation.observer_id))
        .where(col(User.email).like("demo-%@sentinelles.test"))
    )
    return list(rows.all())


def _demo_user_count(session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(User).where(col(User.email).like("demo-%"))
    ).one()


def test_a_season_of_sightings_inside_the_commune(session: Session, settings: Settings) -> None:
    report = load_demo(session, settings, random.Random(7), sentinels=4, observations=400, now=NOW)

    assert report.year == 2025
    assert report.observations_created == 400
    assert not report.species_loaded and not report.zones_loaded
    roles = Counter(a.role for a in report.accounts)
    assert roles == {"sentinel": 4, "ecologist": 1, "admin": 1, "teacher": 1}

    territory = territory_zone(session, settings)
    commune = shape(json.loads(territory.geometry))
    rows = _demo_rows(session)
    assert len(rows) == 400
    for obs, species in rows:
        assert obs.zone_id == territory.id
        assert commune.contains(Point(obs.longitude, obs.latitude))
        local = obs.observed_at.astimezone(PARIS)
        assert local.year == 2025 and obs.observed_at <= NOW
        assert 7 <= local.hour < 20
        assert 1 <= obs.count <= 100_000
        assert obs.created_at >= obs.observed_at and obs.updated_at >= obs.created_at
        if species.sensitive:
            assert obs.generalised
            assert (obs.public_latitude, obs.public_longitude) != (obs.latitude, obs.longitude)
            assert obs.public_accuracy_m is not None and obs.public_accuracy_m > 5000
        else:
            assert not obs.generalised
            assert (obs.public_latitude, obs.public_longitude) == (obs.latitude, obs.longitude)

    months = {
        cd: {o.observed_at.astimezone(PARIS).month for o, s in rows if s.cd_nom == cd}
        for cd in {s.cd_nom for _, s in rows}
    }
    assert months[COMMON_TOAD] <= {3, 4}
    for cd in SWALLOWS_AND_SWIFT:
        assert months[cd] and months[cd] <= {4, 5, 6, 7, 8}
    butterflies = {s.cd_nom for _, s in rows if s.group == "butterfly"}
    assert len(butterflies) >= 8
    assert all(months[cd] <= set(range(3, 11)) for cd in butterflies)
    assert 1 <= sum(1 for _, s in rows if s.cd_nom == PEREGRINE) <= 20
    assert any(o.count_unit == "nests" for o, s in rows if s.cd_nom in SWALLOWS_AND_SWIFT)

    statuses = Counter(o.status for o, _ in rows)
    assert set(statuses) == {"validated", "pending", "needs_info", "rejected"}
    assert 0.6 <= statuses["validated"] / len(rows) <= 0.85
    recent = [o for o, _ in rows if NOW - o.observed_at < timedelta(days=10)]
    assert recent and all(o.status == "pending" for o in recent)


def test_running_again_adds_nothing_and_reset_replaces(
    session: Session, settings: Settings
) -> None:
    first = load_demo(session, settings, random.Random(1), sentinels=2, observations=60, now=NOW)
    assert first.observations_created == 60
    assert all(a.created for a in first.accounts)
    sightings = sorted(
        (s.cd_nom, o.observed_at, o.latitude, o.longitude, o.count) for o, s in _demo_rows(session)
    )

    again = load_demo(session, settings, random.Random(2), sentinels=2, observations=90, now=NOW)
    assert again.observations_created == 0
    assert again.observations_existing == 60
    assert not any(a.created for a in again.accounts)
    assert _demo_user_count(session) == 5
    assert len(_demo_rows(session)) == 60

    reset = load_demo(
        session, settings, random.Random(1), sentinels=2, observations=60, reset=True, now=NOW
    )
    assert reset.observations_deleted == 60
    assert reset.observations_created == 60
    # The same seed gives the same season.
    assert sightings == sorted(
        (s.cd_nom, o.observed_at, o.latitude, o.longitude, o.count) for o, s in _demo_rows(session)
    )


def test_early_in_the_year_only_what_is_about(session: Session, settings: Settings) -> None:
    now = datetime(2025, 3, 20, 11, 0, tzinfo=UTC)
    load_demo(session, settings, random.Random(3), sentinels=2, observations=80, now=now)

    rows = _demo_rows(session)
    assert len(rows) == 80
    assert all(o.observed_at <= now for o, _ in rows)
    assert not {s.cd_nom for _, s in rows} & SWALLOWS_AND_SWIFT
    assert COMMON_TOAD in {s.cd_nom for _, s in rows}


def test_default_year_is_this_season_once_begun() -> None:
    assert default_year(date(2026, 2, 1)) == 2025
    assert default_year(date(2026, 6, 1)) == 2026


def test_a_future_year_or_no_sentinel_is_refused(session: Session, settings: Settings) -> None:
    with pytest.raises(DemoError, match="year"):
        load_demo(session, settings, random.Random(0), year=2030, now=NOW)
    with pytest.raises(DemoError, match="sentinels"):
        load_demo(session, settings, random.Random(0), sentinels=0, now=NOW)
    assert _demo_user_count(session) == 0


def test_demo_accounts_sign_in_and_the_api_hides_the_falcon(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_demo(session, settings, random.Random(5), sentinels=3, observations=300, now=NOW)
    token = client.post(
        "/auth/token", data={"username": sentinel_email(1), "password": DEMO_PASSWORD}
    )
    assert token.status_code == 200, token.text

    falcon = session.exec(select(Species).where(Species.cd_nom == PEREGRINE)).one()
    exact = {
        o.id: (o.latitude, o.longitude)
        for o, _ in _demo_rows(session)
        if o.species_id == falcon.id and o.status == "validated"
    }
    assert exact
    public = client.get("/observations", params={"species_id": str(falcon.id), "limit": 500})
    assert public.status_code == 200, public.text
    items = public.json()["items"]
    assert {uuid.UUID(i["id"]) for i in items} == set(exact)
    for item in items:
        assert item["generalised"] is True
        assert (item["latitude"], item["longitude"]) != exact[uuid.UUID(item["id"])]

    ecologist = session.exec(
        select(User).where(User.email == "demo-ecologist@sentinelles.test")
    ).one()
    staff = client.get(
        "/observations",
        params={"species_id": str(falcon.id), "status": "validated", "limit": 500},
        headers=auth_headers(ecologist, settings),
    )
    assert staff.status_code == 200, staff.text
    assert {
        uuid.UUID(i["id"]): (i["latitude"], i["longitude"]) for i in staff.json()["items"]
    } == exact


def test_survey_sites_with_five_seasons_of_visits(
    client: TestClient, session: Session, settings: Settings
) -> None:
    report = load_demo(session, settings, random.Random(3), sentinels=4, observations=10, now=NOW)
    assert report.sites_created == 4
    assert report.visits_created > 4 * 5 * 3 - 5

    owner = session.exec(select(User).where(col(User.email) == sentinel_email(1))).one()
    sites = client.get("/sites", headers=auth_headers(owner, settings)).json()["items"]
    assert [site["kind"] for site in sites] == ["nest_site"]
    yearly = client.get(f"/sites/{sites[0]['id']}/yearly", headers=auth_headers(owner, settings))
    house_martin = [i for i in yearly.json()["items"] if i["cd_nom"] == 459478]
    # Five seasons up to 2025, three visits each but in the current season (July 15: two).
    assert [i["year"] for i in house_martin] == [2021, 2022, 2023, 2024, 2025]
    assert [i["visits"] for i in house_martin] == [3, 3, 3, 3, 2]
    assert all(i["unit"] == "nests" for i in house_martin)

    again = load_demo(session, settings, random.Random(3), sentinels=4, observations=10, now=NOW)
    assert again.sites_created == 0
    reset = load_demo(
        session, settings, random.Random(3), sentinels=4, observations=10, reset=True, now=NOW
    )
    assert reset.sites_deleted == 4
    assert reset.sites_created == 4


def test_the_demo_teacher_has_a_class_with_this_year_and_last(
    client: TestClient, session: Session, settings: Settings
) -> None:
    report = load_demo(session, settings, random.Random(5), sentinels=2, observations=50, now=NOW)
    assert (report.classes_created, report.class_observations_created) == (2, 48)
    teacher = session.exec(
        select(User).where(col(User.email) == "demo-teacher@sentinelles.test")
    ).one()
    headers = auth_headers(teacher, settings)
    classes = client.get("/classes", headers=headers).json()["items"]
    assert [(c["school_year"], c["active"], c["pupils"]) for c in classes] == [
        ("2024-2025", True, 6),
        ("2023-2024", False, 6),
    ]
    summary = client.get(f"/classes/{classes[0]['id']}/summary?year=2025", headers=headers).json()
    assert summary["this_year"]["observations"] == 24
    assert summary["last_year"]["observations"] == 24
    assert summary["this_year"]["swallows_return"] is not None
    page = client.get(f"/classes/{classes[0]['id']}/summary.html?year=2025", headers=headers)
    assert page.status_code == 200 and "École Jean Jaurès" in page.text
    # Loading the demo again adds no class.
    again = load_demo(session, settings, random.Random(5), sentinels=2, observations=50, now=NOW)
    assert again.classes_created == 0


def test_in_autumn_the_demo_class_shows_the_spring_just_past(
    session: Session, settings: Settings
) -> None:
    autumn = datetime(2026, 11, 26, 10, tzinfo=UTC)
    report = load_demo(
        session, settings, random.Random(5), sentinels=1, observations=10, now=autumn
    )
    # Both springs are over: 2025's for last year's class, 2026's for this year's.
    assert (report.classes_created, report.class_observations_created) == (2, 48)
