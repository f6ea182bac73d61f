"""``GET /stats/phenology``: the first report of a species each year, and the median date.

Expectations are worked out by hand in each test: days of the year count from 1 January (day
1), so 1 April is day 91 in a common year and day 92 in a leap year (2024). The territory's
time is Europe/Paris: UTC+1 in winter, UTC+2 from the last Sunday of March.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.species.models import Species
from app.stats.phenology import Sighting, first_per_year, median_day_of_year, phenology
from app.stats.schemas import SightingSource
from app.surveys.models import Site, Visit
from tests.factories import auth_headers, create_observation, create_user, species_by_cd_nom

PARIS = ZoneInfo("Europe/Paris")
SWALLOW = 3696  # Hirondelle rustique
HOUSE_MARTIN = 459478  # Hirondelle de fenêtre
LOOS = (50.4571, 2.7852)  # in Loos-en-Gohelle

# --- helpers ---------------------------------------------------------------------------------


def species(session: Session, cd_nom: int) -> Species:
    return species_by_cd_nom(session, cd_nom)


def observe(
    session: Session,
    observer: User,
    when: str,
    *,
    cd_nom: int = SWALLOW,
    status: str = "validated",
    count: int = 1,
    deleted: bool = False,
) -> Observation:
    """An observation written straight to the database, as if reviewed already."""
    return create_observation(
        session,
        observer=observer,
        cd_nom=cd_nom,
        observed_at=when,
        at=LOOS,
        status=status,
        count=count,
        deleted=deleted,
    )


def make_site(
    client: TestClient, settings: Settings, owner: User, *, kind: str = "nest_site"
) -> str:
    body = {
        "client_id": str(uuid.uuid4()),
        "kind": kind,
        "name": f"Site {kind}",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
    }
    r = client.post("/sites", json=body, headers=auth_headers(owner, settings))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def nests(cd_nom: int, occupied: int, **extra: Any) -> dict[str, Any]:
    return {"cd_nom": cd_nom, "occupied": occupied, "unoccupied": 0, "destroyed": 0, **extra}


def make_visit(
    client: TestClient,
    session: Session,
    settings: Settings,
    observer: User,
    site_id: str,
    when: str,
    counts: list[dict[str, Any]],
    *,
    status: str = "validated",
) -> uuid.UUID:
    """A visit through the API, then given ``status`` as a review would."""
    body = {
        "client_id": str(uuid.uuid4()),
        "started_at": when,
        "duration_min": 30,
        "counts": counts,
    }
    r = client.post(f"/sites/{site_id}/visits", json=body, headers=auth_headers(observer, settings))
    assert r.status_code == 201, r.text
    visit_id = uuid.UUID(r.json()["id"])
    session.execute(update(Visit).where(col(Visit.id) == visit_id).values(status=status))
    session.flush()
    return visit_id


def phenology_of(client: TestClient, query: str) -> dict[str, Any]:
    r = client.get(f"/stats/phenology?{query}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def rows(body: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(i["year"], i["first_date"], i["observer"]) for i in body["items"]]


def problem(client: TestClient, query: str) -> tuple[str, list[str]]:
    r = client.get(f"/stats/phenology?{query}")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    return body["code"], [e["field"] for e in body["errors"]]


# --- the first date of each year ---------------------------------------------------------------


def test_three_years_give_each_years_first_report_and_the_median_day(
    client: TestClient, session: Session, settings: Settings
) -> None:
    camille = create_user(session, settings, display_name="Camille")
    jules = create_user(session, settings, display_name="Jules")
    # Written out of order: the answer must not depend on it.
    observe(session, camille, "2026-04-05T10:15:00+02:00")  # 2026: day 31+28+31+5 = 95
    observe(session, jules, "2026-04-19T09:00:00+02:00")
    observe(session, jules, "2024-05-10T07:00:00+02:00")
    observe(session, jules, "2025-03-29T17:05:00+01:00")  # 2025: day 31+28+29 = 88
    observe(session, camille, "2025-04-15T12:00:00+02:00")
    observe(session, camille, "2024-04-02T08:40:00+02:00")  # 2024 (leap): 31+29+31+2 = 93
    # Another species, earlier every year: not this one's report.
    observe(session, jules, "2024-03-01T12:00:00+01:00", cd_nom=HOUSE_MARTIN)
    observe(session, jules, "2025-03-01T12:00:00+01:00", cd_nom=HOUSE_MARTIN)

    body = phenology_of(client, f"cd_nom={SWALLOW}")

    assert body == {
        "items": [
            {
                "year": 2024,
                "first_date": "2024-04-02",
                "observer": "Camille",
                "first_at": "2024-04-02T06:40:00Z",
                "source": "observation",
            },
            {
                "year": 2025,
                "first_date": "2025-03-29",
                "observer": "Jules",
                "first_at": "2025-03-29T16:05:00Z",
                "source": "observation",
            },
            {
                "year": 2026,
                "first_date": "2026-04-05",
                "observer": "Camille",
                "first_at": "2026-04-05T08:15:00Z",
                "source": "observation",
            },
        ],
        "median_day_of_year": 93.0,  # median of 93, 88, 95
    }
    # The same species named by its id answers the same.
    assert phenology_of(client, f"species_id={species(session, SWALLOW).id}") == body


def test_two_years_give_the_mean_of_the_two_days_as_median(
    client: TestClient, session: Session, settings: Settings
) -> None:
    camille = create_user(session, settings, display_name="Camille")
    observe(session, camille, "2023-03-29T10:00:00+02:00")  # 31+28+29 = 88
    observe(session, camille, "2025-04-05T10:00:00+02:00")  # 31+28+31+5 = 95

    body = phenology_of(client, f"cd_nom={SWALLOW}")

    assert rows(body) == [(2023, "2023-03-29", "Camille"), (2025, "2025-04-05", "Camille")]
    assert body["median_day_of_year"] == 91.5


def test_only_validated_observations_of_at_least_one_individual_are_reports(
    client: TestClient, session: Session, settings: Settings
) -> None:
    camille = create_user(session, settings, display_name="Camille")
    other = create_user(session, settings, display_name="Pas celle-ci")
    observe(session, other, "2025-03-20T10:00:00+01:00", status="pending")
    observe(session, other, "2025-03-21T10:00:00+01:00", status="rejected")
    observe(session, other, "2025-03-22T10:00:00+01:00", status="needs_info")
    observe(session, other, "2025-03-23T10:00:00+01:00", deleted=True)
    observe(session, other, "2025-03-24T10:00:00+01:00", count=0)  # looked for, none seen
    observe(session, camille, "2025-04-08T10:00:00+02:00")  # 31+28+31+8 = 98
    # A year with nothing but what does not count is not listed at all.
    observe(session, other, "2024-04-01T10:00:00+02:00", status="pending")
    observe(session, other, "2024-04-02T10:00:00+02:00", count=0)

    body = phenology_of(client, f"cd_nom={SWALLOW}")

    assert rows(body) == [(2025, "2025-04-08", "Camille")]
    assert body["median_day_of_year"] == 98.0


def test_validated_visits_that_counted_the_species_are_reports(
    client: TestClient, session: Session, settings: Settings
) -> None:
    owner = create_user(session, settings, display_name="Les Hirondelles du 12")
    staff = create_user(session, settings, role=Role.ecologist, display_name="Marion (CPIE)")
    camille = create_user(session, settings, display_name="Camille")
    nest_site = make_site(client, settings, owner)
    garden = make_site(client, settings, owner, kind="garden")
    gone = make_site(client, settings, owner)
    observe(session, camille, "2025-04-20T10:00:00+02:00")

    swallow_nests = [nests(SWALLOW, 2)]
    # None of these is a report of the swallow in 2025:
    make_visit(
        client,
        session,
        settings,
        owner,
        nest_site,
        "2025-04-01T09:00:00+02:00",
        swallow_nests,
        status="pending",
    )
    make_visit(
        client,
        session,
        settings,
        owner,
        nest_site,
        "2025-04-02T09:00:00+02:00",
        swallow_nests,
        status="rejected",
    )
    make_visit(
        client,
        session,
        settings,
        owner,
        nest_site,
        "2025-04-03T09:00:00+02:00",
        [nests(SWALLOW, 0, unoccupied=4)],
    )  # nests, but none occupied
    make_visit(
        client,
        session,
        settings,
        owner,
        nest_site,
        "2025-04-04T09:00:00+02:00",
        [nests(HOUSE_MARTIN, 5)],
    )  # another species
    deleted = make_visit(
        client, session, settings, owner, nest_site, "2025-04-05T09:00:00+02:00", swallow_nests
    )
    make_visit(client, session, settings, owner, gone, "2025-04-06T09:00:00+02:00", swallow_nests)
    make_visit(
        client,
        session,
        settings,
        owner,
        garden,
        "2025-04-07T09:00:00+02:00",
        [{"cd_nom": SWALLOW, "count": 0}],
    )
    # This one is: a staff member counted at the owner's site, an occupied nest box among
    # natural nests that were empty.
    make_visit(
        client,
        session,
        settings,
        staff,
        nest_site,
        "2025-04-10T09:00:00+02:00",
        [nests(SWALLOW, 0), nests(SWALLOW, 1, artificial=True)],
    )
    # A garden count of at least one is a report too (2024).
    make_visit(
        client,
        session,
        settings,
        owner,
        garden,
        "2024-04-09T15:00:00+02:00",
        [{"cd_nom": SWALLOW, "count": 3}],
    )
    session.execute(
        update(Visit).where(col(Visit.id) == deleted).values(deleted_at=datetime.now(UTC))
    )
    session.execute(
        update(Site).where(col(Site.id) == uuid.UUID(gone)).values(deleted_at=datetime.now(UTC))
    )
    session.flush()

    body = phenology_of(client, f"cd_nom={SWALLOW}")

    assert body["items"] == [
        {
            "year": 2024,
            "first_date": "2024-04-09",  # 31+29+31+9 = 100
            "observer": "Les Hirondelles du 12",
            "first_at": "2024-04-09T13:00:00Z",
            "source": "visit",
        },
        {
            "year": 2025,
            "first_date": "2025-04-10",  # 31+28+31+10 = 100
            "observer": "Marion (CPIE)",  # who counted, not whose site it is
            "first_at": "2025-04-10T07:00:00Z",
            "source": "visit",
        },
    ]
    assert body["median_day_of_year"] == 100.0


def test_an_observation_and_a_visit_at_the_same_instant_list_the_observation(
    client: TestClient, session: Session, settings: Settings
) -> None:
    owner = create_user(session, settings, display_name="Visiteuse")
    camille = create_user(session, settings, display_name="Camille")
    site = make_site(client, settings, owner)
    make_visit(
        client, session, settings, owner, site, "2025-04-10T10:00:00+02:00", [nests(SWALLOW, 1)]
    )
    observe(session, camille, "2025-04-10T08:00:00+00:00")

    item = phenology_of(client, f"cd_nom={SWALLOW}")["items"][0]

    assert (item["observer"], item["source"]) == ("Camille", "observation")


@pytest.mark.parametrize(
    ("when", "year", "first_date"),
    [
        # 31 March 23:30 UTC is already 1 April in Paris (UTC+2 since 30 March 2025).
        ("2025-03-31T23:30:00Z", 2025, "2025-04-01"),
        # New Year's Eve 23:30 UTC is 00:30 on 1 January in Paris: the next year's report.
        ("2024-12-31T23:30:00Z", 2025, "2025-01-01"),
        # 22:59 UTC is 23:59 in Paris: still the old year.
        ("2024-12-31T22:59:00Z", 2024, "2024-12-31"),
    ],
)
def test_years_and_dates_are_the_territorys_local_ones(
    client: TestClient,
    session: Session,
    settings: Settings,
    when: str,
    year: int,
    first_date: str,
) -> None:
    camille = create_user(session, settings, display_name="Camille")
    observe(session, camille, when)

    body = phenology_of(client, f"cd_nom={SWALLOW}")

    assert rows(body) == [(year, first_date, "Camille")]
    assert body["items"][0]["first_at"] == when


def test_year_bounds_follow_local_midnight(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Three reports within 31 minutes of UTC time, in three local years."""
    camille = create_user(session, settings, display_name="Camille")
    observe(session, camille, "2023-12-31T22:59:00Z")  # 2023-12-31 23:59 local
    observe(session, camille, "2023-12-31T23:30:00Z")  # 2024-01-01 00:30 local
    observe(session, camille, "2025-03-31T23:30:00Z")  # 2025-04-01 01:30 local

    everything = phenology_of(client, f"cd_nom={SWALLOW}")
    only_2024 = phenology_of(client, f"cd_nom={SWALLOW}&from_year=2024&to_year=2024")

    assert rows(everything) == [
        (2023, "2023-12-31", "Camille"),
        (2024, "2024-01-01", "Camille"),
        (2025, "2025-04-01", "Camille"),
    ]
    assert everything["median_day_of_year"] == 91.0  # days 365, 1 and 91
    assert rows(only_2024) == [(2024, "2024-01-01", "Camille")]
    assert only_2024["median_day_of_year"] == 1.0


