"""Test harness: every database test runs on SQLite and, when reachable, on PostgreSQL.

One database per backend is migrated once per run with Alembic (the real migrations, not
``create_all``) and loaded with the default species and zones. Each test then runs inside a
transaction that is rolled back, so tests never see each other's rows and need no clean-up.

PostgreSQL: ``SENTINELLES_TEST_POSTGRES_URL`` (default: the local server, user ``postgres``)
names an administrative connection; a throwaway database is created for the run and dropped at
the end. Set ``SENTINELLES_TEST_REQUIRE_POSTGRES=1`` (CI does) to fail instead of skipping when
the server cannot be reached.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from app.accounts.models import User
from app.core.db import Database, make_engine
from app.core.migrations import upgrade
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.main import create_app
from tests.factories import auth_headers, create_user, load_reference_data

PG_ADMIN_URL = os.environ.get(
    "SENTINELLES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("SENTINELLES_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false")
BACKENDS = ["sqlite", "postgresql"]

# The live server and Chromium of the browser tests (tests/web, tests/observe).
pytest_plugins = ["tests.browser"]


def _postgres_unreachable_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        where = make_url(PG_ADMIN_URL).render_as_string()
        return f"PostgreSQL not reachable at {where}: {type(exc).__name__}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, dropped at the end."""
    reason = _postgres_unreachable_reason()
    if reason:
        if REQUIRE_PG:
            pytest.fail(reason + " (SENTINELLES_TEST_REQUIRE_POSTGRES is set)")
        pytest.skip(reason + "; set SENTINELLES_TEST_POSTGRES_URL to run these tests on it")
    name = f"sentinelles_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The run's database for ``backend``, migrated to head and loaded with reference data."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = make_engine(url, pool_size=5)
    upgrade(eng)
    with Session(eng) as session:
        load_reference_data(session)
        session.commit()
    yield eng
    eng.dispose()


