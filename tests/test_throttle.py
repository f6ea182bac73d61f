"""Sign-in throttling: through the HTTP API, then the throttle's own rules with a chosen clock."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from app.accounts import throttle
from app.accounts.models import LoginThrottle, User
from app.core.db import Database
from app.core.errors import TooManyRequests
from app.core.settings import Settings
from app.main import create_app

from .factories import DEFAULT_PASSWORD, create_user

LIMIT = 3
WINDOW = 600
WRONG = "not the password"


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_max_failures": LIMIT, "login_window_seconds": WINDOW})


@pytest.fixture
def client(limited: Settings, db: Database) -> Iterator[TestClient]:
    """The API with a low limit; client addresses as the test says (X-Forwarded-For)."""
    app = create_app(limited.model_copy(update={"trust_forwarded_for": True}), database=db)
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c


@pytest.fixture
def direct_client(limited: Settings, db: Database) -> Iterator[TestClient]:
    """The API with a low limit, behind no trusted proxy (X-Forwarded-For is ignored)."""
    with TestClient(create_app(limited, database=db), base_url="http://testserver/api/v1") as c:
        yield c


def sign_in(client: TestClient, email: str, password: str, ip: str | None = None) -> Any:
    headers = {"X-Forwarded-For": f"{ip}, 10.0.0.1"} if ip else {}
    return client.post(
        "/auth/token", data={"username": email, "password": password}, headers=headers
    )


def assert_throttled(response: Any) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "auth.too_many_attempts"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    return retry_after


def ip(n: int) -> str:
    return f"198.51.100.{n}"


# --- through the API ------------------------------------------------------------------------


def test_account_is_blocked_after_the_limit_even_with_the_right_password(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for n in range(LIMIT):
        assert sign_in(client, user.email, WRONG, ip(n)).status_code == 401
    # From a fresh address, with the right password: the account itself is blocked.
    assert_throttled(sign_in(client, user.email, DEFAULT_PASSWORD, ip(99)))


def test_unknown_accounts_are_throttled_the_same(client: TestClient) -> None:
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    for n in range(LIMIT):
        assert sign_in(client, email, WRONG, ip(n)).json()["code"] == "auth.invalid_credentials"
    assert_throttled(sign_in(client, email, WRONG, ip(99)))


def test_an_address_is_blocked_across_accounts(
    client: TestClient, session: Session, limited: Settings
) -> None:
    first, second, third = (create_user(session, limited) for _ in range(3))
    attacker = "203.0.113.7"
    assert sign_in(client, first.email, WRONG, attacker).status_code == 401
    assert sign_in(client, first.email, WRONG, attacker).status_code == 401
    assert sign_in(client, second.email, WRONG, attacker).status_code == 401

    # Neither account reached the limit, the address did.
    assert_throttled(sign_in(client, third.email, DEFAULT_PASSWORD, attacker))
    assert sign_in(client, third.email, DEFAULT_PASSWORD, ip(1)).status_code == 200
    assert sign_in(client, first.email, DEFAULT_PASSWORD, ip(2)).status_code == 200


def test_ipv6_clients_are_counted_by_their_64_network(
    client: TestClient, session: Session, limited: Settings
) -> None:
    victim = create_user(session, limited)
    for n in range(LIMIT):
        other = create_user(session, limited)
        assert sign_in(client, other.email, WRONG, f"2001:db8:1:2::{n + 1}").status_code == 401
    assert_throttled(sign_in(client, victim.email, DEFAULT_PASSWORD, "2001:db8:1:2:ffff::9"))
    assert sign_in(client, victim.email, DEFAULT_PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_forwarded_for_is_ignored_unless_trusted(
    direct_client: TestClient, session: Session, limited: Settings
) -> None:
    users = [create_user(session, limited) for _ in range(LIMIT + 1)]
    # Claiming a new address each time does not help when no proxy is trusted.
    for n, user in enumerate(users[:LIMIT]):
        assert sign_in(direct_client, user.email, WRONG, ip(n)).status_code == 401
    assert_throttled(sign_in(direct_client, users[-1].email, DEFAULT_PASSWORD, ip(50)))


def test_a_success_before_the_limit_resets_the_account(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for n in range(LIMIT - 1):
        assert sign_in(client, user.email, WRONG, ip(n)).status_code == 401
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(10)).status_code == 200
    for n in range(LIMIT - 1):
        assert sign_in(client, user.email, WRONG, ip(20 + n)).status_code == 401
    # Without the reset this would be failure LIMIT + 1.
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(30)).status_code == 200


def test_refused_attempts_do_not_extend_the_block(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for n in range(LIMIT):
        sign_in(client, user.email, WRONG, ip(n))
    first = assert_throttled(sign_in(client, user.email, WRONG, ip(40)))
    for n in range(5):
        later = assert_throttled(sign_in(client, user.email, WRONG, ip(41 + n)))
        assert later <= first
    row = session.get(LoginThrottle, f"account:{user.email}", populate_existing=True)
    assert row is not None and row.failures == LIMIT


def test_an_overlong_username_is_throttled_not_a_server_error(client: TestClient) -> None:
    email = "x" * 5000 + "@example.org"
    for n in range(LIMIT):
        assert sign_in(client, email, WRONG, ip(n)).status_code == 401
    assert_throttled(sign_in(client, email, WRONG, ip(99)))


def test_concurrent_failures_are_all_counted(settings: Settings, engine: Engine) -> None:
    """Real commits on several connections: no failure may be lost to a race (on SQLite this
    holds because writing requests start their transaction IMMEDIATE)."""
    tries = 8
    app_settings = settings.model_copy(
        update={"login_max_failures": 100, "trust_forwarded_for": True}
    )
    app = create_app(app_settings, database=Database(engine))
    email = f"race-{uuid.uuid4().hex}@example.org"
    addresses = [f"192.0.2.{n}" for n in range(tries)]
    with Session(engine) as setup:
        create_user(setup, app_settings, email=email)
        setup.commit()
    keys = [f"account:{email}", *(f"ip:{a}" for a in addresses)]
    try:
        with (
            TestClient(app, base_url="http://testserver/api/v1") as c,
            ThreadPoolExecutor(tries) as pool,
        ):
            statuses = Counter(
                pool.map(lambda a: sign_in(c, email, WRONG, a).status_code, addresses)
            )
        assert statuses == {401: tries}
        with Session(engine) as check:
            row = check.get(LoginThrottle, f"account:{email}")
            assert row is not None and row.failures == statuses[401]
    finally:
        with Session(engine) as cleanup:
            cleanup.exec(delete(LoginThrottle).where(col(LoginThrottle.key).in_(keys)))
            cleanup.exec(delete(User).where(col(User.email) == email))
            cleanup.commit()


# --- the throttle's rules, with a chosen clock ------------------------------------------------

T0 = datetime(2026, 4, 12, 7, 45, tzinfo=UTC)


def fail(session: Session, settings: Settings, key: str, at: datetime, times: int = 1) -> None:
    for _ in range(times):
        throttle.record_failure(session, key, settings, at)


def retry_after(session: Session, key: str, at: datetime) -> int | None:
    try:
        throttle.check(session, key, at)
    except TooManyRequests as exc:
        assert exc.code == "auth.too_many_attempts"
        assert exc.headers is not None
        return int(exc.headers["Retry-After"])
    return None


def test_block_lasts_a_window_then_lifts(session: Session, limited: Settings) -> None:
    key = f"test:{uuid.uuid4()}"
    fail(session, limited, key, T0, LIMIT - 1)
    assert retry_after(session, key, T0) is None
    fail(session, limited, key, T0)
    assert retry_after(session, key, T0) == WINDOW
    assert retry_after(session, key, T0 + timedelta(seconds=WINDOW - 1)) == 1
    assert retry_after(session, key, T0 + timedelta(seconds=WINDOW)) is None


def test_blocks_double_with_each_failure_after_one_up_to_an_hour(
    session: Session, limited: Settings
) -> None:
    key = f"test:{uuid.uuid4()}"
    fail(session, limited, key, T0, LIMIT)
    now = T0 + timedelta(seconds=WINDOW)
    expected = [2 * WINDOW, 4 * WINDOW, 3600, 3600]
    for seconds in expected:
        fail(session, limited, key, now)
        assert retry_after(session, key, now) == seconds
        now += timedelta(seconds=seconds)


def test_failures_older_than_the_window_are_forgotten(session: Session, limited: Settings) -> None:
    key = f"test:{uuid.uuid4()}"
    fail(session, limited, key, T0, LIMIT - 1)
    later = T0 + timedelta(seconds=WINDOW)
    fail(session, limited, key, later)
    assert retry_after(session, key, later) is None
    row = session.get(LoginThrottle, key)
    assert row is not None and row.failures == 1


def test_a_quiet_window_after_a_block_starts_afresh(session: Session, limited: Settings) -> None:
    key = f"test:{uuid.uuid4()}"
    fail(session, limited, key, T0, LIMIT)
    after_quiet = T0 + timedelta(seconds=2 * WINDOW)
    fail(session, limited, key, after_quiet)
    assert retry_after(session, key, after_quiet) is None


def test_reset_forgets_the_key(session: Session, limited: Settings) -> None:
    key = f"test:{uuid.uuid4()}"
    fail(session, limited, key, T0, LIMIT)
    throttle.reset(session, key)
    assert retry_after(session, key, T0) is None
    assert session.get(LoginThrottle, key) is None


def test_limits_and_code_can_be_chosen_per_use(session: Session, limited: Settings) -> None:
    key = f"join:{uuid.uuid4()}"
    throttle.record_failure(session, key, limited, T0, max_failures=1, window_seconds=60)
    with pytest.raises(TooManyRequests) as raised:
        throttle.check(session, key, T0, code="class.too_many_attempts")
    assert raised.value.code == "class.too_many_attempts"
    assert raised.value.headers == {"Retry-After": "60"}


def test_keys_too_long_for_the_column_are_digested() -> None:
    key = throttle.throttle_key("account", "x" * 1000)
    assert len(key) <= throttle.KEY_MAX_LENGTH
    assert key.startswith("account:sha256:")
    assert key == throttle.throttle_key("account", "x" * 1000)
    assert throttle.throttle_key("ip", "192.0.2.1") == "ip:192.0.2.1"
