"""What the statistics answer: the contract's fields first, extensions after.

Statistics are public and are read out on the local radio: an observer appears by the
pseudonym they chose (``display_name``), never by an e-mail address or an id.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SightingSource(StrEnum):
    observation = "observation"
    visit = "visit"


EXAMPLE_PHENOLOGY: dict[str, Any] = {
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
            "observer": "Les Hirondelles du 12",
            "first_at": "2025-03-29T16:05:00Z",
            "source": "visit",
        },
        {
            "year": 2026,
            "first_date": "2026-04-05",
            "observer": "Jules",
            "first_at": "2026-04-05T08:15:00Z",
            "source": "observation",
        },
    ],
    "median_day_of_year": 93.0,
}


class PhenologyItem(BaseModel):
    year: int = Field(description="A year (territory's local time) with at least one report.")
    first_date: date = Field(
        description="The first date the species was reported that year, in the territory's "
        "local time (`YYYY-MM-DD`)."
    )
    observer: str = Field(description="Who reported it, by their pseudonym.", examples=["Camille"])
    first_at: datetime = Field(
        description="Extension: the exact time of that first report, RFC 3339 in UTC."
    )
    source: SightingSource = Field(
        description="Extension: `observation` (a validated observation) or `visit` (a "
        "validated survey visit that counted the species)."
    )


class PhenologyResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PHENOLOGY]})

    items: list[PhenologyItem] = Field(description="One per year with a report, oldest first.")
    median_day_of_year: float | None = Field(
        description="The median over the listed years of the first date's day of the year "
        "(1 = 1 January; 1 April is day 91, or 92 in a leap year); null without items.",
        examples=[93.0],
    )


class CountSource(StrEnum):
    observations = "observations"
    protocol = "protocol"


class YearlyStatsItem(BaseModel):
    year: int
    species_id: uuid.UUID = Field(description="The accepted taxon's species (by `cd_ref`).")
    cd_ref: int
    zone_id: uuid.UUID | None = Field(
        description="Null: the whole territory (always so for a sensitive species, but for staff)."
    )
    count: int = Field(
        description="Individuals: the sum of the validated casual observations' counts in "
        "`individuals`. Never nests, never the protocols' value: 0 for a year the taxon was "
        "only reported in nests or only counted by the survey protocols (`observations` and "
        "`protocol_value` tell these apart)."
    )
    observations: int = Field(
        description="The validated observations, in either unit (0: no casual sighting)."
    )
    observers: int
    nests: int = Field(
        description="Extension: the sum of the validated casual observations' counts in `nests`."
    )
    count_source: CountSource = Field(
        description="Deprecated: always `observations`, the only source of `count`.",
        json_schema_extra={"deprecated": True},
    )
    observed_count: int = Field(
        description="Deprecated: the same as `count`.", json_schema_extra={"deprecated": True}
    )
    protocol_value: int | None = Field(
        description="The survey protocols' value in `protocol_unit`: the sum over the zone's "
        "sites of that unit of their yearly values (validated visits); null when no site "
        "counted the taxon that year. Nests where any nest site counted it, else individuals "
        "(gardens, transects); both are in `protocol_nests` and `protocol_individuals`."
    )
    protocol_unit: str | None = Field(description="`nests` or `individuals`.")
    sites: int = Field(description="Survey sites whose yearly value is in `protocol_value`.")
    protocol_nests: int | None = Field(
        description="Extension: the sum of the zone's nest sites' yearly values (occupied "
        "nests), or null when no nest site counted the taxon that year."
    )
    protocol_individuals: int | None = Field(
        description="Extension: the sum of the zone's gardens' and transects' yearly values "
        "(individuals), or null when none counted the taxon that year."
    )


class YearlyStatsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "year": 2026,
                            "species_id": "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90",
                            "cd_ref": 459478,
                            "zone_id": "3f7b9c2d-1e4a-4b6c-8d9e-0a1b2c3d4e5f",
                            "count": 212,
                            "observations": 57,
                            "observers": 9,
                            "nests": 12,
                            "count_source": "observations",
                            "observed_count": 212,
                            "protocol_value": 31,
                            "protocol_unit": "nests",
                            "sites": 4,
                            "protocol_nests": 31,
                            "protocol_individuals": None,
                        }
                    ]
                }
            ]
        }
    )

    items: list[YearlyStatsItem]


class ComparisonStatus(StrEnum):
    increase = "increase"
    stable = "stable"
    decline = "decline"
    new = "new"
    not_seen = "not_seen"


class ComparisonItem(BaseModel):
    species_id: uuid.UUID
    cd_nom: int = Field(description="The accepted taxon's TAXREF id (`cd_ref`).")
    vernacular_name: str | None
    scientific_name: str
    baseline_year: int | None
    baseline_count: float | None
    baseline_unit: str | None = Field(description="`nests`, `individuals` or `presence`.")
    count: float = Field(
        description="The year's value in the baseline's unit (`compared_figure` says which "
        "figure); 0 when nothing was counted in that unit."
    )
    unit: str = Field(
        description="The unit compared: the baseline's, or for a species without one, "
        "`individuals` where it was counted so that year, else `nests`."
    )
    change: float | None = Field(
        description="`count` − `baseline_count`; null without a baseline or when nothing was "
        "counted in its unit that year (`compared_figure` `none`)."
    )
    change_pct: float | None = Field(
        description="The change in % of the baseline; null when the baseline is 0 or missing, "
        "or when nothing was counted in its unit that year."
    )
    status: ComparisonStatus
    source: str = Field(
        description="Where `count` comes from: `protocol`, `observations`, `presence` or `none`."
    )
    compared_figure: str = Field(
        description="Extension: the figure in `count`, chosen by the baseline's unit, never "
        "mixing units: `protocol_nests` (the nest sites' yearly values), `observed_nests` (the "
        "validated casual observations counted in nests, where no nest site counted the "
        "species), `protocol_individuals` (the gardens' and transects' yearly values), "
        "`observed_individuals` (the largest validated casual count in individuals, where no "
        "such site counted it), `presence`, or `none` (nothing counted in that unit).",
        examples=["protocol_nests"],
    )
    reported: bool = Field(
        description="Extension: the species has validated data that year (a casual observation "
        "or a survey count, in any unit, zeros included). `not_seen` with `reported` false: "
        "not reported at all that year."
    )
    trend_class: str | None = Field(
        description="The TRIM slope class of the species' survey sites, when one decided the "
        "status."
    )


class ComparisonResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "year": 2026,
                    "zone_id": None,
                    "items": [
                        {
                            "species_id": "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90",
                            "cd_nom": 459478,
                            "vernacular_name": "Hirondelle de fenêtre",
                            "scientific_name": "Delichon urbicum",
                            "baseline_year": 2010,
                            "baseline_count": 34,
                            "baseline_unit": "nests",
                            "count": 26,
                            "unit": "nests",
                            "change": -8,
                            "change_pct": -23.5,
                            "status": "decline",
                            "source": "protocol",
                            "compared_figure": "protocol_nests",
                            "reported": True,
                            "trend_class": None,
                        }
                    ],
                }
            ]
        }
    )

    year: int
    zone_id: uuid.UUID | None
    items: list[ComparisonItem]


class TrendPoint(BaseModel):
    year: int
    model: float
    model_se: float
    imputed: float
    imputed_se: float


class TrendInterval(BaseModel):
    level: float = Field(description="0.95: the interval the class is read from.")
    lower: float
    upper: float


class TrendThresholds(BaseModel):
    sites: int = Field(description="Sites with a positive count, at least.")
    years: int = Field(description="Years with a count (zeros included), at least.")
    positive_counts: int = Field(description="Positive counts, at least.")


class TrendLabel(BaseModel):
    """The verdict on the slope by `convention` (docs/surveys-and-statistics.md): its class, or
    `insufficient data` with the `reason` and the `thresholds`; standard errors use σ² = 1
    where the fit estimated σ² below 1 (`sigma2_floored`)."""

    label_class: str = Field(
        alias="class",
        serialization_alias="class",
        description="strong increase … steep decline, or insufficient data.",
    )
    significance: str | None = Field(description="p<0.01, p<0.05, or null.")
    text: str = Field(description="As TRIM prints it: moderate increase (p<0.01).")
    p: float | None = Field(description="pecbms: normal test of (mul − 1)/se; rtrim: t, n − 2 df.")
    interval: TrendInterval | None
    convention: Literal["pecbms", "rtrim"]
    sigma2_floored: bool
    reason: str | None
    thresholds: TrendThresholds | None

    model_config = ConfigDict(populate_by_name=True)


class TrendSlope(BaseModel):
    add: float
    add_se: float
    mul: float
    mul_se: float
    slope_class: str = Field(alias="class", serialization_alias="class")
    label: TrendLabel | None = None
    p: float | None = Field(
        default=None,
        description="Two-sided p of the slope (t on n − 2 degrees of freedom, n years); null "
        "with fewer than three years.",
    )

    model_config = ConfigDict(populate_by_name=True)


class TrendSlopes(BaseModel):
    model: TrendSlope | None
    imputed: TrendSlope | None


class TrendIntervalSlope(BaseModel):
    add: float
    add_se: float
    mul: float
    mul_se: float
    p: float | None = Field(description="Null for an interval of two years (no df left).")
    slope_class: str = Field(
        alias="class",
        serialization_alias="class",
        description="As the overall slope's; `unknown` for an interval of two years.",
    )

    model_config = ConfigDict(populate_by_name=True)


class TrendSlopeInterval(BaseModel):
    from_year: int = Field(alias="from", serialization_alias="from")
    to_year: int = Field(alias="to", serialization_alias="to")
    df: int = Field(description="Years in the interval minus 2.")
    model: TrendIntervalSlope | None
    imputed: TrendIntervalSlope | None = Field(description="Null when a total is zero.")

    model_config = ConfigDict(populate_by_name=True)


class TrendStepTest(BaseModel):
    changepoint: int
    statistic: float
    df: int
    p: float


class TrendStep(BaseModel):
    iteration: int
    action: Literal["remove", "add"]
    changepoint: int = Field(description="The year removed or put back.")
    test: Literal["wald", "score"] = Field(
        description="`wald`: the change of slope at the year; `score`: adding it back."
    )
    statistic: float
    df: int
    p: float
    changepoints: list[int] = Field(description="The changepoints after the step.")
    tests: list[TrendStepTest] = Field(description="Every test of the step, all years ranked.")


class TrendResponse(BaseModel):
    """TRIM's estimates for the species' survey sites (see `sentinelles trim` for the same on a
    CSV). `indices` are relative to `base_year`; `slope.imputed.class` is the trend's class."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "species_id": "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90",
                    "cd_nom": 459478,
                    "zone_id": None,
                    "model": 3,
                    "changepoints": [],
                    "base_year": 2010,
                    "sites": 12,
                    "sigma2": 1.37,
                    "rho": 0.3,
                    "chi2": 191.4,
                    "lr": 194.8,
                    "df": 140,
                    "aic": -85.2,
                    "totals": [
                        {
                            "year": 2010,
                            "model": 509.0,
                            "model_se": 45.0,
                            "imputed": 509.0,
                            "imputed_se": 45.0,
                        }
                    ],
                    "indices": [
                        {
                            "year": 2010,
                            "model": 1.0,
                            "model_se": 0.0,
                            "imputed": 1.0,
                            "imputed_se": 0.0,
                        }
                    ],
                    "slope": {
                        "model": None,
                        "imputed": {
                            "add": -0.03,
                            "add_se": 0.01,
                            "mul": 0.97,
                            "mul_se": 0.01,
                            "class": "moderate decline",
                            "label": {
                                "class": "moderate decline",
                                "significance": "p<0.01",
                                "text": "moderate decline (p<0.01)",
                                "p": 0.0027,
                                "interval": {"level": 0.95, "lower": 0.95, "upper": 0.99},
                                "convention": "pecbms",
                                "sigma2_floored": False,
                                "reason": None,
                                "thresholds": None,
                            },
                        },
                    },
                    "warnings": [],
                }
            ]
        }
    )

    species_id: uuid.UUID
    cd_nom: int
    zone_id: uuid.UUID | None
    model: int
    changepoints: list[int]
    base_year: int
    sites: int
    sigma2: float | None
    rho: float | None
    chi2: float
    lr: float
    df: int
    aic: float
    totals: list[TrendPoint]
    indices: list[TrendPoint]
    slope: TrendSlopes
    warnings: list[str]
    stepwise: list[TrendStep] | None = Field(
        default=None,
        description="With `stepwise`: its steps, in order (`changepoints` are those kept).",
    )
    slope_intervals: list[TrendSlopeInterval] | None = Field(
        default=None,
        description="With `slope_intervals`: the overall slope of each interval; neighbouring "
        "intervals share their joint year.",
    )
