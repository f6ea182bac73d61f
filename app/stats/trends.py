"""Trends of a species from its survey sites: the site × year matrix handed to TRIM.

Each survey site that counted the taxon is a row; each year a column; a cell is the site's
yearly value by the protocol's rule (``app.surveys.yearly``, validated visits only), or missing
when the site was not counted that year (TRIM imputes it). Inventory baselines tied to a site
(``site_code`` in the CPIE's file) are that site's first years, so that the series starts at
the inventory. The engine (``app.stats.trim``) knows nothing of the database; this module builds
its input and picks the defaults: the base year of the indices is the earliest site
baseline's year, else the first year. It also answers ``GET /stats/trends`` (and its charts):
the request's checks, the fit, and the response.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.baselines.models import Baseline
from app.core.cache import database_key, table_revision
from app.core.errors import FieldError, Unprocessable
from app.core.settings import Settings
from app.observations.models import ObservationStatus
from app.species.models import Species
from app.stats import labels
from app.stats.parameters import invalid, require_species
from app.stats.schemas import TrendResponse
from app.stats.trim import SlopeClass, TrimData, TrimError, TrimRecord, TrimResult, fit_trim
from app.surveys.aggregates import site_year_values, visited_span, visited_years
from app.surveys.models import Site, Visit
from app.surveys.sites import live_sites


@dataclass
class _Series:
    """Every site's counts of each taxon: the cells ``(site, year) -> value`` per ``cd_ref``
    (site-year values of validated visits, site baselines for years not counted), the years
    each site was visited, and each taxon's earliest site baseline year."""

    sites: dict[uuid.UUID, Site]
    visited: dict[uuid.UUID, set[int]]
    cells: dict[int, dict[tuple[uuid.UUID, int], float]] = field(default_factory=dict)
    baseline_years: dict[int, int] = field(default_factory=dict)

    def records(
        self, cd_ref: int, *, until_year: int | None = None, covariate: str | None = None
    ) -> list[TrimRecord]:
        """The taxon's TRIM records: each site that counted it, every year it was visited or
        has a baseline; a visited year without a figure for the taxon is missing."""
        cells = self.cells.get(cd_ref, {})
        years: dict[uuid.UUID, set[int]] = defaultdict(set)
        for site, year in cells:
            years[site].add(year)
        records = []
        for site in sorted(years, key=str):
            label = _covariate(self.sites[site], covariate)
            for year in sorted(years[site] | self.visited.get(site, set())):
                if until_year is None or year <= until_year:
                    count = cells.get((site, year))
                    records.append(TrimRecord(str(site), year, count, covariate=label))
        return records


def _covariate(site: Site, covariate: str | None) -> str | None:
    if covariate == "kind":
        return site.kind
    if covariate == "zone":
        return str(site.zone_id) if site.zone_id else "hors zone"
    return None


def _series(
    session: Session, *, cd_refs: set[int], zone_id: uuid.UUID | None, tz: ZoneInfo
) -> _Series:
    """The taxa's cells from their sites' yearly values (validated visits, computed by the
    database) and the baselines tied to those sites."""
    series = _Series(sites=live_sites(session, zone_id=zone_id), visited={})
    taxa: dict[uuid.UUID, int] = {
        s.id: s.cd_ref
        for s in session.exec(select(Species).where(col(Species.cd_ref).in_(cd_refs)))
    }
    if not taxa:
        return series
    validated = (ObservationStatus.validated.value,)
    span = visited_span(session, statuses=validated, tz=tz)
    if span is not None:
        first, last = span
        series.visited = visited_years(
            session, statuses=validated, tz=tz, first=first, last=last, zone_id=zone_id
        )
        for value in site_year_values(
            session,
            statuses=validated,
            tz=tz,
            first=first,
            last=last,
            species_ids=list(taxa),
            zone_id=zone_id,
        ):
            cells = series.cells.setdefault(taxa[value.species_id], {})
            key = (value.site_id, value.year)
            cells[key] = cells.get(key, 0) + value.value
    for baseline in session.exec(
        select(Baseline).where(
            col(Baseline.species_id).in_(list(taxa)), col(Baseline.site_id).is_not(None)
        )
    ):
        if baseline.site_id not in series.sites:
            continue
        ref = taxa[baseline.species_id]
        series.cells.setdefault(ref, {}).setdefault(
            (baseline.site_id, baseline.year), baseline.count
        )
        earliest = series.baseline_years.get(ref, baseline.year)
        series.baseline_years[ref] = min(earliest, baseline.year)
    return series


# Fitted classes per (database, taxa, zone, year), kept while the survey data they came from
# are unchanged: a model per taxon takes a tenth of a second or more, and the comparison is read
# far more often than visits are reviewed. Per process, bounded, checked against the tables'
# revisions on every read, so that a review, an import or a deletion elsewhere is seen at once.
_CLASS_CACHE: OrderedDict[Hashable, tuple[Hashable, dict[int, str]]] = OrderedDict()
_CLASS_CACHE_SIZE = 64
_CLASS_CACHE_LOCK = threading.Lock()


