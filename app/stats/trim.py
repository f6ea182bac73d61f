"""TRIM: yearly indices and trends from site × year counts with gaps.

Why this module exists
----------------------
Volunteers do not count every site every year. Summing what was counted each year would mix the
change of the population with the change of *which* sites were visited. TRIM ("TRends and
Indices for Monitoring data", Statistics Netherlands; Pannekoek & van Strien) is the method the
European bird and butterfly monitoring schemes use to separate the two: it fits a log-linear
Poisson model to the site × year matrix, fills the gaps with the model's expected counts, and
reports yearly totals, indices and an overall trend with standard errors that account for
overdispersion and for the correlation of a site's counts from one year to the next. This is a
re-implementation on NumPy/SciPy from the published method (the R package rtrim and its
"Models and statistical methods in rtrim"); it imports nothing of the web service or the
database, so it can be tested against TRIM's published outputs and reused on its own.

The models
----------
With f_ij the count at site i in year j and μ_ij its expectation:

* model 3, one parameter per year:       ln μ_ij = α_i + γ_j,           γ_1 = 0;
* model 2, linear trend with changepoints: ln μ_ij = α_i + Σ_k β_k x_jk,
  where x_jk is how far year j lies past changepoint c_k, capped at the next changepoint, so
  β_k is the yearly log-growth between c_k and c_(k+1). The first year is always a changepoint:
  without others, model 2 is a single straight line on the log scale.

A categorical site covariate with classes 1..K adds, for each class k > 1, a copy of the time
parameters that applies to the sites of that class only: the classes get their own trends and
the first class is the baseline. Site weights do not change the fit (the α_i absorb them); they
weight the sites in the time totals, e.g. to correct for strata sampled at unequal rates.

Estimation: why GEE
-------------------
Counts of animals are more variable than Poisson (flocks, observers) and a site that was good
last year tends to be good this year. Maximum likelihood would ignore both and give standard
errors that are too small. TRIM instead solves generalised estimating equations

    Σ_i X_i' D_i V_i⁻¹ (f_i − μ_i) = 0,    V_i = σ² D_i^½ R_i D_i^½,    D_i = diag(μ_i),

over the observed cells of each site, where R_i holds ρ^|j−k| (first-order autocorrelation, so
two counts three years apart correlate by ρ³). σ² and ρ are moment estimates from the Pearson
residuals r_ij = (f_ij − μ_ij)/√μ_ij:

    σ² = Σ r_ij² / (n − I − p),     ρ = Σ r_ij r_i,j+1 / (n_pairs σ²),

the second over pairs of consecutive years that are both observed. Both depend on μ and μ on
them, so the estimation alternates (maximum-likelihood iterations first, to start near the
answer) until nothing moves. Without overdispersion σ² = 1; without serial correlation R = I;
with neither, the equations are the Poisson likelihood equations. The site parameters α_i are
eliminated from the scoring step (a Schur complement on the information matrix), which keeps the
step's linear system at the size of the time parameters however many sites there are.

Imputation and what is reported
--------------------------------
A missing count is replaced by its expected value μ_ij. The *model* time total of year j is
Σ_i w_i μ_ij; the *imputed* time total is Σ_i w_i (f_ij if counted, else μ_ij) — the one the
monitoring schemes publish, since it keeps the real counts where they exist. Their covariance
matrices follow TRIM by the delta method through α and β (with α eliminated as above); for the
imputed totals the model part of the observed cells is replaced by the variance of the counts
themselves, σ² w_i² √(μ_ij μ_ik) ρ^|j−k|. Indices are totals divided by the base year's total
(delta method again, so the base year has index 1 and standard error 0). The overall slope is
the least-squares slope of ln(total) on the year number, with a sandwich variance built from
the totals' covariance; its multiplicative form exp(b) is the mean yearly growth factor, and
:func:`classify_slope` turns it into the classes the monitoring schemes use.

Goodness of fit is TRIM's: Pearson χ², the likelihood ratio 2 Σ f ln(f/μ), both on
n − I − p degrees of freedom, and AIC = LR − 2 df ("up to a constant", so only differences
between models of the same data mean anything).

References
----------
* Pannekoek, J. & van Strien, A. (2005). TRIM 3 Manual. Statistics Netherlands.
* Pannekoek, J., Bogaart, P. & van der Loo, M. (2018). Models and statistical methods in rtrim
  (vignette ``TRIM_methods_v2`` of the R package rtrim, github.com/SNStatComp/rtrim).
* Liang, K.-Y. & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear
  models. Biometrika 73, 13-22.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtrc, stdtr

__all__ = [
    "Coefficient",
    "IntervalSlope",
    "OverallSlope",
    "SlopeClass",
    "SlopeEstimate",
    "StepTest",
    "StepwiseStep",
    "TimePoint",
    "TrimCsvError",
    "TrimData",
    "TrimError",
    "TrimRecord",
    "TrimResult",
    "WaldTest",
    "classify_slope",
    "fit_trim",
    "read_trim_csv",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: A run of years longer than this is a typo (a year 19844), not a monitoring scheme.
MAX_YEARS = 500
_Z95 = 1.96
#: Stepwise selection of changepoints (TRIM's and rtrim's thresholds): a changepoint whose change
#: of slope has a Wald p above P_REMOVE is removed, a removed one whose score test gives a p
#: below P_ENTER comes back. The gap between the two keeps the procedure from cycling.
P_REMOVE = 0.20
P_ENTER = 0.15
MAX_STEPWISE_ITERATIONS = 100
_MISSING = {"", "na", "nan", "null"}


# --- errors ------------------------------------------------------------------------------------


class TrimError(ValueError):
    """Data TRIM cannot fit, said so that the person who sent them can act on it.

    ``code`` is stable (``trim.no_positive_counts``, ``trim.too_few_years``,
    ``trim.not_estimable``, ``trim.no_convergence``, ``trim.bad_input``, ``trim.bad_csv``,
    ``trim.stepwise_model``, ``trim.bad_slope_intervals``) so that callers can translate or map
    it, e.g. to a 422 problem+json.
    """

    def __init__(self, message: str, *, code: str = "trim.bad_input") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TrimCsvError(TrimError):
    """A CSV file that cannot be read as TRIM input; ``line`` is the 1-based line at fault."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(f"line {line}: {message}", code="trim.bad_csv")
        self.line = line
        self.reason = message


# --- input -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrimRecord:
    """One site × year cell; ``count`` None is a missing count (not visited, or not usable)."""

    site: str
    year: int
    count: float | None
    weight: float | None = None
    covariate: str | None = None


