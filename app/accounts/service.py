"""Accounts: registration, sign-in, token rotation and roles.

Refresh tokens rotate on every use and are chained by ``family_id``: presenting one that was
already used means two parties hold the chain (the usual sign of a stolen token), so the whole
family is revoked and both must sign in again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from app.accounts import throttle
from app.accounts.models import RefreshToken, TeacherInvitation, User
from app.accounts.schemas import EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH, TokenPair, UserCreate
from app.core.db import new_id, utcnow
from app.core.errors import (
    Conflict,
    NotFound,
    Unauthorized,
    Unprocessable,
    problem_code_for,
    validation_errors,
)
from app.core.security import (
    create_access_token,
    dummy_verify,
    hash_password,
    new_refresh_token,
    token_digest,
    verify_password,
)
from app.core.settings import Settings
from app.core.vocabulary import PhotoLicence, Role

log = logging.getLogger("sentinelles.accounts")


class InvalidCredentials(throttle.PersistentFailure, Unauthorized):
    """Wrong e-mail or password; raised after the failure was recorded in the throttle."""

    code = "auth.invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The e-mail address or the password is wrong.")


class RefreshTokenReused(throttle.PersistentFailure, Unauthorized):
    """A used refresh token came back; raised after its whole family was revoked."""

    code = "auth.refresh_token_reused"

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; sign in again.")


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No user has this id.", code="user.not_found")
    return user


def get_user_by_email(session: Session, email: str) -> User | None:
    """The account with this address, compared without case."""
    return session.exec(select(User).where(col(User.email) == email.strip().lower())).first()


def register_user(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str,
    role: Role = Role.sentinel,
    password_hash: str | None = None,
    credit_by_name: bool = False,
) -> User:
    """A new account. The input is checked here as well as by the HTTP schema, so that the
    command line cannot create an account the API would have refused.

    ``password_hash``: ``password`` already hashed, by a caller that hashed it before opening
    its transaction (argon2 costs about 0.16 s of CPU, during which a transaction would hold
    SQLite's write lock or a pooled PostgreSQL connection).
    """
    try:
        data = UserCreate(email=email, password=password, display_name=display_name)
    except ValidationError as exc:
        errors = validation_errors(exc.errors())
        raise Unprocessable(
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            code=problem_code_for(errors),
            errors=errors,
        ) from None
    if get_user_by_email(session, data.email) is not None:
        raise _email_taken()

    user = User(
        email=data.email,
        display_name=data.display_name,
        password_hash=password_hash or hash_password(data.password, settings),
        role=role.value,
        credit_by_name=credit_by_name,
    )
    try:
        # Two registrations racing for one address: the unique index decides, the loser gets
        # the same 409 as if it had come second.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise _email_taken() from None
    return user


def _email_taken() -> Conflict:
    return Conflict("An account already uses this e-mail address.", code="auth.email_taken")


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """What the read-only first step of a sign-in found: the throttle keys, and the account
    (its id and password hash) if the address has one and the input fits the limits."""

    keys: throttle.SignInKeys
    user_id: uuid.UUID | None
    password_hash: str | None
    password_fits: bool


def start_sign_in(
    session: Session, settings: Settings, *, email: str, password: str, client_ip: str
) -> SignInAttempt:
    """The first step of a sign-in, read-only: 429 while the throttle refuses this client,
    otherwise the account to verify the password against.

    Sign-in is split in three (``start_sign_in``, ``verify_sign_in``, ``finish_sign_in``) so
    that the argon2 verification, about 0.16 s of CPU, runs with no transaction open: inside
    one, it held SQLite's write lock (every writer of every process waited) or a pooled
    PostgreSQL connection for as long.

    Throttled per (account, address), per address and per account (``throttle.check_sign_in``),
    checked before the password is: a refused client gets 429 whether or not its guess is right.
    """
    email = email.strip().lower()
    keys = throttle.sign_in_keys(email, client_ip)
    throttle.check_sign_in(session, settings, keys, utcnow())
    user = get_user_by_email(session, email) if len(email) <= EMAIL_MAX_LENGTH else None
    return SignInAttempt(
        keys=keys,
        user_id=user.id if user else None,
        password_hash=user.password_hash if user else None,
        password_fits=len(password) <= PASSWORD_MAX_LENGTH,
    )


def verify_sign_in(attempt: SignInAttempt, password: str, settings: Settings) -> bool:
    """The costly step, to run outside any transaction: whether ``password`` opens the account.
    Unknown addresses cost the same argon2 verification as known ones, so that timing does not
    tell which addresses have accounts; an overlong password is not hashed at all."""
    if not attempt.password_fits:
        return False
    if attempt.password_hash is None:
        dummy_verify(password, settings)
        return False
    return verify_password(password, attempt.password_hash, settings)


def finish_sign_in(
    session: Session, settings: Settings, attempt: SignInAttempt, *, verified: bool
) -> TokenPair:
    """The last step, a short write: tokens for a verified password (``confirm_sign_in``),
    ``InvalidCredentials`` (401) otherwise."""
    return issue_tokens(
        session, settings, confirm_sign_in(session, settings, attempt, verified=verified)
    )


def confirm_sign_in(
    session: Session, settings: Settings, attempt: SignInAttempt, *, verified: bool
) -> User:
    """The account a verified password opens (the web pages' sign-in stops here, with a
    cookie rather than tokens); ``InvalidCredentials`` (401) otherwise, after counting the
    failure.

    The throttle is checked again: failures recorded by concurrent attempts while this one was
    verifying may have blocked it since, and a blocked client must learn nothing of its guess
    (429, and no failure recorded for it). The account is read again, so that a password
    verified against a hash that has changed since (or an account erased since) opens nothing.
    The caller must keep the session's writes when this raises (see
    ``throttle.FailureKeepingSession``), or the failure is not counted. A success forgets the
    failures of its (account, address) pair only: an owner signing in must not reopen their
    account to those attacking it.
    """
    now = utcnow()
    keys = attempt.keys
    throttle.check_sign_in(session, settings, keys, now)
    user = session.get(User, attempt.user_id) if attempt.user_id is not None else None
    if user is None or not verified or user.password_hash != attempt.password_hash:
        throttle.record_sign_in_failure(session, settings, keys, now)
        raise InvalidCredentials()
    throttle.reset(session, keys.pair)
    return user


def issue_tokens(
    session: Session, settings: Settings, user: User, *, family_id: uuid.UUID | None = None
) -> TokenPair:
    """An access token and a new refresh token; a new family unless ``family_id`` continues
    one. Only the refresh token's digest is stored."""
    now = utcnow()
    if family_id is None:
        # A new sign-in: the user's expired tokens have no use left, not even theft detection.
        session.exec(
            delete(RefreshToken).where(
                col(RefreshToken.user_id) == user.id, col(RefreshToken.expires_at) <= now
            )
        )
    access_token, lifetime = create_access_token(user.id, settings)
    refresh_token = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            token_digest=token_digest(refresh_token),
            family_id=family_id or new_id(),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    session.flush()
    return TokenPair(access_token=access_token, expires_in=lifetime, refresh_token=refresh_token)


