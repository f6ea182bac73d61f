"""One archive of the whole service, and its restore: ``sentinelles backup`` / ``restore``.

The archive is a plain tar file:

- ``database/<table>.jsonl.gz``: every row of every table of the schema, one JSON object a line,
  tables in dependency order (a row's references are loaded before it);
- ``media/<key>``: every file of the media store (local or S3), byte for byte;
- ``manifest.json`` (the last member): the format version, the application's version, the
  Alembic revision of the schema, the database kind, when it was made, each table's columns and
  row count, and the size and SHA-256 of every other member.

**Why a logical dump rather than ``pg_dump`` or a copy of the SQLite file.** One format for both
databases: the same code writes and reads it, the same test proves the round trip on both, no
``pg_dump``/``pg_restore`` binary has to match the server's major version on the machine that
runs the backup, and an archive of a SQLite trial can be restored into PostgreSQL to move an
install. Values go through the models' column types (UUIDs, UTC datetimes, JSON), so what is
written is what the application reads, whatever the database stores underneath. The cost is
speed (rows go through Python) and that the dump only knows the tables of the models, which is
the whole schema: the backup refuses a database whose revision is not the one this version's
models describe.

**A consistent copy while the service runs.** SQLite: the online backup API
(``sqlite3.Connection.backup``) first copies the database, WAL included, into a temporary file,
and the rows are read from that copy, so writers are never held up for the length of the dump.
PostgreSQL: every table is read in one ``REPEATABLE READ, READ ONLY`` transaction, one snapshot.
Media files never change once written (a photo's files are written before its row is
committed, and removed after its deletion is), and they are read after the database: a photo
added meanwhile may bring files whose row is not in the archive (unused, harmless), and a photo
deleted meanwhile leaves its row without files, which the backup reports file by file.

**Never half an archive.** The archive is written under a temporary name beside PATH and renamed
over it once complete and synced; a crash or an error leaves PATH untouched.

**Restore** reads the manifest, refuses a target that holds any row (in any table) or any
media file unless ``force``, checks every member's size and SHA-256 before touching anything,
brings an empty schema to the archive's revision (migrations of this version: it must be the same
version or a newer one), loads the rows in one transaction, checks each table's row count
against the manifest, resets PostgreSQL's sequences, puts the media files back, and finally
upgrades the schema to this version's head if the archive was older.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import column as column_clause
from sqlalchemy import table as table_clause
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table)
from app import __version__
from app.core.migrations import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from app.media.storage import MediaNotFound, Storage, StorageError, validate_key

FORMAT = "sentinelles-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_DIR = "database/"
MEDIA_DIR = "media/"
INSERT_BATCH = 1000
READ_CHUNK = 1 << 20
# Alembic's own table: the restore recreates it by migrating, it is never dumped.
ALEMBIC_TABLE = "alembic_version"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


class Progress:
    """What the command line shows: a step with a total, advanced as the work goes.

    The default does nothing; the CLI draws rich progress bars from it.
    """

    def start(self, description: str, total: int, *, unit: str = "items") -> None:
        return None

    def advance(self, amount: int) -> None:
        return None


@dataclass
class BackupReport:
    path: Path
    database: str
    revision: str
    rows: dict[str, int]
    files: int
    media_bytes: int
    size: int
    missing_files: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    revision: str
    upgraded_to: str | None
    rows: dict[str, int]
    files: int
    media_bytes: int
    created_at: str
    source_database: str


# --- values ------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """A column's Python value as JSON; ``_decode`` turns it back given the column's type."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Enum):
        return _encode(value.value)
    if isinstance(value, dict | list):
        return value
    raise BackupError(f"cannot write a value of type {type(value).__name__} in a backup")


