"""``/login`` and ``/logout``: the accounts of the API, signed in with a cookie.

The sign-in goes through the same three steps and the same throttle as ``POST /auth/token``
(``app.accounts.service``): the password is verified with no transaction open.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.throttle import ClientAddress, PersistentFailure
from app.core.db import run_unit_of_work
from app.core.errors import TooManyRequests
from app.core.security import run_password_work
from app.core.vocabulary import Role
from app.web.auth import CSRF, PageUser
from app.web.session import end_session, start_session
from app.web.templating import render

router = APIRouter(include_in_schema=False)

HOME_BY_ROLE = {
    Role.ecologist.value: "/review",
    Role.admin.value: "/review",
    Role.teacher.value: "/classes",
}


def home_of(user: User) -> str:
    return HOME_BY_ROLE.get(user.role, "/me/observations")


def safe_next(target: str | None) -> str | None:
    """A path of this site only: never ``//other.host`` nor an absolute address."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@router.get("/login")
def login_form(request: Request, user: PageUser, next: str = "") -> Response:
    if user is not None and safe_next(next) is None:
        return RedirectResponse(home_of(user), status_code=303)
    return render(request, "login.html", {"next": safe_next(next) or "", "email": ""})


@router.post("/login", dependencies=[CSRF])
async def login(
    request: Request,
    client_ip: ClientAddress,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    settings = request.app.state.settings
    target = safe_next(next)

    def again(message: str, status_code: int) -> Response:
        return render(
            request,
            "login.html",
            {"next": target or "", "email": email, "error": message},
            status_code=status_code,
        )

    if not email.strip() or not password:
        return again("Indiquez votre adresse e-mail et votre mot de passe.", 422)
    try:
        attempt = await run_unit_of_work(
            request,
            lambda session: accounts.start_sign_in(
                session, settings, email=email, password=password, client_ip=client_ip
            ),
            read_only=True,
        )
        verified = await run_password_work(accounts.verify_sign_in, attempt, password, settings)
        user = await run_unit_of_work(
            request,
            lambda session: accounts.confirm_sign_in(session, settings, attempt, verified=verified),
            commit_on=(PersistentFailure,),
        )
    except accounts.InvalidCredentials:
        return again("Adresse e-mail ou mot de passe incorrect.", 401)
    except TooManyRequests as exc:
        seconds = int((exc.headers or {}).get("Retry-After", "60"))
        minutes = max(1, round(seconds / 60))
        return again(
            "Trop d'essais infructueux : attendez "
            f"{minutes} minute{'s' if minutes > 1 else ''} avant de réessayer.",
            429,
        )
    response = RedirectResponse(target or home_of(user), status_code=303)
    start_session(response, request, settings, user.id)
    return response


@router.post("/logout", dependencies=[CSRF])
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    end_session(response)
    return response
