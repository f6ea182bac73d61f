"""Trends of a species from its survey sites: the site × year matrix handed to TRIM.

Each survey site that counted the taxon is a row; each year a column; a cell is the site's
yearly value by the protocol's rule (``app.surveys.yearly``, validated visits only), or missing
when the site was not counted that year (TRIM imputes it). Inventory baselines tied to a site
(``site_code`` in the CPIE's file) are that site's first years, so that the series starts at
the inventory. The engine (``app.stats.trim``) knows nothing of the database; this module only
builds its input and picks the defaults: the base year of the indices is the earliest site
baseline's year, else the first year.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.baselines.models import Baseline
from app.observations.models import ObservationStatus
from app.species.models import Species
from app.stats.trim import TrimData, TrimError, TrimRecord, TrimResult, fit_trim
from app.surveys import service as surveys_service
from app.surveys.models import Site
from app.surveys.yearly import yearly_values

COVARIATES = ("kind", "zone")


def _site_values(
    session: Session, *, zone_id: uuid.UUID | None, tz: ZoneInfo
) -> tuple[
    dict[uuid.UUID, Site], dict[uuid.UUID, set[int]], dict[tuple[uuid.UUID, uuid.UUID, int], int]
]:
    """Every site (of the zone), the years each was visited, and each site's yearly value per
    species and year, from validated visits: read once, whatever the number of species."""
    clauses: list[Any] = [col(Site.deleted_at).is_(None)]
    if zone_id is not None:
        clauses.append(col(Site.zone_id) == zone_id)
    sites = {s.id: s for s in session.exec(select(Site).where(*clauses))}
    visits = surveys_service.visit_counts(
        session, site_ids=list(sites), statuses=(ObservationStatus.validated.value,)
    )
    visited: dict[uuid.UUID, set[int]] = {}
    values: dict[tuple[uuid.UUID, uuid.UUID, int], int] = {}
    for site_id, site_visits in visits.items():
        visited[site_id] = {v.started_at.astimezone(tz).year for v in site_visits}
        for value in yearly_values(sites[site_id].kind, site_visits, tz=tz):
            values[(site_id, value.species_id, value.year)] = value.value
    return sites, visited, values


def trend_classes(
    session: Session,
    *,
    cd_refs: set[int],
    zone_id: uuid.UUID | None,
    tz: ZoneInfo,
    until_year: int,
) -> dict[int, str]:
    """The TRIM slope class (model 2, overdispersion and serial correlation) up to
    ``until_year`` of each taxon whose survey sites support a trend; taxa whose data cannot are
    left out (the comparison then uses its thresholds)."""
    if not cd_refs:
        return {}
    sites, visited, values = _site_values(session, zone_id=zone_id, tz=tz)
    taxa: dict[uuid.UUID, int] = {
        s.id: s.cd_ref
        for s in session.exec(select(Species).where(col(Species.cd_ref).in_(cd_refs)))
    }
    per_taxon: dict[int, dict[tuple[uuid.UUID, int], float]] = {}
    for (site_id, species_id, year), value in values.items():
        ref = taxa.get(species_id)
        if ref is not None:
            cells = per_taxon.setdefault(ref, {})
            cells[(site_id, year)] = cells.get((site_id, year), 0) + value
    for baseline in session.exec(
        select(Baseline).where(
            col(Baseline.species_id).in_(list(taxa)), col(Baseline.site_id).is_not(None)
        )
    ):
        if baseline.site_id in sites:
            cells = per_taxon.setdefault(taxa[baseline.species_id], {})
            cells.setdefault((baseline.site_id, baseline.year), baseline.count)
    classes: dict[int, str] = {}
    for ref, cells in per_taxon.items():
        counted = {site for site, _ in cells}
        records: list[TrimRecord] = []
        for site in counted:
            for year in visited.get(site, set()) | {y for s, y in cells if s == site}:
                if year <= until_year:
                    records.append(
                        TrimRecord(site=str(site), year=year, count=cells.get((site, year)))
                    )
        if not records:
            continue
        try:
            result = fit_trim(records, model=2)
        except TrimError:
            continue
        if result.slope_imputed is not None:
            classes[ref] = result.slope_imputed.slope_class.value
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
    taxon = [s.id for s in session.exec(select(Species).where(col(Species.cd_ref) == cd_ref))]
    clauses: list[Any] = [col(Site.deleted_at).is_(None)]
    if zone_id is not None:
        clauses.append(col(Site.zone_id) == zone_id)
    sites = {s.id: s for s in session.exec(select(Site).where(*clauses))}
    values: dict[tuple[uuid.UUID, int], float | None] = {}
    visits = surveys_service.visit_counts(
        session, site_ids=list(sites), statuses=(ObservationStatus.validated.value,)
    )
    counted: set[uuid.UUID] = set()
    for site_id, site_visits in visits.items():
        years_visited = {v.started_at.astimezone(tz).year for v in site_visits}
        per_year: dict[int, float] = {}
        for value in yearly_values(sites[site_id].kind, site_visits, tz=tz):
            if value.species_id in taxon:
                per_year[value.year] = per_year.get(value.year, 0) + value.value
        if not per_year:
            continue  # a site that never counted the taxon says nothing of it
        counted.add(site_id)
        for year in years_visited:
            # A year visited without a figure for the taxon (incomplete visits) is missing.
            values[(site_id, year)] = per_year.get(year)
    base_year = None
    if taxon:
        for baseline in session.exec(
            select(Baseline).where(
                col(Baseline.species_id).in_(taxon), col(Baseline.site_id).is_not(None)
            )
        ):
            assert baseline.site_id is not None
            if baseline.site_id not in sites:
                continue
            counted.add(baseline.site_id)
            values.setdefault((baseline.site_id, baseline.year), baseline.count)
            base_year = baseline.year if base_year is None else min(base_year, baseline.year)
    records = []
    for (site_id, year), count in sorted(values.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if site_id not in counted:
            continue
        site = sites[site_id]
        label = None
        if covariate == "kind":
            label = site.kind
        elif covariate == "zone":
            label = str(site.zone_id) if site.zone_id else "hors zone"
        records.append(TrimRecord(site=str(site_id), year=year, count=count, covariate=label))
    return records, base_year


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
    )
    return result, len(data.sites)