def _decoder(column_type: sqltypes.TypeEngine[Any]) -> Callable[[Any], Any]:
    kind: Any = column_type
    while isinstance(kind, sqltypes.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sqltypes.Uuid):
        return uuid.UUID if kind.as_uuid else str
    if isinstance(kind, sqltypes.DateTime):
        return datetime.fromisoformat
    if isinstance(kind, sqltypes.Date):
        return date.fromisoformat
    if isinstance(kind, sqltypes.Time):
        return time.fromisoformat
    if isinstance(kind, sqltypes.Interval):
        return lambda seconds: timedelta(seconds=seconds)
    if isinstance(kind, sqltypes.Float):
        return float
    if isinstance(kind, sqltypes.Numeric):
        return Decimal if kind.asdecimal else float
    if isinstance(kind, sqltypes.LargeBinary):
        return base64.b64decode
    return lambda value: value


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What a media store raises when it cannot do what is asked (a missing bucket, a refused
    key, a full disk): turned into one clear line instead of a traceback."""
    errors: list[type[BaseException]] = [OSError, StorageError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        pass
    else:
        errors += [BotoCoreError, ClientError]
    return tuple(errors)


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- the schema --------------------------------------------------------------------------------


def _tables() -> list[Table]:
    """Every table of the models, in dependency order (referenced tables first)."""
    return list(SQLModel.metadata.sorted_tables)


def _order(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)


def _known_revisions() -> dict[str, Any]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision: rev for rev in script.walk_revisions()}


def _is_ancestor(older: str, newer: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == older for rev in script.iterate_revisions(newer, "base"))


def database_rows(conn: Connection) -> dict[str, int]:
    """Rows per table of ``conn``'s database (the tables it has, Alembic's left out)."""
    reflected = MetaData()
    reflected.reflect(conn)
    return {
        name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
        for name, table in sorted(reflected.tables.items())
        if name != ALEMBIC_TABLE
    }


# --- backup ------------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    """Reads from ``source`` and hashes what it gave, for files streamed into the archive."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.sha256 = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        self.count += len(data)
        return data


def default_archive_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"sentinelles-{moment:%Y%m%d-%H%M%S}Z.tar"


def _target_path(path: Path, *, overwrite: bool) -> Path:
    path = path.expanduser()
    if path.is_dir():
        path = path / default_archive_name()
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise BackupError(f"{path} exists already (--force replaces it)")
    return path


@contextmanager
def _snapshot(engine: Engine, workdir: Path) -> Iterator[Connection]:
    """A connection that sees one consistent state of the database for as long as it is open."""
    if engine.dialect.name == "sqlite":
        copy = workdir / "snapshot.db"
        raw = engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            raw.close()
        snapshot = create_engine(f"sqlite:///{copy}")
        try:
            with snapshot.connect() as conn:
                yield conn
        finally:
            snapshot.dispose()
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def _dump_table(conn: Connection, table: Table, target: Path, progress: Progress) -> int:
    rows = 0
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=6) as out:
        result = conn.execute(
            select(table).order_by(*_order(table)).execution_options(yield_per=INSERT_BATCH)
        )
        for partition in result.partitions():
            for row in partition:
                record = {key: _encode(value) for key, value in row._mapping.items()}
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
            rows += len(partition)
            progress.advance(len(partition))
    return rows


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def create_backup(
    engine: Engine,
    storage: Storage,
    path: Path,
    *,
    media_backend: str,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> BackupReport:
    """Writes the archive of the database behind ``engine`` and of ``storage`` to ``path`` (a
    file, or a folder to put a dated ``sentinelles-…Z.tar`` in)."""
    progress = progress or Progress()
    target = _target_path(path, overwrite=overwrite)
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision is None:
        raise BackupError("the database has no schema: there is nothing to back up")
    if revision != head_revision():
        raise BackupError(
            f"the database is at revision {revision}, this version's models at "
            f"{head_revision()}: run `sentinelles migrate` (or back up with the version that "
            "made it)"
        )
    created_at = datetime.now(UTC)
    files: dict[str, dict[str, Any]] = {}
    tables: list[dict[str, Any]] = []
    rows_by_table: dict[str, int] = {}
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with (
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".sentinelles-backup-") as work,
            tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar,
        ):
            workdir = Path(work)
            mtime = created_at.timestamp()
            with _snapshot(engine, workdir) as conn:
                counts = {
                    t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                    for t in _tables()
                }
                progress.start("Database", sum(counts.values()), unit="rows")
                for table in _tables():
                    member = f"{DATABASE_DIR}{table.name}.jsonl.gz"
                    dump = workdir / f"{table.name}.jsonl.gz"
                    rows = _dump_table(conn, table, dump, progress)
                    info = tarfile.TarInfo(member)
                    info.size = dump.stat().st_size
                    info.mtime = int(mtime)
                    info.mode = 0o644
                    with dump.open("rb") as handle:
                        tar.addfile(info, handle)
                    files[member] = {"size": info.size, "sha256": _file_digest(dump)}
                    dump.unlink()
                    tables.append(
                        {
                            "name": table.name,
                            "file": member,
                            "rows": rows,
                            "columns": [c.name for c in table.columns],
                        }
                    )
                    rows_by_table[table.name] = rows
            try:
                keys = list(storage.list_keys())
            except _storage_errors() as exc:
                raise BackupError(
                    f"the media store cannot be listed ({_reason(exc)}); nothing was written"
                ) from None
            progress.start("Media", len(keys), unit="files")
            missing: list[str] = []
            media_bytes = 0
            for key in keys:
                try:
                    opened = storage.open(key)
                    with opened as stream:
                        info = tarfile.TarInfo(MEDIA_DIR + key)
                        info.size = stream.size
                        info.mtime = int(mtime)
                        info.mode = 0o644
                        reader = _HashingReader(stream.body)
                        tar.addfile(info, reader)
                        entry: dict[str, Any] = {
                            "size": stream.size,
                            "sha256": reader.sha256.hexdigest(),
                        }
                        if stream.content_type:
                            entry["content_type"] = stream.content_type
                        files[MEDIA_DIR + key] = entry
                        media_bytes += stream.size
                except MediaNotFound:
                    missing.append(key)  # deleted since it was listed
                except _storage_errors() as exc:
                    raise BackupError(
                        f"the media file {key} cannot be read ({_reason(exc)}); nothing was written"
                    ) from None
                progress.advance(1)
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "app_version": __version__,
                "alembic_revision": revision,
                "database": engine.dialect.name,
                "media_backend": media_backend,
                "created_at": created_at.isoformat(),
                "tables": tables,
                "files": files,
            }
            data = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(mtime)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.chmod(0o600)  # accounts' password hashes are in it
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupReport(
        path=target,
        database=engine.dialect.name,
        revision=revision,
        rows=rows_by_table,
        files=len(keys) - len(missing),
        media_bytes=media_bytes,
        size=target.stat().st_size,
        missing_files=missing,
    )


