"""TRIM (app.stats.trim and ``sentinelles trim``) against the published outputs of TRIM 3.61.

The reference figures are those of tests/data/trim (see SOURCE.md): the README of the shared
reference folder quotes TRIM 3.61 on the skylark data, and rtrim's test suite keeps the full
TRIM outputs, from which the changepoint, covariate and weight runs below are taken. Tolerances
are the README's: 1e-4 absolute on indices, slopes, coefficients and their standard errors,
1e-3 on σ² and ρ, totals equal after rounding; statistics printed with two decimals get 0.01.
No database is involved.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import cli
from app.stats.trim import (
    SlopeClass,
    TrimData,
    TrimError,
    TrimResult,
    classify_slope,
    fit_trim,
    read_trim_csv,
)

DATA = Path(__file__).parents[1] / "data" / "trim"
SKYLARK = DATA / "skylark.csv"
TOL = 1e-4
runner = CliRunner()


@pytest.fixture(scope="module")
def skylark() -> TrimData:
    return read_trim_csv(SKYLARK)


@pytest.fixture(scope="module")
def skylark_habitat() -> TrimData:
    return read_trim_csv(SKYLARK, covariate="Habitat")


@pytest.fixture(scope="module")
def skylark_weighted() -> TrimData:
    return read_trim_csv(DATA / "skylark2.csv", weights="weight")


def _round(x: float) -> int:
    """TRIM's rounding of totals (half away from zero), not Python's banker's rounding."""
    return math.floor(x + 0.5)


def check_time_table(result: TrimResult, expected: list[tuple[float, ...]]) -> None:
    """Rows: index model, se, index imputed, se, total model, se, total imputed, se."""
    assert len(result.indices) == len(expected)
    for index, total, row in zip(result.indices, result.totals, expected, strict=True):
        im, im_se, ii, ii_se, tm, tm_se, ti, ti_se = row
        year = index.year
        assert index.model == pytest.approx(im, abs=TOL), f"model index {year}"
        assert index.model_se == pytest.approx(im_se, abs=TOL), f"model index se {year}"
        assert index.imputed == pytest.approx(ii, abs=TOL), f"imputed index {year}"
        assert index.imputed_se == pytest.approx(ii_se, abs=TOL), f"imputed index se {year}"
        assert [_round(v) for v in (total.model, total.model_se)] == [tm, tm_se], year
        assert [_round(v) for v in (total.imputed, total.imputed_se)] == [ti, ti_se], year


def check_slope(slope: object, add: float, add_se: float, mul: float, mul_se: float) -> None:
    assert slope is not None
    got = [slope.add, slope.add_se, slope.mul, slope.mul_se]  # type: ignore[attr-defined]
    assert got == pytest.approx([add, add_se, mul, mul_se], abs=TOL)


def check_coefficients(result: TrimResult, expected: list[tuple[float, float]]) -> None:
    got = [(c.add, c.add_se) for c in result.coefficients]
    assert len(got) == len(expected)
    for (add, se), (want_add, want_se) in zip(got, expected, strict=True):
        assert add == pytest.approx(want_add, abs=TOL)
        assert se == pytest.approx(want_se, abs=TOL)


# --- the README's published results ------------------------------------------------------------

MODEL3_GEE = [
    (1, 0, 1, 0, 509, 45, 509, 45),
    (0.7260, 0.0766, 0.7201, 0.0766, 370, 35, 366, 35),
    (0.8448, 0.0891, 0.8454, 0.0893, 430, 29, 430, 29),
    (0.8272, 0.0896, 0.8314, 0.0901, 421, 28, 423, 28),
    (0.9209, 0.0986, 0.9221, 0.0989, 469, 31, 469, 31),
    (1.0210, 0.1081, 1.0251, 0.1086, 520, 32, 521, 32),
    (1.1048, 0.1196, 1.1082, 0.1201, 563, 37, 564, 37),
    (1.1686, 0.1295, 1.1828, 0.1308, 595, 42, 601, 42),
]


def test_model3_with_overdispersion_and_serial_correlation_reproduces_trim(
    skylark: TrimData,
) -> None:
    r = fit_trim(skylark, model=3, overdispersion=True, serial_correlation=True)
    assert r.sigma2 == pytest.approx(1.367, abs=1e-3)
    assert r.rho == pytest.approx(0.302, abs=1e-3)
    assert (r.chi2, r.lr, r.aic) == pytest.approx((191.40, 194.80, -85.20), abs=0.01)
    assert r.df == 140
    check_coefficients(
        r,
        [
            (-0.3202, 0.1055),
            (-0.1687, 0.1054),
            (-0.1897, 0.1083),
            (-0.0824, 0.1070),
            (0.0208, 0.1059),
            (0.0997, 0.1082),
            (0.1558, 0.1108),
        ],
    )
    (wald,) = r.wald
    assert wald.name == "deviations from a linear trend"
    assert (wald.statistic, wald.df) == (pytest.approx(16.22, abs=0.01), 6)
    check_time_table(r, MODEL3_GEE)
    check_slope(r.slope_imputed, 0.0478, 0.0142, 1.0489, 0.0149)
    check_slope(r.slope_model, 0.0460, 0.0142, 1.0471, 0.0149)
    assert r.slope_imputed is not None
    assert r.slope_imputed.slope_class is SlopeClass.moderate_increase


