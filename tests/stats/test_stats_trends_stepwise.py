"""``GET /stats/trends`` with ``stepwise`` and ``slope_intervals``: the changepoints kept, the
steps that led there, the slope of each interval; clear 422s for years that are not the
series'. The façades of test_stats_trends.py: four sites losing about a fifth of their nests a
year, 2021-2025."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.settings import Settings
from app.surveys.models import Site
from tests.factories import create_user, load_reference_data
from tests.stats.test_stats_trends import HOUSE_MARTIN, YEARS, _facades

TRENDS = f"/stats/trends?cd_nom={HOUSE_MARTIN}"


@pytest.fixture
def facades(session: Session, settings: Settings) -> dict[str, Site]:
    load_reference_data(session)
    return _facades(session, settings, create_user(session, settings))


def test_without_the_options_nothing_changes_but_the_slopes_p(
    client: TestClient, facades: dict[str, Site]
) -> None:
    trend = client.get(f"{TRENDS}&model=2").json()
    assert trend["changepoints"] == [2021]
    assert trend["stepwise"] is None and trend["slope_intervals"] is None
    imputed = trend["slope"]["imputed"]
    assert imputed["class"] == "steep decline"
    # t on 5 − 2 = 3 degrees of freedom: a steady loss of a fifth a year is significant.
    assert imputed["p"] is not None and imputed["p"] < 0.01


def test_stepwise_keeps_only_the_changepoints_the_counts_support(
    client: TestClient, facades: dict[str, Site]
) -> None:
    poisson = "&overdispersion=false&serial_correlation=false"
    answer = client.get(f"{TRENDS}&model=2&changepoints=2022,2023,2024&stepwise=true{poisson}")
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    # The decline is steady: with Poisson variation (the counts are too few to estimate
    # another), every change of slope goes, one at a time; the first year stays.
    steps = trend["stepwise"]
    assert [s["action"] for s in steps] == ["remove"] * 3
    assert sorted(s["changepoint"] for s in steps) == [2022, 2023, 2024]
    assert all(s["test"] == "wald" and s["df"] == 1 and s["p"] > 0.2 for s in steps)
    assert [len(s["tests"]) for s in steps] == [3, 2, 1]
    assert steps[-1]["changepoints"] == [2021] == trend["changepoints"]
    assert set(steps[0]["tests"][0]) == {"changepoint", "statistic", "df", "p"}
    plain = client.get(f"{TRENDS}&model=2{poisson}").json()
    assert trend["slope"] == plain["slope"] and trend["indices"] == plain["indices"]


def test_slopes_per_interval(client: TestClient, facades: dict[str, Site]) -> None:
    answer = client.get(f"{TRENDS}&model=2&changepoints=2023&slope_intervals=2022,2023")
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    intervals = trend["slope_intervals"]
    assert [(i["from"], i["to"], i["df"]) for i in intervals] == [
        (2021, 2022, 0),
        (2022, 2023, 0),
        (2023, 2025, 1),
    ]
    assert intervals[0]["from"] == YEARS[0] and intervals[-1]["to"] == YEARS[-1]
    for interval in intervals:
        for source in ("model", "imputed"):
            estimate = interval[source]
            assert set(estimate) == {"add", "add_se", "mul", "mul_se", "p", "class"}
            assert estimate["mul"] < 1  # every interval declines
    two_years = intervals[0]["imputed"]
    assert two_years["p"] is None and two_years["class"] == "unknown"
    assert intervals[2]["imputed"]["p"] is not None
    assert intervals[2]["imputed"]["class"] != "unknown"


@pytest.mark.parametrize(
    ("query", "code", "field", "words"),
    [
        ("slope_intervals=2010", "trim.bad_slope_intervals", "slope_intervals", "2010"),
        ("slope_intervals=2022,abc", "stats.invalid_slope_intervals", "slope_intervals", "years"),
        ("model=3&stepwise=true", "trim.stepwise_model", "stepwise", "model 2"),
    ],
)
def test_bad_options_are_clear_422s(
    client: TestClient, facades: dict[str, Site], query: str, code: str, field: str, words: str
) -> None:
    answer = client.get(f"{TRENDS}&{query}")
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code
    assert [e["field"] for e in body["errors"]] == [field]
    assert words in body["detail"] or words in body["errors"][0]["message"]


def test_the_chart_marks_the_intervals(client: TestClient, facades: dict[str, Site]) -> None:
    answer = client.get(
        f"/stats/trends.svg?cd_nom={HOUSE_MARTIN}&model=2&changepoints=2023&slope_intervals=2023"
    )
    assert answer.status_code == 200, answer.text
    svg = answer.text
    # One interval from the first year to 2023, one from 2023 to the last, each with its
    # yearly change the French way.
    assert "2021–2023 : −" in svg and "2023–2025 : −" in svg and "%/an" in svg
    plain = client.get(f"/stats/trends.svg?cd_nom={HOUSE_MARTIN}&model=2&changepoints=2023")
    assert "%/an" not in plain.text
