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
from app.core.db import Database, utcnow
from app.core.errors import TooManyRequests
from app.core.settings import Settings
from app.main import create_app
from tests.factories import DEFAULT_PASSWORD, create_user

LIMIT = 3  # free failures per (account, address)
DELAY = 30  # the first delay after them, doubling
MAX_DELAY = 240
MEMORY = 3600  # how long a pair's failures count
WINDOW = 600  # the window of the per-address and per-account counts
ADDRESS_LIMIT = 12
ACCOUNT_LIMIT = 8
WRONG = "not the password"
PROXY = ("127.0.0.1", 50000)


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_max_failures": LIMIT,
            "login_delay_seconds": DELAY,
            "login_max_delay_seconds": MAX_DELAY,
            "login_pair_memory_seconds": MEMORY,
            "login_window_seconds": WINDOW,
            "login_address_max_failures": ADDRESS_LIMIT,
            "login_account_max_failures": ACCOUNT_LIMIT,
        }
    )


@pytest.fixture
def client(limited: Settings, db: Database) -> Iterator[TestClient]:
    """The API with low limits behind a trusted proxy: client addresses as the test says
    (X-Forwarded-For)."""
    app = create_app(limited.model_copy(update={"trusted_proxies": ["127.0.0.1"]}), database=db)
    with TestClient(app, base_url="http://testserver/api/v1", client=PROXY) as c:
        yield c


@pytest.fixture
def direct_client(limited: Settings, db: Database) -> Iterator[TestClient]:
    """The API with low limits, behind no trusted proxy (X-Forwarded-For is ignored)."""
    app = create_app(limited, database=db)
    with TestClient(app, base_url="http://testserver/api/v1", client=PROXY) as c:
        yield c


def sign_in(client: TestClient, email: str, password: str, ip: str | None = None) -> Any:
    # A client's own claim first, then the address the proxy saw: the latter counts.
    headers = {"X-Forwarded-For": f"10.9.9.9, {ip}"} if ip else {}
    return client.post(
        "/auth/token", data={"username": email, "password": password}, headers=headers
    )


def assert_throttled(response: Any, at_most: int = MAX_DELAY) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "auth.too_many_attempts"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= at_most
    return retry_after


def ip(n: int) -> str:
    return f"198.51.100.{n}"


def let_delay_pass(session: Session, key: str) -> None:
    """What waiting out a delay does to the key's row, without waiting."""
    row = session.get(LoginThrottle, key, populate_existing=True)
    assert row is not None and row.blocked_until is not None
    row.blocked_until = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()


# --- through the API ------------------------------------------------------------------------


def test_a_brute_force_from_one_address_is_slowed_by_growing_delays(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    attacker = "203.0.113.7"
    for _ in range(LIMIT):
        assert sign_in(client, user.email, WRONG, attacker).status_code == 401
    # Then every try waits, the right password too (a refused client learns nothing).
    assert assert_throttled(sign_in(client, user.email, WRONG, attacker)) == DELAY
    assert assert_throttled(sign_in(client, user.email, DEFAULT_PASSWORD, attacker)) <= DELAY

    pair = throttle.sign_in_keys(user.email, attacker).pair
    delays = []
    for _ in range(4):
        let_delay_pass(session, pair)
        assert sign_in(client, user.email, WRONG, attacker).status_code == 401
        delays.append(assert_throttled(sign_in(client, user.email, WRONG, attacker)))
    assert delays == [2 * DELAY, 4 * DELAY, MAX_DELAY, MAX_DELAY]


def test_an_account_attacked_from_one_address_still_signs_in_from_another(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for _ in range(LIMIT + 1):
        sign_in(client, user.email, WRONG, "203.0.113.7")
    assert_throttled(sign_in(client, user.email, DEFAULT_PASSWORD, "203.0.113.7"))

    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(1)).status_code == 200
    # And their own mistypes elsewhere are their own pair's: free, then a short delay.
    assert sign_in(client, user.email, WRONG, ip(2)).status_code == 401
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(2)).status_code == 200


