"""``/``: the town's public dashboard, with no sign-in. This year's species against the CPIE's
inventory, the swallows' first return, a map of the validated observations (sensitive species
only as their cells), the trend charts and how to take part.

The page's content, its map data and its charts come from ``app.web.dashboard_data``'s cache,
computed once per change of the data; only the header (who is signed in) and the CSRF token are
rendered per request. The map data and the charts answer ``304`` to a matching ETag.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from markupsafe import Markup
from sqlmodel import Session

from app.core.deps import SessionDep, SettingsDep
from app.core.settings import Settings
from app.stats import parameters
from app.stats.charts import STATUS_FR
from app.web.auth import PageUser
from app.web.dashboard_data import (
    CACHE,
    SWALLOWS,
    Dashboard,
    build,
    current_year,
    etag,
)
from app.web.templating import render, templates

router = APIRouter(include_in_schema=False)

YearQuery = Annotated[int | None, Query(ge=parameters.MIN_YEAR, le=parameters.MAX_YEAR)]
UNITS_FR = {"nests": "nids", "individuals": "individus", "presence": "présence"}
STATUS_CLASS = {
    "increase": "up",
    "stable": "stable",
    "decline": "down",
    "new": "new",
    "not_seen": "absent",
}


def _year(settings: Settings, year: int | None) -> int:
    return year if year is not None else current_year(settings)


def dashboard(session: Session, settings: Settings, year: int) -> tuple[Dashboard, object]:
    return CACHE.get(
        session,
        ("dashboard", year, settings.territory_name),
        lambda: build(session, settings, year),
        max_age=settings.reference_cache_seconds,
    )


def content(session: Session, settings: Settings, year: int) -> str:
    """The page's main content as HTML, cached with the dashboard it was rendered from."""
    data, _ = dashboard(session, settings, year)
    html, _ = CACHE.get(
        session,
        ("content", year, settings.territory_name),
        lambda: templates.env.get_template("dashboard/content.html").render(
            d=data,
            territory=settings.territory_name,
            swallows=SWALLOWS,
            units=UNITS_FR,
            status_fr=STATUS_FR,
            status_class=STATUS_CLASS,
        ),
        max_age=settings.reference_cache_seconds,
    )
    return html


@router.get("/")
def dashboard_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    year: YearQuery = None,
) -> Response:
    del user  # looked up for the header only: everyone sees the town's public dashboard
    chosen = _year(settings, year)
    html = content(session, settings, chosen)
    return render(request, "dashboard/page.html", {"content": Markup(html), "year": chosen})


def _cached_bytes(request: Request, body: bytes, tag: str, media_type: str) -> Response:
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/dashboard/map.geojson")
def dashboard_map(
    request: Request, session: SessionDep, settings: SettingsDep, year: YearQuery = None
) -> Response:
    """The year's validated observations for the map, as an anonymous caller sees them."""
    chosen = _year(settings, year)
    data, version = dashboard(session, settings, chosen)
    return _cached_bytes(
        request, data.map_geojson, etag(version, "map", chosen), "application/geo+json"
    )


@router.get("/dashboard/comparison.svg")
def dashboard_comparison_chart(
    request: Request, session: SessionDep, settings: SettingsDep, year: YearQuery = None
) -> Response:
    chosen = _year(settings, year)
    data, version = dashboard(session, settings, chosen)
    if data.comparison_svg is None:
        return Response(status_code=404)
    return _cached_bytes(
        request, data.comparison_svg, etag(version, "comparison", chosen), "image/svg+xml"
    )


@router.get("/dashboard/trend-{cd_nom}.svg")
def dashboard_trend_chart(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cd_nom: int,
    year: YearQuery = None,
) -> Response:
    chosen = _year(settings, year)
    data, version = dashboard(session, settings, chosen)
    chart = data.trend_svgs.get(cd_nom)
    if chart is None:
        return Response(status_code=404)
    return _cached_bytes(request, chart[1], etag(version, "trend", chosen, cd_nom), "image/svg+xml")