def test_model2_with_overdispersion_and_serial_correlation_reproduces_trim(
    skylark: TrimData,
) -> None:
    r = fit_trim(skylark, model=2, overdispersion=True, serial_correlation=True)
    assert r.changepoints == (1,)
    assert r.sigma2 == pytest.approx(1.439, abs=1e-3)
    assert r.rho == pytest.approx(0.281, abs=1e-3)
    assert (r.chi2, r.lr, r.aic) == pytest.approx((210.09, 175.28, -116.72), abs=0.01)
    assert r.df == 146
    (beta,) = r.coefficients
    assert (beta.from_year, beta.to_year) == (1, 8)
    assert [beta.add, beta.add_se, beta.mul, beta.mul_se] == pytest.approx(
        [0.0484, 0.0142, 1.0496, 0.0149], abs=TOL
    )
    assert r.wald[0].statistic == pytest.approx(11.69, abs=0.01)
    check_time_table(
        r,
        [
            (1, 0, 1, 0, 404, 26, 443, 28),
            (1.0496, 0.0149, 0.8948, 0.0410, 424, 23, 396, 26),
            (1.1017, 0.0312, 0.9777, 0.0601, 445, 19, 433, 26),
            (1.1563, 0.0491, 0.9790, 0.0678, 468, 17, 434, 26),
            (1.2137, 0.0687, 1.0698, 0.0800, 491, 17, 474, 26),
            (1.2738, 0.0902, 1.1727, 0.0945, 515, 20, 519, 28),
            (1.3370, 0.1136, 1.2527, 0.1094, 541, 25, 555, 30),
            (1.4033, 0.1391, 1.3226, 0.1283, 567, 32, 586, 35),
        ],
    )
    check_slope(r.slope_imputed, 0.0509, 0.0139, 1.0522, 0.0146)
    check_slope(r.slope_model, 0.0484, 0.0142, 1.0496, 0.0149)


ML_INDICES = [1, 0.7096, 0.8410, 0.8290, 0.9182, 1.0216, 1.1000, 1.1867]
ML_SE = [0, 0.0771, 0.0780, 0.0773, 0.0840, 0.0922, 0.1016, 0.1115]
ML_TOTALS = [511, 362, 429, 423, 469, 522, 562, 606]


def test_model3_by_maximum_likelihood_reproduces_trim(skylark: TrimData) -> None:
    r = fit_trim(skylark, model=3, overdispersion=False, serial_correlation=False)
    assert r.sigma2 is None and r.rho is None
    assert (r.chi2, r.lr) == pytest.approx((188.14, 184.98), abs=0.01)
    assert r.df == 140
    for p, index, se in zip(r.indices, ML_INDICES, ML_SE, strict=True):
        # Poisson ML with a parameter per year: model and imputed totals coincide.
        assert (p.model, p.imputed) == pytest.approx((index, index), abs=TOL)
        assert (p.model_se, p.imputed_se) == pytest.approx((se, se), abs=TOL)
    assert [_round(t.model) for t in r.totals] == ML_TOTALS
    assert [_round(t.imputed) for t in r.totals] == ML_TOTALS
    for slope in (r.slope_model, r.slope_imputed):
        assert slope is not None
        assert (slope.add, slope.add_se) == pytest.approx((0.0485, 0.0107), abs=TOL)


def test_overdispersion_alone_scales_every_standard_error(skylark: TrimData) -> None:
    ml = fit_trim(skylark, model=3, overdispersion=False, serial_correlation=False)
    od = fit_trim(skylark, model=3, overdispersion=True, serial_correlation=False)
    assert od.sigma2 == pytest.approx(1.344, abs=1e-3)
    assert od.rho is None
    root = math.sqrt(od.sigma2)
    # Same estimating equations, so the same estimates; only the variances grow by σ².
    for a, b in zip(ml.indices, od.indices, strict=True):
        assert b.model == pytest.approx(a.model, abs=1e-9)
        assert b.model_se == pytest.approx(a.model_se * root, rel=1e-9)
    # TRIM 3.61, overdispersion only (rtrim's outfiles/skylark-1b.out).
    assert [p.model_se for p in od.indices[1:]] == pytest.approx(
        [0.0894, 0.0904, 0.0896, 0.0974, 0.1069, 0.1178, 0.1293], abs=TOL
    )
    assert od.wald[0].statistic == pytest.approx(15.10, abs=0.01)