def survey_revision(session: Session) -> Hashable:
    """What the trends are computed from: sites, visits (their counts move ``updated_at``),
    baselines and the species reference (``cd_ref``, sensitivity)."""
    return tuple(table_revision(session, model) for model in (Site, Visit, Baseline, Species))


def trend_classes(
    session: Session,
    *,
    cd_refs: set[int],
    zone_id: uuid.UUID | None,
    tz: ZoneInfo,
    until_year: int,
) -> dict[int, str]:
    """The TRIM slope class (model 2, overdispersion and serial correlation) up to
    ``until_year`` of each taxon whose survey sites support a trend; taxa whose data cannot, or
    are too few for a label (``app.stats.labels``), are left out (the comparison then uses its
    thresholds). The class is the label's, PECBMS convention, σ² below 1 taken as 1."""
    if not cd_refs:
        return {}
    key = (database_key(session), frozenset(cd_refs), zone_id, until_year, tz.key)
    revision = survey_revision(session)
    with _CLASS_CACHE_LOCK:
        cached = _CLASS_CACHE.get(key)
        if cached is not None and cached[0] == revision:
            _CLASS_CACHE.move_to_end(key)
            return dict(cached[1])
    classes = _fit_classes(session, cd_refs=cd_refs, zone_id=zone_id, tz=tz, until_year=until_year)
    with _CLASS_CACHE_LOCK:
        _CLASS_CACHE[key] = (revision, classes)
        _CLASS_CACHE.move_to_end(key)
        while len(_CLASS_CACHE) > _CLASS_CACHE_SIZE:
            _CLASS_CACHE.popitem(last=False)
    return dict(classes)


def _fit_classes(
    session: Session,
    *,
    cd_refs: set[int],
    zone_id: uuid.UUID | None,
    tz: ZoneInfo,
    until_year: int,
) -> dict[int, str]:
    series = _series(session, cd_refs=cd_refs, zone_id=zone_id, tz=tz)
    classes: dict[int, str] = {}
    for ref in series.cells:
        records = series.records(ref, until_year=until_year)
        if not records:
            continue
        try:
            data = TrimData.from_records(records)
            result = fit_trim(data, model=2)
        except TrimError:
            continue
        label = labels.trend_label(
            result, result.slope_imputed, support=labels.remember_support(result, data)
        )
        if label is not None and not label.insufficient:
            classes[ref] = label.slope_class
    return classes


def site_series(
    session: Session,
    *,
    cd_ref: int,
    zone_id: uuid.UUID | None,
    tz: ZoneInfo,
    covariate: str | None = None,
) -> tuple[list[TrimRecord], int | None]:
    """The TRIM records of a taxon's survey sites, and the earliest site baseline's year."""
    series = _series(session, cd_refs={cd_ref}, zone_id=zone_id, tz=tz)
    return series.records(cd_ref, covariate=covariate), series.baseline_years.get(cd_ref)


def species_trend(
    session: Session,
    *,
    cd_ref: int,
    zone_id: uuid.UUID | None,
    tz: ZoneInfo,
    model: int,
    changepoints: list[int] | None,
    base_year: int | None,
    covariate: str | None,
    overdispersion: bool = True,
    serial_correlation: bool = True,
    stepwise: bool = False,
    slope_intervals: list[int] | None = None,
) -> tuple[TrimResult, int]:
    """TRIM on the taxon's sites; raises :class:`TrimError` when the data cannot support it.
    Returns the result and the number of sites."""
    records, baseline_year = site_series(
        session, cd_ref=cd_ref, zone_id=zone_id, tz=tz, covariate=covariate
    )
    if not records:
        raise TrimError(
            "no survey site has counted this species (validated visits, or baselines tied to "
            "a site): there is no series to estimate a trend from",
            code="trim.no_sites",
        )
    data = TrimData.from_records(records)
    if base_year is not None and base_year not in data.years:
        raise TrimError(
            f"the base year {base_year} is not one of the series' years "
            f"({data.years[0]}–{data.years[-1]})",
            code="trim.bad_base_year",
        )
    outside = [y for y in slope_intervals or () if y not in data.years]
    if outside:
        raise TrimError(
            f"the slope intervals' years {', '.join(map(str, outside))} are not years of the "
            f"series ({data.years[0]}–{data.years[-1]})",
            code="trim.bad_slope_intervals",
        )
    base = base_year if base_year is not None else baseline_year
    if base is not None and base not in data.years:
        base = None
    result = fit_trim(
        data,
        model=model,
        changepoints=changepoints,
        overdispersion=overdispersion,
        serial_correlation=serial_correlation,
        base_year=base,
        stepwise=stepwise,
        slope_intervals=slope_intervals,
    )
    labels.remember_support(result, data)
    return result, len(data.sites)


