"""``/docs`` and ``/redoc``: the API's interactive documentation, with Swagger UI's and ReDoc's
files served from ``/static/vendor`` (they used to come from a CDN, and were blank offline)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor"


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} — Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
def swagger_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url or "",
        title=f"{request.app.title} — ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui-dist/favicon-32x32.png",
        with_google_fonts=False,
    )
