"""``sentinelles backup`` and ``sentinelles restore``, run as an operator would, on both databases.

Each test builds databases of its own (a SQLite file, or a throwaway PostgreSQL database), since
a backup needs committed data: the data is made through the HTTP API (accounts through the
factories), backed up with the real command, restored with the real command into a new, empty
database and media folder, and compared table by table, row by row, and file by file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner, Result

import app.models  # noqa: F401  (every table)
from app.cli import cli
from app.core.db import Database, make_engine
from app.core.migrations import alembic_config, head_revision, upgrade
from app.core.settings import Settings, get_settings
from app.core.vocabulary import Role
from app.main import create_app
from app.media.storage import LocalStorage, S3Storage
from tests.conftest import PG_ADMIN_URL, REQUIRE_PG, _postgres_unreachable_reason
from tests.factories import auth_headers, create_user, load_reference_data
from tests.media.test_photos import jpeg, observation_payload
from tests.surveys.test_sites import payload as site_payload
from tests.surveys.test_visits import nest_visit

runner = CliRunner()
SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- databases of the test's own -----------------------------------------------------------


@pytest.fixture
def new_database(backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no schema) of the backend under test; dropped at the end."""
    created: list[str] = []
    if backend == "postgresql":
        reason = _postgres_unreachable_reason()
        if reason:
            if REQUIRE_PG:
                pytest.fail(reason + " (SENTINELLES_TEST_REQUIRE_POSTGRES is set)")
            pytest.skip(reason)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.db'}"
        name = f"sentinelles_backup_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def env_for(url: str, media: Path, **extra: str) -> dict[str, str]:
    return {
        "SENTINELLES_DATABASE_URL": url,
        "SENTINELLES_ENVIRONMENT": "test",
        "SENTINELLES_SECRET_KEY": SECRET,
        "SENTINELLES_MEDIA_BACKEND": "local",
        "SENTINELLES_MEDIA_DIR": str(media),
        **extra,
    }


def run(env: dict[str, str], *args: str) -> Result:
    get_settings.cache_clear()
    return runner.invoke(cli, list(args), env=env)


@dataclass
class Instance:
    url: str
    media: Path
    settings: Settings

    @property
    def env(self) -> dict[str, str]:
        return env_for(self.url, self.media)

    @contextmanager
    def client(self) -> Iterator[TestClient]:
        engine = make_engine(self.url, pool_size=2)
        try:
            app = create_app(self.settings, database=Database(engine))
            with TestClient(app, base_url="http://testserver/api/v1") as client:
                yield client
        finally:
            engine.dispose()


def settings_for(url: str, media: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        secret_key=SECRET,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        media_dir=media,
        reference_cache_seconds=0,
    )


def populate(url: str, media: Path) -> Instance:
    """A migrated instance with reference data, accounts, sightings (one reviewed, one with a
    photo), a survey site and a visit, all committed."""
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    settings = settings_for(url, media)
    with Session(engine) as session:
        load_reference_data(session)
        sentinel = create_user(session, settings, display_name="Léa")
        ecologist = create_user(session, settings, role=Role.ecologist, display_name="Claire")
        session.commit()
        session.refresh(sentinel)
        session.refresh(ecologist)
    engine.dispose()
    instance = Instance(url, media, settings)
    with instance.client() as client:
        headers = auth_headers(sentinel, settings)
        first = client.post("/observations", json=observation_payload(), headers=headers)
        assert first.status_code == 201, first.text
        second = client.post(
            "/observations",
            json=observation_payload(
                count=7, notes="sous le pont, près de l'étang", accuracy_m=12.5
            ),
            headers=headers,
        )
        assert second.status_code == 201, second.text
        photo = client.post(
            f"/observations/{first.json()['id']}/photos",
            files={"file": ("photo.jpg", jpeg((640, 480)), "image/jpeg")},
            headers=headers,
        )
        assert photo.status_code == 201, photo.text
        review = client.post(
            f"/observations/{first.json()['id']}/review",
            json={"decision": "validated"},
            headers=auth_headers(ecologist, settings),
        )
        assert review.status_code in (200, 201), review.text
        site = client.post("/sites", json=site_payload(), headers=headers)
        assert site.status_code == 201, site.text
        visits = f"/sites/{site.json()['id']}/visits"
        visit = client.post(visits, json=nest_visit(), headers=headers)
        assert visit.status_code == 201, visit.text
    return instance


