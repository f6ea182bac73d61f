"""Who is calling: the bearer token resolved to a user, and role checks as annotated types."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app.accounts.models import User
from app.accounts.service import load_user
from app.core.db import run_unit_of_work
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import decode_access_token
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.core.vocabulary import Role

T = TypeVar("T")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def subject_of(token: str, settings: Settings) -> uuid.UUID:
    """The user id a bearer token was signed for; 401 when forged, expired or malformed."""
    claims = decode_access_token(token, settings)
    if claims is None:
        raise Unauthorized("The access token is invalid or has expired.", code="auth.invalid_token")
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The access token is invalid.", code="auth.invalid_token") from exc


_USER_EXISTS = select(col(User.id)).where(
    col(User.id) == bindparam("user_id"), col(User.anonymised_at).is_(None)
)


def ensure_user_exists(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    """401 unless the account a valid token names still exists and was not deleted (its row
    stays, anonymised): the capture path's check, one primary-key look-up without loading
    the account."""
    if session.connection().execute(_USER_EXISTS, {"user_id": user_id}).first() is None:
        raise Unauthorized("The account no longer exists.", code="auth.invalid_token")
    return user_id


async def for_account(
    request: Request,
    user_id: uuid.UUID,
    work: Callable[[Session], T],
    *,
    inline_on_sqlite: bool = False,
) -> T:
    """Runs ``work`` for the account a valid token names, in one unit of work, without loading
    the account: the capture path's way to spare the cost of a full user row per request.

    A deleted account's row stays (anonymised, so that its observations keep their observer),
    so its tokens are refused by a primary-key look-up in the same unit of work; a row removed
    outright makes the database refuse the foreign keys, answered as 401 too.
    """

    def checked(session: Session) -> T:
        ensure_user_exists(session, user_id)
        return work(session)

    try:
        return await run_unit_of_work(request, checked, inline_on_sqlite=inline_on_sqlite)
    except IntegrityError:
        await run_unit_of_work(request, lambda session: ensure_user_exists(session, user_id))
        raise


async def for_role(
    request: Request,
    user_id: uuid.UUID,
    roles: Iterable[Role],
    work: Callable[[Session, User], T],
    *,
    read_only: bool = False,
) -> T:
    """Runs ``work`` for the signed-in user in one unit of work, after checking their role
    (403 otherwise): the session dependency, the user's look-up and the route would otherwise
    each take a thread hop, which costs more than a page of the review queue does."""
    allowed = {r.value for r in roles}

    def checked(session: Session) -> T:
        user = load_user(session, user_id)
        if user.role not in allowed:
            raise Forbidden(
                f"This needs one of the roles: {', '.join(sorted(allowed))}.",
                code="auth.role_required",
            )
        return work(session, user)

    return await run_unit_of_work(request, checked, read_only=read_only)


STAFF_ROLES = (Role.ecologist, Role.admin)


def get_current_user_optional(
    session: SessionDep, settings: SettingsDep, token: str | None = Depends(oauth2_scheme)
) -> User | None:
    """The signed-in user, None for an anonymous request, 401 for a bad or expired token."""
    if token is None:
        return None
    return load_user(session, subject_of(token, settings))


async def get_current_user(user: User | None = Depends(get_current_user_optional)) -> User:
    if user is None:
        raise Unauthorized()
    return user


async def get_token_subject(
    settings: SettingsDep, token: str | None = Depends(oauth2_scheme)
) -> uuid.UUID:
    """The caller's user id from the token alone, without the database: for routes that load
    the user inside their own unit of work (see ``run_unit_of_work``)."""
    if token is None:
        raise Unauthorized()
    return subject_of(token, settings)


OptionalUser = Annotated[User | None, Depends(get_current_user_optional)]
CurrentUser = Annotated[User, Depends(get_current_user)]
TokenSubject = Annotated[uuid.UUID, Depends(get_token_subject)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    allowed = {r.value for r in roles}

    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(
                f"This needs one of the roles: {', '.join(sorted(allowed))}.",
                code="auth.role_required",
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
EcologistUser = Annotated[User, Depends(require_roles(Role.ecologist, Role.admin))]


def admit_pupils() -> None:
    """Declares that a pupil's token may call the route (``app.classes.scope`` looks for this
    dependency; without it a pupil's token gets 403). Does nothing on its own."""


# In a route's ``dependencies=[...]``: the routes a pupil's tablet needs, and public reads.
PUPILS_ADMITTED = Depends(admit_pupils)


def viewer_of(request: Request, user: User) -> Viewer:
    """The account as the services see it, with the pupil and class a pupil's token names
    (left on the request by ``app.classes.scope``)."""
    return Viewer.of(
        user,
        pupil_id=getattr(request.state, "pupil_id", None),
        class_id=getattr(request.state, "class_id", None),
    )


def get_viewer_optional(request: Request, user: OptionalUser) -> Viewer | None:
    return None if user is None else viewer_of(request, user)


def get_viewer(request: Request, user: CurrentUser) -> Viewer:
    return viewer_of(request, user)


def acting_pupil(request: Request) -> uuid.UUID | None:
    """The pupil a pupil's token names, for the capture routes that never load the account."""
    return getattr(request.state, "pupil_id", None)


def acting_class(request: Request) -> uuid.UUID | None:
    """The class a pupil's token names: its records are the class's own."""
    return getattr(request.state, "class_id", None)


OptionalViewer = Annotated[Viewer | None, Depends(get_viewer_optional)]
CurrentViewer = Annotated[Viewer, Depends(get_viewer)]
ActingPupil = Annotated[uuid.UUID | None, Depends(acting_pupil)]
ActingClass = Annotated[uuid.UUID | None, Depends(acting_class)]