def test_a_distributed_attack_gets_one_guess_per_address_and_the_owner_signs_in(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    attackers = [f"203.0.113.{n}" for n in range(ACCOUNT_LIMIT)]
    for address in attackers:
        assert sign_in(client, user.email, WRONG, address).status_code == 401

    # The account is under attack: addresses that failed on it are refused at once...
    refused = sign_in(client, user.email, WRONG, attackers[0])
    assert_throttled(refused, at_most=WINDOW)
    assert "address that has not failed" in refused.json()["detail"]
    # ...a new one gets its one guess...
    assert sign_in(client, user.email, WRONG, "192.0.2.77").status_code == 401
    assert_throttled(sign_in(client, user.email, WRONG, "192.0.2.77"), at_most=2 * WINDOW)
    # ...and the owner, from an address without failures, signs in.
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(1)).status_code == 200


def test_thirty_people_behind_one_address_each_mistyping_twice_are_not_blocked(
    settings: Settings, db: Database, session: Session
) -> None:
    """A school or an office behind one NAT, with the shipped figures."""
    app = create_app(settings, database=db)
    school = ("192.0.2.10", 40000)
    users = [create_user(session, settings) for _ in range(30)]
    with TestClient(app, base_url="http://testserver/api/v1", client=school) as c:
        for user in users:
            assert sign_in(c, user.email, WRONG).status_code == 401
            assert sign_in(c, user.email, WRONG + "!").status_code == 401
        statuses = [sign_in(c, user.email, DEFAULT_PASSWORD).status_code for user in users]
    assert statuses == [200] * 30


def test_one_address_trying_many_accounts_is_refused_at_a_high_volume(
    client: TestClient, session: Session, limited: Settings
) -> None:
    victim = create_user(session, limited)
    attacker = "203.0.113.7"
    for _ in range(ADDRESS_LIMIT):
        other = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
        assert sign_in(client, other, WRONG, attacker).status_code == 401

    assert_throttled(sign_in(client, victim.email, DEFAULT_PASSWORD, attacker), at_most=WINDOW)
    assert sign_in(client, victim.email, DEFAULT_PASSWORD, ip(1)).status_code == 200


def test_unknown_accounts_are_throttled_the_same(client: TestClient) -> None:
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
    for _ in range(LIMIT):
        assert sign_in(client, email, WRONG, ip(1)).json()["code"] == "auth.invalid_credentials"
    assert_throttled(sign_in(client, email, WRONG, ip(1)))


