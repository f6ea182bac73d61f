"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Each test gets an empty database of its own (a file for SQLite, a throwaway PostgreSQL database
created and dropped here), never the run's shared one: downgrading that would break every other
test. The comparison is Alembic's own autogenerate diff, the same one ``alembic revision
--autogenerate`` would turn into a new migration: an empty diff means no migration is missing.
Check constraints and constraint names are outside what autogenerate compares, so they are
checked by reflection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from pprint import pformat
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import (
    CheckConstraint,
    Engine,
    ForeignKeyConstraint,
    Table,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table in SQLModel.metadata)
from app.core.db import make_engine
from app.core.migrations import alembic_config, downgrade, upgrade
from tests.conftest import PG_ADMIN_URL, REQUIRE_PG, _postgres_unreachable_reason

VERSION_TABLE = "alembic_version"
# Constraint kind -> the prefix the naming convention in app/core/db.py gives it.
PREFIXES = {"pk": "pk_", "uq": "uq_", "fk": "fk_", "ck": "ck_", "ix": "ix_"}

Names = dict[str, set[tuple[str, str]]]


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new, empty database of ``backend``, destroyed afterwards."""
    if backend == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        try:
            yield eng
        finally:
            eng.dispose()
        return

    reason = _postgres_unreachable_reason()
    if reason:
        if REQUIRE_PG:
            pytest.fail(reason + " (SENTINELLES_TEST_REQUIRE_POSTGRES is set)")
        pytest.skip(reason + "; set SENTINELLES_TEST_POSTGRES_URL to run these tests on it")
    name = f"sentinelles_migr_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(url, pool_size=2)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def schema_diff(engine: Engine) -> list[Any]:
    """What autogenerate would put in a new migration: tables, columns, types, nullability,
    indexes, unique constraints and foreign keys that differ between the database and models."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, SQLModel.metadata))


def model_names() -> Names:
    """Every constraint and index name the models declare, per kind, as ``(table, name)``."""
    names: Names = {kind: set() for kind in PREFIXES}
    for table in SQLModel.metadata.tables.values():
        assert isinstance(table, Table)
        if table.primary_key.name:
            names["pk"].add((table.name, str(table.primary_key.name)))
        for constraint in table.constraints:
            kind = {
                UniqueConstraint: "uq",
                ForeignKeyConstraint: "fk",
                CheckConstraint: "ck",
            }.get(type(constraint))
            if kind:
                names[kind].add((table.name, str(constraint.name)))
        for index in table.indexes:
            names["ix"].add((table.name, str(index.name)))
    return names


def database_names(engine: Engine) -> Names:
    """The same names as the database reports them (``None`` for an unnamed constraint)."""
    names: Names = {kind: set() for kind in PREFIXES}
    insp = inspect(engine)
    for table in insp.get_table_names():
        if table == VERSION_TABLE:
            continue
        names["pk"].add((table, str(insp.get_pk_constraint(table).get("name"))))
        for uq in insp.get_unique_constraints(table):
            names["uq"].add((table, str(uq["name"])))
        for fk in insp.get_foreign_keys(table):
            names["fk"].add((table, str(fk["name"])))
        for ck in insp.get_check_constraints(table):
            names["ck"].add((table, str(ck["name"])))
        for ix in insp.get_indexes(table):
            # PostgreSQL reports the index behind each unique constraint too; it carries the
            # constraint's name, checked above.
            if "duplicates_constraint" not in ix:
                names["ix"].add((table, str(ix["name"])))
    return names


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def assert_schema_matches_models(engine: Engine) -> None:
    diff = schema_diff(engine)
    assert diff == [], "migrations and models differ:\n" + pformat(diff)

    in_db = database_names(engine)
    badly_named = sorted(
        (kind, table, name)
        for kind, pairs in in_db.items()
        for table, name in pairs
        if not name.startswith(PREFIXES[kind])
    )
    assert badly_named == [], "names outside the naming convention:\n" + pformat(badly_named)
    in_models = model_names()
    for kind in PREFIXES:
        assert in_db[kind] == in_models[kind], (
            f"{kind} names differ\nonly in the database: {sorted(in_db[kind] - in_models[kind])}"
            f"\nonly in the models: {sorted(in_models[kind] - in_db[kind])}"
        )


def test_upgrade_head_on_empty_database_gives_the_models_schema(empty_engine: Engine) -> None:
    assert table_names(empty_engine) == set()

    upgrade(empty_engine)

    assert table_names(empty_engine) == set(SQLModel.metadata.tables) | {VERSION_TABLE}
    assert_schema_matches_models(empty_engine)


def test_models_declare_named_check_constraints() -> None:
    """Guards the name comparison above from passing vacuously."""
    names = model_names()
    assert ("observation", "ck_observation_count_range") in names["ck"]
    assert ("observation", "uq_observation_observer_id_client_id") in names["uq"]
    assert ("observation", "fk_observation_species_id_species") in names["fk"]
    assert all(kind_names for kind_names in names.values())


def test_downgrade_to_base_then_upgrade_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    downgrade(empty_engine, "base")

    assert table_names(empty_engine) == {VERSION_TABLE}
    with empty_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None

    upgrade(empty_engine)

    assert_schema_matches_models(empty_engine)
    with empty_engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_revisions_form_one_chain_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"several heads, merge them: {heads}"
    assert len(script.get_bases()) == 1, f"several bases: {script.get_bases()}"

    # Walking down from the head must reach every revision file, each once: a revision off the
    # chain (a forgotten or mistyped down_revision) would be missing from the walk.
    files = [p for p in Path(script.versions).glob("*.py") if p.name != "__init__.py"]
    chain: list[str] = []
    rev: Script | None = script.get_revision(heads[0])
    while rev is not None:
        chain.append(rev.revision)
        down = rev.down_revision
        assert down is None or isinstance(down, str), f"{rev.revision} is a merge point"
        rev = script.get_revision(down) if down else None
    assert len(chain) == len(set(chain)) == len(files), (chain, [p.name for p in files])


def test_upgrades_keep_the_rows_of_a_database_in_use(empty_engine: Engine) -> None:
    """A migration that rebuilds a table (SQLite's batch mode) must not trip over the foreign
    keys of the rows that reference it: an instance in service has accounts with tokens."""
    script = ScriptDirectory.from_config(alembic_config())
    first = script.get_base()
    assert first is not None
    upgrade(empty_engine, first)
    user_id, token_id = uuid.uuid4(), uuid.uuid4()
    as_stored = user_id.hex if empty_engine.dialect.name == "sqlite" else str(user_id)
    token_stored = token_id.hex if empty_engine.dialect.name == "sqlite" else str(token_id)
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (id, email, display_name, password_hash, role, "
                "created_at, updated_at) VALUES (:id, 'a@example.org', 'A', 'x', 'sentinel', "
                "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
            ),
            {"id": as_stored},
        )
        conn.execute(
            text(
                "INSERT INTO refresh_token (id, user_id, token_digest, family_id, created_at, "
                "expires_at) VALUES (:id, :user, 'd', :id, '2026-01-01 00:00:00.000000', "
                "'2026-02-01 00:00:00.000000')"
            ),
            {"id": token_stored, "user": as_stored},
        )
    upgrade(empty_engine)
    assert_schema_matches_models(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_account")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM refresh_token")).scalar_one() == 1
    downgrade(empty_engine, "-1")
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM user_account")).scalar_one() == "a@example.org"
