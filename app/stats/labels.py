"""Trend labels: the verdict on an overall TRIM slope, its p-value and the interval it rests on.

Why a module of its own
-----------------------
The class of a trend ("moderate decline", "stable"…) is what people read, in the API, on the
chart and in the comparison with the inventory. Three things decide it besides the slope, and
each is a choice this module makes explicit:

* **the convention.** ``pecbms`` (the default) is TRIM 3's and the one the European schemes
  (PECBMS/EBCC) publish: the interval is the multiplicative slope ± z·se on the
  multiplicative scale, z = 1.96 for p < 0.05 and 2.576 for p < 0.01 (the normal quantiles,
  exactly). The class is read from the 95 % interval, the significance tier from the 99 % one.
  The p-value is the normal two-sided test of (mul − 1)/se_mul, the same Wald test as the
  interval, so that "p < 0.01" and the label agree: on rtrim's skylark-3a case TRIM 3.61 says
  "Moderate increase (p<0.05)" for mul 1.0335 (0.0131), p = 0.011 here, while a test of
  add/se_add (0.0329/0.0127) would give p = 0.0096 and contradict TRIM's own label.
  ``rtrim`` is the R package's default (``overall()`` since 2.x): the interval is
  exp(add ± t·se_add) with a t distribution on n − 2 degrees of freedom (n years), the p-value
  the same t test, and strength comes before significance ("strong increase (p<0.05)" before
  "moderate increase (p<0.01)"). rtrim computes its second tier at 0.001 while labelling it
  "p<0.01" (its issue #33); this module uses 0.01, what the label says.
* **σ² below 1.** TRIM estimates the overdispersion σ² from the Pearson residuals and scales
  every variance by it. On a short series (say 4 sites × 6 years: 24 counts, 13 degrees of
  freedom) the moment estimate scatters widely and can fall well below 1, which would claim the
  counts are *less* variable than Poisson: counts of territorial animals are not, and rtrim's
  own FAQ warns that with few sites "the standard errors might be underestimated as models
  easily fit very good". For the label and its p-value the standard errors use
  max(σ², 1): a quasi-Poisson dispersion is a variance *inflation* factor, and an estimate
  below 1 on few degrees of freedom is read as sampling noise around 1 (McCullagh & Nelder,
  *Generalized Linear Models*, 2nd ed., 1989, §4.5; the quasi-likelihood practice of not
  deflating Poisson variances). The estimates and the ``*_se`` fields stay those of the fitted
  model, as TRIM reports them; rtrim (since 1.1.5) keeps the estimate too and warns, and so
  does :func:`sigma2_warning`.
* **too few data.** Below :data:`THRESHOLDS` (3 sites with a positive count, 5 years with a
  count, 10 positive counts) no class is given: the label says ``insufficient data`` with the
  reason and the thresholds. See docs/surveys-and-statistics.md for why these numbers.

The module imports nothing of the database or the web: :mod:`app.stats.trends`, the charts and
the comparison call it with a fitted :class:`~app.stats.trim.TrimResult`.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit

from app.stats.trim import OverallSlope, SlopeClass, TrimData, TrimResult

__all__ = [
    "INSUFFICIENT",
    "THRESHOLDS",
    "Convention",
    "DataSupport",
    "Interval",
    "Thresholds",
    "TrendLabel",
    "format_fr",
    "label_slope",
    "remember_support",
    "sigma2_warning",
    "support_of",
    "trend_label",
]

#: The class of a label given instead of a verdict when the data are too few.
INSUFFICIENT = "insufficient data"

_LEVELS = (0.95, 0.99)
_STRONG = 0.05  # 5 % a year: a population halves in about 14 years at 0.95


class Convention(StrEnum):
    """How the interval, the p-value and the class of a slope are computed (module docstring)."""

    pecbms = "pecbms"
    rtrim = "rtrim"


@dataclass(frozen=True)
class Thresholds:
    """The least data for a label: sites with a positive count, years with a count (zeros
    included), positive counts."""

    sites: int = 3
    years: int = 5
    positive_counts: int = 10


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class DataSupport:
    """What a series holds, against :class:`Thresholds`. ``positive_counts`` None: unknown."""

    sites: int
    years: int
    positive_counts: int | None

    @classmethod
    def of(cls, data: TrimData) -> DataSupport:
        counts = data.counts
        positive = counts > 0  # NaN (missing) compares False
        return cls(
            sites=int(positive.any(axis=1).sum()),
            years=int((~np.isnan(counts)).any(axis=0).sum()),
            positive_counts=int(positive.sum()),
        )

    @classmethod
    def of_result(cls, result: TrimResult) -> DataSupport:
        """What a result alone tells: its sites (TRIM drops those without a positive count) and
        its years (counted or bridged); the positive counts are unknown."""
        return cls(sites=len(result.sites), years=len(result.years), positive_counts=None)

    def shortfall(self, thresholds: Thresholds = THRESHOLDS) -> str | None:
        """Why the data are too few for a label, or None when they are enough."""
        short = []
        if self.sites < thresholds.sites:
            short.append(
                f"{self.sites} site(s) with a positive count (at least {thresholds.sites})"
            )
        if self.years < thresholds.years:
            short.append(f"{self.years} year(s) with a count (at least {thresholds.years})")
        if self.positive_counts is not None and self.positive_counts < thresholds.positive_counts:
            short.append(
                f"{self.positive_counts} positive count(s) (at least {thresholds.positive_counts})"
            )
        return "; ".join(short) if short else None


# The data behind each result that the service fitted, so that the response, the chart and the
# comparison can check them without handing the matrix around. Weak: gone with the result.
_SUPPORT: weakref.WeakKeyDictionary[TrimResult, DataSupport] = weakref.WeakKeyDictionary()


def remember_support(result: TrimResult, data: TrimData) -> DataSupport:
    support = DataSupport.of(data)
    _SUPPORT[result] = support
    return support


def support_of(result: TrimResult) -> DataSupport:
    """The support remembered for ``result``, else what the result alone tells."""
    return _SUPPORT.get(result) or DataSupport.of_result(result)


@dataclass(frozen=True)
class Interval:
    """A confidence interval of the yearly growth factor (multiplicative scale)."""

    level: float
    lower: float
    upper: float


@dataclass(frozen=True)
class TrendLabel:
    """The verdict on a slope. ``slope_class`` is a :class:`SlopeClass` value or
    :data:`INSUFFICIENT`; ``significance`` is "p<0.01", "p<0.05" or None (not significant,
    or no verdict); ``interval`` is the 95 % interval the class is read from."""

    slope_class: str
    significance: str | None
    p: float | None
    interval: Interval | None
    convention: Convention
    sigma2_floored: bool = False
    reason: str | None = None
    thresholds: Thresholds | None = None

    @property
    def text(self) -> str:
        """As TRIM prints it: "moderate increase (p<0.01)"."""
        if self.significance is None:
            return self.slope_class
        return f"{self.slope_class} ({self.significance})"

    @property
    def insufficient(self) -> bool:
        return self.slope_class == INSUFFICIENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.slope_class,
            "significance": self.significance,
            "text": self.text,
            "p": self.p,
            "interval": asdict(self.interval) if self.interval else None,
            "convention": self.convention.value,
            "sigma2_floored": self.sigma2_floored,
            "reason": self.reason,
            "thresholds": asdict(self.thresholds) if self.thresholds else None,
        }


def _insufficient(
    convention: Convention, reason: str, thresholds: Thresholds | None = None
) -> TrendLabel:
    return TrendLabel(
        INSUFFICIENT, None, None, None, convention, reason=reason, thresholds=thresholds
    )


def _quantile(level: float, df: int | None) -> float:
    tail = 1 - (1 - level) / 2
    return float(ndtri(tail)) if df is None else float(stdtrit(df, tail))


def _classify(lower: float, upper: float) -> SlopeClass:
    """The schemes' classes from a 95 % interval of the growth factor (TRIM 3, PECBMS)."""
    if lower > 1 + _STRONG:
        return SlopeClass.strong_increase
    if lower > 1:
        return SlopeClass.moderate_increase
    if upper < 1 - _STRONG:
        return SlopeClass.steep_decline
    if upper < 1:
        return SlopeClass.moderate_decline
    if lower >= 1 - _STRONG and upper <= 1 + _STRONG:  # here the interval holds 1
        return SlopeClass.stable
    return SlopeClass.uncertain


