"""The pages as one router, their static files, and the French answers a browser gets when a
page fails: a redirect to ``/login``, a 403, 404 or error page rather than problem+json.

Each area of the site is a module of its own with its router; ``PAGE_ROUTERS`` lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError
from app.errors_catalogue import catalogue
from app.web import baselines, classes, dashboard, docs, exports, login, me, review, species, stats
from app.web.auth import LoginRequired, PageForbidden, load_page_user
from app.web.session import SESSION_COOKIE
from app.web.templating import HERE, render, set_timezone

PAGE_ROUTERS = (
    dashboard.router,
    login.router,
    docs.router,
    review.router,
    species.router,
    baselines.router,
    stats.router,
    exports.router,
    classes.router,
    me.router,
)

# Paths that are never pages: their errors stay problem+json.
NOT_PAGES = ("/api/", "/static/", "/healthz", "/readyz", "/observe/")

Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_page_request(request: Request) -> bool:
    """A browser asking for a page (or an htmx fragment of one)."""
    path = request.url.path
    if path.startswith(NOT_PAGES):
        return False
    return "text/html" in request.headers.get("accept", "") or "hx-request" in request.headers


def french_message(code: str, fallback: str) -> str:
    spec = catalogue().get(code)
    return spec.message if spec is not None else fallback


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """A French error page, with the header of the account signed in (an error raised before
    the page's own dependencies ran has not looked it up yet)."""
    known = getattr(request.state, "page_user", None)
    # A page's own error rolled its session back, which expired the account it had loaded.
    stale = known is not None and bool(inspect(known).expired_attributes)
    if (stale or not hasattr(request.state, "page_user")) and SESSION_COOKIE in request.cookies:
        request.state.page_user = None
        try:
            with request.app.state.db.session() as session:
                user = load_page_user(request, session)
                if user is not None:
                    session.expunge(user)
        except SQLAlchemyError:
            pass  # the database is the error: the page says so without the account
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


TITLES = {
    400: "Demande incorrecte",
    401: "Connexion nécessaire",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible",
    409: "Conflit",
    413: "Fichier trop volumineux",
    422: "Informations incorrectes",
    429: "Trop de demandes",
    503: "Service momentanément indisponible",
}


def install(app: FastAPI) -> None:
    """Adds the pages, ``/static`` and the pages' error answers to the app."""
    set_timezone(app.state.settings.territory_timezone)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return error_page(request, 403, exc.title, exc.message)

    def for_pages(
        exc_class: type[Exception], page: Callable[[Request, Exception], Response]
    ) -> None:
        api = cast(Handler, app.exception_handlers[exc_class])

        async def handler(request: Request, exc: Exception) -> Response:
            if is_page_request(request):
                return page(request, exc)
            return await api(request, exc)

        app.exception_handlers[exc_class] = handler

    def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_page(
            request,
            exc.status,
            TITLES.get(exc.status, "Erreur"),
            french_message(exc.code, exc.detail),
        )

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        messages = {
            404: "Cette page n'existe pas, ou plus. Vérifiez l'adresse, ou repartez de l'accueil.",
            405: "Cette action n'est pas possible à cette adresse.",
        }
        status = exc.status_code
        message = messages.get(status, "La demande n'a pas pu aboutir.")
        return error_page(request, status, TITLES.get(status, "Erreur"), message)

    def invalid(request: Request, _: Exception) -> Response:
        return error_page(
            request, 422, TITLES[422], "Certaines informations envoyées ne sont pas valables."
        )

    for_pages(AppError, app_error)
    for_pages(StarletteHTTPException, http_error)
    for_pages(RequestValidationError, invalid)