def test_synonyms_of_the_species_are_reports_of_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    synonym = Species(
        cd_nom=990_001,
        cd_ref=SWALLOW,
        scientific_name="Hirundo rustica synonymus",
        vernacular_name="Hirondelle de cheminée",
        group="bird",
        rank="ES",
    )
    session.add(synonym)
    session.flush()
    camille = create_user(session, settings, display_name="Camille")
    jules = create_user(session, settings, display_name="Jules")
    observe(session, camille, "2025-04-12T10:00:00+02:00")
    observe(session, jules, "2025-03-30T10:00:00+02:00", cd_nom=990_001)  # 31+28+30 = 89
    site = make_site(client, settings, camille)
    make_visit(
        client, session, settings, camille, site, "2024-04-03T09:00:00+02:00", [nests(990_001, 2)]
    )  # 31+29+31+3 = 94
    observe(session, jules, "2024-04-20T10:00:00+02:00")
    expected = [(2024, "2024-04-03", "Camille"), (2025, "2025-03-30", "Jules")]

    for query in (
        f"cd_nom={SWALLOW}",
        "cd_nom=990001",
        f"species_id={synonym.id}",
        f"species_id={species(session, SWALLOW).id}",
    ):
        body = phenology_of(client, query)
        assert rows(body) == expected, query
        assert body["median_day_of_year"] == 91.5