@dataclass(frozen=True, eq=False)
class TrimData:
    """The site × year matrix TRIM works on.

    ``counts`` is sites × years with NaN for a missing count; the years are consecutive (a year
    nobody counted is a column of NaN, which model 2 bridges and model 3 refuses). ``weights``
    and ``covariate`` hold one value per site, or are None.
    """

    sites: tuple[str, ...]
    years: tuple[int, ...]
    counts: FloatArray
    weights: FloatArray | None = None
    covariate: tuple[str, ...] | None = None

    @classmethod
    def from_records(cls, records: Iterable[TrimRecord | Sequence[Any]]) -> TrimData:
        """Build the matrix from records: TrimRecord, or tuples (site, year, count[, weight[,
        covariate]]) — for a covariate without weights, TrimRecord(..., covariate=...).

        Raises TrimError for a repeated site × year, a negative or non-finite count, a weight or
        covariate that changes within a site, or an implausible span of years.
        """
        cells: dict[tuple[str, int], float | None] = {}
        weights: dict[str, float] = {}
        covariate: dict[str, str] = {}
        site_order: dict[str, None] = {}
        has_weight = has_covariate = None
        for raw in records:
            try:
                rec = raw if isinstance(raw, TrimRecord) else TrimRecord(*raw)
            except TypeError:
                raise TrimError(
                    f"a record is (site, year, count[, weight[, covariate]]), not {raw!r}"
                ) from None
            site, year = str(rec.site), _as_year(rec.year)
            key = (site, year)
            if key in cells:
                raise TrimError(f"site {site} has more than one count for {year}")
            cells[key] = _as_count(rec.count, site, year)
            site_order.setdefault(site, None)
            if has_weight is None:
                has_weight, has_covariate = rec.weight is not None, rec.covariate is not None
            if (rec.weight is not None) != has_weight:
                raise TrimError(f"site {site}, {year}: give a weight on every record or on none")
            if (rec.covariate is not None) != has_covariate:
                raise TrimError(f"site {site}, {year}: give a covariate on every record or on none")
            if rec.weight is not None:
                w = _as_weight(rec.weight, site)
                if weights.setdefault(site, w) != w:
                    raise TrimError(
                        f"site {site} has two weights ({weights[site]:g} and {w:g}): "
                        "a weight belongs to a site, not to a year"
                    )
            if rec.covariate is not None:
                c = str(rec.covariate).strip()
                if not c:
                    raise TrimError(f"site {site}, {year}: the covariate is empty")
                if covariate.setdefault(site, c) != c:
                    raise TrimError(
                        f"site {site} is in two covariate classes ({covariate[site]} and {c}): "
                        "the covariate must describe the site, the same every year"
                    )
        if not cells:
            raise TrimError("there are no counts at all", code="trim.no_positive_counts")
        first, last = min(y for _, y in cells), max(y for _, y in cells)
        if last - first + 1 > MAX_YEARS:
            raise TrimError(
                f"the years run from {first} to {last}: more than {MAX_YEARS} years is surely a "
                "typing error in a year"
            )
        sites = tuple(site_order)
        years = tuple(range(first, last + 1))
        row = {s: i for i, s in enumerate(sites)}
        counts = np.full((len(sites), len(years)), np.nan)
        for (site, year), value in cells.items():
            if value is not None:
                counts[row[site], year - first] = value
        return cls(
            sites=sites,
            years=years,
            counts=counts,
            weights=np.array([weights[s] for s in sites]) if has_weight else None,
            covariate=tuple(covariate[s] for s in sites) if has_covariate else None,
        )


def _as_year(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str | np.integer):
        raise TrimError(f"the year {value!r} is not a whole number")
    try:
        number = float(value)
    except ValueError:
        raise TrimError(f"the year {value!r} is not a whole number") from None
    if not math.isfinite(number) or number != int(number):
        raise TrimError(f"the year {value!r} is not a whole number")
    return int(number)


def _as_count(value: Any, site: str, year: int) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TrimError(f"site {site}, {year}: the count {value!r} is not a number") from None
    if math.isnan(number):
        return None
    if not math.isfinite(number) or number < 0:
        raise TrimError(f"site {site}, {year}: a count must be zero or more, not {value!r}")
    return number


