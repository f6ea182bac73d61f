"""Alembic environment: the schema is ``SQLModel.metadata`` with every model of ``app.models``.

The URL comes from the settings unless the caller hands a connection in
``config.attributes["connection"]`` (the tests and ``sentinelles migrate`` do).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table)
from app.core.db import make_engine
from app.core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # As app.core.migrations does: SQLite's table copies must not cascade or trip on
            # the foreign keys of the rows they carry over (the pragma holds outside a
            # transaction only, hence before the migration's).
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        _configure(conn)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