# --- restore -----------------------------------------------------------------------------------


@dataclass
class _Archive:
    tar: tarfile.TarFile
    manifest: dict[str, Any]
    members: dict[str, tarfile.TarInfo]


def _damaged(detail: str) -> BackupError:
    return BackupError(f"the archive is damaged or not a Sentinelles backup: {detail}")


@contextmanager
def _open_archive(path: Path) -> Iterator[_Archive]:
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115  (closed by the `with tar` below)
    except (tarfile.TarError, OSError) as exc:
        raise _damaged(f"not a readable tar file ({exc})") from None
    with tar:
        try:
            members = {m.name: m for m in tar.getmembers()}
        except (tarfile.TarError, OSError) as exc:
            raise _damaged(f"unreadable tar headers ({exc})") from None
        info = members.get(MANIFEST)
        if info is None or not info.isfile():
            raise _damaged(f"no {MANIFEST}")
        handle = tar.extractfile(info)
        assert handle is not None
        try:
            manifest = json.loads(handle.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _damaged(f"{MANIFEST} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _damaged(f"{MANIFEST} does not describe a {FORMAT}")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupError(
                f"the archive has format version {version!r}; this version of Sentinelles reads "
                f"up to {FORMAT_VERSION}: restore it with the version that made it or a newer one"
            )
        for key in ("alembic_revision", "tables", "files", "database", "created_at"):
            if key not in manifest:
                raise _damaged(f"{MANIFEST} has no {key!r}")
        _check_manifest(manifest)
        yield _Archive(tar, manifest, members)


def _check_manifest(manifest: dict[str, Any]) -> None:
    """The manifest's shape, so that a hand-edited or truncated one is one clear line."""
    if not isinstance(manifest["alembic_revision"], str):
        raise _damaged(f"{MANIFEST}: alembic_revision is not a string")
    files = manifest["files"]
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("size"), int)
        and isinstance(entry.get("sha256"), str)
        for entry in files.values()
    ):
        raise _damaged(f"{MANIFEST}: every file needs a size and a sha256")
    tables = manifest["tables"]
    if not isinstance(tables, list) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("rows"), int)
        and entry.get("file") in files
        and isinstance(entry.get("columns"), list)
        and all(isinstance(c, str) for c in entry["columns"])
        for entry in tables
    ):
        raise _damaged(f"{MANIFEST}: every table needs a name, rows, columns and a listed file")