def rotate_refresh_token(session: Session, settings: Settings, refresh_token: str) -> TokenPair:
    """New tokens for a valid refresh token, which is used up; 401 otherwise.

    The token is claimed with a conditional UPDATE, so that of two requests presenting it at the
    same time only one succeeds and the other is treated as a reuse.
    """
    now = utcnow()
    stored = session.exec(
        select(RefreshToken).where(col(RefreshToken.token_digest) == token_digest(refresh_token))
    ).first()
    if stored is None:
        raise Unauthorized("The refresh token is not valid.", code="auth.invalid_refresh_token")
    if stored.used_at is not None:
        _revoke_family(session, stored)
        raise RefreshTokenReused()
    if stored.expires_at <= now:
        raise Unauthorized("The refresh token has expired.", code="auth.refresh_token_expired")

    claimed = session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == stored.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        _revoke_family(session, stored)
        raise RefreshTokenReused()
    user = get_user(session, stored.user_id)
    return issue_tokens(session, settings, user, family_id=stored.family_id)


def _revoke_family(session: Session, token: RefreshToken) -> None:
    log.warning(
        "refresh token reused: revoking family %s of user %s", token.family_id, token.user_id
    )
    session.exec(delete(RefreshToken).where(col(RefreshToken.family_id) == token.family_id))
    session.flush()


def update_profile(
    session: Session,
    *,
    user: User,
    display_name: str | None = None,
    photo_licence: PhotoLicence | None = None,
    credit_by_name: bool | None = None,
) -> User:
    """Changes what the account holder may change themself; None leaves a field as it is."""
    if display_name is not None:
        user.display_name = display_name
    if photo_licence is not None:
        user.photo_licence = PhotoLicence(photo_licence).value
    if credit_by_name is not None:
        user.credit_by_name = credit_by_name
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def set_role(session: Session, *, user_id: uuid.UUID, role: Role) -> User:
    user = get_user(session, user_id)
    user.role = role.value
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def redeem_invitation(session: Session, code: str, user: User) -> None:
    """Makes ``user`` a teacher with an unused, unexpired invitation code; 422 otherwise."""
    invitation = session.exec(
        select(TeacherInvitation)
        .where(col(TeacherInvitation.code) == code.strip().upper())
        .with_for_update()
    ).first()
    if invitation is None or invitation.used_at is not None or invitation.expires_at < utcnow():
        raise Unprocessable(
            "This invitation code is unknown, used or expired.",
            code="user.invalid_invitation",
            errors=[],
        )
    invitation.used_at = utcnow()
    invitation.used_by = user.id
    user.role = Role.teacher.value
    session.add_all([invitation, user])
    session.flush()


def load_user(session: Session, user_id: uuid.UUID) -> User:
    """The account a valid token names; 401 when it no longer exists or was deleted (the
    anonymised row stays, but no one may act as it)."""
    user = session.get(User, user_id)
    if user is None or user.anonymised_at is not None:
        raise Unauthorized("The account no longer exists.", code="auth.invalid_token")
    return user
