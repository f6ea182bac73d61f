"""Jinja2 for the pages, with the French ways of writing dates and numbers (Babel's CLDR data:
"12 avril 2026", "1 234,5", "-8,9 %"), and ``render``, which every page goes through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from app.web.session import CSRF_FIELD, csrf_token, ensure_csrf_cookie

LOCALE = Locale.parse("fr_FR")  # parsed once: Babel would parse a name at every call
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def date_fr(value: dt.date | dt.datetime | None, pattern: str = "d MMMM y") -> str:
    """``12 avril 2026``; a datetime is read in the territory's time zone first."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _local(value).date()
    return format_date(value, pattern, locale=LOCALE)


def datetime_fr(value: dt.datetime | None) -> str:
    """``12 avril 2026 à 14:05``, in the territory's time zone."""
    if value is None:
        return ""
    return format_datetime(_local(value), "d MMMM y 'à' HH:mm", locale=LOCALE)


def number_fr(value: float | int | None, digits: int | None = None) -> str:
    """``1 234,5``: a narrow no-break space between thousands, a decimal comma."""
    if value is None:
        return "–"
    if digits is not None:
        return format_decimal(
            value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=LOCALE
        )
    return format_decimal(value, locale=LOCALE)


def percent_fr(value: float | None, digits: int = 1) -> str:
    """``-8,9 %`` from ``-0.089``."""
    if value is None:
        return "–"
    return format_percent(value, f"#,##0.{'0' * digits} %" if digits else "#,##0 %", locale=LOCALE)


_TIMEZONE = {"zone": ZoneInfo("Europe/Paris")}


def _local(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(_TIMEZONE["zone"])


def set_timezone(name: str) -> None:
    """The territory's time zone (``SENTINELLES_TERRITORY_TIMEZONE``), set once at start-up."""
    _TIMEZONE["zone"] = ZoneInfo(name)


templates.env.filters.update(
    date_fr=date_fr, datetime_fr=datetime_fr, number_fr=number_fr, percent_fr=percent_fr
)
templates.env.globals.update(csrf_field=CSRF_FIELD)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page: the template with the signed-in account (``request.state.page_user``, set by
    ``app.web.auth``), the CSRF token its forms carry, and the service's settings."""
    settings = request.app.state.settings
    ctx: dict[str, Any] = {
        "user": getattr(request.state, "page_user", None),
        "csrf_token": csrf_token(request),
        "settings": settings,
        "territory": settings.territory_name,
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, template, ctx, status_code=status_code, headers=headers
    )
    ensure_csrf_cookie(response, request, settings)
    return response