def test_model2_fitted_values_match_rtrim_cell_by_cell(skylark: TrimData) -> None:
    r = fit_trim(skylark, model=2, overdispersion=False, serial_correlation=False)
    row = {site: i for i, site in enumerate(r.sites)}
    with (DATA / "skylark-model2-fitted.csv").open(newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert len(cells) == r.fitted.size == 440
    for cell in cells:
        i, j = row[cell["site"]], int(cell["time"]) - 1
        assert r.fitted[i, j] == pytest.approx(float(cell["fitted"]), abs=1e-8)
        assert r.imputed[i, j] == pytest.approx(float(cell["imputed"]), abs=1e-8)


# --- further published TRIM runs (rtrim's test suite) ------------------------------------------


def test_model2_with_changepoints_reproduces_trim(skylark: TrimData) -> None:
    """TRIM 3.61, skylark-1f: model 2, changepoints 1 and 2, overdispersion and serial corr."""
    r = fit_trim(skylark, model=2, changepoints=[1, 2])
    assert (r.sigma2, r.rho) == pytest.approx((1.334, 0.305), abs=1e-3)
    assert (r.chi2, r.lr, r.df) == (
        pytest.approx(193.36, abs=0.01),
        pytest.approx(191.81, abs=0.01),
        145,
    )
    check_coefficients(r, [(-0.3029, 0.0910), (0.0757, 0.0157)])
    assert [(c.from_year, c.to_year) for c in r.coefficients] == [(1, 2), (2, 8)]
    assert [w.statistic for w in r.wald] == pytest.approx([11.08, 14.90], abs=0.01)
    check_time_table(
        r,
        [
            (1, 0, 1, 0, 513, 43, 511, 43),
            (0.7387, 0.0672, 0.7276, 0.0686, 379, 23, 372, 25),
            (0.7968, 0.0687, 0.8295, 0.0774, 409, 20, 424, 24),
            (0.8595, 0.0723, 0.8353, 0.0794, 441, 18, 427, 24),
            (0.9272, 0.0787, 0.9193, 0.0875, 476, 17, 470, 25),
            (1.0001, 0.0885, 1.0150, 0.0977, 513, 19, 519, 27),
            (1.0788, 0.1020, 1.0945, 0.1084, 553, 25, 559, 30),
            (1.1637, 0.1195, 1.1776, 0.1230, 597, 34, 602, 36),
        ],
    )
    check_slope(r.slope_imputed, 0.0463, 0.0135, 1.0474, 0.0141)
    check_slope(r.slope_model, 0.0442, 0.0134, 1.0452, 0.0140)


HABITAT_TABLE = [
    (1, 0, 1, 0, 526, 44, 526, 44),
    (0.7281, 0.0751, 0.7234, 0.0751, 383, 36, 380, 36),
    (0.8411, 0.0846, 0.8422, 0.0848, 443, 30, 443, 30),
    (0.8119, 0.0835, 0.8145, 0.0838, 427, 28, 428, 28),
    (0.8757, 0.0886, 0.8765, 0.0888, 461, 29, 461, 29),
    (0.9771, 0.0987, 0.9792, 0.0990, 514, 29, 515, 29),
    (1.0420, 0.1068, 1.0433, 0.1071, 548, 34, 548, 34),
    (1.1106, 0.1155, 1.1219, 0.1164, 585, 38, 590, 38),
]


def test_model3_with_a_covariate_reproduces_trim(skylark_habitat: TrimData) -> None:
    """TRIM 3.61, skylark-2b: model 3 with the covariate Habitat, GEE."""
    r = fit_trim(skylark_habitat, model=3)
    assert r.covariate_classes == ("1", "2")
    assert (r.sigma2, r.rho) == pytest.approx((1.162, 0.227), abs=1e-3)
    assert (r.chi2, r.lr, r.aic) == pytest.approx((154.50, 159.64, -106.36), abs=0.01)
    assert r.df == 133
    # Baseline (class 1) year effects, then class 2's differences from them.
    assert [c.covariate_class for c in r.coefficients] == [None] * 7 + ["2"] * 7
    check_coefficients(
        r,
        [(-0.2165, 0.1991), (-0.3781, 0.2303), (-0.4982, 0.2437), (-0.7392, 0.2565),
         (-0.5213, 0.2409), (-0.6366, 0.2634), (-0.7215, 0.2652),
         (-0.1445, 0.2324), (0.2771, 0.2553), (0.3865, 0.2681), (0.7747, 0.2790),
         (0.6449, 0.2643), (0.8588, 0.2856), (1.0308, 0.2883)],
    )  # fmt: skip
    (wald,) = r.wald
    assert (wald.statistic, wald.df) == (pytest.approx(21.55, abs=0.01), 7)
    check_time_table(r, HABITAT_TABLE)
    check_slope(r.slope_imputed, 0.0376, 0.0134, 1.0384, 0.0140)
    check_slope(r.slope_model, 0.0363, 0.0134, 1.0370, 0.0139)


def test_model2_with_a_covariate_and_changepoints_reproduces_trim(
    skylark_habitat: TrimData,
) -> None:
    """TRIM 3.61, skylark-2a (every changepoint: the same fit as model 3) and 3a (1 and 2)."""
    every = fit_trim(skylark_habitat, model=2, changepoints=range(1, 8))
    check_time_table(every, HABITAT_TABLE)
    assert [w.statistic for w in every.wald[:7]] == pytest.approx(
        [10.27, 9.18, 3.08, 1.54, 1.64, 0.89, 0.01], abs=0.01
    )
    r = fit_trim(skylark_habitat, model=2, changepoints=[1, 2])
    assert (r.sigma2, r.rho) == pytest.approx((1.126, 0.228), abs=1e-3)
    assert (r.chi2, r.lr, r.df) == (
        pytest.approx(161.09, abs=0.01),
        pytest.approx(160.76, abs=0.01),
        143,
    )
    check_coefficients(
        r, [(-0.2691, 0.1823), (-0.0776, 0.0411), (-0.0204, 0.2068), (0.1749, 0.0437)]
    )
    assert [w.statistic for w in r.wald] == pytest.approx([10.99, 14.65, 18.51], abs=0.01)
    check_time_table(
        r,
        [
            (1, 0, 1, 0, 532, 43, 530, 43),
            (0.7531, 0.0655, 0.7373, 0.0666, 401, 24, 391, 26),
            (0.7916, 0.0648, 0.8304, 0.0729, 421, 20, 440, 24),
            (0.8369, 0.0670, 0.8179, 0.0731, 446, 16, 433, 23),
            (0.8895, 0.0720, 0.8859, 0.0798, 474, 15, 470, 23),
            (0.9500, 0.0800, 0.9628, 0.0881, 506, 17, 510, 24),
            (1.0189, 0.0910, 1.0269, 0.0964, 542, 22, 544, 27),
            (1.0969, 0.1053, 1.1098, 0.1088, 584, 29, 588, 32),
        ],
    )
    check_slope(r.slope_imputed, 0.0346, 0.0127, 1.0352, 0.0132)
    check_slope(r.slope_model, 0.0329, 0.0127, 1.0335, 0.0131)


def test_site_weights_reproduce_trim(skylark_weighted: TrimData) -> None:
    """TRIM 3.70, skylark-4a and 4b: model 2 by ML with weights 10 (dunes) and 1 (heath)."""
    r = fit_trim(skylark_weighted, model=2, overdispersion=False, serial_correlation=False)
    assert (r.chi2, r.lr, r.df) == (
        pytest.approx(210.53, abs=0.01),
        pytest.approx(204.63, abs=0.01),
        146,
    )
    check_coefficients(r, [(0.0548, 0.0104)])
    check_time_table(
        r,
        [
            (1, 0, 1, 0, 1116, 73, 1344, 88),
            (1.0564, 0.0110, 0.9195, 0.0588, 1179, 70, 1236, 87),
            (1.1159, 0.0233, 0.9549, 0.0619, 1246, 69, 1284, 89),
            (1.1788, 0.0369, 0.9662, 0.0653, 1316, 70, 1299, 92),
            (1.2452, 0.0520, 0.9518, 0.0708, 1390, 74, 1280, 96),
            (1.3154, 0.0686, 1.0744, 0.0824, 1469, 81, 1444, 104),
            (1.3895, 0.0870, 1.1139, 0.0887, 1551, 91, 1498, 108),
            (1.4678, 0.1072, 1.1316, 0.1006, 1639, 105, 1521, 121),
        ],
    )
    check_slope(r.slope_model, 0.0548, 0.0104, 1.0564, 0.0110)
    check_slope(r.slope_imputed, 0.0257, 0.0113, 1.0261, 0.0116)

    # Changepoints given as years of the data (1984 and 1985 are time points 1 and 2).
    r = fit_trim(
        skylark_weighted,
        model=2,
        changepoints=[1984, 1985],
        overdispersion=False,
        serial_correlation=False,
    )
    assert (r.chi2, r.lr) == pytest.approx((190.45, 186.75), abs=0.01)
    check_coefficients(r, [(-0.3108, 0.0848), (0.0798, 0.0120)])
    assert [w.statistic for w in r.wald] == pytest.approx([13.44, 18.63], abs=0.01)
    assert [_round(t.imputed) for t in r.totals] == [1533, 1154, 1218, 1243, 1235, 1417, 1488, 1537]
    assert [p.imputed for p in r.indices] == pytest.approx(
        [1, 0.7530, 0.7947, 0.8109, 0.8059, 0.9241, 0.9706, 1.0027], abs=TOL
    )
    check_slope(r.slope_imputed, 0.0206, 0.0114, 1.0209, 0.0116)


def test_weights_do_not_change_the_fit_only_the_totals(
    skylark: TrimData, skylark_weighted: TrimData
) -> None:
    plain = fit_trim(skylark, model=3)
    weighted = fit_trim(skylark_weighted, model=3)
    assert weighted.sigma2 == pytest.approx(plain.sigma2, rel=1e-9)
    assert weighted.fitted == pytest.approx(plain.fitted, rel=1e-8)
    assert weighted.totals[0].imputed > 2 * plain.totals[0].imputed


def test_another_base_year_divides_by_its_total(skylark_weighted: TrimData) -> None:
    r = fit_trim(skylark_weighted, model=3, base_year=1988)
    assert r.base_year == 1988
    base = r.totals[4]
    for index, total in zip(r.indices, r.totals, strict=True):
        assert index.imputed == pytest.approx(total.imputed / base.imputed)
        assert index.model == pytest.approx(total.model / base.model)
    assert (r.indices[4].model_se, r.indices[4].imputed_se) == (0.0, 0.0)


# --- data TRIM cannot fit ----------------------------------------------------------------------


def test_the_awkward_data_set_gets_a_clear_explanation() -> None:
    data = read_trim_csv(DATA / "rtrim_testdata_131183.csv")
    with pytest.raises(TrimError) as caught:
        fit_trim(data, model=3)
    assert caught.value.code == "trim.not_estimable"
    message = str(caught.value)
    assert "2007-2015" in message and "model 2" in message.lower()
    # Model 2 bridges the empty years: a fit, or a TrimError; never anything else.
    try:
        r = fit_trim(data, model=2)
    except TrimError as exc:
        assert exc.code.startswith("trim.")
    else:
        assert all(math.isfinite(p.imputed) and math.isfinite(p.imputed_se) for p in r.indices)
        assert r.slope_imputed is not None
        assert r.slope_imputed.slope_class is SlopeClass.uncertain


def test_a_changepoint_before_years_without_counts_is_refused() -> None:
    data = read_trim_csv(DATA / "rtrim_testdata_131183.csv")
    with pytest.raises(TrimError, match="Remove the changepoint 2006") as caught:
        fit_trim(data, model=2, changepoints=[1995, 2006])
    assert caught.value.code == "trim.not_estimable"


def test_no_positive_count_is_refused() -> None:
    rows = [(s, y, 0 if (s + y) % 3 else None) for s in range(4) for y in range(2000, 2005)]
    with pytest.raises(TrimError, match="no count is above zero") as caught:
        fit_trim(rows)
    assert caught.value.code == "trim.no_positive_counts"


def test_a_single_year_is_refused() -> None:
    with pytest.raises(TrimError, match="at least two years") as caught:
        fit_trim([("a", 2020, 3), ("b", 2020, 5)], model=2)
    assert caught.value.code == "trim.too_few_years"
    # Several years, but counts above zero in one only: the same answer.
    with pytest.raises(TrimError) as caught:
        fit_trim([("a", 2020, 3), ("a", 2021, 0), ("b", 2021, 0), ("b", 2022, None)])
    assert caught.value.code == "trim.too_few_years"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"model": 4}, "model must be 2"),
        ({"model": 3, "changepoints": [3]}, "changepoints belong to model 2"),
        ({"model": 2, "changepoints": [8]}, "last year"),
        ({"model": 2, "changepoints": [1990]}, "neither years"),
        ({"base_year": 1999}, "base year 1999"),
    ],
)
def test_bad_options_are_explained(skylark: TrimData, options: dict, match: str) -> None:
    with pytest.raises(TrimError, match=match) as caught:
        fit_trim(skylark, **options)
    assert caught.value.code == "trim.bad_input"