def test_ipv6_clients_are_counted_by_their_64_network(
    client: TestClient, session: Session, limited: Settings
) -> None:
    victim = create_user(session, limited)
    for n in range(ADDRESS_LIMIT):
        other = f"nobody-{uuid.uuid4().hex[:8]}@example.org"
        assert sign_in(client, other, WRONG, f"2001:db8:1:2::{n + 1}").status_code == 401
    assert_throttled(
        sign_in(client, victim.email, DEFAULT_PASSWORD, "2001:db8:1:2:ffff::9"), at_most=WINDOW
    )
    assert sign_in(client, victim.email, DEFAULT_PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    direct_client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    # Claiming a new address each time does not help when no proxy is trusted.
    for n in range(LIMIT):
        assert sign_in(direct_client, user.email, WRONG, ip(n)).status_code == 401
    assert_throttled(sign_in(direct_client, user.email, DEFAULT_PASSWORD, ip(50)))


def test_a_success_forgets_the_pairs_failures(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for _ in range(LIMIT - 1):
        assert sign_in(client, user.email, WRONG, ip(1)).status_code == 401
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(1)).status_code == 200
    for _ in range(LIMIT - 1):
        assert sign_in(client, user.email, WRONG, ip(1)).status_code == 401
    # Without the reset this would be failure LIMIT + 1.
    assert sign_in(client, user.email, DEFAULT_PASSWORD, ip(1)).status_code == 200


def test_refused_attempts_do_not_extend_the_delay(
    client: TestClient, session: Session, limited: Settings
) -> None:
    user = create_user(session, limited)
    for _ in range(LIMIT):
        sign_in(client, user.email, WRONG, ip(1))
    first = assert_throttled(sign_in(client, user.email, WRONG, ip(1)))
    for _ in range(5):
        later = assert_throttled(sign_in(client, user.email, WRONG, ip(1)))
        assert later <= first
    row = session.get(
        LoginThrottle, throttle.sign_in_keys(user.email, ip(1)).pair, populate_existing=True
    )
    assert row is not None and row.failures == LIMIT


def test_an_overlong_username_is_throttled_not_a_server_error(client: TestClient) -> None:
    email = "x" * 5000 + "@example.org"
    for _ in range(LIMIT):
        assert sign_in(client, email, WRONG, ip(1)).status_code == 401
    assert_throttled(sign_in(client, email, WRONG, ip(1)))


def test_concurrent_failures_are_all_counted(settings: Settings, committed: Engine) -> None:
    engine = committed
    """Real commits on several connections: no failure may be lost to a race (on SQLite this
    holds because writing requests start their transaction IMMEDIATE)."""
    tries = 8
    app_settings = settings.model_copy(
        update={"login_max_failures": 100, "trusted_proxies": ["127.0.0.1"]}
    )
    app = create_app(app_settings, database=Database(engine))
    email = f"race-{uuid.uuid4().hex}@example.org"
    keys = throttle.sign_in_keys(email, "192.0.2.200")
    with Session(engine) as setup:
        create_user(setup, app_settings, email=email)
        setup.commit()
    try:
        with (
            TestClient(app, base_url="http://testserver/api/v1", client=PROXY) as c,
            ThreadPoolExecutor(tries) as pool,
        ):
            statuses = Counter(
                pool.map(
                    lambda _: sign_in(c, email, WRONG, "192.0.2.200").status_code, range(tries)
                )
            )
        assert statuses == {401: tries}
        with Session(engine) as check:
            for key in (keys.account, keys.pair, keys.address):
                row = check.get(LoginThrottle, key)
                assert row is not None and row.failures == tries, key
    finally:
        with Session(engine) as cleanup:
            throttle.reset(cleanup, keys.account)
            throttle.reset(cleanup, keys.address)
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


def test_first_delay_and_ceiling_can_be_chosen(session: Session, limited: Settings) -> None:
    key = f"test:{uuid.uuid4()}"
    now = T0
    for expected in (5, 10, 20, 25, 25):
        throttle.record_failure(
            session, key, limited, now, max_failures=1, first_block_seconds=5, max_block_seconds=25
        )
        assert retry_after(session, key, now) == expected
        now += timedelta(seconds=expected)


def test_resetting_an_account_forgets_its_pairs(session: Session, limited: Settings) -> None:
    email = f"erased-{uuid.uuid4().hex[:8]}@example.org"
    long_email = "y" * 280 + "@example.org"
    keys = [throttle.sign_in_keys(email, ip(n)) for n in range(3)]
    keys.append(throttle.sign_in_keys(f"a|b-{email}", ip(1)))
    long_keys = throttle.sign_in_keys(long_email, "2001:db8:1:2::/64")
    for k in (*keys, long_keys):
        throttle.record_sign_in_failure(session, limited, k, T0)
    for erased in (email, f"a|b-{email}", long_email):
        throttle.reset(session, throttle.throttle_key("account", erased))
    for k in (*keys, long_keys):
        assert session.get(LoginThrottle, k.account, populate_existing=True) is None
        assert session.get(LoginThrottle, k.pair, populate_existing=True) is None
        assert session.get(LoginThrottle, k.address, populate_existing=True) is not None
