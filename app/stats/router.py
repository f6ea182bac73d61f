"""Statistics over HTTP: public, read-only, for the town's pages and the local radio."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.accounts.dependencies import PUPILS_ADMITTED, OptionalUser
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.viewer import is_staff
from app.observations.schemas import CdNomQuery
from app.stats import charts, comparison, parameters, phenology, yearly
from app.stats.schemas import (
    ComparisonResponse,
    PhenologyResponse,
    TrendResponse,
    YearlyStatsResponse,
)
from app.stats.trends import (
    TrendRequest,
    fit_species_trend,
    parse_changepoints,
    parse_slope_intervals,
    trend_response,
)

router = APIRouter(prefix="/stats", tags=["statistics"])


def _year_query(description: str) -> Any:
    return Query(ge=parameters.MIN_YEAR, le=parameters.MAX_YEAR, description=description)


@router.get(
    "/phenology",
    dependencies=[PUPILS_ADMITTED],
    response_model=PhenologyResponse,
    summary="First report of a species each year",
    description="For each year, the first date the species was reported in the territory and "
    "by whom (their pseudonym): the return of the swallows. Reports are validated "
    "observations of at least one individual and validated survey visits that counted the "
    "species (some individuals, or some occupied nests); an observation or a count of 0 "
    "(looked for, none seen) is not a report. The species' synonyms (same `cd_ref`) count "
    "as the species. Years and dates are those of the territory's local time; years without "
    "a report are not listed. `median_day_of_year` is the median over the listed years of "
    "the first date's day of the year.\n\n"
    f"Give the species as `species_id` or `cd_nom`. By default, every year up to the current "
    f"one; at most {parameters.MAX_YEARS} years at once. No sign-in needed.",
    responses={
        422: problem_doc(
            "No species given (`stats.species_required`), none of the reference has this id "
            "(`stats.unknown_species`), `species_id` and `cd_nom` disagree "
            "(`stats.species_mismatch`), or the years are out of [1900, 2100], inverted or "
            f"span more than {parameters.MAX_YEARS} years (`stats.invalid_year_range`)."
        ),
    },
)
def read_phenology(
    session: SessionDep,
    settings: SettingsDep,
    species_id: Annotated[
        uuid.UUID | None, Query(description="The species, by its id here.")
    ] = None,
    cd_nom: Annotated[CdNomQuery | None, Query()] = None,
    from_year: Annotated[
        int | None, _year_query("The first year listed (local time); default: the first report.")
    ] = None,
    to_year: Annotated[
        int | None, _year_query("The last year listed (local time); default: the current year.")
    ] = None,
) -> PhenologyResponse:
    return phenology.species_phenology(
        session,
        settings,
        species_id=species_id,
        cd_nom=cd_nom,
        from_year=from_year,
        to_year=to_year,
    )


@router.get(
    "/yearly",
    dependencies=[PUPILS_ADMITTED],
    response_model=YearlyStatsResponse,
    summary="Yearly counts per species and zone",
    description="Per year (the territory's local time), taxon (`cd_ref`: synonyms together) and "
    "zone, from validated data only, each unit and source apart: `count`, the individuals of "
    "the casual observations (the sum of their counts in `individuals`); `nests`, the nests "
    "they reported; `observations` and `observers`, their number and distinct observers; and "
    "from the survey protocols, `protocol_value` in `protocol_unit` (the sum over the zone's "
    "sites of their yearly values: nests where a nest site counted the taxon, else "
    "individuals; both in `protocol_nests` and `protocol_individuals`) with `sites`. No figure "
    "stands in for another: a year only counted by the protocols has `count` 0 and "
    "`observations` 0. A sensitive species is counted for the whole territory only "
    "(`zone_id` null), but for staff. By default the last 25 years. No sign-in needed.",
    responses={422: problem_doc("Unknown species or an invalid range of years.")},
)
def yearly_statistics(
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
    species_id: Annotated[uuid.UUID | None, Query()] = None,
    cd_nom: Annotated[CdNomQuery | None, Query()] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    from_year: Annotated[int | None, _year_query("First year.")] = None,
    to_year: Annotated[int | None, _year_query("Last year.")] = None,
) -> YearlyStatsResponse:
    return yearly.yearly_statistics(
        session,
        settings,
        staff=is_staff(viewer),
        species_id=species_id,
        cd_nom=cd_nom,
        zone_id=zone_id,
        from_year=from_year,
        to_year=to_year,
    )


@router.get(
    "/comparison",
    dependencies=[PUPILS_ADMITTED],
    response_model=ComparisonResponse,
    summary="A year compared with the inventory baselines",
    description="For each species with a baseline or seen that year (`cd_nom` is the accepted "
    "taxon's), the latest baseline up to that year (of the zone, or of the whole territory) "
    "against the year's value in the baseline's unit, never another's (`compared_figure`): "
    "nests with the nest sites' counts (else the casual observations' nests), individuals "
    "with the gardens' and transects' values where any counted the species (else the largest "
    "casual count in individuals), presence with presence. Where nothing was counted in that "
    "unit (`compared_figure` `none`), `change` and `change_pct` are null. `status`: `new` "
    "(seen, no baseline), `not_seen` (a baseline, not seen that year in its unit; `reported` "
    "says whether the species had other validated data), otherwise `increase` from +20 %, "
    "`decline` from −20 %, `stable` between. By default the current year. No sign-in needed.",
    responses={422: problem_doc("Invalid year or zone.")},
)
def comparison_statistics(
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
    year: Annotated[int | None, _year_query("The year compared (default: this year).")] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ComparisonResponse:
    return comparison.comparison_statistics(
        session, settings, staff=is_staff(viewer), year=year, zone_id=zone_id
    )


def trend_request(
    species_id: Annotated[uuid.UUID | None, Query()] = None,
    cd_nom: Annotated[CdNomQuery | None, Query()] = None,
    zone_id: Annotated[uuid.UUID | None, Query(description="Only the sites of this zone.")] = None,
    model: Annotated[
        int,
        Query(
            ge=2,
            le=3,
            description="3: a parameter per year; 2: a linear trend between changepoints.",
        ),
    ] = 3,
    changepoints: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Model 2: years separated by commas (the first year is always one).",
            examples=["2015,2020"],
        ),
    ] = None,
    base_year: Annotated[
        int | None,
        _year_query("The index's reference year (default: the earliest site baseline's year)."),
    ] = None,
    covariate: Annotated[
        Literal["kind", "zone"] | None,
        Query(description="A categorical site covariate: the site's kind or its zone."),
    ] = None,
    overdispersion: bool = True,
    serial_correlation: bool = True,
    convention: Annotated[
        Literal["pecbms", "rtrim"],
        Query(
            description="How the slope's label is computed: `pecbms` (TRIM 3 and the European "
            "schemes: mul ± 1.96·se, p<0.01 tier at 2.576) or `rtrim` (exp(add ± t·se), t on "
            "n − 2 df, strength before significance).",
        ),
    ] = "pecbms",
    stepwise: Annotated[
        bool,
        Query(
            description="Model 2: keep only the changepoints the data support, as TRIM's "
            "stepwise selection (remove the least significant change of slope while its Wald "
            "p > 0.20, put back one whose score test gives p < 0.15). Without `changepoints`, "
            "it starts from every year but the last. The first year is kept."
        ),
    ] = False,
    slope_intervals: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Years separated by commas: also give the overall slope from the first "
            "year to the first given, then to the next, … to the last year (both ends "
            "included), in `slope_intervals`.",
            examples=["2015,2020"],
        ),
    ] = None,
) -> TrendRequest:
    return TrendRequest(
        species_id=species_id,
        cd_nom=cd_nom,
        zone_id=zone_id,
        model=model,
        changepoints=parse_changepoints(changepoints),
        base_year=base_year,
        covariate=covariate,
        overdispersion=overdispersion,
        serial_correlation=serial_correlation,
        convention=convention,
        stepwise=stepwise,
        slope_intervals=parse_slope_intervals(slope_intervals),
    )


TrendRequestDep = Annotated[TrendRequest, Depends(trend_request)]
TREND_ERRORS: dict[int | str, dict[str, Any]] = {
    422: problem_doc(
        "No species given, or the data cannot support a trend: no survey site counted it "
        "(`trim.no_sites`), no positive count (`trim.no_positive_counts`), too few years "
        "(`trim.too_few_years`), a year without any count (model 3)…; `detail` says which. "
        "`stepwise` with model 3 (`trim.stepwise_model`); `slope_intervals` not years of the "
        "series (`trim.bad_slope_intervals`) or not years at all (`stats.invalid_slope_intervals`)."
    )
}


@router.get(
    "/trends",
    dependencies=[PUPILS_ADMITTED],
    response_model=TrendResponse,
    response_model_by_alias=True,
    summary="A species' trend from its survey sites (TRIM)",
    description="TRIM (Statistics Netherlands' log-linear Poisson model of site × year counts, "
    "as European monitoring schemes use it) on the species' survey sites: each site's yearly "
    "value by its protocol's rule (validated visits), the inventory baselines tied to a site "
    "as its first years, missing years imputed. Overdispersion and serial correlation "
    "estimated by GEE. Returns σ², ρ, goodness of fit, the time totals and the indices "
    "(model and imputed) with standard errors, and the overall multiplicative slope with its "
    "class, its p value (t on n − 2 df) and its `label` (class and significance by "
    "`convention`, p-value, 95 % interval; `insufficient data` below the documented minimums; "
    "σ² below 1 taken as 1, with a warning). With `stepwise`, the changepoints kept "
    "(`changepoints`) and the steps (`stepwise`); with `slope_intervals`, the slope of each "
    "interval. No sign-in needed.",
    responses=TREND_ERRORS,
)
def trends(session: SessionDep, settings: SettingsDep, request: TrendRequestDep) -> TrendResponse:
    species, result, sites = fit_species_trend(session, settings, request)
    return trend_response(species, result, sites, request.zone_id, convention=request.convention)


def _picture(body: bytes, fmt: str) -> Response:
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=300"})


def _trend_picture(
    session: SessionDep, settings: SettingsDep, request: TrendRequest, fmt: str
) -> Response:
    species, result, _ = fit_species_trend(session, settings, request)
    name = species.vernacular_name or species.scientific_name
    return _picture(
        charts.trend_chart(
            result,
            title=f"{name} à {settings.territory_name}",
            fmt=fmt,
            convention=request.convention,
        ),
        fmt,
    )


@router.get(
    "/trends.svg",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    summary="A species' trend as a chart (SVG)",
    description="The yearly index with its 95 % confidence band and the reference year's level "
    "as a line, labelled in French: for a classroom projector or the town's bulletin. Takes "
    "the parameters of `GET /stats/trends`.",
    responses={200: {"content": {"image/svg+xml": {}}}, **TREND_ERRORS},
)
def trends_svg(session: SessionDep, settings: SettingsDep, request: TrendRequestDep) -> Response:
    return _trend_picture(session, settings, request, "svg")


@router.get(
    "/trends.png",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    summary="A species' trend as a chart (PNG)",
    description="As `GET /stats/trends.svg`, as a PNG image.",
    responses={200: {"content": {"image/png": {}}}, **TREND_ERRORS},
)
def trends_png(session: SessionDep, settings: SettingsDep, request: TrendRequestDep) -> Response:
    return _trend_picture(session, settings, request, "png")


@router.get(
    "/comparison.svg",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    summary="A year against the inventory baselines as a chart (SVG)",
    description="Each species' change against its baseline in %, coloured by status (green up, "
    "grey-blue stable, red down, grey counted but none seen) with a legend of the colours, "
    'labelled in French with French numbers ("−8,9 %"); a species not reported that year '
    "has « non revue cette année » written in place of a bar. Takes the parameters of "
    "`GET /stats/comparison`.",
    responses={200: {"content": {"image/svg+xml": {}}}, 422: problem_doc("Invalid year or zone.")},
)
def comparison_svg(
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
    year: Annotated[int | None, _year_query("The year compared (default: this year).")] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    answer = comparison.comparison_statistics(
        session, settings, staff=is_staff(viewer), year=year, zone_id=zone_id
    )
    rows = charts.comparison_bars(answer.items)
    title = f"{settings.territory_name} en {answer.year} : évolution depuis l'inventaire"
    return _picture(charts.comparison_chart(rows, title=title), "svg")
