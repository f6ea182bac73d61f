"""One error type for the whole service, rendered as RFC 9457 problem+json.

Services raise ``AppError`` subclasses carrying their HTTP status and a stable ``code`` the phone
app translates; handlers below render them, the framework's own errors, and database conflicts
the same way. Nothing echoes an exception's text to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("sentinelles")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sentinelles.example/problems/"


class FieldError(BaseModel):
    field: str
    message: str
    code: str | None = None


class Problem(BaseModel):
    """The body of every error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class AppError(Exception):
    status: int = 400
    code: str = "request.invalid"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = list(errors) if errors is not None else None
        self.headers = headers


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(AppError):
    status, code, title = 401, "auth.unauthenticated", "Not authenticated"

    def __init__(self, detail: str = "A valid access token is required.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, code, title = 403, "auth.forbidden", "Forbidden"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "request.too_large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "request.unsupported_media_type", "Unsupported media type"


class Unprocessable(AppError):
    status, code, title = 422, "request.invalid", "Unprocessable content"


class TooManyRequests(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)


def problem_doc(description: str, **extra: Any) -> dict[str, Any]:
    """An error answer as OpenAPI documents it (for a route's ``responses=``)."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {"model": Problem, "description": description, "content": content, **extra}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_BASE + code,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "observations", 3, "latitude")`` -> ``observations[3].latitude``."""
    parts = list(loc)
    if parts and parts[0] == "body" and all(isinstance(p, int) for p in parts[1:]):
        return "body"  # a JSON syntax error, located by its character position
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in raw:
        kind = str(err.get("type", "invalid"))
        message = str(err.get("msg", "Invalid value"))
        if kind == "json_invalid":
            message = "The body is not valid JSON."
        errors.append(FieldError(field=field_path(err.get("loc", ())), message=message, code=kind))
    return errors


def problem_code_for(errors: Sequence[FieldError]) -> str:
    """The most specific code a 422 can carry: a domain code when all errors share it."""
    if any(e.code == "json_invalid" for e in errors):
        return "request.malformed_json"
    domain = {e.code for e in errors if e.code and "." in e.code}
    if len(domain) == 1:
        return domain.pop()
    return "request.invalid"


def database_unavailable() -> JSONResponse:
    """The answer while the database cannot be reached: 503 with ``Retry-After``, at once.

    The phone keeps what it has not been answered 2xx for and sends it again later; nothing
    that was acknowledged is lost, the database's commit came before the 2xx.
    """
    return problem_response(
        503,
        "service.database_unavailable",
        "The database is not answering; try again.",
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        code = problem_code_for(errors)
        detail = (
            "The body is not valid JSON."
            if code == "request.malformed_json"
            else "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        )
        return problem_response(422, code, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, AppError):
            # FastAPI wraps whatever failed while it read the body: the size limit's 413.
            return problem_response(
                cause.status,
                cause.code,
                cause.detail,
                title=cause.title,
                errors=cause.errors,
                headers=cause.headers,
            )
        if exc.status_code == 400 and isinstance(cause, ValueError):
            # Bytes that are not UTF-8, or an integer too long for Python's JSON parser.
            message = "The body is not valid JSON."
            return problem_response(
                422,
                "request.malformed_json",
                message,
                errors=[FieldError(field="body", message=message, code="json_invalid")],
            )
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "auth.unauthenticated",
            403: "auth.forbidden",
            413: "request.too_large",
        }
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            from app.core.routing import allowed_methods  # routing imports FastAPI's app

            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(app, request.scope))}
        code = codes.get(exc.status_code, f"http.{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, code, detail, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error answered as 409: %s", exc.orig)
        return problem_response(409, "conflict", "The request conflicts with data already stored.")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (text it cannot store, a number out of its range) that
        # no validation caught: the request is at fault, not the service.
        log.warning("database refused a value, answered as 422: %s", exc.orig)
        return problem_response(
            422, "request.unstorable_value", "A value of the request cannot be stored."
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_timeout(_: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
        log.warning("no database connection free in time: %s", exc)
        return problem_response(
            503,
            "service.busy",
            "The service is busy; try again shortly.",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        return database_unavailable()

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        # A connection lost mid-request may surface as another DBAPI error than
        # OperationalError (psycopg's InterfaceError on a socket closed under it): it is
        # the same outage, not a fault of the request.
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            log.error("database connection lost: %s", exc.orig)
            return database_unavailable()
        log.exception("unhandled database error", exc_info=exc)
        return problem_response(500, "internal", "An unexpected error occurred.")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "internal", "An unexpected error occurred.")