def test_from_year_and_to_year_narrow_the_years(
    client: TestClient, session: Session, settings: Settings
) -> None:
    camille = create_user(session, settings, display_name="Camille")
    observe(session, camille, "2021-04-03T10:00:00+02:00")  # 31+28+31+3 = 93
    observe(session, camille, "2022-04-01T10:00:00+02:00")  # 91
    observe(session, camille, "2023-04-10T10:00:00+02:00")  # 100
    observe(session, camille, "2025-04-07T10:00:00+02:00")  # 97

    def years(query: str) -> tuple[list[int], float | None]:
        body = phenology_of(client, f"cd_nom={SWALLOW}&{query}")
        return [i["year"] for i in body["items"]], body["median_day_of_year"]

    assert years("") == ([2021, 2022, 2023, 2025], 95.0)  # (93 + 97) / 2
    assert years("from_year=2022") == ([2022, 2023, 2025], 97.0)
    assert years("to_year=2022") == ([2021, 2022], 92.0)
    assert years("from_year=2022&to_year=2023") == ([2022, 2023], 95.5)
    assert years("from_year=2024&to_year=2024") == ([], None)
    assert years("from_year=2023&to_year=2023") == ([2023], 100.0)
    assert years("from_year=2030") == ([], None)


def test_no_report_answers_no_items_and_no_median(client: TestClient, session: Session) -> None:
    assert phenology_of(client, f"cd_nom={HOUSE_MARTIN}") == {
        "items": [],
        "median_day_of_year": None,
    }