# --- comparisons -----------------------------------------------------------------------------


# Tables computed from the others (the statistics' rollups), which the migration creating them
# fills: the same rows after an older archive is restored and upgraded.
DERIVED_TABLES = frozenset({"stats_yearly_cell", "stats_site_year"})


def table_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the models, through the models' types, in primary-key order."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def media_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def total_rows(url: str) -> int:
    return sum(len(rows) for rows in table_rows(url).values())


def schema_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            has = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name = 'alembic_version'"
                )
                if conn.dialect.name == "postgresql"
                else text("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'")
            ).scalar()
            if not has:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def backup(instance: Instance, archive: Path) -> Result:
    result = run(instance.env, "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert archive.is_file()
    return result


@pytest.fixture
def source(new_database: Callable[[], str], tmp_path: Path) -> Instance:
    return populate(new_database(), tmp_path / "media-source")


# --- the round trip --------------------------------------------------------------------------


def test_restore_gives_back_every_row_and_every_photo(
    source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    archive = tmp_path / "backup.tar"
    made = backup(source, archive)
    assert "Backup" in made.output

    target_url, target_media = new_database(), tmp_path / "media-target"
    restored = run(env_for(target_url, target_media), "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "Restored backup.tar" in restored.output
    assert "observation" in restored.output

    before, after = table_rows(source.url), table_rows(target_url)
    for name in ("user_account", "observation", "observation_photo", "survey_visit"):
        assert before[name], f"the test made no {name} rows"
    assert before["review_decision"] and before["audit_event"]
    for name, rows in before.items():
        assert after[name] == rows, f"table {name} differs after the restore"
    photos = media_files(source.media)
    assert photos and any(key.endswith("full.jpg") for key in photos)
    assert media_files(target_media) == photos
    assert schema_revision(target_url) == head_revision()

    # The restored instance serves the photo, as the original did.
    photo = before["observation_photo"][0]
    restored_instance = Instance(target_url, target_media, settings_for(target_url, target_media))
    with restored_instance.client() as client:
        served = client.get(f"/photos/{photo['id']}")
    with source.client() as client:
        original = client.get(f"/photos/{photo['id']}")
    assert original.status_code == 200
    assert served.status_code == 200 and served.content == original.content


def test_the_archive_has_a_manifest_of_every_file(source: Instance, tmp_path: Path) -> None:
    stored = media_files(source.media)
    # An upload being written (LocalStorage's temporary name) is not a stored file.
    folder = next(p for p in source.media.rglob("*") if p.is_file()).parent
    (folder / ".full.jpg.k3x9.tmp").write_bytes(b"half an upload")
    archive = tmp_path / "backup.tar"
    backup(source, archive)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.load(handle)
    assert manifest["format_version"] == 1
    assert manifest["alembic_revision"] == head_revision()
    assert manifest["database"] == make_url(source.url).get_backend_name()
    rows = {t["name"]: t["rows"] for t in manifest["tables"]}
    assert rows == {name: len(r) for name, r in table_rows(source.url).items()}
    assert set(names) == set(manifest["files"]) | {"manifest.json"}
    media = {n for n in names if n.startswith("media/")}
    assert media == {f"media/{key}" for key in stored}
    for entry in manifest["files"].values():
        assert len(entry["sha256"]) == 64 and entry["size"] > 0
    # Only the finished archive is left in the folder: no temporary file, no work folder.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_folder_gets_a_dated_archive_and_an_existing_file_is_kept(
    source: Instance, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    backup_result = run(source.env, "backup", str(folder))
    assert backup_result.exit_code == 0, backup_result.output
    (archive,) = folder.iterdir()
    assert archive.name.startswith("sentinelles-") and archive.name.endswith("Z.tar")

    before = archive.read_bytes()
    again = run(source.env, "backup", str(archive))
    assert again.exit_code == 1
    assert "exists already" in again.output
    assert archive.read_bytes() == before
    assert run(source.env, "backup", "--force", str(archive)).exit_code == 0


# --- refusals --------------------------------------------------------------------------------


def test_restore_refuses_a_database_with_data_unless_forced(
    source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    archive = tmp_path / "backup.tar"
    backup(source, archive)
    expected = table_rows(source.url)

    # A target with data: the source itself, after one more sighting.
    with source.client() as client:
        engine = make_engine(source.url, pool_size=1)
        with Session(engine) as session:
            late = create_user(session, source.settings, display_name="Tardif")
            session.commit()
            session.refresh(late)
        engine.dispose()
        answer = client.post(
            "/observations", json=observation_payload(), headers=auth_headers(late, source.settings)
        )
        assert answer.status_code == 201
    changed = table_rows(source.url)
    refused = run(source.env, "restore", str(archive))
    assert refused.exit_code == 1
    assert "needs an empty target" in refused.output and "--force" in refused.output
    assert table_rows(source.url) == changed

    forced = run(source.env, "restore", "--force", str(archive))
    assert forced.exit_code == 0, forced.output
    assert table_rows(source.url) == expected

    # An empty database but a media folder with files: refused too.
    target_url, target_media = new_database(), tmp_path / "media-target"
    (target_media / "photos").mkdir(parents=True)
    (target_media / "photos" / "stray.jpg").write_bytes(b"not from this backup")
    refused = run(env_for(target_url, target_media), "restore", str(archive))
    assert refused.exit_code == 1
    assert "media store has files" in refused.output
    assert schema_revision(target_url) is None
    forced = run(env_for(target_url, target_media), "restore", "--force", str(archive))
    assert forced.exit_code == 0, forced.output
    assert media_files(target_media) == media_files(source.media)


def _flip_a_byte(archive: Path, member: str) -> None:
    with tarfile.open(archive) as tar:
        info = tar.getmember(member)
        offset = info.offset_data + info.size // 2
    with archive.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("which", ["media", "database"])
def test_a_damaged_archive_is_refused_and_nothing_is_restored(
    which: str, source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    archive = tmp_path / "backup.tar"
    backup(source, archive)
    with tarfile.open(archive) as tar:
        member = next(n for n in tar.getnames() if n.startswith(f"{which}/"))
    if which == "database":
        member = "database/observation.jsonl.gz"
    _flip_a_byte(archive, member)

    target_url, target_media = new_database(), tmp_path / "media-target"
    result = run(env_for(target_url, target_media), "restore", str(archive))
    assert result.exit_code == 1
    assert "damaged" in result.output
    assert member in result.output and "SHA-256" in result.output
    assert "Traceback" not in result.output
    assert schema_revision(target_url) is None
    assert not target_media.exists() or media_files(target_media) == {}


def test_something_else_than_an_archive_is_refused(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    junk = tmp_path / "notes.tar"
    junk.write_bytes(b"just some text, not a tar file" * 40)
    result = run(env_for(new_database(), tmp_path / "media"), "restore", str(junk))
    assert result.exit_code == 1
    assert "not a Sentinelles backup" in result.output

    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        data = b'{"hello": "world"}'
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    result = run(env_for(new_database(), tmp_path / "media"), "restore", str(other))
    assert result.exit_code == 1
    assert "does not describe a sentinelles-backup" in result.output


def test_a_manifest_of_the_wrong_shape_is_refused_in_one_line(
    source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    archive, edited = tmp_path / "backup.tar", tmp_path / "edited.tar"
    backup(source, archive)

    def without_row_counts(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["tables"] = [
            {k: v for k, v in t.items() if k != "rows"} for t in manifest["tables"]
        ]
        return manifest

    rewrite(archive, edited, without_row_counts)
    target_url = new_database()
    result = run(env_for(target_url, tmp_path / "media-target"), "restore", str(edited))
    assert result.exit_code == 1
    assert "every table needs a name, rows" in result.output
    assert "Traceback" not in result.output
    assert schema_revision(target_url) is None


# --- S3 and moving between databases ---------------------------------------------------------


def test_media_in_s3_round_trip(
    source: Instance,
    new_database: Callable[[], str],
    tmp_path: Path,
    s3_endpoint: str,
    backend: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("the media store does not depend on the database")
    bucket = f"backup-{uuid.uuid4().hex[:12]}"
    s3 = {
        "SENTINELLES_MEDIA_BACKEND": "s3",
        "SENTINELLES_S3_BUCKET": bucket,
        "SENTINELLES_S3_ENDPOINT_URL": s3_endpoint,
        "SENTINELLES_S3_ACCESS_KEY_ID": "testing",
        "SENTINELLES_S3_SECRET_ACCESS_KEY": "testing",
        "SENTINELLES_S3_PREFIX": "loos",
    }
    store = S3Storage(
        bucket=bucket,
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        prefix="loos",
    )
    store.ensure_bucket()
    archive = tmp_path / "from-local.tar"
    backup(source, archive)

    # A bucket that does not exist: one clear line, and the database is left as it was.
    nowhere_url = new_database()
    nowhere = env_for(nowhere_url, tmp_path / "unused", **{**s3, "SENTINELLES_S3_BUCKET": "nope"})
    refused = run(nowhere, "restore", str(archive))
    assert refused.exit_code == 1
    assert "the media store cannot be listed" in refused.output
    assert "NoSuchBucket" in refused.output or "does not exist" in refused.output
    assert schema_revision(nowhere_url) is None

    # Local files into S3 ...
    target_url = new_database()
    env = env_for(target_url, tmp_path / "unused", **s3)
    restored = run(env, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    photos = media_files(source.media)
    assert {key: store.get(key) for key in store.list_keys()} == photos

    # ... and S3 into an archive, then back into local files.
    again = tmp_path / "from-s3.tar"
    made = run(env, "backup", str(again))
    assert made.exit_code == 0, made.output
    last_url, last_media = new_database(), tmp_path / "media-last"
    back = run(env_for(last_url, last_media), "restore", str(again))
    assert back.exit_code == 0, back.output
    assert media_files(last_media) == photos
    assert table_rows(last_url) == table_rows(source.url)
    assert list(LocalStorage(last_media).list_keys()) == sorted(photos)


def test_a_sqlite_archive_moves_into_postgresql(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite to PostgreSQL: run once, with the PostgreSQL half")
    new_database = request.getfixturevalue("new_database")
    sqlite_url = f"sqlite:///{tmp_path / 'trial.db'}"
    trial = populate(sqlite_url, tmp_path / "media-trial")
    archive = tmp_path / "trial.tar"
    backup(trial, archive)

    target_url, target_media = new_database(), tmp_path / "media-production"
    result = run(env_for(target_url, target_media), "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert table_rows(target_url) == table_rows(sqlite_url)
    assert media_files(target_media) == media_files(trial.media)


def test_backup_refuses_a_database_without_schema(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    result = run(env_for(new_database(), tmp_path / "media"), "backup", str(tmp_path / "b.tar"))
    assert result.exit_code == 1
    assert "no schema" in result.output
    assert not (tmp_path / "b.tar").exists()


# --- archives of other versions --------------------------------------------------------------


def rewrite(archive: Path, out: Path, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A copy of ``archive`` whose manifest and tables ``change`` edits, its sums made right.

    ``change`` gets and returns the manifest; each entry of its ``tables`` may have lost columns
    (their values are dropped from every row) or be gone (the table's file is left out).
    """
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = change(json.load(handle))
        kept = {t["file"]: t for t in manifest["tables"]}
        files: dict[str, Any] = {}
        with tarfile.open(out, "w") as new:
            for info in tar.getmembers():
                if info.name == "manifest.json":
                    continue
                source = tar.extractfile(info)
                assert source is not None
                data = source.read()
                if info.name.startswith("database/"):
                    if info.name not in kept:
                        continue
                    columns = kept[info.name]["columns"]
                    lines = gzip.decompress(data).decode().splitlines()
                    rows = [json.loads(line) for line in lines]
                    data = gzip.compress(
                        "".join(
                            json.dumps({c: row[c] for c in columns}) + "\n" for row in rows
                        ).encode()
                    )
                files[info.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                if (
                    info.name in manifest["files"]
                    and "content_type" in manifest["files"][info.name]
                ):
                    files[info.name]["content_type"] = manifest["files"][info.name]["content_type"]
                member = tarfile.TarInfo(info.name)
                member.size = len(data)
                new.addfile(member, io.BytesIO(data))
            manifest["files"] = files
            raw = json.dumps(manifest).encode()
            member = tarfile.TarInfo("manifest.json")
            member.size = len(raw)
            new.addfile(member, io.BytesIO(raw))


def revision_before_a_new_table() -> str:
    """The revision just before the newest migration that creates a table: an older version's
    archive then lacks a table (and whatever came after it, such as an index)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():  # newest first
        if "op.create_table(" in Path(str(revision.path)).read_text(encoding="utf-8"):
            assert isinstance(revision.down_revision, str)
            return revision.down_revision
    raise AssertionError("no migration creates a table")


def test_an_archive_of_an_older_schema_is_restored_then_upgraded(
    source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    """What a backup made by the previous version holds: the tables and columns of its
    revision. The restore loads it at that revision, then migrates to this version's head."""
    older = revision_before_a_new_table()
    scratch = make_engine(f"sqlite:///{tmp_path / 'older.db'}", pool_size=1)
    upgrade(scratch, older)
    with scratch.connect() as conn:
        schema = MetaData()
        schema.reflect(conn)
    scratch.dispose()
    expected = table_rows(source.url)
    newer_tables = [name for name in expected if name not in schema.tables]
    assert newer_tables, "a migration since the older revision adds a table"
    for name in newer_tables:
        if name in DERIVED_TABLES:
            continue  # their migration fills them from the records restored
        assert expected[name] == [], f"the older archive cannot hold {name}'s rows"

    def at_older_revision(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["alembic_revision"] = older
        manifest["tables"] = [
            {**t, "columns": [c for c in t["columns"] if c in schema.tables[t["name"]].columns]}
            for t in manifest["tables"]
            if t["name"] in schema.tables
        ]
        return manifest

    archive, old_archive = tmp_path / "backup.tar", tmp_path / "older.tar"
    backup(source, archive)
    rewrite(archive, old_archive, at_older_revision)

    target_url, target_media = new_database(), tmp_path / "media-target"
    result = run(env_for(target_url, target_media), "restore", str(old_archive))
    assert result.exit_code == 0, result.output
    assert "schema upgraded to" in result.output and str(head_revision()) in result.output
    assert schema_revision(target_url) == head_revision()
    # What the migrations since added was empty in the source: everything is back.
    assert table_rows(target_url) == expected
    assert media_files(target_media) == media_files(source.media)


def test_an_archive_of_a_newer_version_is_refused(
    source: Instance, new_database: Callable[[], str], tmp_path: Path
) -> None:
    archive, newer = tmp_path / "backup.tar", tmp_path / "newer.tar"
    backup(source, archive)
    rewrite(archive, newer, lambda manifest: {**manifest, "alembic_revision": "ffffffffffff"})

    target_url = new_database()
    result = run(env_for(target_url, tmp_path / "media-target"), "restore", str(newer))
    assert result.exit_code == 1
    assert "ffffffffffff is unknown to this version" in " ".join(result.output.split())
    assert schema_revision(target_url) is None


# --- while the service runs ------------------------------------------------------------------


def test_a_backup_while_a_writer_is_busy_holds_only_what_was_committed(
    source: Instance, tmp_path: Path
) -> None:
    """An open write transaction neither blocks the backup nor leaks into it."""
    committed = table_rows(source.url)
    engine = make_engine(source.url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            writing = conn.begin()
            with Session(bind=conn) as session:
                create_user(session, source.settings, display_name="Pas encore")
                session.flush()
            archive = tmp_path / "busy.tar"
            backup(source, archive)
            writing.rollback()
    finally:
        engine.dispose()
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.load(handle)
    rows = {t["name"]: t["rows"] for t in manifest["tables"]}
    assert rows["user_account"] == len(committed["user_account"])