def _ratio(estimate: float, se: float) -> float:
    """The test statistic estimate/se; infinite for a non-zero estimate known exactly."""
    if se > 0:
        return estimate / se
    return 0.0 if estimate == 0 else math.copysign(math.inf, estimate)


def label_slope(
    add: float,
    add_se: float,
    *,
    n_years: int,
    convention: Convention | str = Convention.pecbms,
    sigma2: float | None = None,
) -> TrendLabel:
    """Label the overall slope ``add`` (log scale) with its standard error as fitted.

    ``sigma2`` is the overdispersion the fit used (None: not estimated, Poisson); below 1 the
    standard error is scaled up as if σ² were 1 (module docstring). ``n_years`` gives rtrim's
    degrees of freedom, n − 2.
    """
    convention = Convention(convention)
    floored = sigma2 is not None and sigma2 < 1
    if sigma2 is not None and sigma2 <= 0:
        return _insufficient(convention, "the estimated overdispersion σ² is 0: the fit is exact")
    se = add_se / math.sqrt(sigma2) if floored and sigma2 is not None else add_se
    if not (math.isfinite(add) and math.isfinite(se)) or se < 0:
        return _insufficient(convention, "the slope or its standard error is not finite")
    df = n_years - 2
    if convention is Convention.rtrim and df <= 0:
        return _insufficient(convention, f"{n_years} years leave no degree of freedom (n − 2)")

    if convention is Convention.pecbms:
        mul = math.exp(add)
        mul_se = mul * se
        p = float(2 * ndtr(-abs(_ratio(mul - 1, mul_se))))
        bounds = {
            level: (mul - _quantile(level, None) * mul_se, mul + _quantile(level, None) * mul_se)
            for level in _LEVELS
        }
    else:
        p = float(2 * stdtr(df, -abs(_ratio(add, se))))
        bounds = {
            level: (
                math.exp(add - _quantile(level, df) * se),
                math.exp(add + _quantile(level, df) * se),
            )
            for level in _LEVELS
        }
    lower, upper = bounds[0.95]
    cls = _classify(lower, upper)
    significance: str | None = None
    if convention is Convention.pecbms:
        # Class from the 95 % interval, tier from the 99 % one.
        if cls not in (SlopeClass.stable, SlopeClass.uncertain):
            significance = "p<0.01" if p < 0.01 else "p<0.05"
    else:
        lo99, hi99 = bounds[0.99]
        # Strength before significance: strong at 99 %, strong at 95 %, moderate at 99 %, …
        if lo99 > 1 + _STRONG or hi99 < 1 - _STRONG:
            significance = "p<0.01"
        elif cls in (SlopeClass.strong_increase, SlopeClass.steep_decline):
            significance = "p<0.05"
        elif cls in (SlopeClass.moderate_increase, SlopeClass.moderate_decline):
            significance = "p<0.01" if p < 0.01 else "p<0.05"
    return TrendLabel(
        slope_class=cls.value,
        significance=significance,
        p=p,
        interval=Interval(0.95, lower, upper),
        convention=convention,
        sigma2_floored=floored,
    )


