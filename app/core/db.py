"""Database engine, sessions and the column types every domain shares.

The naming convention is set here, before any model module is imported, because SQLAlchemy reads
it when a table is declared: set later, it silently does nothing and migrations would carry
whatever names each database invents.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection, DateTime, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def new_ids(n: int) -> list[uuid.UUID]:
    """``n`` random (version 4) ids, as :func:`new_id` makes them, from one read of the
    system's randomness instead of one per id: a batch of observations needs hundreds."""
    raw = os.urandom(16 * n)
    return [uuid.UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * n, 16)]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    SQLite has no time zone type: without this, values come back naive and comparisons with
    aware datetimes fail. Values are converted to UTC on the way in and tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    connect_timeout_seconds: int = 2,
    pool_timeout_seconds: float = 30.0,
    echo: bool = False,
) -> Engine:
    """An engine tuned for the backend at ``url``.

    PostgreSQL gets bounded network waits (``connect_timeout_seconds``, see
    ``postgresql_connect_args``), a breaker that fails connection attempts at once right after
    one failed (``ConnectBreaker``), and a ping before a pooled connection is reused, so that
    after an outage the first request on a dead connection reconnects instead of failing.
    While the database is down, a request thus answers within about the connect timeout,
    also one that waited for the pool: failed attempts give their slot back at once.

    SQLite gets WAL (readers do not block the writer), a busy timeout (several processes may
    write) and real transactions: pysqlite's own transaction handling would otherwise break
    SAVEPOINTs, which batch ingest and the tests rely on.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA wal_autocheckpoint=8000")
            cursor.execute("PRAGMA cache_size=-16000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_on_begin(conn: Any) -> None:
            # A deferred transaction that reads then writes cannot take the write lock once
            # another connection has written ("database is locked", at once, whatever the busy
            # timeout): requests that write start IMMEDIATE, so they queue for the lock instead.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # No overflow: connections opened beyond the pool are closed on return, so under load a
    # process would open a new connection every few requests.
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=pool_timeout_seconds,
        connect_args=postgresql_connect_args(connect_timeout_seconds),
    )
    event.listen(engine, "do_connect", ConnectBreaker().do_connect)
    return engine


class ConnectBreaker:
    """After a failed attempt to connect, further attempts within ``cooldown_seconds`` fail at
    once instead of each waiting for its own connect timeout.

    While the database is down, every request would otherwise hold a worker thread for the
    whole timeout: with more requests in flight than threads, the rest would queue behind them
    and answer far later than the timeout. Once the cool-down is over, the next request tries
    again, so the service heals within a second of the database coming back.
    """

    def __init__(self, cooldown_seconds: float = 1.0) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._failed_at: float | None = None

    def do_connect(
        self, dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> Any:
        failed_at = self._failed_at
        if failed_at is not None and time.monotonic() - failed_at < self.cooldown_seconds:
            raise dialect.loaded_dbapi.OperationalError(
                "the database could not be reached a moment ago; not trying again yet"
            )
        try:
            connection = dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        return connection


def postgresql_connect_args(timeout_seconds: int) -> dict[str, int]:
    """libpq parameters that bound every wait on the network to about ``timeout_seconds``.

    ``connect_timeout`` bounds opening a connection (a host that takes the SYN and never
    answers; libpq takes whole seconds, at least 2). On an open connection,
    ``tcp_user_timeout`` drops it when data sent stay unacknowledged that long (the network was
    cut mid-query), and keepalives probe a connection waiting for a reply (the server's host
    died after taking the query). A server that is merely slow still ACKs and answers
    keepalives: long queries are not cut short. A server-side ``statement_timeout`` would not
    help here: it needs the server to be reachable.
    """
    seconds = max(2, timeout_seconds)
    return {
        "connect_timeout": seconds,
        "tcp_user_timeout": seconds * 1000,
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": 1,
        "keepalives_count": 2,
    }


class Database:
    """An engine and its session factory; one per process, held on ``app.state``."""

    def __init__(self, bind: Engine | Connection, **session_kwargs: Any) -> None:
        # A Connection (with join_transaction_mode="create_savepoint") is how tests run each
        # test inside a transaction that is rolled back.
        self.bind = bind
        self._write_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.session_factory = sessionmaker(
            bind=bind, class_=Session, expire_on_commit=False, **session_kwargs
        )

    @property
    def dialect(self) -> str:
        return self.bind.dialect.name

    def session(self) -> Session:
        session: Session = self.session_factory()
        return session

    def write_gate(self) -> asyncio.Lock:
        """The lock writing requests of this process take in turn on SQLite (one per event
        loop: a lock belongs to the loop it was first awaited in)."""
        loop = asyncio.get_running_loop()
        gate = self._write_gates.get(loop)
        if gate is None:
            gate = self._write_gates[loop] = asyncio.Lock()
        return gate


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def sqlite_write_turn(request: Request) -> AsyncIterator[None]:
    """On SQLite, writing requests of one process wait for their turn here, in the event loop.

    SQLite has one writer at a time; without this, writers of the same process would queue in
    SQLite's busy handler, which polls with sleeps of up to 100 ms: under load, most of the time
    would go to sleeping while the lock is free. Waiting here costs no thread (a thread-level
    lock could exhaust the thread pool that the lock holder needs to finish). Other processes
    still queue in the busy handler. PostgreSQL needs none of this.
    """
    db: Database = request.app.state.db
    if db.dialect != "sqlite" or request.method in READ_METHODS:
        yield
        return
    async with db.write_gate():
        yield


async def run_unit_of_work(
    request: Request,
    work: Callable[[Session], T],
    *,
    inline_on_sqlite: bool = False,
    read_only: bool = False,
    commit_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Runs ``work`` with a session of its own in ONE worker thread: commit, or roll back.

    The capture endpoints use this instead of the session dependency: each sync dependency
    and the route would otherwise take a thread hop of their own (five or six per request),
    and under load those hand-offs, not the database, bound the ingest rate.

    ``inline_on_sqlite``: for a unit of work of a few hundred microseconds on SQLite (one
    observation), run it in the event loop itself. SQLite does no network wait and takes one
    writer at a time, and the GIL lets one thread run Python at a time, so a thread would add
    its hand-off cost and nothing else. Never for work that may take long (a batch, a list).

    ``read_only``: the work only reads, whatever the request's method (it then neither waits
    for nor holds SQLite's write turn).

    ``commit_on``: errors after which the work's writes are committed before the error goes on,
    instead of rolled back (a failed attempt that must be counted, as
    ``throttle.FailureKeepingSession`` does for the session dependency).
    """
    db: Database = request.app.state.db
    writes = request.method not in READ_METHODS and not read_only

    def run() -> T:
        with db.session() as session:
            if writes and db.dialect == "sqlite":
                session.connection(execution_options={"sqlite_immediate": True})
            try:
                result = work(session)
                session.commit()
            except commit_on:
                session.commit()
                raise
            except BaseException:
                session.rollback()
                raise
            return result

    if db.dialect != "sqlite":
        return await anyio.to_thread.run_sync(run)
    if not writes:
        return run() if inline_on_sqlite else await anyio.to_thread.run_sync(run)
    async with db.write_gate():
        return run() if inline_on_sqlite else await anyio.to_thread.run_sync(run)


def get_session(
    request: Request, _turn: None = Depends(sqlite_write_turn, scope="function")
) -> Iterator[Session]:
    """The request's unit of work: services flush, this commits once, or rolls back on error.

    Declared with ``scope="function"`` where used, so the commit happens before the response is
    sent: a failed commit must not have answered 2xx.
    """
    db: Database = request.app.state.db
    with db.session() as session:
        if db.dialect == "sqlite" and request.method not in READ_METHODS:
            session.connection(execution_options={"sqlite_immediate": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