def test_records_in_any_form_and_sites_without_counts() -> None:
    rows = [("a", 2001, 4), ("a", 2002, 6), ("b", 2001, 3), ("b", 2002, 5), ("z", 2001, 0)]
    r = fit_trim(rows, model=3, overdispersion=False, serial_correlation=False)
    assert r.sites == ("a", "b") and r.sites_removed == ("z",)
    assert r.warnings and "z" in r.warnings[0]
    assert r.indices[1].imputed == pytest.approx(11 / 7)


def test_a_perfect_fit_has_no_overdispersion_and_no_uncertainty() -> None:
    counts = np.outer([2.0, 5.0, 9.0, 4.0], [3.0, 6.0, 12.0, 6.0])
    r = fit_trim(_data(counts), model=3, overdispersion=True, serial_correlation=True)
    assert r.sigma2 == pytest.approx(0.0, abs=1e-12) and r.rho == 0.0
    assert [p.model for p in r.indices] == pytest.approx([1, 2, 4, 2])
    assert max(p.model_se for p in r.indices) < 1e-5


def test_direct_matrices_are_checked() -> None:
    good = np.array([[1.0, 2.0], [3.0, np.nan]])
    with pytest.raises(TrimError, match="zero or more"):
        fit_trim(TrimData(("a", "b"), (1, 2), -good))
    with pytest.raises(TrimError, match="one positive number per site"):
        fit_trim(TrimData(("a", "b"), (1, 2), good, weights=np.array([1.0])))
    with pytest.raises(TrimError, match="one class per site"):
        fit_trim(TrimData(("a", "b"), (1, 2), good, covariate=("x",)))
    with pytest.raises(TrimError, match="consecutive"):
        fit_trim(TrimData(("a", "b"), (1, 3), good))
    with pytest.raises(TrimError, match="a record is"):
        fit_trim([("a", 2001)])


