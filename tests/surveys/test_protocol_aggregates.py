"""The database's protocol values (``app.surveys.aggregates``) against the pure rules
(``app.surveys.yearly``): on random visits of random sites, site by site, species by species and
year by year, the two must give the same values, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.species.models import Species
from app.surveys.aggregates import site_year_values, visited_span, visited_years
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.yearly import VisitCounts, yearly_values
from tests.factories import create_user, load_reference_data

PARIS = ZoneInfo("Europe/Paris")
LOOS = (50.4571, 2.7852)
SPECIES = (459478, 608364, 53741)  # house martin, peacock butterfly, red admiral
STATUSES = ("validated", "pending", "rejected")


@dataclass(frozen=True)
class CountRow:
    species: int  # index into SPECIES
    figure: int
    artificial: bool


@dataclass(frozen=True)
class RandomVisit:
    site: int
    at: datetime
    complete: bool
    status: str
    deleted: bool
    counts: tuple[CountRow, ...]


# Instants around New Year and month ends in local time, so that UTC and local years differ.
INSTANTS = st.builds(
    lambda year, hours: datetime(year, 1, 1, tzinfo=UTC) + timedelta(hours=hours),
    st.integers(2020, 2021),
    st.integers(-30, 24 * 365 + 30),
)
COUNT_ROWS = st.lists(
    st.builds(CountRow, st.integers(0, 2), st.integers(0, 40), st.booleans()),
    max_size=4,
    unique_by=lambda c: (c.species, c.artificial),
)
VISITS = st.lists(
    st.builds(
        RandomVisit,
        site=st.integers(0, 2),
        at=INSTANTS,
        complete=st.booleans(),
        status=st.sampled_from(STATUSES[:1] * 4 + STATUSES[1:]),
        deleted=st.sampled_from((False, False, False, True)),
        counts=COUNT_ROWS.map(tuple),
    ),
    min_size=4,
    max_size=30,
)
KINDS = ("nest_site", "garden", "transect")


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(visits=VISITS, first=st.integers(2019, 2021), span=st.integers(0, 3))
# A garden counted in April and in June: the two months' largest counts add up.
@example(
    visits=[
        RandomVisit(
            1, datetime(2021, 4, 5, tzinfo=UTC), False, "validated", False, (CountRow(1, 3, False),)
        ),
        RandomVisit(
            1, datetime(2021, 6, 5, tzinfo=UTC), True, "validated", False, (CountRow(1, 4, False),)
        ),
        RandomVisit(
            1, datetime(2021, 6, 9, tzinfo=UTC), False, "validated", False, (CountRow(1, 2, False),)
        ),
    ],
    first=2021,
    span=0,
)
def test_database_values_equal_the_pure_rules(
    session: Session, settings: Settings, visits: list[RandomVisit], first: int, span: int
) -> None:
    last = first + span
    if session.exec(select(Species).limit(1)).first() is None:
        load_reference_data(session)
    savepoint = session.begin_nested()
    try:
        owner = create_user(session, settings)
        species = [
            session.exec(select(Species).where(col(Species.cd_nom) == cd)).one().id
            for cd in SPECIES
        ]
        sites = []
        for kind in KINDS:
            site = Site(
                client_id=uuid.uuid4(),
                owner_id=owner.id,
                kind=kind,
                name=kind,
                latitude=LOOS[0],
                longitude=LOOS[1],
            )
            session.add(site)
            sites.append(site)
        session.flush()
        expected_visits: dict[int, list[VisitCounts]] = defaultdict(list)
        for v in visits:
            visit = Visit(
                client_id=uuid.uuid4(),
                site_id=sites[v.site].id,
                observer_id=owner.id,
                started_at=v.at,
                duration_min=30,
                complete=v.complete,
                status=v.status,
                deleted_at=datetime.now(UTC) if v.deleted else None,
            )
            session.add(visit)
            session.flush()
            figures: dict[uuid.UUID, int] = {}
            for c in v.counts:
                nest = KINDS[v.site] == "nest_site"
                session.add(
                    VisitCount(
                        visit_id=visit.id,
                        species_id=species[c.species],
                        count=None if nest else c.figure,
                        occupied=c.figure if nest else None,
                        artificial=c.artificial,
                    )
                )
                figures[species[c.species]] = figures.get(species[c.species], 0) + c.figure
            if v.status == "validated" and not v.deleted:
                expected_visits[v.site].append(VisitCounts(v.at, v.complete, figures))
        session.flush()

        expected = {
            (sites[i].id, value.species_id, value.year): value.value
            for i, site_visits in expected_visits.items()
            for value in yearly_values(KINDS[i], site_visits, tz=PARIS)
            if first <= value.year <= last
        }
        found = site_year_values(session, statuses=("validated",), tz=PARIS, first=first, last=last)
        assert {(v.site_id, v.species_id, v.year): v.value for v in found} == expected
        assert all(v.kind == KINDS[[s.id for s in sites].index(v.site_id)] for v in found)

        # One species asked for gives that species' values alone, the same.
        one = site_year_values(
            session,
            statuses=("validated",),
            tz=PARIS,
            first=first,
            last=last,
            species_ids=[species[1]],
        )
        assert {(v.site_id, v.species_id, v.year): v.value for v in one} == {
            key: value for key, value in expected.items() if key[1] == species[1]
        }

        years = visited_years(session, statuses=("validated",), tz=PARIS, first=first, last=last)
        assert years == {
            sites[i].id: y
            for i, site_visits in expected_visits.items()
            if (
                y := {v.started_at.astimezone(PARIS).year for v in site_visits}
                & set(range(first, last + 1))
            )
        }
        span_found = visited_span(session, statuses=("validated",), tz=PARIS)
        all_years = [
            v.started_at.astimezone(PARIS).year for vs in expected_visits.values() for v in vs
        ]
        assert span_found == ((min(all_years), max(all_years)) if all_years else None)
    finally:
        savepoint.rollback()


def test_a_deleted_site_and_another_zone_are_left_out(session: Session, settings: Settings) -> None:
    load_reference_data(session)
    owner = create_user(session, settings)
    martin = session.exec(select(Species).where(col(Species.cd_nom) == SPECIES[0])).one()
    kept, deleted = (
        Site(
            client_id=uuid.uuid4(),
            owner_id=owner.id,
            kind="nest_site",
            name=name,
            latitude=LOOS[0],
            longitude=LOOS[1],
            deleted_at=datetime.now(UTC) if name == "deleted" else None,
        )
        for name in ("kept", "deleted")
    )
    session.add_all([kept, deleted])
    session.flush()
    for site, occupied in ((kept, 7), (deleted, 11)):
        visit = Visit(
            client_id=uuid.uuid4(),
            site_id=site.id,
            observer_id=owner.id,
            started_at=datetime(2024, 6, 1, 8, tzinfo=UTC),
            duration_min=20,
            status="validated",
        )
        session.add(visit)
        session.flush()
        session.add(VisitCount(visit_id=visit.id, species_id=martin.id, occupied=occupied))
    session.flush()

    values = site_year_values(session, statuses=("validated",), tz=PARIS, first=2024, last=2024)
    assert [(v.site_id, v.year, v.value) for v in values] == [(kept.id, 2024, 7)]
    other_zone = site_year_values(
        session, statuses=("validated",), tz=PARIS, first=2024, last=2024, zone_id=uuid.uuid4()
    )
    assert other_zone == []
    assert (
        site_year_values(
            session, statuses=("validated",), tz=PARIS, first=2024, last=2024, species_ids=[]
        )
        == []
    )
