"""Database engine, sessions and the column types every domain shares.

The naming convention is set here, before any model module is imported, because SQLAlchemy reads
it when a table is declared: set later, it silently does nothing and migrations would carry
whatever names each database invents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


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


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine tuned for the backend at ``url``.

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
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


class Database:
    """An engine and its session factory; one per process, held on ``app.state``."""

    def __init__(self, bind: Engine | Connection, **session_kwargs: Any) -> None:
        # A Connection (with join_transaction_mode="create_savepoint") is how tests run each
        # test inside a transaction that is rolled back.
        self.bind = bind
        self.session_factory = sessionmaker(
            bind=bind, class_=Session, expire_on_commit=False, **session_kwargs
        )

    @property
    def dialect(self) -> str:
        return self.bind.dialect.name

    def session(self) -> Session:
        return self.session_factory()


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: services flush, this commits once, or rolls back on error.

    Declared with ``scope="function"`` where used, so the commit happens before the response is
    sent: a failed commit must not have answered 2xx.
    """
    db: Database = request.app.state.db
    with db.session() as session:
        if db.dialect == "sqlite" and request.method not in ("GET", "HEAD", "OPTIONS"):
            session.connection(execution_options={"sqlite_immediate": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