def test_observers_appear_by_pseudonym_only(
    client: TestClient, session: Session, settings: Settings
) -> None:
    camille = create_user(
        session, settings, display_name="Camille", email="camille.dupont@example.org"
    )
    owner = create_user(session, settings, display_name="Jules", email="jules.martin@example.org")
    observe(session, camille, "2024-04-02T10:00:00+02:00")
    site = make_site(client, settings, owner)
    make_visit(
        client, session, settings, owner, site, "2025-04-02T10:00:00+02:00", [nests(SWALLOW, 1)]
    )

    r = client.get(f"/stats/phenology?cd_nom={SWALLOW}")

    assert r.status_code == 200
    assert [i["observer"] for i in r.json()["items"]] == ["Camille", "Jules"]
    for secret in ("camille.dupont", "jules.martin", "example.org", str(camille.id), str(owner.id)):
        assert secret not in r.text


# --- refusals ----------------------------------------------------------------------------------


def test_a_species_is_required(client: TestClient) -> None:
    assert problem(client, "") == ("stats.species_required", ["species_id"])
    assert problem(client, "from_year=2024") == ("stats.species_required", ["species_id"])


def test_an_unknown_species_is_refused_naming_the_field(client: TestClient) -> None:
    assert problem(client, f"species_id={uuid.uuid4()}") == (
        "stats.unknown_species",
        ["species_id"],
    )
    assert problem(client, "cd_nom=123456789") == ("stats.unknown_species", ["cd_nom"])