def test_the_json_shape_is_exactly_the_documented_one(skylark: TrimData) -> None:
    payload = fit_trim(skylark, model=2).to_dict()
    point = {"year", "model", "model_se", "imputed", "imputed_se"}
    slope = {"add", "add_se", "mul", "mul_se", "class", "p"}
    assert set(payload) == {
        "sigma2",
        "rho",
        "chi2",
        "lr",
        "df",
        "aic",
        "totals",
        "indices",
        "slope",
        "changepoints",
        "stepwise",
        "slope_intervals",
    }
    assert payload["changepoints"] == [1]
    assert payload["stepwise"] is None and payload["slope_intervals"] is None
    assert all(set(p) == point for p in payload["totals"] + payload["indices"])
    assert set(payload["slope"]) == {"model", "imputed"}
    assert all(set(s) == slope for s in payload["slope"].values())
    assert json.loads(json.dumps(payload)) == payload


# --- the slope classes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mul", "se", "expected"),
    [
        (1.10, 0.01, SlopeClass.strong_increase),  # interval [1.0804, 1.1196]
        (1.0489, 0.0149, SlopeClass.moderate_increase),  # skylark: [1.0197, 1.0781]
        (0.90, 0.01, SlopeClass.steep_decline),  # [0.8804, 0.9196]
        (0.97, 0.01, SlopeClass.moderate_decline),  # [0.9504, 0.9896]
        (0.96, 0.01, SlopeClass.moderate_decline),  # [0.9404, 0.9796]: upper bound decides
        (1.00, 0.02, SlopeClass.stable),  # [0.9608, 1.0392]
        (1.0209, 0.0116, SlopeClass.stable),  # [0.9982, 1.0436]
        (1.00, 0.03, SlopeClass.uncertain),  # [0.9412, 1.0588]: holds 1 but too wide
        (1.04, 0.04, SlopeClass.uncertain),  # [0.9616, 1.1184]
    ],
)
def test_classify_slope_follows_the_readme(mul: float, se: float, expected: SlopeClass) -> None:
    assert classify_slope(mul, se) is expected


