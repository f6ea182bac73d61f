"""The yearly value rules of the counting protocols, on hand-built visits (pure functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.surveys.yearly import SiteKind, VisitCounts, YearlyValue, yearly_values

PARIS = ZoneInfo("Europe/Paris")
SWALLOW = uuid.UUID("00000000-0000-0000-0000-000000003696")
MARTIN = uuid.UUID("00000000-0000-0000-0000-000000459478")
PEACOCK = uuid.UUID("00000000-0000-0000-0000-000000608364")


def visit(when: str, counts: dict[uuid.UUID, int], *, complete: bool = False) -> VisitCounts:
    return VisitCounts(started_at=datetime.fromisoformat(when), complete=complete, counts=counts)


def values(kind: SiteKind, visits: list[VisitCounts]) -> dict[tuple[int, uuid.UUID], int]:
    return {(v.year, v.species_id): v.value for v in yearly_values(kind, visits, tz=PARIS)}


def test_nests_take_the_largest_count_of_the_year_never_the_sum() -> None:
    spring = [
        visit("2026-04-20T09:00:00+02:00", {SWALLOW: 3}),
        visit("2026-05-25T09:00:00+02:00", {SWALLOW: 5, MARTIN: 2}),
        visit("2026-07-02T09:00:00+02:00", {SWALLOW: 4, MARTIN: 6}),
    ]

    result = yearly_values(SiteKind.nest_site, spring, tz=PARIS)

    assert [(r.year, r.species_id, r.value, r.unit, r.visits) for r in result] == sorted(
        [(2026, SWALLOW, 5, "nests", 3), (2026, MARTIN, 6, "nests", 3)],
        key=lambda row: str(row[1]),
    )


def test_a_visit_after_nests_were_destroyed_does_not_lower_the_year() -> None:
    """Destroyed nests are not occupied: the visit after a façade was cleaned counts 0, and the
    year keeps the largest number seen before."""
    season = [
        visit("2026-05-10T10:00:00+02:00", {SWALLOW: 7}),
        visit("2026-06-10T10:00:00+02:00", {SWALLOW: 0}),
    ]

    assert values(SiteKind.nest_site, season) == {(2026, SWALLOW): 7}


def test_years_are_kept_apart() -> None:
    visits = [
        visit("2025-06-01T10:00:00+02:00", {SWALLOW: 2}),
        visit("2026-06-01T10:00:00+02:00", {SWALLOW: 4}),
    ]

    assert values(SiteKind.nest_site, visits) == {(2025, SWALLOW): 2, (2026, SWALLOW): 4}


def test_garden_adds_months_but_not_visits_of_the_same_month() -> None:
    visits = [
        visit("2026-05-03T14:00:00+02:00", {PEACOCK: 2}),
        visit("2026-05-24T14:00:00+02:00", {PEACOCK: 3}),  # May: the larger, 3
        visit("2026-06-14T14:00:00+02:00", {PEACOCK: 1}),  # June: 1
        visit("2026-08-09T14:00:00+02:00", {PEACOCK: 4}),  # August: 4
    ]

    assert values(SiteKind.garden, visits) == {(2026, PEACOCK): 3 + 1 + 4}


def test_a_complete_visit_counts_an_unlisted_species_as_zero() -> None:
    """2025: the Peacock was seen; 2026: two complete visits without it, so the garden's 2026
    value is a true zero. An incomplete visit without it says nothing."""
    visits = [
        visit("2025-07-05T15:00:00+02:00", {PEACOCK: 5}, complete=True),
        visit("2026-07-05T15:00:00+02:00", {}, complete=True),
        visit("2026-08-05T15:00:00+02:00", {}, complete=True),
    ]
    incomplete = [
        visit("2025-07-05T15:00:00+02:00", {PEACOCK: 5}),
        visit("2026-07-05T15:00:00+02:00", {}),
    ]

    assert values(SiteKind.garden, visits) == {(2025, PEACOCK): 5, (2026, PEACOCK): 0}
    assert values(SiteKind.garden, incomplete) == {(2025, PEACOCK): 5}


def test_months_and_years_are_those_of_the_territory() -> None:
    """22:30 UTC on 31 May is 00:30 on 1 June in Paris; 23:30 UTC on 31 December 2025 is
    already 2026 there."""
    visits = [
        visit("2026-05-20T10:00:00+00:00", {PEACOCK: 2}),
        visit("2026-05-31T22:30:00+00:00", {PEACOCK: 3}),
    ]
    new_year = [visit("2025-12-31T23:30:00+00:00", {SWALLOW: 1})]

    assert values(SiteKind.garden, visits) == {(2026, PEACOCK): 5}
    assert values(SiteKind.nest_site, new_year) == {(2026, SWALLOW): 1}


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        yearly_values(
            SiteKind.garden,
            [VisitCounts(started_at=datetime(2026, 5, 1), complete=False, counts={PEACOCK: 1})],
            tz=PARIS,
        )


counts = st.integers(min_value=0, max_value=500)
visit_strategy = st.builds(
    lambda offset, complete, swallow, peacock: VisitCounts(
        started_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=offset),
        complete=complete,
        counts={k: v for k, v in ((SWALLOW, swallow), (PEACOCK, peacock)) if v is not None},
    ),
    st.integers(min_value=0, max_value=3 * 365 * 24 * 60),
    st.booleans(),
    st.none() | counts,
    st.none() | counts,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(SiteKind)), visits=st.lists(visit_strategy, max_size=30))
def test_yearly_value_lies_between_the_largest_visit_and_the_sum_of_visits(
    kind: SiteKind, visits: list[VisitCounts]
) -> None:
    result: list[YearlyValue] = yearly_values(kind, visits, tz=PARIS)

    for row in result:
        same_year = [v for v in visits if v.started_at.astimezone(PARIS).year == row.year]
        figures = [v.counts.get(row.species_id, 0) for v in same_year]
        assert row.visits == len(same_year)
        assert row.value <= sum(figures)
        # Never below the largest single visit of that year (and so of any of its months).
        assert row.value >= max(figures)
        if kind is SiteKind.nest_site:
            assert row.value == max(figures)


@settings(max_examples=200, deadline=None)
@given(visits=st.lists(visit_strategy, min_size=1, max_size=20), k=st.integers(1, 5))
def test_repeating_a_visit_in_the_same_month_changes_nothing(
    visits: list[VisitCounts], k: int
) -> None:
    repeated = visits + [visits[0]] * k

    for kind in SiteKind:
        assert yearly_values(kind, repeated, tz=PARIS) == [
            YearlyValue(r.year, r.species_id, r.value, r.unit, r.visits + k * (r.year == y0))
            for r in yearly_values(kind, visits, tz=PARIS)
            for y0 in [visits[0].started_at.astimezone(PARIS).year]
        ]
