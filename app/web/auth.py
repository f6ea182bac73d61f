"""Who is looking at a page: the account the session cookie names, the roles a page needs, and
the CSRF check of every form that changes something.

A page that needs a role sends an anonymous visitor to ``/login`` (then back), and shows a
signed-in person without the role a French 403 page: the same roles as the API's routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlmodel import Session

from app.accounts.models import User
from app.core.deps import SessionDep
from app.core.viewer import Viewer
from app.core.vocabulary import Role
from app.web.session import CSRF_FIELD, CSRF_HEADER, csrf_matches, read_session

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """The page needs a signed-in account: answered by a redirect to ``/login?next=…``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.next_path, safe='/')}"


class PageForbidden(Exception):
    """A French 403 page: the account lacks the role, or the form's CSRF token is wrong."""

    def __init__(self, message: str, *, title: str = "Accès refusé") -> None:
        super().__init__(message)
        self.message = message
        self.title = title


def load_page_user(request: Request, session: Session) -> User | None:
    """The account the cookie names, if it still exists and was not erased."""
    settings = request.app.state.settings
    signed = read_session(request, settings)
    if signed is None:
        return None
    user = session.get(User, signed.user_id)
    if user is None or user.anonymised_at is not None:
        return None
    request.state.page_user = user
    return user


def page_user_optional(request: Request, session: SessionDep) -> User | None:
    return load_page_user(request, session)


PageUser = Annotated[User | None, Depends(page_user_optional)]

ROLE_NAMES = {
    Role.sentinel.value: "sentinelle",
    Role.teacher.value: "enseignant·e",
    Role.ecologist.value: "écologue",
    Role.admin.value: "administrateur·rice",
}


def require_role(*roles: Role) -> Callable[[Request, User | None], User]:
    """A dependency: the signed-in account, with one of ``roles`` (any role when none given)."""
    allowed = {r.value for r in roles}

    def check(request: Request, user: PageUser) -> User:
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if allowed and user.role not in allowed:
            raise PageForbidden(
                "Cette page est réservée aux "
                + " et aux ".join(sorted({ROLE_NAMES[r] + "s" for r in allowed}))
                + ". Votre compte est un compte de "
                + ROLE_NAMES.get(user.role, user.role)
                + "."
            )
        return user

    return check


SignedIn = Annotated[User, Depends(require_role())]
EcologistPage = Annotated[User, Depends(require_role(Role.ecologist, Role.admin))]
TeacherPage = Annotated[User, Depends(require_role(Role.teacher, Role.admin))]


def viewer(user: User) -> Viewer:
    """The account as the services see it (a cookie never names a pupil)."""
    return Viewer.of(user)


async def check_csrf(request: Request) -> None:
    """Refuses a state-changing request whose CSRF token is missing or not the browser's."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()  # Starlette keeps it: the route's Form fields read it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not csrf_matches(request, sent):
        raise PageForbidden(
            "Ce formulaire a expiré ou ne vient pas de Sentinelles. "
            "Rechargez la page et recommencez.",
            title="Formulaire expiré",
        )


# In a route's ``dependencies=[...]`` (or a router's): every unsafe method is checked.
CSRF = Depends(check_csrf)