@pytest.mark.parametrize(
    ("bound", "side", "above", "below"),
    [
        (1.05, "lower", SlopeClass.strong_increase, SlopeClass.moderate_increase),
        (1.00, "lower", SlopeClass.moderate_increase, SlopeClass.stable),
        (0.95, "upper", SlopeClass.moderate_decline, SlopeClass.steep_decline),
        (1.00, "upper", SlopeClass.stable, SlopeClass.moderate_decline),
    ],
)
def test_classify_slope_on_either_side_of_each_bound(
    bound: float, side: str, above: SlopeClass, below: SlopeClass
) -> None:
    se, eps = 0.01, 1e-9
    shift = 1.96 * se if side == "lower" else -1.96 * se  # puts that end of the interval on bound
    assert classify_slope(bound + shift + eps, se) is above
    assert classify_slope(bound + shift - eps, se) is below


# --- properties --------------------------------------------------------------------------------


@st.composite
def complete_counts(draw: st.DrawFn) -> np.ndarray:
    """Poisson counts of a few sites × years, every cell counted, every year with a count."""
    n_sites = draw(st.integers(3, 12))
    n_years = draw(st.integers(2, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    site_mean = rng.uniform(2, 40, n_sites)
    year_effect = rng.uniform(0.5, 2.0, n_years)
    counts = rng.poisson(np.outer(site_mean, year_effect)).astype(float)
    assume(counts.sum(axis=0).min() > 0 and counts.sum(axis=1).min() > 0)
    return counts


def _data(counts: np.ndarray) -> TrimData:
    sites = tuple(f"s{i}" for i in range(counts.shape[0]))
    return TrimData(sites, tuple(range(2000, 2000 + counts.shape[1])), counts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=complete_counts(), overdispersion=st.booleans(), serial=st.booleans())
def test_model3_on_complete_data_indexes_the_observed_totals(
    counts: np.ndarray, overdispersion: bool, serial: bool
) -> None:
    r = fit_trim(_data(counts), model=3, overdispersion=overdispersion, serial_correlation=serial)
    ratios = counts.sum(axis=0) / counts.sum(axis=0)[0]
    # Imputed totals of complete data are the observed totals, whatever the model.
    assert [p.imputed for p in r.indices] == pytest.approx(ratios, rel=1e-9)
    if not serial:  # the Poisson equations put each year's fitted total on the observed one
        assert [p.model for p in r.indices] == pytest.approx(ratios, rel=1e-7)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=complete_counts(),
    k=st.sampled_from([2.0, 3.0, 10.0, 0.5, 1.7]),
    model=st.sampled_from([2, 3]),
    missing_seed=st.integers(0, 1000),
)
def test_scaling_every_count_leaves_the_indices_unchanged(
    counts: np.ndarray, k: float, model: int, missing_seed: int
) -> None:
    rng = np.random.default_rng(missing_seed)
    counts = counts.copy()
    gaps = rng.random(counts.shape) < 0.2
    gaps[:, 0] = False  # keep every site and year counted somewhere
    gaps[0, :] = False
    counts[gaps] = np.nan
    base = fit_trim(_data(counts), model=model)
    scaled = fit_trim(_data(counts * k), model=model)
    for a, b in zip(base.indices, scaled.indices, strict=True):
        assert (b.model, b.imputed) == pytest.approx((a.model, a.imputed), rel=1e-7, abs=1e-10)
    assert scaled.rho == pytest.approx(base.rho, abs=1e-7)
    if base.df > 0:  # otherwise nothing is left to estimate σ², which TRIM then sets to 1
        assert scaled.sigma2 == pytest.approx(base.sigma2 * k, rel=1e-7)


@st.composite
def any_matrix(draw: st.DrawFn) -> TrimData:
    n_sites, n_years = draw(st.integers(1, 8)), draw(st.integers(1, 7))
    cell = st.one_of(st.none(), st.integers(0, 3), st.integers(0, 60))
    rows = draw(
        st.lists(
            st.lists(cell, min_size=n_years, max_size=n_years), min_size=n_sites, max_size=n_sites
        )
    )
    counts = np.array([[np.nan if c is None else c for c in row] for row in rows], dtype=float)
    covariate = draw(
        st.none() | st.lists(st.sampled_from("ab"), min_size=n_sites, max_size=n_sites)
    )
    return TrimData(
        tuple(f"s{i}" for i in range(n_sites)),
        tuple(range(1990, 1990 + n_years)),
        counts,
        covariate=None if covariate is None else tuple(covariate),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=any_matrix(),
    model=st.sampled_from([2, 3]),
    overdispersion=st.booleans(),
    serial=st.booleans(),
)
def test_any_matrix_fits_or_says_why(
    data: TrimData, model: int, overdispersion: bool, serial: bool
) -> None:
    """Sparse, zero-ridden, tiny data: finite results or a TrimError, and no numerical warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            r = fit_trim(
                data, model=model, overdispersion=overdispersion, serial_correlation=serial
            )
        except TrimError as exc:
            assert exc.code in {
                "trim.no_positive_counts",
                "trim.too_few_years",
                "trim.not_estimable",
                "trim.no_convergence",
                "trim.bad_input",
            }
            assert str(exc)
            return
    values = [
        v for p in r.indices + r.totals for v in (p.model, p.model_se, p.imputed, p.imputed_se)
    ]
    assert all(math.isfinite(v) for v in values)
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()


# --- speed -------------------------------------------------------------------------------------


def test_500_sites_by_20_years_fit_well_under_a_second() -> None:
    rng = np.random.default_rng(2026)
    site_mean = rng.gamma(2.0, 10.0, 500)
    trend = np.exp(np.cumsum(rng.normal(0.0, 0.1, 20)))
    counts = rng.poisson(np.outer(site_mean, trend)).astype(float)
    counts[rng.random(counts.shape) < 0.4] = np.nan
    data = _data(counts)
    best = math.inf
    for _ in range(3):  # the best of three, so that a busy machine does not decide
        start = time.perf_counter()
        r = fit_trim(data, model=3, overdispersion=True, serial_correlation=True)
        best = min(best, time.perf_counter() - start)
    assert len(r.indices) == 20
    assert best < 1.0


# --- the command line --------------------------------------------------------------------------


def test_cli_prints_the_indices_in_a_table() -> None:
    result = runner.invoke(
        cli, ["trim", str(SKYLARK), "--model", "3", "--overdispersion", "--serial-correlation"]
    )
    assert result.exit_code == 0, result.output
    for text in ("0.7260", "0.7201", "1.1828", "moderate increase", "1.367", "0.302", "191.40"):
        assert text in result.stdout


def test_cli_json_has_the_documented_keys_and_trims_values() -> None:
    result = runner.invoke(
        cli,
        [
            "trim",
            str(SKYLARK),
            "--model",
            "2",
            "--overdispersion",
            "--serial-correlation",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == [
        "sigma2",
        "rho",
        "chi2",
        "lr",
        "df",
        "aic",
        "totals",
        "indices",
        "slope",
        "changepoints",
        "stepwise",
        "slope_intervals",
    ]
    assert payload["sigma2"] == pytest.approx(1.439, abs=1e-3)
    assert payload["rho"] == pytest.approx(0.281, abs=1e-3)
    assert payload["df"] == 146
    assert payload["chi2"] == pytest.approx(210.09, abs=0.01)
    assert [p["year"] for p in payload["indices"]] == list(range(1, 9))
    assert payload["indices"][7]["model"] == pytest.approx(1.4033, abs=TOL)
    assert payload["indices"][7]["imputed_se"] == pytest.approx(0.1283, abs=TOL)
    assert _round(payload["totals"][0]["imputed"]) == 443
    imputed = payload["slope"]["imputed"]
    assert [imputed[k] for k in ("add", "add_se", "mul", "mul_se")] == pytest.approx(
        [0.0509, 0.0139, 1.0522, 0.0146], abs=TOL
    )
    assert imputed["class"] == "moderate increase"
    assert set(payload["slope"]["model"]) == {
        "add", "add_se", "mul", "mul_se", "class", "p", "label"
    }  # fmt: skip
    # The label says its convention (PECBMS by default), with its p and interval.
    assert imputed["label"]["convention"] == "pecbms"
    assert imputed["label"]["text"] == "moderate increase (p<0.01)"
    assert imputed["label"]["p"] < 0.01
    rtrim = runner.invoke(
        cli, ["trim", str(SKYLARK), "--model", "2", "--convention", "rtrim", "--json"]
    )
    assert rtrim.exit_code == 0, rtrim.output
    assert json.loads(rtrim.stdout)["slope"]["imputed"]["label"]["convention"] == "rtrim"
    wrong = runner.invoke(cli, ["trim", str(SKYLARK), "--convention", "ebcc", "--json"])
    assert wrong.exit_code == 2 and "pecbms" in wrong.output


def test_cli_weights_covariate_changepoints_and_base_year() -> None:
    result = runner.invoke(
        cli,
        [
            "trim", str(DATA / "skylark2.csv"), "--model", "2", "--changepoints", "1,2",
            "--weights", "weight", "--covariate", "habitat", "--base-year", "1985", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["sigma2"] is None and payload["rho"] is None
    assert payload["indices"][1] == pytest.approx(
        {"year": 1985, "model": 1.0, "model_se": 0.0, "imputed": 1.0, "imputed_se": 0.0}
    )


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("site,year,count\na,2001,3\na,2001,4\n", [], "line 3: a second count for site a"),
        ("site,count\na,3\n", [], "line 1: no year or time column"),
        ("site,year,count\na,2001,-2\n", [], "line 2: the count '-2'"),
        ("site,year,count\na,2001,0\nb,2002,0\n", [], "no count is above zero"),
        ("site,year,count\na,2001,3\nb,2001,5\n", ["--model", "2"], "at least two years"),
        ("site,year,count\na,2001,3\na,2002,5\n", ["--changepoints", "x"], "--changepoints"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(
    tmp_path: Path, content: str, args: list[str], expected: str
) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(content)
    result = runner.invoke(cli, ["trim", str(path), *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr


def test_cli_refuses_a_missing_file_and_the_awkward_model_3(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["trim", str(tmp_path / "nothing.csv")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(cli, ["trim", str(DATA / "rtrim_testdata_131183.csv")])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "2007-2015" in result.stderr


def test_cli_help_explains_the_options() -> None:
    result = runner.invoke(cli, ["trim", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--changepoints", "--overdispersion", "--serial-correlation",
                   "--weights", "--covariate", "--base-year", "--json"):  # fmt: skip
        assert option in result.stdout


def test_dataclass_results_are_frozen(skylark: TrimData) -> None:
    r = fit_trim(skylark, model=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.df = 3  # type: ignore[misc]
