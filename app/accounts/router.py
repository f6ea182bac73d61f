"""HTTP endpoints of accounts: register, sign in (OAuth2 password flow), refresh, me, roles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from app.accounts import service
from app.accounts.dependencies import AdminUser, CurrentUser
from app.accounts.schemas import (
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserPublic,
    UserRoleUpdate,
    UserUpdate,
)
from app.accounts.throttle import ClientAddress, FailureKeepingSession, PersistentFailure
from app.core.db import run_unit_of_work
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.security import hash_password, run_password_work

router = APIRouter(tags=["accounts"])


_UNAUTHENTICATED = problem_doc(
    "No valid access token (`auth.unauthenticated`, `auth.invalid_token`)"
)
_TOO_MANY = problem_doc(
    "Too many failed sign-ins (`auth.too_many_attempts`): from this address on this account "
    "(a delay that grows with each failure), from this address on any accounts, or on this "
    "account from many addresses (then only addresses that have not failed may try it); "
    "retry after `Retry-After` seconds",
    headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
)


@router.post(
    "/auth/register",
    status_code=201,
    response_model=UserPublic,
    summary="Create an account (role `sentinel`)",
    responses={
        409: problem_doc("An account already uses this e-mail address (`auth.email_taken`)"),
        422: problem_doc(
            "Bad e-mail (`auth.email_invalid`), password shorter than 10 characters "
            "(`auth.password_too_short`), an unknown, used or expired teacher invitation code "
            "(`user.invalid_invitation`), or unknown fields"
        ),
    },
)
async def register(request: Request, body: UserCreate, settings: SettingsDep) -> UserPublic:
    """The password is hashed in a worker thread before the unit of work opens, so that the
    hash holds no transaction."""
    password_hash = await run_password_work(hash_password, body.password, settings)

    def create(session: Session) -> UserPublic:
        user = service.register_user(
            session,
            settings,
            email=body.email,
            password=body.password,
            display_name=body.display_name,
            password_hash=password_hash,
            credit_by_name=body.credit_by_name,
        )
        if body.invitation_code is not None:
            service.redeem_invitation(session, body.invitation_code, user)
        return UserPublic.model_validate(user)

    return await run_unit_of_work(request, create)


@router.post(
    "/auth/token",
    response_model=TokenPair,
    summary="Sign in with e-mail (`username`) and password (OAuth2 password flow)",
    responses={
        401: problem_doc("Wrong e-mail or password (`auth.invalid_credentials`)"),
        429: _TOO_MANY,
    },
)
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    client_ip: ClientAddress,
) -> TokenPair:
    """A read-only look-up, the password verified in a worker thread with no transaction open,
    then a short write (see ``service.start_sign_in``)."""
    attempt = await run_unit_of_work(
        request,
        lambda session: service.start_sign_in(
            session, settings, email=form.username, password=form.password, client_ip=client_ip
        ),
        read_only=True,
    )
    verified = await run_password_work(service.verify_sign_in, attempt, form.password, settings)
    return await run_unit_of_work(
        request,
        lambda session: service.finish_sign_in(session, settings, attempt, verified=verified),
        commit_on=(PersistentFailure,),
    )


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for new tokens (the old one stops working)",
    responses={
        401: problem_doc(
            "Unknown (`auth.invalid_refresh_token`), expired (`auth.refresh_token_expired`) or "
            "already used refresh token (`auth.refresh_token_reused`: every token of its chain "
            "is revoked)"
        ),
    },
)
def refresh(
    body: RefreshRequest, session: FailureKeepingSession, settings: SettingsDep
) -> TokenPair:
    return service.rotate_refresh_token(session, settings, body.refresh_token)


@router.get(
    "/me",
    response_model=UserPublic,
    summary="The signed-in account",
    responses={401: _UNAUTHENTICATED},
)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.patch(
    "/me",
    response_model=UserPublic,
    summary="Change the signed-in account's display name, default photo licence or whether "
    "the open data credits it by name",
    responses={
        401: _UNAUTHENTICATED,
        422: problem_doc(
            "Unknown licence (`photo.unknown_licence`), empty or too long name, a field set "
            "to null, or unknown fields"
        ),
    },
)
def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    user = service.update_profile(
        session,
        user=user,
        display_name=body.display_name,
        photo_licence=body.photo_licence,
        credit_by_name=body.credit_by_name,
    )
    return UserPublic.model_validate(user)


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="Change an account's role (admins only)",
    responses={
        401: _UNAUTHENTICATED,
        403: problem_doc("The caller is not an admin (`auth.role_required`)"),
        404: problem_doc("No user has this id (`user.not_found`)"),
        422: problem_doc("Unknown role"),
    },
)
def update_role(
    user_id: uuid.UUID, body: UserRoleUpdate, session: SessionDep, _admin: AdminUser
) -> UserPublic:
    user = service.set_role(session, user_id=user_id, role=body.role)
    return UserPublic.model_validate(user)
