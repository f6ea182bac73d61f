"""Slowing down guessing: failed attempts counted per key, in the database.

Anything that can be guessed (a password, a class join code) counts its failures under keys of
its own; the counts live in the ``login_throttle`` table rather than in memory so that every
process of the service agrees on them.

A key that reaches ``max_failures`` failures inside ``window_seconds`` is blocked for a first
delay (by default a window); each further failure soon after (once a block has ended) doubles
the delay, up to a ceiling (by default an hour). Callers must ``check`` a key before doing the
costly or revealing work (verifying a password), so a blocked client learns nothing, and must
not record a failure for an attempt refused by ``check`` (that would let anyone keep a key
blocked for ever at no cost).

Sign-ins (``check_sign_in``, ``record_sign_in_failure``) follow OWASP's guidance against brute
force without locking people out (Authentication Cheat Sheet, "Blocking Brute Force Attacks"):

- per (account, address) pair (``account:<email>|<address>``): a few free failures, then
  progressive delays (``Retry-After`` doubling from seconds to minutes). This is what slows a
  guesser, and it never touches anyone else: not the account's owner elsewhere, not the other
  people behind the same address. A success forgets the pair's failures.
- per address (``ip:<address>``): only a volume no school or office behind one NAT reaches by
  mistyping (100 failures in 15 minutes by default) refuses the address for a while: one
  machine trying many accounts.
- per account (``account:<email>``), from all addresses: above a high count (50 in 15 minutes)
  the account is under a distributed attack; it is then tried only from addresses that have
  not failed on it. Each attacking address gets one guess, while the owner, from an address
  without failures, still signs in with the right password.

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
from dataclasses import dataclass
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
from app.core.proxies import forwarded_client
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

    ``X-Forwarded-For`` is read only when the peer is one of ``Settings.trusted_proxies``
    (``app.core.proxies``); otherwise any client could claim a fresh address on every attempt.
    IPv6 clients are counted by their /64 network: one subscriber usually holds a whole /64 and
    could rotate through it.
    """
    peer = request.client.host if request.client else None
    address = (
        forwarded_client(peer, request.headers.get("x-forwarded-for", ""), settings.forwarded_allow)
        or "unknown"
    )
    return normalise_address(address)


def normalise_address(address: str) -> str:
    """An IPv4 address as is (also when IPv4-mapped), an IPv6 one as its /64 network."""
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
        _refuse(row.blocked_until, now, code)


def _refuse(until: datetime, now: datetime, code: str, detail: str | None = None) -> None:
    retry_after = max(1, math.ceil((until - now).total_seconds()))
    raise TooManyRequests(
        detail or "Too many failed attempts; try again later.", retry_after=retry_after, code=code
    )


# --- sign-ins -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInKeys:
    account: str
    address: str
    pair: str


def sign_in_keys(email: str, address: str) -> SignInKeys:
    """The three keys a sign-in attempt counts under (see the module's docstring)."""
    account = throttle_key("account", email)
    pair = f"{account}|{address}"
    if len(pair) > KEY_MAX_LENGTH:
        pair = f"{_digested_account_key(email)}|{address}"[:KEY_MAX_LENGTH]
    return SignInKeys(account=account, address=throttle_key("ip", address), pair=pair)


def _digested_account_key(email: str) -> str:
    return f"account:sha256:{hashlib.sha256(email.encode('utf-8', 'surrogatepass')).hexdigest()}"


def check_sign_in(
    session: Session, settings: Settings, keys: SignInKeys, now: datetime | None = None
) -> None:
    """429 when the address is refused, when this pair is waiting out its delay, or when the
    account is under attack and this address has failed on it already."""
    now = now or utcnow()
    check(session, keys.address, now)
    check(session, keys.pair, now)
    account = session.get(LoginThrottle, keys.account, populate_existing=True)
    if account is None or account.blocked_until is None or now >= account.blocked_until:
        return
    pair = session.get(LoginThrottle, keys.pair, populate_existing=True)
    memory = timedelta(seconds=settings.login_pair_memory_seconds)
    if pair is not None and pair.failures > 0 and now < _forgotten_at(pair, memory):
        _refuse(
            account.blocked_until,
            now,
            DEFAULT_CODE,
            "Too many failed sign-ins on this account; it can only be tried from an address "
            "that has not failed on it until then.",
        )


def record_sign_in_failure(
    session: Session, settings: Settings, keys: SignInKeys, now: datetime | None = None
) -> None:
    """Count a failed sign-in under its three keys, each with its own limits."""
    now = now or utcnow()
    record_failure(
        session,
        keys.pair,
        settings,
        now,
        max_failures=settings.login_max_failures,
        window_seconds=settings.login_pair_memory_seconds,
        first_block_seconds=settings.login_delay_seconds,
        max_block_seconds=settings.login_max_delay_seconds,
    )
    record_failure(
        session, keys.address, settings, now, max_failures=settings.login_address_max_failures
    )
    record_failure(
        session, keys.account, settings, now, max_failures=settings.login_account_max_failures
    )


def record_failure(
    session: Session,
    key: str,
    settings: Settings,
    now: datetime | None = None,
    *,
    max_failures: int | None = None,
    window_seconds: int | None = None,
    first_block_seconds: float | None = None,
    max_block_seconds: float = MAX_BLOCK_SECONDS,
) -> LoginThrottle:
    """Count one failure for ``key`` (and block it when that reaches the limit); flushes.

    The row is created if missing with an upsert, then locked (``FOR UPDATE`` on PostgreSQL;
    SQLite has a single writer) so that concurrent failures are all counted.
    Limits default to the sign-in settings (``login_max_failures`` in ``login_window_seconds``);
    the first block lasts ``first_block_seconds`` (default: the window), doubling with each
    failure after it up to ``max_block_seconds``.
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
        first = window.total_seconds() if first_block_seconds is None else first_block_seconds
        row.blocked_until = now + _block_duration(first, row.failures - limit, max_block_seconds)
        log.info("throttle key %s blocked until %s", key, row.blocked_until.isoformat())
    session.add(row)
    session.flush()
    return row


def reset(session: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a success). An account's key takes its (account,
    address) pairs along, so that nothing keeps an erased account's e-mail address."""
    condition = col(LoginThrottle.key) == key
    # A pair's key is its account's, then "|" and an address (which holds no "@"); an e-mail
    # address may hold a "|" before its "@", never after.
    if key.startswith("account:") and "|" not in key.rsplit("@", 1)[-1]:
        condition = condition | col(LoginThrottle.key).startswith(f"{key}|", autoescape=True)
        email = key.removeprefix("account:")
        if not email.startswith("sha256:"):
            digested = f"{_digested_account_key(email)}|"
            condition = condition | col(LoginThrottle.key).startswith(digested, autoescape=True)
    session.exec(delete(LoginThrottle).where(condition))
    session.flush()


def _forgotten_at(row: LoginThrottle, window: timedelta) -> datetime:
    """When past failures stop counting: a window after the first one, or a window after the
    end of the last block (so failures right after a block make the next one longer)."""
    horizon = row.window_started_at + window
    if row.blocked_until is not None:
        horizon = max(horizon, row.blocked_until + window)
    return horizon


def _block_duration(first_seconds: float, extra_failures: int, max_seconds: float) -> timedelta:
    # The exponent is bounded before the power is taken: failures may go on for days.
    seconds = first_seconds * 2 ** min(extra_failures, 32)
    return timedelta(seconds=min(seconds, max_seconds))


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
