"""Running Alembic from the application: ``sentinelles migrate``, ``/readyz`` and the tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class MigrationError(RuntimeError):
    pass


def _in_one_transaction(engine: Engine, run: Callable[[Connection], None]) -> None:
    """Runs ``run`` in one transaction; on SQLite with foreign keys off meanwhile.

    SQLite changes most of a table by copying it (Alembic's batch mode): with foreign keys on,
    dropping the old copy deletes, through ``ON DELETE CASCADE``, the rows that reference it
    (an account's tokens) or fails on ``RESTRICT`` (its observations). The pragma only takes
    effect outside a transaction, so it is set on the connection before the migration begins,
    and every reference is checked before the migration commits.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            run(conn)
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                run(conn)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationError(
                        f"the migration would leave {len(broken)} rows referring to rows that "
                        f"do not exist (first: {tuple(broken[0])}); nothing was changed"
                    )
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    _in_one_transaction(engine, lambda conn: command.upgrade(alembic_config(conn), revision))


def downgrade(engine: Engine, revision: str = "base") -> None:
    _in_one_transaction(engine, lambda conn: command.downgrade(alembic_config(conn), revision))


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