def trend_label(
    result: TrimResult,
    slope: OverallSlope | None,
    *,
    convention: Convention | str = Convention.pecbms,
    support: DataSupport | None = None,
    thresholds: Thresholds = THRESHOLDS,
) -> TrendLabel | None:
    """The label of one of ``result``'s overall slopes (None when the slope is undefined)."""
    if slope is None:
        return None
    convention = Convention(convention)
    support = support if support is not None else support_of(result)
    short = support.shortfall(thresholds)
    if short is not None:
        return _insufficient(convention, f"too few data for a trend: {short}", thresholds)
    sigma2 = result.sigma2 if result.overdispersion else None
    return label_slope(
        slope.add, slope.add_se, n_years=len(result.years), convention=convention, sigma2=sigma2
    )


def sigma2_warning(result: TrimResult) -> str | None:
    """A warning when the estimated overdispersion is below 1 (what the label does about it)."""
    if not result.overdispersion or result.sigma2 is None or result.sigma2 >= 1:
        return None
    return (
        f"the estimated overdispersion σ² = {result.sigma2:.3f} is below 1, which on few data is "
        "an estimation artefact (counts are not less variable than Poisson): the standard errors "
        "reported are the fitted model's, but the trend's label and its p-value use σ² = 1"
    )


# --- French numbers (the charts) ---------------------------------------------------------------


def format_fr(
    value: float, decimals: int = 1, *, signed: bool = False, percent: bool = False
) -> str:
    """A number as written in French: decimal comma, a true minus sign (U+2212), thin spaces
    between thousands, and "%" after a no-break space: ``format_fr(-8.94, percent=True)`` is
    "−8,9 %"."""
    text = f"{abs(value):,.{decimals}f}".replace(",", "\u202f").replace(".", ",")
    rounded_zero = round(abs(value), decimals) == 0
    if value < 0 and not rounded_zero:
        text = "\u2212" + text
    elif signed and not rounded_zero:
        text = "+" + text
    return text + "\u00a0%" if percent else text