def app_settings(media_dir: Path) -> Settings:
    """The settings of an app under test: cheap password hashing, no reference cache."""
    return Settings(
        environment="test",
        database_url="sqlite://",  # unused: the app is handed its Database
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        argon2_time_cost=1,
        argon2_memory_kib=8,
        media_dir=media_dir,
        open_data_dir=media_dir.parent / "open-data",
        reference_cache_seconds=0,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return app_settings(tmp_path / "media")


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


# --- a data set shared by a module's tests --------------------------------------------------------
#
# Some modules need the same, costly data set in every test (the authorisation matrix, the
# sensitive-position walk). Such a module builds it once per backend in ``module_connection``,
# a transaction of its own on the run's database that is never committed, and overrides
# ``connection`` with ``in_savepoint(module_connection)``: each test then runs in a SAVEPOINT of
# that transaction, rolled back at its end, so that it sees the data set as built and leaves
# nothing behind, and no other module ever sees the data set.


@pytest.fixture(scope="module")
def module_connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The module's settings: the files of its data set (photos) must outlive each test."""
    return app_settings(tmp_path_factory.mktemp("module") / "media")


@pytest.fixture(scope="module")
def module_app(module_connection: Connection, module_settings: Settings) -> FastAPI:
    """An app on the module's transaction, to build the shared data set with."""
    database = Database(module_connection, join_transaction_mode="create_savepoint")
    return create_app(module_settings, database=database)


def in_savepoint(conn: Connection) -> Iterator[Connection]:
    """``conn``, the test's changes inside a savepoint rolled back at its end."""
    savepoint = conn.begin_nested()
    try:
        yield conn
    finally:
        savepoint.rollback()


@pytest.fixture
def db(connection: Connection) -> Database:
    return Database(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session inside the test's transaction, for factories and service-level tests."""
    with db.session() as s:
        yield s


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, database=db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c


# --- tests that commit for real -------------------------------------------------------------------
#
# Concurrency, outage and sign-in tests need several connections, so they commit for real. What
# they leave would be seen by later tests of the same worker (an ecologist's export lists every
# row, some tests count every observation), so every row they commit is deleted once they end,
# after their own transaction is rolled back: all but the shipped reference data.

importlib.import_module("app.models")  # every table in SQLModel.metadata
KEPT_TABLES = frozenset({"species", "zone", "alembic_version"})
# Fixtures that commit; a test committing through ``engine`` otherwise asks for ``committed``.
COMMITTING_FIXTURES = frozenset(
    {"committed", "committing_app", "racer", "live_client", "live_server"}
)


def wipe_committed_rows(engine: Engine) -> None:
    """Delete every row but the reference data, children before parents."""
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name not in KEPT_TABLES:
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _wipe_what_a_committing_test_left(request: pytest.FixtureRequest) -> Iterator[None]:
    # Autouse fixtures are set up first, so this teardown runs after every other one.
    if COMMITTING_FIXTURES.isdisjoint(request.fixturenames):
        yield
        return
    engine: Engine = request.getfixturevalue("engine")
    yield
    wipe_committed_rows(engine)


@pytest.fixture
def committed(engine: Engine) -> Engine:
    """The run's engine, for a test that commits on it: what it commits is deleted after it."""
    return engine


@pytest.fixture
def committing_app(settings: Settings, engine: Engine) -> FastAPI:
    """An app on the real engine, committing for real: for tests of concurrent requests, which
    need several connections (what they commit is deleted after them)."""
    return create_app(settings, database=Database(engine))


@pytest.fixture
def committing_clients(committing_app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """A factory of TestClients on the committing app, one per thread of a race."""
    made: list[TestClient] = []

    def make() -> TestClient:
        c = TestClient(committing_app, base_url="http://testserver/api/v1")
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


@pytest.fixture
def clients(committing_clients: Callable[[], TestClient]) -> Callable[[], TestClient]:
    """The name the observations' races know ``committing_clients`` by."""
    return committing_clients


@pytest.fixture
def racer(engine: Engine, settings: Settings) -> User:
    """A committed user of this test's own (racing requests commit for real), so that its rows
    bother no other test."""
    with Session(engine) as work:
        user = create_user(work, settings, display_name="Racer")
        work.commit()
        work.refresh(user)
        work.expunge(user)
    return user


@pytest.fixture
def reference_data(session: Session) -> None:
    """The shipped species and zones loaded again in the test's transaction (an upsert: for
    tests that must not depend on what an earlier, committing test changed in them)."""
    load_reference_data(session)


# --- the people a test needs --------------------------------------------------------------------
#
# One fixture per role, each a fresh account in the test's transaction. A module that needs
# another display name (because it asserts on it) says so with a constant, e.g.
# ``SENTINEL_NAME = "Martine D."``, rather than declaring its own fixture.


def _name(request: pytest.FixtureRequest, who: str, default: str) -> str:
    return str(getattr(request.module, f"{who}_NAME", default))


@pytest.fixture
def sentinel(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    """A volunteer: the one who observes, in most tests."""
    return create_user(session, settings, display_name=_name(request, "SENTINEL", "Camille"))


@pytest.fixture
def observer(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    """A volunteer, named for what the media tests make them do: observe and upload."""
    return create_user(session, settings, display_name=_name(request, "OBSERVER", "Camille"))


@pytest.fixture
def other(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    """Another volunteer, who must not see what is the sentinel's own."""
    return create_user(session, settings, display_name=_name(request, "OTHER", "Dominique"))


@pytest.fixture
def ecologist(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    """Staff who reviews records and curates the reference data."""
    name = _name(request, "ECOLOGIST", "Claude")
    return create_user(session, settings, role=Role.ecologist, display_name=name)


@pytest.fixture
def admin(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    return create_user(
        session, settings, role=Role.admin, display_name=_name(request, "ADMIN", "Alix")
    )


@pytest.fixture
def teacher(request: pytest.FixtureRequest, session: Session, settings: Settings) -> User:
    name = _name(request, "TEACHER", "Mme Lefebvre")
    return create_user(session, settings, role=Role.teacher, display_name=name)


@pytest.fixture
def observer_headers(observer: User, settings: Settings) -> dict[str, str]:
    return auth_headers(observer, settings)


@pytest.fixture
def other_headers(other: User, settings: Settings) -> dict[str, str]:
    return auth_headers(other, settings)


@pytest.fixture
def ecologist_headers(ecologist: User, settings: Settings) -> dict[str, str]:
    return auth_headers(ecologist, settings)


# --- services shared by several domains ---------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server for the whole run; its URL."""
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(
            f"S3 backend not tested: {exc.name} is not installed "
            "(pip install -e '.[dev]' brings boto3 and moto[server])"
        )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
