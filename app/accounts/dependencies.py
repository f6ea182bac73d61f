"""Who is calling: the bearer token resolved to a user, and role checks as annotated types."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from app.accounts.models import Role, User
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import decode_access_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_current_user_optional(
    session: SessionDep, settings: SettingsDep, token: str | None = Depends(oauth2_scheme)
) -> User | None:
    """The signed-in user, None for an anonymous request, 401 for a bad or expired token."""
    if token is None:
        return None
    claims = decode_access_token(token, settings)
    if claims is None:
        raise Unauthorized("The access token is invalid or has expired.", code="auth.invalid_token")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("The access token is invalid.", code="auth.invalid_token") from exc
    user = session.get(User, user_id)
    if user is None:
        raise Unauthorized("The account no longer exists.", code="auth.invalid_token")
    return user


def get_current_user(user: User | None = Depends(get_current_user_optional)) -> User:
    if user is None:
        raise Unauthorized()
    return user


OptionalUser = Annotated[User | None, Depends(get_current_user_optional)]
CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = {r.value for r in roles}

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(
                f"This needs one of the roles: {', '.join(sorted(allowed))}.",
                code="auth.role_required",
            )
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
EcologistUser = Annotated[User, Depends(require_roles(Role.ecologist, Role.admin))]


def is_staff(user: User | None) -> bool:
    """Ecologists and admins see everything, exact positions included."""
    return user is not None and user.role in (Role.ecologist.value, Role.admin.value)
