"""``/stats``: a year compared with the inventory baselines (``app.stats.comparison``, as
``GET /api/v1/stats/comparison``) and the trend charts of ``app.stats.charts``.

The charts are served under ``/stats/…`` with the cookie session, by the same functions as the
API's ``comparison.svg`` and ``trends.svg``: an ``<img>`` sends no bearer header, and the
comparison counts sensitive species per zone for staff only, so the page's chart must be the
staff's, as its table is.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.baselines.models import Baseline
from app.core.db import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import AppError
from app.core.settings import Settings
from app.species.models import Species
from app.stats import charts, comparison, parameters
from app.stats.schemas import ComparisonItem
from app.stats.trends import TrendRequest, fit_species_trend
from app.web.auth import EcologistPage
from app.web.baselines import UNIT_LABELS
from app.web.species import GROUP_LABELS, french
from app.web.templating import render
from app.zones import service as zones_service

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    "increase": "En hausse",
    "stable": "Stable",
    "decline": "En baisse",
    "new": "Nouvelle",
    "not_seen": "Non revue",
}
# The figure each count is (``compared_figure``): nests with nests, individuals with individuals.
FIGURE_LABELS = {
    "protocol_nests": "nids des sites de suivi",
    "observed_nests": "nids signalés (observations validées)",
    "protocol_individuals": "jardins et transects suivis",
    "observed_individuals": "plus grand effectif observé",
    "presence": "présence",
    "none": "aucun comptage dans cette unité",
}
YEARS_BACK = 10


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def _year(raw: str, settings: Settings) -> int:
    current = utcnow().astimezone(settings.tz).year
    try:
        year = int(raw)
    except ValueError:
        return current
    return year if parameters.MIN_YEAR <= year <= parameters.MAX_YEAR else current


def _years(session: Session, settings: Settings) -> list[int]:
    current = utcnow().astimezone(settings.tz).year
    first = session.exec(select(func.min(col(Baseline.year)))).one()
    start = min(int(first) if first is not None else current, current - YEARS_BACK)
    return list(range(current, start - 1, -1))


def _comparison_chart(
    session: Session, settings: Settings, *, year: int, zone_id: uuid.UUID | None
) -> bytes:
    """The API's ``comparison.svg``, for staff (``app.stats.router.comparison_svg``)."""
    answer = comparison.comparison_statistics(
        session, settings, staff=True, year=year, zone_id=zone_id
    )
    rows = charts.comparison_bars(answer.items)
    title = f"{settings.territory_name} en {answer.year} : évolution depuis l'inventaire"
    return charts.comparison_chart(rows, title=title)


def _picture(body: bytes) -> Response:
    return Response(
        body, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"}
    )


@router.get("/stats")
def stats_page(
    request: Request,
    user: EcologistPage,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[str, Query(max_length=8)] = "",
    zone_id: Annotated[str, Query(max_length=64)] = "",
    group: Annotated[str, Query(max_length=32)] = "",
    species_id: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    chosen_year = _year(year, settings)
    zones = zones_service.list_zones(session)
    zone = _uuid(zone_id)
    if zone is not None and zone not in {z.id for z in zones}:
        zone = None
    answer = comparison.comparison_statistics(
        session, settings, staff=True, year=chosen_year, zone_id=zone
    )
    groups = {
        s.id: s.group
        for s in session.exec(
            select(Species).where(col(Species.id).in_([i.species_id for i in answer.items]))
        )
    }
    chosen_group = group if group in GROUP_LABELS else ""
    items: list[ComparisonItem] = [
        i for i in answer.items if not chosen_group or groups.get(i.species_id) == chosen_group
    ]
    present_groups = {g: GROUP_LABELS[g] for g in GROUP_LABELS if g in set(groups.values())}

    # The trend: the species asked for, else the first one whose survey sites gave a trend.
    trend_species = _uuid(species_id)
    if trend_species is None:
        trend_species = next((i.species_id for i in items if i.trend_class is not None), None)
    trend: dict[str, Any] | None = None
    if trend_species is not None:
        named = session.get(Species, trend_species)
        if named is not None:
            trend = {"species": named, "error": None, "src": None}
            try:
                fit_species_trend(session, settings, _trend_request(trend_species, zone))
            except AppError as exc:
                trend["error"] = french(exc.code, exc.detail)
            else:
                params = {"species_id": str(trend_species)}
                if zone is not None:
                    params["zone_id"] = str(zone)
                trend["src"] = "/stats/trends.svg?" + urlencode(params)
    chart_params = {"year": str(chosen_year)}
    if zone is not None:
        chart_params["zone_id"] = str(zone)
    zone_name = next((z.name for z in zones if z.id == zone), None)
    return render(
        request,
        "stats/page.html",
        {
            "year": chosen_year,
            "years": _years(session, settings),
            "zones": zones,
            "zone": zone,
            "zone_name": zone_name,
            "group": chosen_group,
            "groups": present_groups,
            "items": items,
            "all_items": answer.items,
            "statuses": STATUS_LABELS,
            "figures": FIGURE_LABELS,
            "trend_classes": charts.SLOPE_FR,
            "units": UNIT_LABELS,
            "comparison_src": "/stats/comparison.svg?" + urlencode(chart_params),
            "trend": trend,
        },
    )


def _trend_request(species_id: uuid.UUID, zone_id: uuid.UUID | None) -> TrendRequest:
    return TrendRequest(
        species_id=species_id,
        cd_nom=None,
        zone_id=zone_id,
        model=3,
        changepoints=None,
        base_year=None,
        covariate=None,
        overdispersion=True,
        serial_correlation=True,
    )


@router.get("/stats/comparison.svg")
def comparison_svg(
    user: EcologistPage,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[int | None, Query(ge=parameters.MIN_YEAR, le=parameters.MAX_YEAR)] = None,
    zone_id: uuid.UUID | None = None,
) -> Response:
    chosen = year if year is not None else utcnow().astimezone(settings.tz).year
    return _picture(_comparison_chart(session, settings, year=chosen, zone_id=zone_id))


@router.get("/stats/trends.svg")
def trends_svg(
    user: EcologistPage,
    session: SessionDep,
    settings: SettingsDep,
    species_id: uuid.UUID,
    zone_id: uuid.UUID | None = None,
) -> Response:
    """The API's ``trends.svg`` (``app.stats.router``) with its default model."""
    species, result, _ = fit_species_trend(session, settings, _trend_request(species_id, zone_id))
    name = species.vernacular_name or species.scientific_name
    return _picture(
        charts.trend_chart(result, title=f"{name} à {settings.territory_name}", fmt="svg")
    )
