"""The pages' sign-in: a signed, HttpOnly cookie naming the account, and a CSRF token per browser.

The cookie holds the account's id, when it was issued and a random CSRF secret, signed with the
service's secret key (``itsdangerous``): it cannot be forged or altered, it expires after
``web_session_hours``, and the account is loaded on every page, so a deleted or demoted account
loses its pages at once. The API keeps its bearer tokens; the cookie is never accepted there.

Every state-changing form carries the CSRF token (a hidden field, or the ``X-CSRF-Token``
header that htmx sends): the double-submit pattern, the form's copy compared with the cookie's
in constant time. ``SameSite=Lax`` already keeps other sites' forms from sending the cookie; the
token also protects the sign-in form itself, before any session exists.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.core.proxies import forwarded_https
from app.core.settings import Settings

SESSION_COOKIE = "sentinelles_session"
CSRF_COOKIE = "sentinelles_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class PageSession:
    user_id: uuid.UUID


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="sentinelles.web-session")


def _secure(request: Request, settings: Settings) -> bool:
    """``Secure`` cookies when the browser reached the service over HTTPS."""
    peer = request.client.host if request.client else None
    return forwarded_https(
        request.url.scheme, peer, request.headers.get("x-forwarded-proto"), settings.forwarded_allow
    )


def read_session(request: Request, settings: Settings) -> PageSession | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=settings.web_session_hours * 3600)
        return PageSession(user_id=uuid.UUID(str(data["u"])))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def start_session(
    response: Response, request: Request, settings: Settings, user_id: uuid.UUID
) -> None:
    """Signs the browser in, with a fresh CSRF token (a token seen before sign-in is not kept)."""
    value = _serializer(settings).dumps({"u": str(user_id)})
    secure = _secure(request, settings)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.web_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    set_csrf_cookie(response, request, settings, secrets.token_urlsafe(32))


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def csrf_token(request: Request) -> str:
    """The browser's CSRF token, made on its first page (``ensure_csrf_cookie`` sets it)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


def set_csrf_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path="/",
    )


def ensure_csrf_cookie(response: Response, request: Request, settings: Settings) -> None:
    """Sends the token a page's forms were rendered with, when the browser had none yet."""
    new = getattr(request.state, "new_csrf", None)
    if new is not None and CSRF_COOKIE not in request.cookies:
        set_csrf_cookie(response, request, settings, new)


def csrf_matches(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and sent) and hmac.compare_digest(str(expected), str(sent))