def _verify(archive: _Archive, progress: Progress) -> None:
    """Every member listed in the manifest is there, of its size and SHA-256; nothing else."""
    files: dict[str, dict[str, Any]] = archive.manifest["files"]
    listed = set(files) | {MANIFEST}
    extra = sorted(set(archive.members) - listed)
    if extra:
        raise _damaged(f"{extra[0]} is not in the manifest")
    for name in files:
        if name.startswith(MEDIA_DIR):
            try:
                validate_key(name[len(MEDIA_DIR) :])
            except ValueError:
                raise _damaged(f"{name} is not a media key") from None
        elif not name.startswith(DATABASE_DIR):
            raise _damaged(f"{name} is neither database nor media")
    progress.start("Checking the archive", sum(int(f["size"]) for f in files.values()), unit="B")
    for name, expected in files.items():
        info = archive.members.get(name)
        if info is None or not info.isfile():
            raise _damaged(f"{name} is missing")
        handle = archive.tar.extractfile(info)
        assert handle is not None
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := handle.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                progress.advance(len(chunk))
        except (tarfile.TarError, OSError) as exc:
            raise _damaged(f"{name} cannot be read ({exc})") from None
        if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
            raise _damaged(
                f"{name} does not match its size and SHA-256 in the manifest; nothing was restored"
            )


def _clear_database(conn: Connection) -> None:
    reflected = MetaData()
    reflected.reflect(conn)
    for table in reversed(reflected.sorted_tables):
        if table.name != ALEMBIC_TABLE:
            conn.execute(delete(table))


def _prepare_schema(engine: Engine, revision: str, *, has_rows: bool) -> None:
    """Brings the (emptied) database to the archive's revision."""
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == revision:
        return
    if has_rows:
        with engine.begin() as conn:
            _clear_database(conn)
    if current is not None and _is_ancestor(revision, current):
        downgrade(engine, revision)
    else:
        upgrade(engine, revision)


