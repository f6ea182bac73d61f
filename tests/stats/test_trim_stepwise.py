"""Stepwise selection of changepoints and overall slopes per interval, against TRIM's outputs.

The expected figures are those of tests/data/trim/rtrim-stepwise-intervals.json (see SOURCE.md):
TRIM 3.61 and 3.70 on the skylark data as kept in rtrim's test suite. Tolerances as in
test_trim.py: 1e-4 on what TRIM prints with four decimals (p values, slopes, indices,
coefficients), 0.01 on statistics printed with two, 1e-3 on σ² and ρ.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import cli
from app.stats.trim import (
    P_ENTER,
    TrimData,
    TrimError,
    TrimResult,
    _Fit,
    _prepare,
    _stepwise,
    fit_trim,
    read_trim_csv,
)

DATA = Path(__file__).parents[1] / "data" / "trim"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (DATA / "rtrim-stepwise-intervals.json").read_text()
)
TOL = 1e-4
runner = CliRunner()


def _case(name: str) -> tuple[dict[str, Any], TrimData]:
    case = EXPECTED[name]
    data = read_trim_csv(
        DATA / case["data"], weights=case.get("weights"), covariate=case.get("covariate")
    )
    return case, data


def _check_final_model(result: TrimResult, case: dict[str, Any]) -> None:
    assert result.sigma2 == pytest.approx(case["sigma2"], abs=1e-3)
    assert result.rho == pytest.approx(case["rho"], abs=1e-3)
    assert result.chi2 == pytest.approx(case["chi2"], abs=0.01)
    assert result.lr == pytest.approx(case["lr"], abs=0.01)
    assert result.df == case["df"]
    assert result.aic == pytest.approx(case["aic"], abs=0.01)
    changes = [t for t in result.wald if t.name.startswith("change in slope")]
    assert len(changes) == len(case["wald_changes"])
    for test, (_cp, stat, df, p) in zip(changes, case["wald_changes"], strict=True):
        assert (test.statistic, test.df, test.p) == pytest.approx((stat, df, p), abs=TOL + 0.005)
        assert test.p == pytest.approx(p, abs=TOL)
    got = [
        (c.covariate_class, c.from_year, c.to_year, c.add, c.add_se, c.mul, c.mul_se)
        for c in result.coefficients
    ]
    first = result.years[0] - 1  # years to TRIM's time points 1..J
    for row, want in zip(got, case["coefficients"], strict=True):
        assert (row[0], row[1] - first, row[2] - first) == tuple(want[:3])
        assert row[3:] == pytest.approx(want[3:], abs=TOL)
    for index, want in zip(result.indices, case["indices"], strict=True):
        values = (index.year - first, index.model, index.model_se, index.imputed, index.imputed_se)
        assert values == pytest.approx(tuple(want), abs=TOL)
    for slope, want in (
        (result.slope_model, "slope_model"),
        (result.slope_imputed, "slope_imputed"),
    ):
        assert slope is not None
        got_slope = [slope.add, slope.add_se, slope.mul, slope.mul_se]
        assert got_slope == pytest.approx(case[want], abs=TOL)


@pytest.mark.parametrize("name", ["skylark-3a", "skylark-4f"])
def test_stepwise_reproduces_trim(name: str) -> None:
    case, data = _case(name)
    result = fit_trim(data, model=2, changepoints=case["changepoints"], stepwise=True)
    assert result.stepwise is not None
    years = data.years
    kept = [years.index(y) + 1 for y in result.changepoints]  # as TRIM's time points
    assert kept == case["kept"]
    assert [s.action for s in result.stepwise] == ["remove"] * len(case["deleted"])
    for step, (deleted, p) in zip(result.stepwise, case["deleted"], strict=True):
        assert years.index(step.changepoint) + 1 == deleted
        assert step.test == "wald"
        assert step.p == pytest.approx(p, abs=TOL)
        assert step.df == (2 if "covariate" in case else 1)
        assert step.changepoint not in step.changepoints
    # The first step ranks the changes of slope of the start model: TRIM's table but the first.
    first = {years.index(t.changepoint) + 1: t for t in result.stepwise[0].tests}
    for cp, stat, df, p in case["start_wald"][1:]:
        assert (first[cp].statistic, first[cp].df) == pytest.approx((stat, df), abs=0.005)
        assert first[cp].p == pytest.approx(p, abs=TOL)
    _check_final_model(result, case)
    if "wald_covariate" in case:
        (cov,) = [t for t in result.wald if t.name.startswith("covariate")]
        stat, df, p = case["wald_covariate"]
        assert (cov.statistic, cov.df) == pytest.approx((stat, df), abs=0.005)
        assert cov.p == pytest.approx(p, abs=TOL)


@pytest.mark.parametrize("name", ["skylark-3a", "skylark-4f"])
def test_no_deleted_changepoint_would_be_put_back(name: str) -> None:
    """TRIM re-inserted none: the score test of each deleted one stays above the threshold."""
    case, data = _case(name)
    kept = fit_trim(data, model=2, changepoints=case["changepoints"], stepwise=True)
    fit = _Fit(_prepare(data, 2, list(kept.changepoints), None), True, True, 200, 1e-10)
    fit.estimate()
    deleted = [cp - 1 for cp, _ in case["deleted"]]
    scores = [fit.score_test(c) for c in deleted]
    assert all(s is not None and s.p >= P_ENTER for s in scores), scores
    # The score test of putting 3 back estimates what the Wald test of keeping it measures.
    (three,) = [s for s in scores if s is not None and s.changepoint == data.years[2]]
    assert three.p == pytest.approx(case["deleted"][-1][1], abs=0.03)


def test_forward_from_the_first_changepoint_adds_the_second_and_stops() -> None:
    """The re-insertion phase: from the first changepoint alone, with 2..7 as candidates, the
    score test brings 2 back (it is strongly significant) and nothing else."""
    _, data = _case("skylark-4f")
    fit = _Fit(_prepare(data, 2, None, None), True, True, 200, 1e-10)
    fit.estimate()
    final, steps, warnings = _stepwise(fit, candidates=range(1, 7))
    assert warnings == []
    assert [(s.action, s.test, s.changepoint) for s in steps] == [("add", "score", 1985)]
    assert steps[0].p < 0.001 and steps[0].df == 1
    assert len(steps[0].tests) == 6
    assert final.p.cp == (0, 1)
    assert [s.changepoint for s in steps[0].tests] == list(range(1985, 1991))


def test_slopes_per_interval_reproduce_trim() -> None:
    case, data = _case("skylark-x3")
    result = fit_trim(
        data,
        model=2,
        changepoints=case["changepoints"],
        slope_intervals=case["slope_intervals"],
    )
    assert result.slope_intervals is not None
    for source in ("model", "imputed"):
        for interval, want in zip(result.slope_intervals, case[f"intervals_{source}"], strict=True):
            estimate = getattr(interval, source)
            assert (interval.from_year, interval.to_year) == tuple(want[:2])
            got = [estimate.add, estimate.add_se, estimate.mul, estimate.mul_se]
            assert got == pytest.approx(want[2:], abs=TOL)
    two_years, rest = result.slope_intervals
    # Two points leave no degree of freedom: no p, no class; five do (t on 5 df).
    assert two_years.df == 0 and two_years.imputed is not None
    assert two_years.imputed.p is None and two_years.imputed.slope_class is None
    assert rest.df == 5 and rest.imputed is not None and rest.imputed.p is not None
    assert rest.imputed.p == pytest.approx(0.0042, abs=TOL)
    assert rest.imputed.slope_class is not None
    assert rest.imputed.slope_class.value == "moderate increase"
    # The overall slope keeps its figures and gains its p (t on J − 2 = 6 df).
    assert result.slope_imputed is not None and result.slope_model is not None
    assert [result.slope_imputed.add, result.slope_imputed.add_se] == pytest.approx(
        case["slope_imputed"][:2], abs=TOL
    )
    assert result.slope_imputed.p == pytest.approx(0.0140, abs=TOL)
    assert result.slope_model.p is not None and 0 < result.slope_model.p < 0.05


def test_stepwise_needs_model_2_and_intervals_need_years_of_the_data() -> None:
    _, data = _case("skylark-x3")
    with pytest.raises(TrimError, match="needs model 2") as refused:
        fit_trim(data, model=3, stepwise=True)
    assert refused.value.code == "trim.stepwise_model"
    with pytest.raises(TrimError, match="1979") as outside:
        fit_trim(data, model=2, slope_intervals=[1979, 1985])
    assert outside.value.code == "trim.bad_slope_intervals"


def test_stepwise_without_changepoints_starts_from_every_year() -> None:
    case, data = _case("skylark-4f")
    result = fit_trim(data, model=2, stepwise=True)
    assert result.changepoints == (1984, 1985)
    assert result.stepwise is not None
    assert [s.p for s in result.stepwise] == pytest.approx([p for _, p in case["deleted"]], abs=TOL)
    # Whatever the years are called: from 0 on, the last year is still no changepoint.
    from_zero = TrimData(data.sites, tuple(range(len(data.years))), data.counts)
    again = fit_trim(from_zero, model=2, stepwise=True)
    assert again.changepoints == (0, 1)


def test_a_single_changepoint_has_nothing_to_select() -> None:
    _, data = _case("skylark-x3")
    plain = fit_trim(data, model=2)
    result = fit_trim(data, model=2, changepoints=[1984], stepwise=True)
    assert result.stepwise == () and result.changepoints == (1984,)
    assert result.slope_imputed == plain.slope_imputed


# --- properties --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def x3_fit() -> TrimData:
    return _case("skylark-x3")[1]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(joints=st.lists(st.integers(1984, 1991), max_size=6))
def test_intervals_cover_the_years_once_meeting_at_their_joints(
    x3_fit: TrimData, joints: list[int]
) -> None:
    result = fit_trim(
        x3_fit, model=2, overdispersion=False, serial_correlation=False, slope_intervals=joints
    )
    intervals = result.slope_intervals
    assert intervals is not None
    bounds = sorted({1984, *joints, 1991})
    assert [(i.from_year, i.to_year) for i in intervals] == list(itertools.pairwise(bounds))
    for interval in intervals:
        assert interval.df == interval.to_year - interval.from_year - 1
        for estimate in (interval.model, interval.imputed):
            assert estimate is not None
            assert (estimate.p is None) == (interval.df <= 0)
            assert (estimate.slope_class is None) == (interval.df <= 0)
    if len(intervals) == 1:  # the whole period: the overall slope itself
        (whole,) = intervals
        assert whole.imputed is not None and result.slope_imputed is not None
        assert whole.imputed.add == pytest.approx(result.slope_imputed.add, abs=1e-12)
        assert whole.imputed.p == pytest.approx(result.slope_imputed.p, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    change=st.integers(3, 6),
    up=st.booleans(),
)
def test_stepwise_keeps_a_true_single_changepoint(seed: int, change: int, up: bool) -> None:
    """Counts rising (or falling) 25 % a year up to a year and as much the other way after it,
    about 55 a site: whatever else the selection keeps or drops, it keeps that year."""
    rng = np.random.default_rng(seed)
    n_sites, n_years = 40, 9
    t = np.arange(n_years)
    sign = 1.0 if up else -1.0
    log_trend = np.where(t < change, 0.25 * sign * t, 0.25 * sign * (2 * change - t))
    alpha = rng.normal(4.0, 0.5, n_sites)
    counts = rng.poisson(np.exp(alpha[:, None] + log_trend)).astype(float)
    counts[rng.random(counts.shape) < 0.2] = np.nan
    data = TrimData(tuple(f"s{i}" for i in range(n_sites)), tuple(range(1, n_years + 1)), counts)
    result = fit_trim(data, model=2, stepwise=True)
    assert change + 1 in result.changepoints  # time point of the 0-based year `change`
    assert result.changepoints[0] == 1


# --- the command -------------------------------------------------------------------------------


def test_cli_stepwise_and_slope_intervals_in_json() -> None:
    result = runner.invoke(
        cli,
        [
            "trim", str(DATA / "skylark.csv"), "--model", "2", "--changepoints", "1,2,3,4,5,6,7",
            "--covariate", "Habitat", "--overdispersion", "--serial-correlation", "--stepwise",
            "--slope-intervals", "2", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["changepoints"] == [1, 2]
    steps = payload["stepwise"]
    assert [(s["action"], s["changepoint"], s["test"], s["df"]) for s in steps] == [
        ("remove", cp, "wald", 2) for cp, _ in EXPECTED["skylark-3a"]["deleted"]
    ]
    assert [s["p"] for s in steps] == pytest.approx(
        [p for _, p in EXPECTED["skylark-3a"]["deleted"]], abs=TOL
    )
    assert steps[-1]["changepoints"] == [1, 2]
    assert set(steps[0]["tests"][0]) == {"changepoint", "statistic", "df", "p"}
    intervals = payload["slope_intervals"]
    assert [(i["from"], i["to"]) for i in intervals] == [(1, 2), (2, 8)]
    assert intervals[0]["imputed"]["p"] is None and intervals[0]["imputed"]["class"] == "unknown"
    assert set(intervals[1]["model"]) == {"add", "add_se", "mul", "mul_se", "p", "class"}
    assert payload["slope"]["imputed"]["add"] == pytest.approx(0.0346, abs=TOL)
    assert 0 < payload["slope"]["imputed"]["p"] < 0.05


def test_cli_slope_intervals_by_year_reproduce_trim() -> None:
    result = runner.invoke(
        cli,
        [
            "trim", str(DATA / "skylark2.csv"), "--model", "2", "--changepoints", "1984,1985",
            "--overdispersion", "--serial-correlation", "--slope-intervals", "1984,1985",
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["stepwise"] is None
    case = EXPECTED["skylark-x3"]
    for source in ("model", "imputed"):
        for item, want in zip(payload["slope_intervals"], case[f"intervals_{source}"], strict=True):
            assert [item["from"], item["to"]] == want[:2]
            got = [item[source][k] for k in ("add", "add_se", "mul", "mul_se")]
            assert got == pytest.approx(want[2:], abs=TOL)


def test_cli_prints_the_steps_and_the_intervals() -> None:
    result = runner.invoke(
        cli,
        [
            "trim", str(DATA / "skylark2.csv"), "--model", "2", "--stepwise",
            "--slope-intervals", "1985",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Stepwise selection of changepoints" in result.stdout
    assert "changepoints kept: 1984, 1985" in result.stdout
    assert "Overall slope per interval" in result.stdout
    assert "1985-1991" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "3", "--stepwise"], "needs model 2"),
        (["--model", "2", "--slope-intervals", "1984,x"], "--slope-intervals wants whole numbers"),
        (["--model", "2", "--slope-intervals", "1970"], "1970"),
    ],
)
def test_cli_refuses_bad_stepwise_or_intervals_in_one_line(args: list[str], expected: str) -> None:
    result = runner.invoke(cli, ["trim", str(DATA / "skylark2.csv"), *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr


def test_cli_help_explains_the_new_options() -> None:
    result = runner.invoke(cli, ["trim", "--help"])
    assert result.exit_code == 0
    assert "--stepwise" in result.stdout and "--slope-intervals" in result.stdout
