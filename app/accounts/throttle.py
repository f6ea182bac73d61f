"""Slowing down guessing: failed attempts counted per key, in the database.

Sign-ins use it per account (``account:<email>``) and per client address (``ip:<address>``);
anything else that can be guessed (a class join code) can use it with its own keys. The counts
live in the ``login_throttle`` table rather than in memory so that every process of the service
agrees on them.

A key that reaches ``max_failures`` failures inside ``window_seconds`` is blocked for a window;
each further failure soon after (once a block has ended) doubles the block, up to an hour. Callers
must ``check`` a key before doing the costly or revealing work (verifying a password), so a
blocked client learns nothing, and must not record a failure for an attempt refused by ``check``
(that would let anyone keep an account locked for ever at no cost).

Failures are written by the request that fails, which then answers an error: such errors derive
from ``PersistentFailure`` and the route takes its session from ``FailureKeepingSession``, which
commits what was written before the error goes out. The alternatives are worse: a separate
transaction on another connection would not see (or be seen by) the request's own, and would be
lost inside the test suite's rolled-back outer transaction; a route that catches the error and
returns a problem response by hand puts error handling in every such route.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select

from app.accounts.models import LoginThrottle
from app.core.db import utcnow
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import AppError, TooManyRequests
from app.core.settings import Settings

log = logging.getLogger("sentinelles.throttle")

MAX_BLOCK_SECONDS = 60 * 60
KEY_MAX_LENGTH = 300  # login_throttle.key
DEFAULT_CODE = "auth.too_many_attempts"


class PersistentFailure(AppError):
    """An error answered after writes that must outlive it (a recorded failure, a revoked token
    family). Combine with the class giving the status: ``class X(PersistentFailure, NotFound)``.
    Only routes whose session is a ``FailureKeepingSession`` keep those writes."""


def _session_keeping_failures(session: SessionDep) -> Iterator[Session]:
    try:
        yield session
    except PersistentFailure:
        # get_session would roll back; the failure just recorded is exactly what must stay.
        session.commit()
        raise


FailureKeepingSession = Annotated[Session, Depends(_session_keeping_failures, scope="function")]


def throttle_key(kind: str, value: str) -> str:
    """``kind:value``, or a digest of the value when that would not fit the column (a 4 kB
    "e-mail" must be throttled too, not answered with a database error)."""
    key = f"{kind}:{value}"
    if len(key) <= KEY_MAX_LENGTH:
        return key
    return f"{kind}:sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def client_address(request: Request, settings: SettingsDep) -> str:
    """Who is asking, as far as the throttle is concerned.

    ``X-Forwarded-For`` is read only when the deployment says a reverse proxy sets it; otherwise
    any client could claim a fresh address on every attempt. IPv6 clients are counted by their
    /64 network: one subscriber usually holds a whole /64 and could rotate through it.
    """
    address = request.client.host if request.client else "unknown"
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",", 1)[0].strip()
        if forwarded:
            address = forwarded
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


ClientAddress = Annotated[str, Depends(client_address)]


def check(
    session: Session, key: str, now: datetime | None = None, *, code: str = DEFAULT_CODE
) -> None:
    """Raise 429 (with ``Retry-After``) while ``key`` is blocked; do nothing otherwise."""
    now = now or utcnow()
    row = session.get(LoginThrottle, key, populate_existing=True)
    if row is not None and row.blocked_until is not None and now < row.blocked_until:
        retry_after = math.ceil((row.blocked_until - now).total_seconds())
        raise TooManyRequests(
            "Too many failed attempts; try again later.", retry_after=retry_after, code=code
        )


def record_failure(
    session: Session,
    key: str,
    settings: Settings,
    now: datetime | None = None,
    *,
    max_failures: int | None = None,
    window_seconds: int | None = None,
) -> LoginThrottle:
    """Count one failure for ``key`` (and block it when that reaches the limit); flushes.

    The row is created if missing with an upsert, then locked (``FOR UPDATE`` on PostgreSQL;
    SQLite has a single writer) so that concurrent failures are all counted.
    Limits default to the sign-in settings.
    """
    now = now or utcnow()
    limit = max_failures if max_failures is not None else settings.login_max_failures
    window = timedelta(
        seconds=window_seconds if window_seconds is not None else settings.login_window_seconds
    )
    _insert_if_missing(session, key, now)
    row = session.exec(
        select(LoginThrottle)
        .where(col(LoginThrottle.key) == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()

    if row.failures == 0 or now >= _forgotten_at(row, window):
        row.failures = 1
        row.window_started_at = now
        row.blocked_until = None
    else:
        row.failures += 1
    if row.failures >= limit:
        row.blocked_until = now + _block_duration(window, row.failures - limit)
        log.info("throttle key %s blocked until %s", key, row.blocked_until.isoformat())
    session.add(row)
    session.flush()
    return row


def reset(session: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a success)."""
    session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
    session.flush()


def _forgotten_at(row: LoginThrottle, window: timedelta) -> datetime:
    """When past failures stop counting: a window after the first one, or a window after the
    end of the last block (so failures right after a block make the next one longer)."""
    horizon = row.window_started_at + window
    if row.blocked_until is not None:
        horizon = max(horizon, row.blocked_until + window)
    return horizon


def _block_duration(window: timedelta, extra_failures: int) -> timedelta:
    # The exponent is bounded before the power is taken: failures may go on for days.
    seconds = window.total_seconds() * 2 ** min(extra_failures, 32)
    return timedelta(seconds=min(seconds, MAX_BLOCK_SECONDS))


def _insert_if_missing(session: Session, key: str, now: datetime) -> None:
    values: dict[str, Any] = {
        "key": key,
        "failures": 0,
        "window_started_at": now,
        "blocked_until": None,
    }
    # PostgreSQL or SQLite: the only two backends the service runs on.
    if session.get_bind().dialect.name == "postgresql":
        session.exec(
            pg_insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=["key"])
        )
    else:
        session.exec(
            sqlite_insert(LoginThrottle)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key"])
        )