def _load_table(
    conn: Connection,
    archive: _Archive,
    entry: dict[str, Any],
    schema: Table,
    model: Table | None,
    progress: Progress,
) -> int:
    """Inserts the table's rows from the archive; the count of rows inserted.

    ``schema`` is the table as the database has it at the archive's revision; the columns'
    types come from the model where it has the column (UUIDs, UTC datetimes and JSON, which
    reflection cannot tell on SQLite). Only the archive's columns are written, exactly as they
    were: no Python-side default of a model fills anything in.
    """
    unknown = [c for c in entry["columns"] if c not in schema.columns]
    if unknown:
        raise BackupError(
            f"the archive's table {entry['name']} has columns the schema at its revision does "
            f"not have ({', '.join(unknown)})"
        )
    types = {
        name: (model.columns[name].type if model is not None and name in model.columns else None)
        or schema.columns[name].type
        for name in entry["columns"]
    }
    target = table_clause(
        schema.name, *(column_clause(name, types[name]) for name in entry["columns"])
    )
    decoders = {name: _decoder(kind) for name, kind in types.items()}
    statement = insert(target)
    info = archive.members[entry["file"]]
    handle = archive.tar.extractfile(info)
    assert handle is not None
    batch: list[dict[str, Any]] = []
    rows = 0
    with gzip.open(handle, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            batch.append(
                {
                    name: None if value is None else decoders[name](value)
                    for name, value in record.items()
                }
            )
            if len(batch) >= INSERT_BATCH:
                conn.execute(statement, batch)
                rows += len(batch)
                progress.advance(len(batch))
                batch = []
    if batch:
        conn.execute(statement, batch)
        rows += len(batch)
        progress.advance(len(batch))
    return rows


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: each serial/identity counter after the largest restored value."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sqltypes.Integer):
                continue
            sequence = conn.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence:
                conn.execute(
                    text(
                        f'SELECT setval(:sequence, COALESCE(MAX("{column.name}"), 1), '
                        f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'
                    ),
                    {"sequence": sequence},
                )


def restore_backup(
    engine: Engine,
    storage: Storage,
    path: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restores the archive at ``path`` into the database behind ``engine`` and ``storage``."""
    progress = progress or Progress()
    with _open_archive(path.expanduser()) as archive:
        manifest = archive.manifest
        revision: str = manifest["alembic_revision"]
        if revision not in _known_revisions():
            raise BackupError(
                f"the archive's schema revision {revision} is unknown to this version of "
                f"Sentinelles ({__version__}): it was made by a newer one; restore it with that "
                "version or a newer one"
            )
        with engine.connect() as conn:
            present = {name: n for name, n in database_rows(conn).items() if n}
        try:
            stored = next(iter(storage.list_keys()), None)
        except _storage_errors() as exc:
            raise BackupError(
                f"the media store cannot be listed ({_reason(exc)}); nothing was restored"
            ) from None
        if (present or stored is not None) and not force:
            what = []
            if present:
                first = next(iter(present))
                what.append(
                    f"the database has rows ({sum(present.values()):,} in {len(present)} "
                    f"tables, e.g. {first})"
                )
            if stored is not None:
                what.append(f"the media store has files (e.g. {stored})")
            raise BackupError(
                f"restore needs an empty target, but {' and '.join(what)}: restore into a new "
                "database and media store, or pass --force to replace everything they hold"
            )

        _verify(archive, progress)

        _prepare_schema(engine, revision, has_rows=bool(present))
        reflected = MetaData()
        with engine.connect() as conn:
            reflected.reflect(conn)
        models = {t.name: t for t in _tables()}
        tables = manifest["tables"]
        for entry in tables:
            if entry["name"] not in reflected.tables:
                raise BackupError(
                    f"the archive's table {entry['name']} does not exist at revision {revision}"
                )
        progress.start("Database", sum(int(t["rows"]) for t in tables), unit="rows")
        rows: dict[str, int] = {}
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            _clear_database(conn)
            for entry in tables:
                name = entry["name"]
                try:
                    rows[name] = _load_table(
                        conn, archive, entry, reflected.tables[name], models.get(name), progress
                    )
                except (IntegrityError, DataError) as exc:
                    raise BackupError(
                        f"the rows of the table {name} do not fit the database "
                        f"({_reason(exc.orig or exc)}); nothing was restored"
                    ) from None
            for entry in tables:
                name = entry["name"]
                counted = int(
                    conn.scalar(select(func.count()).select_from(reflected.tables[name])) or 0
                )
                if counted != entry["rows"] or rows[name] != entry["rows"]:
                    raise BackupError(
                        f"the table {name} has {counted:,} rows after loading, the manifest says "
                        f"{entry['rows']:,}; nothing was restored"
                    )
            _reset_sequences(conn, [reflected.tables[t["name"]] for t in tables])

        media = {
            name[len(MEDIA_DIR) :]: entry
            for name, entry in manifest["files"].items()
            if name.startswith(MEDIA_DIR)
        }
        progress.start("Media", sum(int(e["size"]) for e in media.values()), unit="B")
        media_bytes = 0
        done = 0
        try:
            if force:
                for key in list(storage.list_keys()):
                    if key not in media:
                        storage.delete(key)
            for key, entry in media.items():
                handle = archive.tar.extractfile(archive.members[MEDIA_DIR + key])
                assert handle is not None
                data = handle.read()
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise _damaged(f"{MEDIA_DIR}{key} changed while it was restored")
                content_type = entry.get("content_type") or _content_type(key)
                storage.put(key, data, content_type=content_type)
                media_bytes += len(data)
                done += 1
                progress.advance(len(data))
        except _storage_errors() as exc:
            raise BackupError(
                f"the database was restored, but the media store failed after {done:,} of "
                f"{len(media):,} files ({_reason(exc)}): fix it, then run the restore again "
                "with --force"
            ) from None

    upgraded_to = None
    head = head_revision()
    if head and revision != head:
        upgrade(engine, "head")
        upgraded_to = head
    return RestoreReport(
        revision=revision,
        upgraded_to=upgraded_to,
        rows=rows,
        files=len(media),
        media_bytes=media_bytes,
        created_at=str(manifest["created_at"]),
        source_database=str(manifest["database"]),
    )


def _content_type(key: str) -> str:
    return "image/jpeg" if key.endswith(".jpg") else "application/octet-stream"