def _as_weight(value: Any, site: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TrimError(f"site {site}: the weight {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise TrimError(f"site {site}: a weight must be a positive number, not {value!r}")
    return number


def read_trim_csv(
    source: str | Path, weights: str | None = None, covariate: str | None = None
) -> TrimData:
    """Read TRIM input from a CSV file (a :class:`~pathlib.Path`) or CSV text (a ``str``).

    Columns, in any order and case: ``site``, ``year`` (or ``time``), ``count``; an empty count
    (or ``NA``) is a missing count. ``weights`` and ``covariate`` name optional columns holding
    a site's weight and its covariate class. Comma, semicolon and tab separators are accepted
    (a spreadsheet set to French writes semicolons). Anything else is refused with a
    :class:`TrimCsvError` naming the line, never a crash: the file comes from a user.
    """
    if isinstance(source, Path):
        try:
            raw = source.read_bytes()
        except OSError as exc:
            raise TrimError(f"cannot read {source}: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise TrimCsvError("the file is not UTF-8 text", line=line) from None
    else:
        text = source.removeprefix("\ufeff")
    return _parse_csv(text, weights, covariate)


def _parse_csv(text: str, weights: str | None, covariate: str | None) -> TrimData:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 1
    columns: dict[str, int] = {}
    records: list[TrimRecord] = []
    seen: dict[tuple[str, int], int] = {}
    site_weight: dict[str, tuple[float, int]] = {}
    site_class: dict[str, tuple[str, int]] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header, header_line = [c.strip().lower() for c in row], line
                columns = _columns(header, weights, covariate, line)
                continue
            if len(row) > len(header) and any(c.strip() for c in row[len(header) :]):
                raise TrimCsvError(
                    f"{len(row)} fields where the header has {len(header)}", line=line
                )
            if len(row) < len(header):
                raise TrimCsvError(
                    f"{len(row)} fields where the header has {len(header)}", line=line
                )
            record = _csv_record(row, columns, line)
            key = (record.site, record.year)
            if key in seen:
                hint = (
                    " (the file has a month column: TRIM wants one count per site and year, so "
                    "sum or average the months first)"
                    if "month" in header
                    else ""
                )
                raise TrimCsvError(
                    f"a second count for site {record.site} in {record.year} "
                    f"(the first is on line {seen[key]}){hint}",
                    line=line,
                )
            seen[key] = line
            _check_site_constant(site_weight, record.site, record.weight, "weight", line)
            _check_site_constant(site_class, record.site, record.covariate, "covariate", line)
            records.append(record)
    except csv.Error as exc:
        raise TrimCsvError(f"not valid CSV ({exc})", line=reader.line_num or 1) from None
    if header is None:
        raise TrimCsvError("the file is empty: expected a header site,year,count", line=1)
    if not records:
        raise TrimCsvError("a header but no counts below it", line=header_line)
    years = [r.year for r in records]
    if max(years) - min(years) + 1 > MAX_YEARS:
        middle = sorted(years)[(len(years) - 1) // 2]
        worst = max(records, key=lambda r: abs(r.year - middle))
        raise TrimCsvError(
            f"the year {worst.year} is far from the others: more than {MAX_YEARS} years apart",
            line=seen[(worst.site, worst.year)],
        )
    return TrimData.from_records(records)


def _columns(
    header: list[str], weights: str | None, covariate: str | None, line: int
) -> dict[str, int]:
    def find(name: str) -> int | None:
        return header.index(name) if name in header else None

    columns: dict[str, int] = {}
    for name, options in (("site", ["site"]), ("year", ["year", "time"]), ("count", ["count"])):
        found = next((i for i in map(find, options) if i is not None), None)
        if found is None:
            raise TrimCsvError(
                f"no {' or '.join(options)} column in the header (found: {', '.join(header)})",
                line=line,
            )
        columns[name] = found
    for role, wanted in (("weight", weights), ("covariate", covariate)):
        if wanted is not None:
            found = find(wanted.strip().lower())
            if found is None:
                raise TrimCsvError(
                    f"no column {wanted!r} for the {role} (found: {', '.join(header)})",
                    line=line,
                )
            columns[role] = found
    return columns


def _csv_record(row: list[str], columns: dict[str, int], line: int) -> TrimRecord:
    site = row[columns["site"]].strip()
    if not site:
        raise TrimCsvError("the site is empty", line=line)
    year_text = row[columns["year"]].strip()
    if not re.fullmatch(r"[+-]?\d{1,9}", year_text):
        raise TrimCsvError(f"the year {year_text!r} is not a whole number", line=line)
    count_text = row[columns["count"]].strip()
    count: float | None = None
    if count_text.lower() not in _MISSING:
        try:
            count = float(count_text)
        except ValueError:
            raise TrimCsvError(f"the count {count_text!r} is not a number", line=line) from None
        if not math.isfinite(count) or count < 0:
            raise TrimCsvError(
                f"the count {count_text!r} is not zero or a positive number", line=line
            )
    weight: float | None = None
    if "weight" in columns:
        weight_text = row[columns["weight"]].strip()
        try:
            weight = float(weight_text)
        except ValueError:
            raise TrimCsvError(f"the weight {weight_text!r} is not a number", line=line) from None
        if not math.isfinite(weight) or weight <= 0:
            raise TrimCsvError(f"the weight {weight_text!r} is not positive", line=line)
    cov: str | None = None
    if "covariate" in columns:
        cov = row[columns["covariate"]].strip()
        if not cov:
            raise TrimCsvError("the covariate is empty", line=line)
    return TrimRecord(site, int(year_text), count, weight, cov)


def _check_site_constant(
    seen: dict[str, Any], site: str, value: float | str | None, what: str, line: int
) -> None:
    if value is None:
        return
    first = seen.setdefault(site, (value, line))
    if first[0] != value:
        raise TrimCsvError(
            f"site {site} has {what} {value} here but {first[0]} on line {first[1]}: "
            f"the {what} belongs to the site and must be the same on all its lines",
            line=line,
        )


# --- results -----------------------------------------------------------------------------------


class SlopeClass(StrEnum):
    """Trend classes of the European monitoring schemes (see :func:`classify_slope`)."""

    strong_increase = "strong increase"
    moderate_increase = "moderate increase"
    stable = "stable"
    uncertain = "uncertain"
    moderate_decline = "moderate decline"
    steep_decline = "steep decline"


def classify_slope(mul: float, mul_se: float) -> SlopeClass:
    """Class of a multiplicative yearly slope from its 95 % interval ``mul ± 1.96·mul_se``.

    The bounds 0.95 and 1.05 (5 % a year) are what the schemes call a strong change: a
    population halves in about 14 years at 0.95. A trend is only "stable" when the interval
    both holds 1 and excludes changes of 5 % a year; an interval too wide for either verdict is
    "uncertain", which says the data are too few, not that nothing changes.

    This is the class TRIM reports for the fitted model. The verdict the service shows (the
    p<0.01 tier, a p-value, rtrim's convention, too few data, σ² below 1) is
    :mod:`app.stats.labels`'.
    """
    lower, upper = mul - _Z95 * mul_se, mul + _Z95 * mul_se
    if lower > 1.05:
        return SlopeClass.strong_increase
    if lower > 1.0:
        return SlopeClass.moderate_increase
    if upper < 0.95:
        return SlopeClass.steep_decline
    if upper < 1.0:
        return SlopeClass.moderate_decline
    if lower >= 0.95 and upper <= 1.05:  # here lower <= 1 <= upper: the interval holds 1
        return SlopeClass.stable
    return SlopeClass.uncertain


@dataclass(frozen=True)
class TimePoint:
    """A year's value from the model (μ only) and from the imputed data (counts where counted)."""

    year: int
    model: float
    model_se: float
    imputed: float
    imputed_se: float


@dataclass(frozen=True)
class OverallSlope:
    """Least-squares slope of ln(total) on the year: ``mul`` is the mean yearly growth factor.

    ``p`` tests the slope against zero with Student's t on n − 2 degrees of freedom (n years),
    as rtrim's ``overall()``; None with fewer than three years or a zero standard error.
    """

    add: float
    add_se: float
    mul: float
    mul_se: float
    slope_class: SlopeClass
    p: float | None = None


@dataclass(frozen=True)
class SlopeEstimate:
    """The slope of ln(total) over an interval; ``slope_class`` None is "unknown": a slope
    through two points (df = 0) has no residual to judge it by, so no p and no class."""

    add: float
    add_se: float
    mul: float
    mul_se: float
    p: float | None
    slope_class: SlopeClass | None


@dataclass(frozen=True)
class IntervalSlope:
    """The overall slope over the years ``from_year``..``to_year`` (both included; neighbouring
    intervals share their joint year), of the model and of the imputed totals (None when a
    total in the interval is zero)."""

    from_year: int
    to_year: int
    df: int
    model: SlopeEstimate | None
    imputed: SlopeEstimate | None


@dataclass(frozen=True)
class StepTest:
    """A test of one changepoint during stepwise selection: the Wald test of its change of
    slope (is it still needed?) or the score test of putting it back (is it missed?)."""

    changepoint: int
    statistic: float
    df: int
    p: float


@dataclass(frozen=True)
class StepwiseStep:
    """One step of the stepwise selection: ``action`` "remove" (the least significant change of
    slope, Wald p > 0.20) or "add" (the most significant removed one, score p < 0.15).

    ``statistic``, ``df`` and ``p`` are the deciding test's; ``tests`` every test of that phase
    (all the changepoints ranked); ``changepoints`` those in the model after the step.
    """

    iteration: int
    action: str
    changepoint: int
    test: str
    statistic: float
    df: int
    p: float
    changepoints: tuple[int, ...]
    tests: tuple[StepTest, ...]


@dataclass(frozen=True)
class Coefficient:
    """A time parameter: γ of a year (model 3) or β of a segment (model 2), both on the log scale.

    ``covariate_class`` is None for the baseline (all sites, or the covariate's first class);
    otherwise the parameter is that class's *difference* from the baseline.
    """

    covariate_class: str | None
    from_year: int
    to_year: int
    add: float
    add_se: float
    mul: float
    mul_se: float


@dataclass(frozen=True)
class WaldTest:
    """A Wald test that a group of parameters is zero (χ² with ``df`` degrees of freedom)."""

    name: str
    statistic: float
    df: int
    p: float


@dataclass(frozen=True, eq=False)
class TrimResult:
    """Everything a TRIM run reports. ``to_dict`` gives the documented JSON shape."""

    model: int
    changepoints: tuple[int, ...]
    overdispersion: bool
    serial_correlation: bool
    base_year: int
    years: tuple[int, ...]
    sites: tuple[str, ...]
    sites_removed: tuple[str, ...]
    covariate_classes: tuple[str, ...]
    n_observed: int
    n_missing: int
    sigma2: float | None
    rho: float | None
    chi2: float
    chi2_p: float
    lr: float
    lr_p: float
    df: int
    aic: float
    coefficients: tuple[Coefficient, ...]
    wald: tuple[WaldTest, ...]
    totals: tuple[TimePoint, ...]
    indices: tuple[TimePoint, ...]
    slope_model: OverallSlope | None
    slope_imputed: OverallSlope | None
    fitted: FloatArray
    imputed: FloatArray
    var_totals_model: FloatArray
    var_totals_imputed: FloatArray
    iterations: int
    warnings: tuple[str, ...]
    #: The steps of the stepwise selection of changepoints; None when it was not asked for.
    stepwise: tuple[StepwiseStep, ...] | None = None
    #: The overall slopes per interval; None when no intervals were asked for.
    slope_intervals: tuple[IntervalSlope, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``sentinelles trim --json`` and of the web API."""

        def point(p: TimePoint) -> dict[str, Any]:
            return {
                "year": p.year,
                "model": p.model,
                "model_se": p.model_se,
                "imputed": p.imputed,
                "imputed_se": p.imputed_se,
            }

        def slope(s: OverallSlope | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "add": s.add,
                "add_se": s.add_se,
                "mul": s.mul,
                "mul_se": s.mul_se,
                "class": s.slope_class.value,
                "p": s.p,
            }

        def estimate(s: SlopeEstimate | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "add": s.add,
                "add_se": s.add_se,
                "mul": s.mul,
                "mul_se": s.mul_se,
                "p": s.p,
                "class": s.slope_class.value if s.slope_class is not None else "unknown",
            }

        def test(t: StepTest) -> dict[str, Any]:
            return {"changepoint": t.changepoint, "statistic": t.statistic, "df": t.df, "p": t.p}

        def step(s: StepwiseStep) -> dict[str, Any]:
            return {
                "iteration": s.iteration,
                "action": s.action,
                "changepoint": s.changepoint,
                "test": s.test,
                "statistic": s.statistic,
                "df": s.df,
                "p": s.p,
                "changepoints": list(s.changepoints),
                "tests": [test(t) for t in s.tests],
            }

        intervals = None
        if self.slope_intervals is not None:
            intervals = [
                {
                    "from": i.from_year,
                    "to": i.to_year,
                    "df": i.df,
                    "model": estimate(i.model),
                    "imputed": estimate(i.imputed),
                }
                for i in self.slope_intervals
            ]
        return {
            "sigma2": self.sigma2,
            "rho": self.rho,
            "chi2": self.chi2,
            "lr": self.lr,
            "df": self.df,
            "aic": self.aic,
            "totals": [point(p) for p in self.totals],
            "indices": [point(p) for p in self.indices],
            "slope": {"model": slope(self.slope_model), "imputed": slope(self.slope_imputed)},
            "changepoints": list(self.changepoints),
            "stepwise": None if self.stepwise is None else [step(s) for s in self.stepwise],
            "slope_intervals": intervals,
        }


# --- the fit -----------------------------------------------------------------------------------


def fit_trim(
    data: TrimData | Iterable[TrimRecord | Sequence[Any]],
    *,
    model: int = 3,
    changepoints: Sequence[int] | None = None,
    overdispersion: bool = True,
    serial_correlation: bool = True,
    base_year: int | None = None,
    stepwise: bool = False,
    slope_intervals: Sequence[int] | None = None,
    max_iterations: int = 200,
    tolerance: float = 1e-10,
) -> TrimResult:
    """Fit TRIM model 2 or 3 and compute totals, indices and overall slopes.

    ``changepoints`` (model 2 only) are years of the data, or time points 1..J when they are not
    all years (TRIM's own numbering); the first year is always one. ``base_year`` (default: the
    first year) is the year whose index is 1. With ``overdispersion`` and
    ``serial_correlation`` off the fit is plain Poisson maximum likelihood.

    ``stepwise`` (model 2 only) selects among the changepoints as TRIM does: starting from all
    of them (every year but the last when none are given), it removes the one whose change of
    slope is least significant (Wald test, p > 0.20), puts back a removed one whose score test
    gives p < 0.15, and repeats until neither happens. The first year is never removed. The
    result's ``changepoints`` are those kept, ``stepwise`` the steps.

    ``slope_intervals`` (years, or time points 1..J) cut the years into intervals: from the first
    year to the first one given, from there to the next, …, to the last year, both ends in each;
    the result's ``slope_intervals`` hold each interval's overall slope (rtrim's
    ``overall(changepoints=)``, TRIM's "overall slope for a selection of intervals").

    Raises TrimError (with a ``code``) when the data cannot support the model: no positive
    count, fewer than two years with one, a year (model 3) or segment (model 2) without any
    positive count, too few counts for the parameters, or estimates that do not converge.
    """
    if not isinstance(data, TrimData):
        data = TrimData.from_records(data)
    if model not in (2, 3):
        raise TrimError(f"model must be 2 (linear trend) or 3 (a parameter per year), not {model}")
    if stepwise and model != 2:
        raise TrimError(
            "the stepwise selection of changepoints needs model 2 (a linear trend between "
            "changepoints); model 3 has a parameter for every year and nothing to select",
            code="trim.stepwise_model",
        )
    if stepwise and not changepoints:
        changepoints = list(data.years[:-1])  # every year but the last
    bounds = (
        _interval_bounds(slope_intervals, tuple(data.years))
        if slope_intervals is not None
        else None
    )
    prep = _prepare(data, model, changepoints, base_year)
    fit = _Fit(prep, overdispersion, serial_correlation, max_iterations, tolerance)
    fit.estimate()
    steps: tuple[StepwiseStep, ...] | None = None
    warnings: list[str] = []
    if stepwise:
        fit, steps, warnings = _stepwise(fit)
    result = fit.results()
    if warnings:
        result = replace(result, warnings=(*result.warnings, *warnings))
    if bounds is not None:
        result = replace(result, slope_intervals=_interval_slopes(result, bounds))
    return replace(result, stepwise=steps)


def _interval_bounds(values: Sequence[int], years: tuple[int, ...]) -> tuple[int, ...]:
    """The 0-based joints of the slope intervals: the first year, the values given (years of the
    data, or time points 1..J), the last year."""
    try:
        given = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise TrimError(
            "the slope intervals are given by whole years", code="trim.bad_slope_intervals"
        ) from None
    J = len(years)
    if all(v in years for v in given):
        idx = [years.index(v) for v in given]
    elif all(1 <= v <= J for v in given):
        idx = [v - 1 for v in given]
    else:
        outside = [v for v in given if v not in years]
        raise TrimError(
            f"the slope intervals' years {', '.join(map(str, outside))} are not years of the data "
            f"({years[0]}-{years[-1]}) nor time points 1-{J}",
            code="trim.bad_slope_intervals",
        )
    return tuple(sorted({0, *idx, J - 1}))


def _interval_slopes(result: TrimResult, bounds: tuple[int, ...]) -> tuple[IntervalSlope, ...]:
    tt_mod = np.array([t.model for t in result.totals])
    tt_imp = np.array([t.imputed for t in result.totals])
    out = []
    for a, b in itertools.pairwise(bounds):
        span = slice(a, b + 1)
        out.append(
            IntervalSlope(
                from_year=result.years[a],
                to_year=result.years[b],
                df=b - a - 1,
                model=_slope_estimate(tt_mod[span], result.var_totals_model[span, span]),
                imputed=_slope_estimate(tt_imp[span], result.var_totals_imputed[span, span]),
            )
        )
    return tuple(out)


def _slope_estimate(tt: FloatArray, var_tt: FloatArray) -> SlopeEstimate | None:
    fitted = _log_slope(tt, var_tt)
    if fitted is None:
        return None
    add, add_se = fitted
    mul = math.exp(add)
    df = len(tt) - 2
    p = _slope_p(add, add_se, df)
    cls = classify_slope(mul, mul * add_se) if df > 0 else None
    return SlopeEstimate(add, add_se, mul, mul * add_se, p, cls)


def _slope_p(add: float, add_se: float, df: int) -> float | None:
    """Two-sided p of t = add/se on df degrees of freedom; None when there is no test."""
    if df <= 0 or not add_se > 0:
        return None
    return float(2 * stdtr(df, -abs(add / add_se)))


# --- stepwise selection of changepoints --------------------------------------------------------


def _stepwise(
    fit: _Fit, candidates: Sequence[int] | None = None
) -> tuple[_Fit, tuple[StepwiseStep, ...], list[str]]:
    """TRIM's stepwise selection among the changepoints of ``fit`` (already estimated).

    Each iteration removes at most one changepoint (the largest Wald p of a change of slope,
    if above P_REMOVE; the first changepoint, whose test is of the slope itself, is never a
    candidate) and then puts back at most one of the ``candidates`` (0-based; default: the
    changepoints of ``fit``) not in the model (the smallest score p, if below P_ENTER); it
    stops when an iteration does neither.
    """
    original = tuple(sorted({*fit.p.cp, *(candidates or ())}))
    years = fit.p.years
    steps: list[StepwiseStep] = []

    def refit(active: Sequence[int]) -> _Fit:
        cps = tuple(sorted(active))
        prep = replace(fit.p, cp=cps, design=_trend_design(len(years), cps))
        new = _Fit(prep, fit.overdispersion, fit.serial, fit.max_iter, fit.tol)
        new.estimate()
        return new

    def record(
        iteration: int, action: str, test: str, chosen: StepTest, tests: list[StepTest]
    ) -> None:
        steps.append(
            StepwiseStep(
                iteration=iteration,
                action=action,
                changepoint=chosen.changepoint,
                test=test,
                statistic=chosen.statistic,
                df=chosen.df,
                p=chosen.p,
                changepoints=tuple(years[c] for c in fit.p.cp),
                tests=tuple(tests),
            )
        )

    for iteration in range(1, MAX_STEPWISE_ITERATIONS + 1):
        removed = added = False
        changes = fit.slope_changes()
        if changes:
            worst = max(changes, key=lambda t: t.p)
            if worst.p > P_REMOVE:
                c = years.index(worst.changepoint)
                fit = refit([a for a in fit.p.cp if a != c])
                record(iteration, "remove", "wald", worst, changes)
                removed = True
        scores = [
            t for t in (fit.score_test(c) for c in original if c not in fit.p.cp) if t is not None
        ]
        if scores:
            best = min(scores, key=lambda t: t.p)
            if best.p < P_ENTER:
                fit = refit([*fit.p.cp, years.index(best.changepoint)])
                record(iteration, "add", "score", best, scores)
                added = True
        if not removed and not added:
            return fit, tuple(steps), []
    return (
        fit,
        tuple(steps),
        [
            f"the stepwise selection of changepoints did not settle in "
            f"{MAX_STEPWISE_ITERATIONS} iterations: the changepoints of the last one are kept"
        ],
    )


@dataclass
class _Prepared:
    model: int
    years: tuple[int, ...]
    sites: tuple[str, ...]
    removed: tuple[str, ...]
    f: FloatArray  # counts, 0 where missing
    obs: BoolArray
    w: FloatArray
    design: FloatArray  # years × time parameters, shared by all sites (B in ln μ = α + Bβ)
    site_class: NDArray[np.int_]  # covariate class of each site, 0 (baseline) without one
    cp: tuple[int, ...]  # changepoints as 0-based time indices (model 2)
    classes: tuple[str, ...]  # covariate classes, baseline first; () without a covariate
    base: int
    warnings: list[str]


def _prepare(
    data: TrimData, model: int, changepoints: Sequence[int] | None, base_year: int | None
) -> _Prepared:
    counts = np.asarray(data.counts, dtype=float)
    n_sites = len(data.sites)
    if counts.ndim != 2 or counts.shape != (n_sites, len(data.years)):
        raise TrimError("the counts must be a sites × years matrix")
    if np.any(np.isinf(counts)) or np.any(counts < 0):  # NaN compares false: it is missing
        raise TrimError("counts must be zero or more (NaN for a missing count)")
    if data.weights is not None:
        weights = np.asarray(data.weights, dtype=float)
        if weights.shape != (n_sites,) or not np.all(np.isfinite(weights) & (weights > 0)):
            raise TrimError("the weights must be one positive number per site")
    if data.covariate is not None and len(data.covariate) != n_sites:
        raise TrimError("the covariate must give one class per site")
    years = tuple(data.years)
    if any(b - a != 1 for a, b in itertools.pairwise(years)):
        raise TrimError("the years must be consecutive and increasing")
    obs = np.isfinite(counts)
    positive = obs & (np.nan_to_num(counts) > 0)
    if not positive.any():
        raise TrimError(
            "no count is above zero: TRIM estimates how counts change relative to each other, "
            "which needs at least some positive counts",
            code="trim.no_positive_counts",
        )
    keep = positive.any(axis=1)
    removed = tuple(s for s, k in zip(data.sites, keep, strict=True) if not k)
    warnings: list[str] = []
    if removed:
        warnings.append(
            f"{len(removed)} site(s) without any positive count left out (they say nothing "
            f"about change): {', '.join(removed[:10])}{' …' if len(removed) > 10 else ''}"
        )
    sites = tuple(s for s, k in zip(data.sites, keep, strict=True) if k)
    counts, obs, positive = counts[keep], obs[keep], positive[keep]
    w = np.ones(len(sites)) if data.weights is None else np.asarray(data.weights, float)[keep]

    years_with_positive = [y for y, p in zip(years, positive.any(axis=0), strict=True) if p]
    if len(years) < 2 or len(years_with_positive) < 2:
        only = ", ".join(map(str, years_with_positive))
        raise TrimError(
            f"TRIM needs positive counts in at least two years to see a change; only {only} "
            "has any",
            code="trim.too_few_years",
        )

    if base_year is None:
        base_year = years[0]
    if base_year not in years:
        raise TrimError(f"the base year {base_year} is not among the years {years[0]}-{years[-1]}")

    classes: tuple[str, ...] = ()
    site_class = np.zeros(len(sites), dtype=int)
    if data.covariate is not None:
        labels = [c for c, k in zip(data.covariate, keep, strict=True) if k]
        classes = tuple(sorted(set(labels), key=_natural_key))
        if len(classes) < 2:
            raise TrimError(
                f"the covariate has a single class ({classes[0]}) among the sites with positive "
                "counts: it cannot separate anything"
            )
        index = {c: k for k, c in enumerate(classes)}
        site_class = np.array([index[c] for c in labels])

    J = len(years)
    cp: tuple[int, ...] = ()
    if model == 2:
        cp = _changepoints(changepoints, years)
        base_design = _trend_design(J, cp)
        _check_segments(positive, site_class, classes, years, cp)
    else:
        if changepoints:
            raise TrimError("changepoints belong to model 2; model 3 has a parameter per year")
        base_design = np.eye(J)[:, 1:]
        _check_years(positive, site_class, classes, years)

    n_time_params = base_design.shape[1] * max(len(classes), 1)
    n_params = len(sites) + n_time_params
    if positive.sum() < n_params:
        raise TrimError(
            f"{int(positive.sum())} positive counts cannot determine the {n_params} parameters "
            f"of this model ({len(sites)} sites + {n_time_params} time parameters)",
            code="trim.not_estimable",
        )
    return _Prepared(
        model=model,
        years=years,
        sites=sites,
        removed=removed,
        f=np.where(obs, counts, 0.0),
        obs=obs,
        w=w,
        design=base_design,
        site_class=site_class,
        cp=cp,
        classes=classes,
        base=years.index(base_year),
        warnings=warnings,
    )


def _natural_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _changepoints(changepoints: Sequence[int] | None, years: tuple[int, ...]) -> tuple[int, ...]:
    values = sorted({int(c) for c in changepoints or ()})
    J = len(years)
    if all(v in years for v in values):
        idx = [years.index(v) for v in values]
    elif all(1 <= v <= J for v in values):
        idx = [v - 1 for v in values]
    else:
        raise TrimError(
            f"changepoints {', '.join(map(str, values))} are neither years of the data "
            f"({years[0]}-{years[-1]}) nor time points 1-{J}"
        )
    if idx and idx[-1] >= J - 1:
        raise TrimError(
            f"the last year ({years[-1]}) cannot be a changepoint: no trend starts there"
        )
    return tuple(sorted({0, *idx}))


def _trend_design(J: int, cp: tuple[int, ...]) -> FloatArray:
    """Column k: years past changepoint k, capped at the next one (piecewise linear trend)."""
    t = np.arange(J, dtype=float)
    ends = [*cp[1:], J - 1]
    return np.column_stack([np.clip(t - c, 0, e - c) for c, e in zip(cp, ends, strict=True)])


def _groups(
    site_class: NDArray[np.int_], classes: tuple[str, ...]
) -> list[tuple[str | None, BoolArray]]:
    """The sites to check together: all of them, or each covariate class on its own."""
    if not classes:
        return [(None, np.ones(len(site_class), dtype=bool))]
    return [(label, site_class == k) for k, label in enumerate(classes)]


def _check_years(
    positive: BoolArray,
    site_class: NDArray[np.int_],
    classes: tuple[str, ...],
    years: tuple[int, ...],
) -> None:
    groups = _groups(site_class, classes)
    problems = []
    for label, rows in groups:
        counted = np.any(positive[rows], axis=0)
        empty = [y for j, y in enumerate(years) if not counted[j]]
        if empty:
            where = f" of covariate class {label}" if label is not None else ""
            problems.append(f"no site{where} has a positive count in {_year_list(empty)}")
    if problems:
        raise TrimError(
            "model 3 estimates a parameter for every year, but "
            + "; ".join(problems)
            + " (only zeros or missing counts): such a year's index would be zero or unknown. "
            "Fit model 2 (a linear trend bridges such years) or leave these years out.",
            code="trim.not_estimable",
        )


def _check_segments(
    positive: BoolArray,
    site_class: NDArray[np.int_],
    classes: tuple[str, ...],
    years: tuple[int, ...],
    cp: tuple[int, ...],
) -> None:
    groups = _groups(site_class, classes)
    ends = [*cp[1:], len(years) - 1]
    for label, rows in groups:
        for start, end in zip(cp, ends, strict=True):
            if not positive[rows][:, start + 1 : end + 1].any():
                where = f" of covariate class {label}" if label is not None else ""
                raise TrimError(
                    f"model 2 estimates a slope from {years[start]} to {years[end]}, but no "
                    f"site{where} has a positive count in {_year_list(years[start + 1 : end + 1])}"
                    ": that slope would be minus infinity. Remove the changepoint "
                    f"{years[start]} or the years after it.",
                    code="trim.not_estimable",
                )


def _year_list(years: Sequence[int]) -> str:
    years = list(years)
    if len(years) > 2 and years[-1] - years[0] == len(years) - 1:
        return f"{years[0]}-{years[-1]}"
    return ", ".join(map(str, years))


@dataclass
class _Working:
    """Scoring quantities of one iteration, per site i over its observed years."""

    u: FloatArray  # D V⁻¹ (f − μ), sites × years
    z: FloatArray  # Ω 1 with Ω = D V⁻¹ D
    d: FloatArray  # 1' Ω 1
    bz: FloatArray  # B_i' z_i, sites × parameters
    e: FloatArray  # information on β with α eliminated


class _Fit:
    """One TRIM fit: Poisson ML to convergence, then (if asked) GEE, then what is reported."""

    def __init__(
        self, prep: _Prepared, overdispersion: bool, serial: bool, max_iter: int, tol: float
    ) -> None:
        self.p = prep
        self.overdispersion = overdispersion
        self.serial = serial
        self.max_iter = max_iter
        self.tol = tol
        n_sites, n_years = prep.obs.shape
        # Parameters: block 0 applies to every site, block k >= 1 adds to the sites of covariate
        # class k. Every site shares the same years × parameters design within its class, so
        # sums over sites are taken per class first and the design applied once, instead of
        # building a sites × years × parameters array.
        self.n_class = max(len(prep.classes), 1)
        self.p0 = prep.design.shape[1]
        n_par = self.p0 * self.n_class
        self.members = [prep.site_class == k for k in range(self.n_class)]
        self.n_obs = int(prep.obs.sum())
        self.df = self.n_obs - n_sites - n_par
        self.lag = np.abs(np.subtract.outer(np.arange(n_years), np.arange(n_years)))
        # Consecutive observed years of each site, whatever the gap between them.
        site, year = np.nonzero(prep.obs)
        same = site[1:] == site[:-1]
        self.next_site, self.next_from, self.next_to = (
            site[1:][same],
            year[:-1][same],
            year[1:][same],
        )
        self.pairs = prep.obs[:, :-1] & prep.obs[:, 1:]
        # Start from each site's mean count (positive: sites without one were left out) and no
        # change over time.
        self.alpha = np.log(prep.f.sum(axis=1) / prep.obs.sum(axis=1))
        self.beta = np.zeros(n_par)
        self.iterations = 0

    # -- pieces ------------------------------------------------------------------------------

    def mu(self, alpha: FloatArray, beta: FloatArray) -> FloatArray:
        with np.errstate(over="raise", invalid="raise"):
            try:
                return np.exp(alpha[:, None] + self.eta(beta))
            except FloatingPointError:
                raise self._diverged() from None

    def _diverged(self) -> TrimError:
        return TrimError(
            "the estimates run off to infinity: some year, segment or covariate class has too "
            "few positive counts to pin its parameter down",
            code="trim.not_estimable",
        )

    def loglik(self, mu: FloatArray) -> float:
        p = self.p
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p.obs, p.f * np.log(mu) - mu, 0.0)
        return float(terms.sum())

    def pearson(self, mu: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):  # μ of missing cells may underflow
            return np.where(self.p.obs, (self.p.f - mu) / np.sqrt(mu), 0.0)

    def dispersion(self, r: FloatArray) -> tuple[float, float]:
        """Moment estimates of σ² and ρ from the Pearson residuals (TRIM's)."""
        sigma2 = float((r**2).sum() / self.df) if self.df > 0 else 1.0
        n_pairs = int(self.pairs.sum())
        if n_pairs == 0 or sigma2 < 1e-12:  # nothing to correlate, or a perfect fit
            return sigma2, 0.0
        return sigma2, float((r[:, :-1] * r[:, 1:])[self.pairs].sum() / (n_pairs * sigma2))

    def correlation_inverses(self, rho: float) -> FloatArray:
        """R_i⁻¹ for each site's observed years, zero-padded to years × years.

        No matrix is inverted: ρ^|j−k| restricted to the observed years is the correlation of a
        Markov chain whose step from one observed year to the next has correlation φ = ρ^gap,
        so its inverse is tridiagonal in the observed years, with 1/(1−φ²) terms. That keeps a
        GEE iteration on 500 sites linear in the number of cells.
        """
        if not -1.0 < rho < 1.0:
            raise TrimError(
                f"the serial correlation is estimated at {rho:.3f}, outside (-1, 1): the counts "
                "are too few or too regular to estimate it; fit without serial correlation",
                code="trim.not_estimable",
            )
        n_sites, n_years = self.p.obs.shape
        rinv = np.zeros((n_sites, n_years, n_years))
        site, year = np.nonzero(self.p.obs)
        rinv[site, year, year] = 1.0
        i, a, b = self.next_site, self.next_from, self.next_to
        phi = rho ** (b - a).astype(float)
        c = 1.0 / (1.0 - phi**2)
        rinv[i, b, b] += c - 1.0
        rinv[i, a, a] += phi**2 * c
        rinv[i, a, b] = rinv[i, b, a] = -phi * c
        return rinv

    def eta(self, beta: FloatArray) -> FloatArray:
        """B_i β for every site: the time part of ln μ, sites × years."""
        blocks = beta.reshape(self.n_class, self.p0).copy()
        blocks[1:] += blocks[0]  # a class's trend is the baseline's plus its difference
        return (blocks @ self.p.design.T)[self.p.site_class]

    def per_class(self, x: FloatArray) -> FloatArray:
        """Sums of x over the sites of each covariate class (class axis first)."""
        return np.stack([x[m].sum(axis=0) for m in self.members])

    def expand(self, x: FloatArray) -> FloatArray:
        """Per-class terms (class axis first, parameters last) to all parameters' terms."""
        return np.concatenate([x.sum(axis=0), *x[1:]], axis=-1)

    def working(self, mu: FloatArray, rinv: FloatArray | None) -> _Working:
        """Scoring quantities for V = D^½ R D^½, that is with σ² = 1.

        σ² multiplies V, so it cancels from the scoring step and only scales the variances:
        they are multiplied by σ² afterwards, which also copes with a perfect fit (σ² = 0).
        """
        p, b0 = self.p, self.p.design
        mo = np.where(p.obs, mu, 0.0)
        if rinv is None:  # independent counts: V = D
            u = p.f - mo
            z = mo
            omega_sums = [np.diag(zc) for zc in self.per_class(z)]
        else:  # D V⁻¹ (f − μ) = √μ ∘ R⁻¹ r
            s = np.sqrt(mo)
            r = np.where(p.obs, (p.f - mo) / np.where(p.obs, s, 1.0), 0.0)
            u = s * (rinv @ r[:, :, None])[:, :, 0]
            omega = s[:, :, None] * rinv * s[:, None, :]
            z = omega.sum(axis=2)
            omega_sums = list(self.per_class(omega))
        d = z.sum(axis=1)
        zb = z @ b0
        bz = np.concatenate([zb, *(zb * m[:, None] for m in self.members[1:])], axis=1)
        # Σ_i B_i' (Ω_i − Ω_i 1 1' Ω_i / d_i) B_i, assembled from per-class p0 × p0 blocks:
        # fewer operations than on all parameters at once, and matrix products small enough
        # that BLAS does not spread them over threads (which a busy machine makes very slow).
        info = [b0.T @ om @ b0 for om in omega_sums]
        correction = self.per_class_products(zb / d[:, None], zb)
        e = self.assemble([i - c for i, c in zip(info, correction, strict=True)])
        return _Working(u=u, z=z, d=d, bz=bz, e=e)

    def per_class_products(self, a: FloatArray, b: FloatArray) -> FloatArray:
        """Σ over the sites of each class of a_i' b_i (class axis first)."""
        return np.stack([a[m].T @ b[m] for m in self.members])

    def assemble(self, blocks: Sequence[FloatArray]) -> FloatArray:
        """The information matrix of all parameters from each class's p0 × p0 block.

        Baseline parameters touch every site, class k's only its own sites: so the baseline
        block sums all classes, and class k's block appears in its row, its column and on the
        diagonal; classes never meet each other.
        """
        p0 = self.p0
        full = np.zeros((p0 * self.n_class, p0 * self.n_class))
        full[:p0, :p0] = sum(blocks)
        for k in range(1, self.n_class):
            block = slice(k * p0, (k + 1) * p0)
            full[:p0, block] = full[block, :p0] = full[block, block] = blocks[k]
        return full

    def step(self, wk: _Working) -> tuple[FloatArray, FloatArray]:
        """Fisher-scoring step for (α, β), α eliminated through the Schur complement."""
        u_alpha = wk.u.sum(axis=1)
        u_beta = self.expand(self.per_class(wk.u) @ self.p.design)
        try:
            d_beta = np.linalg.solve(wk.e, u_beta - wk.bz.T @ (u_alpha / wk.d))
        except np.linalg.LinAlgError:
            raise self._singular() from None
        d_alpha = (u_alpha - wk.bz @ d_beta) / wk.d
        return d_alpha, d_beta

    def _singular(self) -> TrimError:
        return TrimError(
            "the time parameters cannot be told apart with these counts (the information "
            "matrix is singular): too many years, segments or covariate classes without counts",
            code="trim.not_estimable",
        )

    # -- iterations --------------------------------------------------------------------------

    def run(self) -> TrimResult:
        self.estimate()
        return self.results()

    def estimate(self) -> None:
        """Estimate α and β (ML, then GEE if asked), and σ², ρ and Var(β) at the estimates."""
        self._maximum_likelihood()
        if self.overdispersion or self.serial:
            self._gee()
        mu = self.mu(self.alpha, self.beta)
        self.sigma2_est, self.rho_est = self.dispersion(self.pearson(mu))
        self.sigma2 = self.sigma2_est if self.overdispersion else 1.0
        self.rho = self.rho_est if self.serial else 0.0
        rinv = self.correlation_inverses(self.rho) if self.serial else None
        wk = self.working(mu, rinv)
        if not np.all(np.isfinite(wk.e)) or np.linalg.cond(wk.e) > 1e12:
            raise self._singular()
        var_beta = np.linalg.inv(wk.e)
        self.var_beta = self.sigma2 * (var_beta + var_beta.T) / 2
        self.final = (mu, wk)

    # -- tests of the changepoints (stepwise selection) ----------------------------------------

    def _change_rows(self, k: int) -> FloatArray:
        """The contrasts of the change of slope at changepoint k (the slope itself at k = 0),
        one row per block: the baseline and each covariate class."""
        n_par = len(self.beta)
        rows = []
        for _, block in self._blocks():
            row = np.zeros(n_par)
            row[block.start + k] = 1.0
            if k:
                row[block.start + k - 1] = -1.0
            rows.append(row)
        return np.array(rows)

    def slope_changes(self) -> list[StepTest]:
        """Wald tests of the change of slope at every changepoint but the first."""
        tests = []
        for k in range(1, len(self.p.cp)):
            transform = self._change_rows(k)
            theta = transform @ self.beta
            cov = transform @ self.var_beta @ transform.T
            try:
                stat = float(theta @ np.linalg.solve(cov, theta))
            except np.linalg.LinAlgError:
                continue
            df = len(theta)
            tests.append(StepTest(self.p.years[self.p.cp[k]], stat, df, float(chdtrc(df, stat))))
        return tests

    def score_test(self, c: int) -> StepTest | None:
        """Score test of adding the changepoint c (0-based) to this model, at its estimates.

        The extended model gives the new segment the slope of the segment it splits, in every
        block, so μ, σ² and ρ stay those of the fit; the score of the extended model's time
        parameters (α eliminated), weighed by its information, is χ² with one degree of freedom
        per block. None when the extended model is not estimable (e.g. a segment without counts).
        """
        p = self.p
        cps = tuple(sorted({*p.cp, c}))
        k = cps.index(c)
        prep = replace(p, cp=cps, design=_trend_design(len(p.years), cps))
        ext = _Fit(prep, self.overdispersion, self.serial, self.max_iter, self.tol)
        blocks = self.beta.reshape(self.n_class, self.p0)
        beta = np.insert(blocks, k, blocks[:, k - 1], axis=1).ravel()
        if not self.sigma2 > 0:
            return None
        try:
            mu = ext.mu(self.alpha, beta)
            rinv = ext.correlation_inverses(self.rho) if self.serial else None
            wk = ext.working(mu, rinv)
            _, d_beta = ext.step(wk)
        except TrimError:
            return None
        if not np.all(np.isfinite(wk.e)) or np.linalg.cond(wk.e) > 1e12:
            return None
        stat = float(d_beta @ wk.e @ d_beta) / self.sigma2
        df = self.n_class
        return StepTest(p.years[c], stat, df, float(chdtrc(df, stat)))

    def _maximum_likelihood(self) -> None:
        """Poisson ML by Newton steps, halved while they lower the likelihood (it is concave)."""
        mu = self.mu(self.alpha, self.beta)
        ll = self.loglik(mu)
        for _ in range(self.max_iter):
            self.iterations += 1
            d_alpha, d_beta = self.step(self.working(mu, None))
            size = 1.0
            for _halving in range(40):
                alpha, beta = self.alpha + size * d_alpha, self.beta + size * d_beta
                new_mu = self.mu(alpha, beta)
                new_ll = self.loglik(new_mu)
                if new_ll >= ll - 1e-12 * abs(ll):
                    break
                size /= 2
            self.alpha, self.beta, mu, ll = alpha, beta, new_mu, new_ll
            if max(np.abs(d_alpha).max(), np.abs(d_beta).max()) * size < self.tol:
                return
        raise self._no_convergence()

    def _gee(self) -> None:
        """Alternate moment estimates of σ², ρ with scoring steps until neither moves."""
        mu = self.mu(self.alpha, self.beta)
        previous = (math.inf, math.inf)
        for _ in range(self.max_iter):
            self.iterations += 1
            if not np.all(mu[self.p.obs] > 0):
                raise self._gee_diverged()
            with np.errstate(over="ignore", invalid="ignore"):
                sigma2, rho = self.dispersion(self.pearson(mu))
            if not (math.isfinite(sigma2) and math.isfinite(rho)):
                raise self._gee_diverged()
            rinv = self.correlation_inverses(rho) if self.serial else None
            d_alpha, d_beta = self.step(self.working(mu, rinv))
            self.alpha, self.beta = self.alpha + d_alpha, self.beta + d_beta
            mu = self.mu(self.alpha, self.beta)
            moved = max(
                np.abs(d_alpha).max(),
                np.abs(d_beta).max(),
                abs(sigma2 - previous[0]),
                abs(rho - previous[1]),
            )
            previous = (sigma2, rho)
            if moved < self.tol:
                return
        raise self._no_convergence()

    def _gee_diverged(self) -> TrimError:
        return TrimError(
            "with overdispersion and serial correlation the estimates diverge (some site's "
            "expected counts fall to zero): the counts are too few or too irregular for them; "
            "fit without serial correlation, or by maximum likelihood",
            code="trim.no_convergence",
        )

    def _no_convergence(self) -> TrimError:
        return TrimError(
            f"the estimates did not settle within {self.max_iter} iterations; this usually "
            "means too few counts for this model: try model 2, fewer changepoints, or no serial "
            "correlation",
            code="trim.no_convergence",
        )

    # -- what is reported --------------------------------------------------------------------

    def results(self) -> TrimResult:
        """Everything reported, from the estimates of :meth:`estimate`."""
        p = self.p
        mu, wk = self.final
        r = self.pearson(mu)
        sigma2_est, rho_est = self.sigma2_est, self.rho_est
        sigma2, rho = self.sigma2, self.rho
        var_beta = self.var_beta

        # Time totals and their covariances (TRIM's delta method through α and β).
        weighted = p.w[:, None] * mu
        imputed = np.where(p.obs, p.f, mu)
        tt_mod = weighted.sum(axis=0)
        tt_imp = (p.w[:, None] * imputed).sum(axis=0)
        zb_d = (wk.z @ p.design) / wk.d[:, None]  # F_i = z_i' B_i / d_i, baseline part

        def model_part(g: FloatArray) -> FloatArray:
            h = self.expand(self.per_class(g)[:, :, None] * p.design)  # Σ_i μ_ij B_i[j]
            gfh = self.expand(self.per_class_products(g, zb_d)) - h  # Σ_i μ_i F_i − H
            return sigma2 * (g.T / wk.d) @ g + gfh @ var_beta @ gfh.T

        var_mod = model_part(weighted)
        observed_w = np.where(p.obs, p.w[:, None] * np.sqrt(mu), 0.0)
        correlation = rho**self.lag if self.serial else np.eye(len(p.years))
        var_counts = sigma2 * (observed_w.T @ observed_w) * correlation
        var_imp = var_mod - model_part(np.where(p.obs, weighted, 0.0)) + var_counts

        totals = _time_points(p.years, tt_mod, var_mod, tt_imp, var_imp)
        indices = _indices(p.years, p.base, tt_mod, var_mod, tt_imp, var_imp)
        warnings = list(p.warnings)
        if self.overdispersion and self.df <= 0:
            warnings.append(
                "no degrees of freedom are left to estimate the overdispersion: σ² = 1 is used"
            )
        slope_model = _overall_slope(tt_mod, var_mod)
        slope_imputed = _overall_slope(tt_imp, var_imp)
        if slope_imputed is None:
            warnings.append(
                "an imputed time total is zero, so the overall slope of the imputed totals (a "
                "slope of their logarithms) is undefined"
            )

        # Goodness of fit.
        positive = p.obs & (p.f > 0)
        chi2 = float((r**2).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = float(2 * np.where(positive, p.f * np.log(p.f / mu), 0.0).sum())
        df = self.df
        return TrimResult(
            model=p.model,
            changepoints=tuple(p.years[c] for c in p.cp),
            overdispersion=self.overdispersion,
            serial_correlation=self.serial,
            base_year=p.years[p.base],
            years=p.years,
            sites=p.sites,
            sites_removed=p.removed,
            covariate_classes=p.classes,
            n_observed=self.n_obs,
            n_missing=int(p.obs.size - self.n_obs),
            sigma2=sigma2_est if self.overdispersion else None,
            rho=rho_est if self.serial else None,
            chi2=chi2,
            chi2_p=float(chdtrc(df, chi2)) if df > 0 else math.nan,
            lr=lr,
            lr_p=float(chdtrc(df, lr)) if df > 0 else math.nan,
            df=df,
            aic=lr - 2 * df,
            coefficients=self._coefficients(var_beta),
            wald=self._wald(var_beta),
            totals=totals,
            indices=indices,
            slope_model=slope_model,
            slope_imputed=slope_imputed,
            fitted=mu,
            imputed=imputed,
            var_totals_model=var_mod,
            var_totals_imputed=var_imp,
            iterations=self.iterations,
            warnings=tuple(warnings),
        )

    def _blocks(self) -> list[tuple[str | None, slice]]:
        p = self.p
        p0 = self.p0
        labels: list[str | None] = [None, *p.classes[1:]]
        return [(label, slice(k * p0, (k + 1) * p0)) for k, label in enumerate(labels)]

    def _coefficients(self, var_beta: FloatArray) -> tuple[Coefficient, ...]:
        p = self.p
        if p.model == 3:
            spans = [(y, y) for y in p.years[1:]]
        else:
            ends = [*p.cp[1:], len(p.years) - 1]
            spans = [(p.years[a], p.years[b]) for a, b in zip(p.cp, ends, strict=True)]
        se = np.sqrt(np.diag(var_beta))
        out = []
        for label, block in self._blocks():
            for (start, end), b, s in zip(spans, self.beta[block], se[block], strict=True):
                out.append(
                    Coefficient(
                        covariate_class=label,
                        from_year=start,
                        to_year=end,
                        add=float(b),
                        add_se=float(s),
                        mul=math.exp(b),
                        mul_se=math.exp(b) * float(s),
                    )
                )
        return tuple(out)

    def _wald(self, var_beta: FloatArray) -> tuple[WaldTest, ...]:
        p = self.p
        blocks = self._blocks()
        tests: list[WaldTest] = []

        def wald(name: str, transform: FloatArray) -> None:
            theta = transform @ self.beta
            cov = transform @ var_beta @ transform.T
            try:
                stat = float(theta @ np.linalg.solve(cov, theta))
            except np.linalg.LinAlgError:
                # A singular covariance (a series without any variation left to test, e.g.
                # every count equal and the dispersion estimated at zero): no test to report.
                return
            tests.append(WaldTest(name, stat, len(theta), float(chdtrc(len(theta), stat))))

        n_par = len(self.beta)
        if p.model == 2:
            # Change of slope at each changepoint (the slope itself at the first), jointly for
            # the baseline and every covariate class.
            for k, c in enumerate(p.cp):
                name = "slope" if len(p.cp) == 1 else f"change in slope at {p.years[c]}"
                wald(name, self._change_rows(k))
        elif not p.classes and len(p.years) > 2:
            # Deviations of the year effects from their least-squares line (J − 2 of them free).
            J = len(p.years)
            t = np.arange(J, dtype=float)
            x = np.column_stack([np.ones(J), t])
            residual = np.eye(J) - x @ np.linalg.solve(x.T @ x, x.T)
            wald("deviations from a linear trend", (residual[2:, :])[:, 1:])
        for label, block in blocks[1:]:
            wald(f"covariate class {label}", np.eye(n_par)[block])
        if len(blocks) > 2:
            wald("covariate", np.eye(n_par)[blocks[1][1].start :])
        return tuple(tests)


def _time_points(
    years: tuple[int, ...],
    model: FloatArray,
    var_model: FloatArray,
    imputed: FloatArray,
    var_imputed: FloatArray,
) -> tuple[TimePoint, ...]:
    se_m = np.sqrt(np.clip(np.diag(var_model), 0, None))
    se_i = np.sqrt(np.clip(np.diag(var_imputed), 0, None))
    return tuple(
        TimePoint(y, float(m), float(sm), float(i), float(si))
        for y, m, sm, i, si in zip(years, model, se_m, imputed, se_i, strict=True)
    )


def _ratio(tt: FloatArray, var_tt: FloatArray, b: int) -> tuple[FloatArray, FloatArray]:
    """Index T_j / T_b and its variance by the delta method (zero for the base year itself)."""
    tau = tt / tt[b]
    grad_j = 1 / tt[b]
    grad_b = -tt / tt[b] ** 2
    var = (
        grad_j**2 * np.diag(var_tt) + grad_b**2 * var_tt[b, b] + 2 * grad_j * grad_b * var_tt[:, b]
    )
    var[b] = 0.0
    return tau, np.sqrt(np.clip(var, 0, None))


def _indices(
    years: tuple[int, ...],
    base: int,
    tt_mod: FloatArray,
    var_mod: FloatArray,
    tt_imp: FloatArray,
    var_imp: FloatArray,
) -> tuple[TimePoint, ...]:
    if tt_imp[base] <= 0:
        raise TrimError(
            f"the imputed total of the base year {years[base]} is zero: indices relative to it "
            "are undefined; choose another base year",
            code="trim.not_estimable",
        )
    mod, se_mod = _ratio(tt_mod, var_mod, base)
    imp, se_imp = _ratio(tt_imp, var_imp, base)
    return tuple(
        TimePoint(y, float(a), float(b), float(c), float(d))
        for y, a, b, c, d in zip(years, mod, se_mod, imp, se_imp, strict=True)
    )


def _log_slope(tt: FloatArray, var_tt: FloatArray) -> tuple[float, float] | None:
    """OLS slope of ln T_j on j and its standard error, with the sandwich variance from
    Var(ln T) = Var(T)/T T'; None when a total is zero."""
    if np.any(tt <= 0):
        return None
    J = len(tt)
    x = np.column_stack([np.ones(J), np.arange(1, J + 1, dtype=float)])
    hat = np.linalg.solve(x.T @ x, x.T)
    coef = hat @ np.log(tt)
    var_log = var_tt / np.outer(tt, tt)
    var = hat @ var_log @ hat.T
    return float(coef[1]), math.sqrt(max(float(var[1, 1]), 0.0))


def _overall_slope(tt: FloatArray, var_tt: FloatArray) -> OverallSlope | None:
    fitted = _log_slope(tt, var_tt)
    if fitted is None:
        return None
    add, add_se = fitted
    mul = math.exp(add)
    return OverallSlope(
        add,
        add_se,
        mul,
        mul * add_se,
        classify_slope(mul, mul * add_se),
        _slope_p(add, add_se, len(tt) - 2),
    )