def test_species_id_and_cd_nom_must_agree(client: TestClient, session: Session) -> None:
    swallow = species(session, SWALLOW)
    assert problem(client, f"species_id={swallow.id}&cd_nom={HOUSE_MARTIN}") == (
        "stats.species_mismatch",
        ["cd_nom"],
    )
    assert phenology_of(client, f"species_id={swallow.id}&cd_nom={SWALLOW}")["items"] == []


def test_an_inverted_or_too_long_year_range_is_refused(client: TestClient) -> None:
    swallow = f"cd_nom={SWALLOW}"
    assert problem(client, f"{swallow}&from_year=2026&to_year=2025") == (
        "stats.invalid_year_range",
        ["from_year"],
    )
    assert problem(client, f"{swallow}&from_year=1900&to_year=2100") == (
        "stats.invalid_year_range",
        ["to_year"],
    )
    assert problem(client, "from_year=2026&to_year=2025") == (
        "stats.species_required",
        ["species_id", "from_year"],
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from_year=1899", "from_year"),
        ("to_year=2101", "to_year"),
        ("from_year=deux-mille", "from_year"),
        ("species_id=pas-un-uuid", "species_id"),
        ("cd_nom=0", "cd_nom"),
    ],
)
def test_malformed_parameters_are_refused(client: TestClient, query: str, field: str) -> None:
    species = "" if query.startswith("cd_nom") else f"cd_nom={SWALLOW}&"
    assert problem(client, species + query) == ("request.invalid", [field])


def test_the_endpoint_is_documented_with_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/stats/phenology"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "species_id",
        "cd_nom",
        "from_year",
        "to_year",
    }
    assert "422" in operation["responses"]
    schema = spec["components"]["schemas"]["PhenologyResponse"]
    assert schema["examples"][0]["median_day_of_year"] == 93.0


# --- the reduction, on hand-built sightings (pure) ---------------------------------------------


def test_day_of_year_counts_29_february_in_leap_years() -> None:
    assert median_day_of_year([date(2025, 4, 1)]) == 91.0
    assert median_day_of_year([date(2024, 4, 1)]) == 92.0
    assert median_day_of_year([date(2024, 1, 1), date(2025, 12, 31), date(2026, 4, 1)]) == 91.0
    assert median_day_of_year([]) is None


SOURCES = st.sampled_from(list(SightingSource))
# Instants on both sides of local midnights, and any others, so that ties and year ends occur.
EDGES = [
    datetime(2024, 12, 31, 22, 59, 59, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 0, tzinfo=UTC),
    datetime(2025, 3, 31, 22, 0, tzinfo=UTC),
    datetime(2025, 6, 30, 21, 59, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
]
INSTANTS = st.sampled_from(EDGES) | st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
sighting_strategy = st.builds(
    Sighting, at=INSTANTS, observer=st.sampled_from(["Camille", "Jules", "Inès"]), source=SOURCES
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(sightings=st.lists(sighting_strategy, max_size=40))
def test_each_year_with_sightings_gets_its_earliest_one(sightings: list[Sighting]) -> None:
    result = phenology(sightings, tz=PARIS)

    years = sorted({s.at.astimezone(PARIS).year for s in sightings})
    assert [i.year for i in result.items] == years
    for item in result.items:
        same_year = [s for s in sightings if s.at.astimezone(PARIS).year == item.year]
        assert item.first_at == min(s.at for s in same_year)
        assert all(item.first_date <= s.at.astimezone(PARIS).date() for s in same_year)
        assert item.first_date == item.first_at.astimezone(PARIS).date()
        assert item.first_date.year == item.year
        at_first = [s for s in same_year if s.at == item.first_at]
        assert (item.observer, item.source) in {(s.observer, s.source) for s in at_first}
        if any(s.source == SightingSource.observation for s in at_first):
            assert item.source == SightingSource.observation
    days = [i.first_date.timetuple().tm_yday for i in result.items]
    if days:
        assert result.median_day_of_year is not None
        assert min(days) <= result.median_day_of_year <= max(days)
    else:
        assert result.median_day_of_year is None
    # The order sightings come in changes nothing.
    assert first_per_year(list(reversed(sightings)), tz=PARIS) == result.items
