"""Trend labels (app.stats.labels) against TRIM 3.61's own labels, and their properties.

The expected labels are those TRIM 3.61 prints in rtrim's test suite
(``pkg/tests/testthat/outfiles/skylark-*.out``, see tests/data/trim/SOURCE.md): 1a model 3 by
maximum likelihood, 1b overdispersion only, 1c overdispersion and serial correlation, 1d model 2
with both; all four "Moderate increase (p<0.01) **" for the model and the imputed slope. 3a
(Habitat, stepwise) prints "(p<0.05) *" for the model slope and "(p<0.01) **" for the imputed
one, 1f (changepoints 1, 2) "(p<0.01) **": the PECBMS convention must find the same tiers, and
rtrim's t rule is expected to find only p<0.05 for 1f.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.stats.labels import (
    INSUFFICIENT,
    THRESHOLDS,
    Convention,
    DataSupport,
    format_fr,
    label_slope,
    trend_label,
)
from app.stats.trim import SlopeClass, TrimData, fit_trim, read_trim_csv

DATA = Path(__file__).parents[1] / "data" / "trim"


@pytest.fixture(scope="module")
def skylark() -> TrimData:
    return read_trim_csv(DATA / "skylark.csv")


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("1a", {"model": 3, "overdispersion": False, "serial_correlation": False}),
        ("1b", {"model": 3, "overdispersion": True, "serial_correlation": False}),
        ("1c", {"model": 3, "overdispersion": True, "serial_correlation": True}),
        ("1d", {"model": 2, "overdispersion": True, "serial_correlation": True}),
    ],
)
def test_trim_labels_of_the_skylark_1a_to_1d(
    skylark: TrimData, case: str, options: dict[str, object]
) -> None:
    result = fit_trim(skylark, **options)  # type: ignore[arg-type]
    support = DataSupport.of(skylark)
    for slope in (result.slope_model, result.slope_imputed):
        label = trend_label(result, slope, support=support)
        assert label is not None
        assert label.text == "moderate increase (p<0.01)", case
        assert label.convention is Convention.pecbms
        assert label.p is not None and label.p < 0.01
        assert label.interval is not None and label.interval.lower > 1


@pytest.mark.parametrize(
    ("case", "add", "add_se", "pecbms", "rtrim"),
    [
        # TRIM 3.61 figures (rtrim.md §3); the 3a model slope is the case an additive test
        # would get wrong (p = 0.0096 there, TRIM says p<0.05).
        ("3a model", 0.0329, 0.0127, "moderate increase (p<0.05)", "moderate increase (p<0.05)"),
        ("3a imputed", 0.0346, 0.0127, "moderate increase (p<0.01)", "moderate increase (p<0.05)"),
        ("1f model", 0.0442, 0.0134, "moderate increase (p<0.01)", "moderate increase (p<0.05)"),
    ],
)
def test_published_tiers_and_rtrims_t_rule(
    case: str, add: float, add_se: float, pecbms: str, rtrim: str
) -> None:
    assert label_slope(add, add_se, n_years=8).text == pecbms, case
    assert label_slope(add, add_se, n_years=8, convention="rtrim").text == rtrim, case


def test_the_pecbms_p_is_the_test_of_its_interval() -> None:
    label = label_slope(0.0329, 0.0127, n_years=8)
    mul = math.exp(0.0329)
    z = (mul - 1) / (mul * 0.0127)
    assert label.p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert 0.01 < label.p < 0.05


def test_rtrim_p_is_a_t_test_on_n_minus_2() -> None:
    # t = 2.0 on 6 df: two-sided p = 0.0924 (tables of Student's t).
    label = label_slope(0.02, 0.01, n_years=8, convention=Convention.rtrim)
    assert label.p == pytest.approx(0.0924, abs=5e-4)
    # exp(0.02 ± 2.447·0.01) = 0.9955 … 1.0457: holds 1, within ±5 %.
    assert label.slope_class == SlopeClass.stable.value and label.significance is None
    assert label_slope(0.02, 0.01, n_years=2, convention="rtrim").slope_class == INSUFFICIENT


def test_rtrim_puts_strength_before_significance() -> None:
    # 95 % interval above 1.05, 99 % not: strong at p<0.05 though p < 0.01.
    label = label_slope(0.12, 0.025, n_years=12, convention="rtrim")
    assert label.slope_class == SlopeClass.strong_increase.value
    assert label.significance == "p<0.05" and label.p is not None and label.p < 0.01


def test_sigma2_below_1_counts_as_1_for_the_label() -> None:
    # se 0.02 fitted with σ² = 0.25: the label uses se 0.04.
    floored = label_slope(-0.09, 0.02, n_years=6, sigma2=0.25)
    plain = label_slope(-0.09, 0.04, n_years=6)
    assert floored.sigma2_floored and not plain.sigma2_floored
    assert (floored.slope_class, floored.p, floored.interval) == (
        plain.slope_class,
        plain.p,
        plain.interval,
    )
    assert floored.text == "moderate decline (p<0.05)"
    assert label_slope(-0.09, 0.02, n_years=6).slope_class == SlopeClass.steep_decline.value
    assert label_slope(-0.09, 0.04, n_years=6, sigma2=1.5) == plain  # σ² above 1: as fitted


def test_too_few_data_give_no_verdict(skylark: TrimData) -> None:
    result = fit_trim(skylark, model=3)
    few = DataSupport(sites=2, years=4, positive_counts=9)
    label = trend_label(result, result.slope_imputed, support=few)
    assert label is not None and label.slope_class == INSUFFICIENT
    assert label.significance is None and label.p is None and label.interval is None
    assert label.thresholds == THRESHOLDS
    assert label.reason is not None
    assert "2 site(s)" in label.reason and "4 year(s)" in label.reason
    assert "9 positive count(s)" in label.reason
    assert DataSupport.of(skylark) == DataSupport(sites=55, years=8, positive_counts=202)


ORDER = {
    SlopeClass.steep_decline.value: 0,
    SlopeClass.moderate_decline.value: 1,
    SlopeClass.stable.value: 2,
    SlopeClass.uncertain.value: 2,
    SlopeClass.moderate_increase.value: 3,
    SlopeClass.strong_increase.value: 4,
}
slopes = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)
errors = st.floats(min_value=1e-4, max_value=0.3, allow_nan=False)
conventions = st.sampled_from(list(Convention))
years = st.integers(min_value=3, max_value=40)


@given(a=slopes, b=slopes, se=errors, convention=conventions, n=years)
def test_the_class_is_monotone_in_the_slope(
    a: float, b: float, se: float, convention: Convention, n: int
) -> None:
    low, high = sorted((a, b))
    first = label_slope(low, se, n_years=n, convention=convention)
    second = label_slope(high, se, n_years=n, convention=convention)
    assert ORDER[first.slope_class] <= ORDER[second.slope_class]


@given(add=slopes, se=errors, convention=conventions, n=years)
def test_significant_exactly_when_the_95_interval_excludes_1(
    add: float, se: float, convention: Convention, n: int
) -> None:
    label = label_slope(add, se, n_years=n, convention=convention)
    assert label.p is not None and label.interval is not None
    assume(abs(label.p - 0.05) > 1e-9 and abs(label.p - 0.01) > 1e-9)
    excludes = label.interval.lower > 1 or label.interval.upper < 1
    assert (label.p < 0.05) == excludes
    assert (label.significance is not None) == excludes
    if label.significance == "p<0.01":
        assert label.p < 0.01
    if convention is Convention.pecbms and excludes:
        assert (label.significance == "p<0.01") == (label.p < 0.01)


def test_french_numbers() -> None:
    assert format_fr(-8.94, percent=True) == "\u22128,9\u00a0%"
    assert format_fr(3.0, signed=True, percent=True) == "+3,0\u00a0%"
    assert format_fr(1234.5, 2) == "1\u202f234,50"
    assert format_fr(-0.01) == "0,0"
