"""The FastAPI application: routers of every domain under ``/api/v1``, problem+json errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES
from starlette.types import ASGIApp

from app import __version__
from app.accounts.router import router as accounts_router
from app.audit.router import router as audit_router
from app.baselines.csvfile import MAX_FILE_BYTES as BASELINE_FILE_BYTES
from app.baselines.router import router as baselines_router
from app.classes.router import invitations_router
from app.classes.router import router as classes_router
from app.classes.scope import pupil_gate
from app.classwork.router import router as classwork_router
from app.core.db import Database, make_engine
from app.core.errors import Problem, install_error_handlers
from app.core.headers import SecurityHeaders
from app.core.middleware import BodySizeLimit, GZipExcept
from app.core.routing import add_schemas
from app.core.settings import Settings, get_settings
from app.core.validation import StorableText
from app.exports.publish import rebuild_when_due
from app.exports.router import open_data_router
from app.exports.router import router as exports_router
from app.health.router import router as health_router
from app.observations.photos_router import router as photos_router
from app.observations.router import router as observations_router
from app.observations.species_router import router as species_corrections_router
from app.privacy.router import router as privacy_router
from app.review.router import router as review_router
from app.species.router import router as species_router
from app.stats.router import router as stats_router
from app.surveys.router import sites_router, visits_router
from app.surveys.schemas import VisitBatchItem
from app.web import router as web
from app.web.observe.router import router as observe_router
from app.zones.router import router as zones_router

API_PREFIX = "/api/v1"

DESCRIPTION = """
The service behind the *Sentinelles* phone app and the CPIE's tools: residents submit geotagged
observations (offline-safe, idempotent on `client_id`), ecologists validate them and keep the
reference data, everyone sees yearly counts and trends.

Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


# The streamed export files of the API and of the pages (not the open-data snapshot's, read
# from disk).
EXPORT_FILES = r"/exports/[^/]+\.(csv|geojson|zip)$"


def tile_origin(url: str | None) -> str | None:
    """``https://tiles.example.org`` of a tile URL template, for the pages' CSP."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class SentinellesAPI(FastAPI):
    """FastAPI with the security headers outermost, so that they reach every answer, also the
    500s that Starlette's error middleware (outside all others) writes."""

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        return SecurityHeaders(
            super().build_middleware_stack(),
            trusted_proxies=settings.forwarded_allow,
            hsts_max_age=settings.hsts_max_age_seconds,
            tile_origin=tile_origin(settings.map_tile_url),
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The scheduled open-data rebuild, when a setting asks for one: a thread of its own, so
    that building never holds the event loop."""
    settings: Settings = app.state.settings
    stop = threading.Event()
    worker = None
    if settings.open_data_rebuild_hours:
        worker = threading.Thread(
            target=rebuild_when_due,
            args=(app.state.db, settings, stop),
            name="open-data-rebuild",
            daemon=True,
        )
        worker.start()
    try:
        yield
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=5)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    if database is None:
        database = Database(
            make_engine(
                settings.database_url,
                pool_size=settings.database_pool_size,
                connect_timeout_seconds=settings.database_connect_timeout_seconds,
                pool_timeout_seconds=settings.database_pool_timeout_seconds,
            )
        )
    # The rollups (app.surveys.rollups) compute local years in the territory's time zone.
    database.session_factory.configure(info={"tz": settings.tz})
    logging.basicConfig(level=logging.INFO if settings.environment != "test" else logging.WARNING)
    # /readyz asks Alembic for the schema's revision: its notes would fill the log each time.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    app = SentinellesAPI(
        # A pupil's token reaches only the routes that admit pupils (app.classes.scope).
        dependencies=[Depends(pupil_gate)],
        lifespan=lifespan,
        title="Sentinelles API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        # Served by app.web.docs, with Swagger UI's and ReDoc's files from this host.
        docs_url=None,
        redoc_url=None,
        responses={
            "4XX": {
                "model": Problem,
                "content": {"application/problem+json": {}},
                "description": "Problem details (RFC 9457)",
            },
            "503": {
                "model": Problem,
                "content": {"application/problem+json": {}},
                "description": "The database is not answering (`service.database_unavailable`) "
                "or no connection to it came free in time (`service.busy`): nothing was "
                "stored; send again after the `Retry-After` seconds.",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before sending again.",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
            },
        },
    )
    app.state.settings = settings
    app.state.db = database

    install_error_handlers(app)
    # Level 6: as small as 9 on JSON within a few per cent, at a third of the CPU.
    # Archives and pictures are compressed already: gzip would spend CPU to gain nothing.
    # Streamed exports go out as they are written: see GZipExcept.
    app.add_middleware(
        GZipExcept,
        skip=EXPORT_FILES,
        minimum_size=2048,
        compresslevel=6,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/zip", "image/png"),
    )
    # Inside the size limit, so that the JSON and form bodies it reads whole are bounded.
    app.add_middleware(StorableText)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_json_body_bytes,
        # A photo upload: the file plus room for the multipart framing and the form fields.
        overrides=[
            (r"/photos$", settings.max_photo_bytes + 1024 * 1024),
            # The inventory page's upload: room to answer "over 4 MiB" on the page itself.
            (r"^/baselines$", BASELINE_FILE_BYTES + 1024 * 1024),
        ],
    )
    if settings.cors_allow_origins:
        # Outside the others, so that preflight requests are answered before any of them.
        # Bearer tokens, not cookies: credentials are never allowed.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "Accept-Language"],
            expose_headers=["ETag", "Retry-After", "Content-Disposition", "Location"],
            max_age=600,
        )

    # Routes are matched in order: the capture API, by far the busiest, comes first.
    for router in (
        observations_router,
        accounts_router,
        species_router,
        species_corrections_router,
        zones_router,
        photos_router,
        sites_router,
        visits_router,
        stats_router,
        audit_router,
        privacy_router,
        review_router,
        baselines_router,
        exports_router,
        open_data_router,
        classes_router,
        classwork_router,
        invitations_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health_router)
    app.include_router(observe_router)
    add_schemas(app, [VisitBatchItem])
    app.include_router(health_router, prefix=API_PREFIX, include_in_schema=False)
    web.install(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (``--factory``): settings from the environment."""
    return create_app()