# --- the request ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendRequest:
    species_id: uuid.UUID | None
    cd_nom: int | None
    zone_id: uuid.UUID | None
    model: int
    changepoints: list[int] | None
    base_year: int | None
    covariate: str | None
    overdispersion: bool
    serial_correlation: bool
    convention: str = labels.Convention.pecbms.value
    stepwise: bool = False
    slope_intervals: list[int] | None = None


def _years(raw: str | None, field: str, code: str, message: str) -> list[int] | None:
    """Years separated by commas, or a 422 naming ``field``."""
    if raw is None or not raw.strip():
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise invalid([FieldError(field=field, message=message, code=code)]) from None


def parse_changepoints(raw: str | None) -> list[int] | None:
    return _years(
        raw,
        "changepoints",
        "stats.invalid_changepoints",
        "Give the changepoints as years separated by commas (2012,2018).",
    )


def parse_slope_intervals(raw: str | None) -> list[int] | None:
    return _years(
        raw,
        "slope_intervals",
        "stats.invalid_slope_intervals",
        "Give the slope intervals' bounds as years separated by commas (2012,2018).",
    )


#: The request parameter a TRIM error is about, when it is not the species' data.
_ERROR_FIELDS = {"trim.bad_slope_intervals": "slope_intervals", "trim.stepwise_model": "stepwise"}


def fit_species_trend(
    session: Session, settings: Settings, request: TrendRequest
) -> tuple[Species, TrimResult, int]:
    """TRIM for the species' survey sites, or a 422 saying why the data cannot support it."""
    species = require_species(session, settings, request.species_id, request.cd_nom)
    try:
        result, sites = species_trend(
            session,
            cd_ref=species.cd_ref,
            zone_id=request.zone_id,
            tz=settings.tz,
            model=request.model,
            changepoints=request.changepoints,
            base_year=request.base_year,
            covariate=request.covariate,
            overdispersion=request.overdispersion,
            serial_correlation=request.serial_correlation,
            stepwise=request.stepwise,
            slope_intervals=request.slope_intervals,
        )
    except TrimError as exc:
        field = _ERROR_FIELDS.get(exc.code, "species_id")
        raise Unprocessable(
            f"No trend can be estimated: {exc}",
            code=exc.code,
            errors=[FieldError(field=field, message=str(exc), code=exc.code)],
        ) from None
    return species, result, sites


def trend_response(
    species: Species,
    result: TrimResult,
    sites: int,
    zone_id: uuid.UUID | None,
    *,
    convention: str = labels.Convention.pecbms.value,
) -> TrendResponse:
    body = result.to_dict()
    warnings = [*result.warnings, *_label_slopes(body, result, convention)]
    return TrendResponse.model_validate(
        {
            "species_id": species.id,
            "cd_nom": species.cd_ref,
            "zone_id": zone_id,
            "model": result.model,
            "changepoints": list(result.changepoints),
            "base_year": result.base_year,
            "sites": sites,
            **body,
            "warnings": warnings,
        }
    )


def _label_slopes(body: dict[str, Any], result: TrimResult, convention: str) -> list[str]:
    """Add each overall slope's ``label`` to the JSON body; the warnings the labels call for."""
    warnings = []
    slopes = {"model": result.slope_model, "imputed": result.slope_imputed}
    for name, slope in slopes.items():
        label = labels.trend_label(result, slope, convention=convention)
        if label is not None and body["slope"].get(name) is not None:
            body["slope"][name]["label"] = label.to_dict()
            # The trend's class is the label's: its convention and its σ² rule; "uncertain"
            # (the data cannot tell) where they are too few for any verdict.
            body["slope"][name]["class"] = (
                SlopeClass.uncertain.value if label.insufficient else label.slope_class
            )
            if name == "imputed" and label.insufficient and label.reason:
                warnings.append(f"no trend label: {label.reason}")
    # Each interval's class by the same convention and σ² rule (a two-year interval has no
    # residual to judge it by: "unknown", as TRIM prints it).
    fitted_sigma2 = result.sigma2 if result.overdispersion else None
    for interval in body.get("slope_intervals") or []:
        for name in ("model", "imputed"):
            estimate = interval.get(name)
            if estimate is None or interval["df"] <= 0:
                continue
            label = labels.label_slope(
                estimate["add"],
                estimate["add_se"],
                n_years=interval["df"] + 2,
                convention=convention,
                sigma2=fitted_sigma2,
            )
            estimate["class"] = (
                SlopeClass.uncertain.value if label.insufficient else label.slope_class
            )
    sigma2 = labels.sigma2_warning(result)
    if sigma2 is not None:
        warnings.append(sigma2)
    return warnings
