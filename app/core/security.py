"""Passwords (argon2id), signed access tokens (JWT) and opaque refresh tokens.

Access tokens are short-lived and self-contained, so the hot path (a phone posting observations)
checks a signature instead of a session row. Refresh tokens are random strings stored only as a
SHA-256 digest: a database leak does not hand out sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.settings import Settings

ALGORITHM = "HS256"

T = TypeVar("T")


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hash_password(password: str, settings: Settings) -> str:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib).hash(password)


def verify_password(password: str, password_hash: str, settings: Settings) -> bool:
    try:
        return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib).verify(
            password_hash, password
        )
    except (VerificationError, InvalidHashError):
        return False


_HASH_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def run_password_work(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` (hashing or verifying a password) in a worker thread, at most one per core
    of the machine at a time in this process.

    argon2 releases the GIL: unbounded, 50 sign-ins at once would run 50 hashes side by side,
    each slowed 25-fold on two cores, every one finishing late, and the requests that share
    the cores (a phone's sync) starved with them. Queued, they finish one after the other.
    """
    loop = asyncio.get_running_loop()
    limiter = _HASH_LIMITERS.get(loop)
    if limiter is None:
        limiter = _HASH_LIMITERS[loop] = anyio.CapacityLimiter(os.cpu_count() or 1)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


# A hash to verify against when the account does not exist, so that the answer takes as long
# and an attacker cannot tell registered e-mails by timing.
def dummy_verify(password: str, settings: Settings) -> None:
    verify_password(
        password, _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib), settings
    )


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def create_access_token(
    subject: uuid.UUID, settings: Settings, *, extra: dict[str, Any] | None = None
) -> tuple[str, int]:
    """A signed token for ``subject``; returns it with its lifetime in seconds."""
    lifetime = settings.access_token_minutes * 60
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(subject),
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
        "typ": "access",
    }
    if extra:
        claims.update(extra)
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), lifetime


PUPIL_SCOPE = "pupil"


def create_pupil_token(
    account_id: uuid.UUID, settings: Settings, *, pupil_id: uuid.UUID, class_id: uuid.UUID
) -> tuple[str, int]:
    """A pupil's token: it acts as the class's account, within the pupil scope
    (``app.classes.scope``), and names the pupil and the class so that closing the class or
    erasing the pupil refuses it at once. It lasts a school year unless the class closes first:
    a tablet cannot be asked to sign in again."""
    token, _ = create_access_token(
        account_id,
        settings,
        extra={
            "scope": PUPIL_SCOPE,
            "pupil": str(pupil_id),
            "cls": str(class_id),
            "exp": datetime.now(UTC) + timedelta(days=settings.pupil_token_days),
        },
    )
    return token, settings.pupil_token_days * 86400


def decode_access_token(token: str, settings: Settings) -> dict[str, Any] | None:
    """The token's claims, or None when it is forged, expired or not an access token.

    A phone sends the same token with every request of a sync: its verified claims are kept
    (per secret) and only the expiry is checked again, which spares a signature check per
    request on the capture path.
    """
    if len(token) > 4096:
        return None
    claims = _verified_claims(token, settings.secret_key)
    if claims is None or claims.get("typ") != "access":
        return None
    if claims["exp"] <= datetime.now(UTC).timestamp():
        return None
    return dict(claims)


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret_key: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    return claims


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
