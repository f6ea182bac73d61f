"""Review benchmark: the ecologists' queue and a bulk review, with a million observations stored,
next to the same SQL run straight on the database.

    .venv/bin/python scripts/bench/review.py [--db sqlite|postgresql|both] [--rows 1000000]
        [--runs R] [--json PATH]

For each database: a fresh database, migrated, with the reference species and zones; ``--rows``
observations loaded by bulk inserts (SQLite ``executemany``, PostgreSQL ``COPY``), as a survey of
five years leaves them: about 80% validated, 15% pending, 4% needing information, 1% rejected,
from 2,000 observers, of the non-sensitive reference species (a few common, many rare), inside
Loos-en-Gohelle, some flagged ``out_of_season`` or ``high_count``, one in five with a photo; every
record that was reviewed carries its review decision and its audit event. Then ``ANALYZE``
(``VACUUM ANALYZE`` on PostgreSQL), as a database in service has statistics. Then ONE
``uvicorn`` process started as production starts it, and an ecologist signed in (the account
created in the database with the app's own password hashing, the token asked of
``POST /auth/token``).

* queue, first page: ``GET /review/observations?limit=50``, and the same with ``species_id`` (a
  species of middling frequency) and with ``flag=out_of_season``; each timed ``--queue-requests``
  times after ``--warmup`` untimed;
* bulk review: ``POST /review/bulk`` of 500 pending observations (the oldest of the queue, new ones
  each round) with the decision ``validated``, ``--bulk-rounds`` rounds after one untimed;
* the floor of each, timed the same way and interleaved with it, in this process on one
  connection of the same engine settings as the server's: the statements the service issues,
  written out as SQL and run with the driver (sqlite3, psycopg 3). For the queue: the page's
  SELECT (observation JOIN species JOIN user_account, awaiting review, not deleted, ORDER BY
  created_at, id LIMIT 51) and the look-ups of the page's photos and review decisions, in one
  read transaction. For the bulk review, in one write transaction: the SELECT of the ids' status,
  the UPDATE of the 500 observations, the 500 review decisions and the 500 audit events (both
  ``executemany``), on other pending observations of the same stretch of the queue.

Each figure is printed as a ratio to its floor. The aims (issue: review queue): the queue's first
page under 2× its floor and under 100 ms on this machine; none for the bulk review. The plans of
the queue's queries (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on
PostgreSQL) are printed too: does the page read the partial index ``ix_observation_review_queue``?
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import math
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    Account,
    CpuMeter,
    CpuUse,
    PostgresProbe,
    Server,
    as_measure,
    databases,
    fresh_database,
    machine_info,
    prepare_database,
    run_server,
)

QUEUE_LIMIT = 50
BULK_SIZE = 500
QUEUE_AIM_RATIO = 2.0  # × the floor
QUEUE_AIM_MS = 100.0
NOISY_CORES = 0.25
CHUNK = 10_000  # rows generated and sent to the database at a time
COMMIT_EVERY = 100_000  # rows per loading transaction
OBSERVERS = 2_000
YEARS = 5
# Loos-en-Gohelle (INSEE 62528): a box around its centre, checked to lie inside the commune.
ZONE_CODE = "62528"
LAT_RANGE = (50.449, 50.465)
LON_RANGE = (2.773, 2.797)
STATUS_SHARES = {"validated": 0.80, "pending": 0.15, "needs_info": 0.04, "rejected": 0.01}
FLAG_SHARES = [  # cumulative thresholds on one draw
    (0.050, ["out_of_season"]),
    (0.060, ["high_count"]),
    (0.065, ["out_of_season", "high_count"]),
]
PHOTO_SHARE = 0.20
NOTES = [None] * 6 + ["sur le fil électrique", "au-dessus du terril", "chant entendu"]
DUMMY_HASH = "!bench: no password signs in to this account"

console = Console(width=None if sys.stdout.isatty() else 120)


def _tables() -> Any:
    """The tables, every model they refer to registered on the metadata."""
    from sqlmodel import SQLModel

    import app.accounts.models
    import app.audit.models
    import app.media.models
    import app.observations.models
    import app.records.models
    import app.species.models
    import app.zones.models  # noqa: F401

    return SQLModel.metadata.tables


# --- rows as the drivers take them ----------------------------------------------------------------
#
# The loader generates every value already as the driver takes it, so that a million rows cost
# no conversion: a UUID as 32 hex digits (what SQLAlchemy stores on SQLite, and what PostgreSQL's
# uuid input reads), a time as naive UTC text with microseconds (SQLAlchemy's SQLite format; read
# as UTC by PostgreSQL with the loading session's TimeZone at UTC), JSON as its text. The first
# rows are checked against SQLAlchemy's own bind processors (SQLite) and read back through
# SQLAlchemy's types (both databases).


def _uuid_hex(getrandbits: Callable[[int], int]) -> str:
    """A random version-4 UUID as 32 hex digits, as ``uuid.uuid4().hex`` but faster."""
    value = getrandbits(128)
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # variant RFC 4122
    value = (value & ~(0xF000 << 64)) | (4 << 76)  # version 4
    return f"{value:032x}"


def _text_time(value: datetime) -> str:
    """A naive UTC datetime as SQLAlchemy writes it to SQLite."""
    return value.isoformat(" ", "microseconds")


def _sqlite_datetime(value: datetime) -> str:
    return _text_time(value.astimezone(UTC).replace(tzinfo=None))


def typed(table: Any, columns: Sequence[str], row: Sequence[Any]) -> list[Any]:
    """A generated row as the app's models hold it (UUIDs, aware datetimes, lists)."""
    from sqlalchemy import JSON, Uuid

    from app.core.db import UTCDateTime

    out = []
    for name, value in zip(columns, row, strict=True):
        type_ = table.c[name].type
        if value is None:
            out.append(None)
        elif isinstance(type_, Uuid):
            out.append(uuid.UUID(hex=value))
        elif isinstance(type_, UTCDateTime):
            out.append(datetime.fromisoformat(value).replace(tzinfo=UTC))
        elif isinstance(type_, JSON):
            out.append(json.loads(value))
        else:
            out.append(value)
    return out


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, float) and isinstance(have, float):
        return math.isclose(want, have, rel_tol=0, abs_tol=1e-9)
    return bool(want == have)


def check_sqlite_encoding(
    table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[str]:
    """Differences between the generated SQLite values and what SQLAlchemy binds for the same
    Python values (a time in another text format would compare wrongly in SQLite)."""
    from sqlalchemy import JSON
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()  # type: ignore[no-untyped-call]
    problems = []
    for row in rows:
        values = typed(table, columns, row)
        for i, name in enumerate(columns):
            type_ = table.c[name].type
            if isinstance(type_, JSON):  # SQLAlchemy's serialiser is json.dumps
                want = None if values[i] is None else json.dumps(values[i])
            else:
                processor = type_.dialect_impl(dialect).bind_processor(dialect)
                want = processor(values[i]) if processor else values[i]
            if not _same(want, row[i]):
                problems.append(f"{table.name}.{name}: SQLAlchemy binds {want!r}, bench {row[i]!r}")
                return problems
    return problems


def check_read_back(
    url: str, table: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[str]:
    """Rows read back through SQLAlchemy's types must be the rows meant."""
    from sqlalchemy import select

    from app.core.db import make_engine

    if not rows:
        return []
    wanted = {r[0]: typed(table, columns, r) for r in rows}
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            cols = [table.c[name] for name in columns]
            found = conn.execute(
                select(*cols).where(table.c.id.in_([v[0] for v in wanted.values()]))
            ).all()
    finally:
        engine.dispose()
    problems = []
    if len(found) != len(wanted):
        problems.append(f"{table.name}: {len(found)} of {len(wanted)} rows read back")
    for have in found:
        want = wanted[have[0].hex]
        for name, w, h in zip(columns, want, have, strict=True):
            if not _same(w, h):
                problems.append(f"{table.name}.{name}: stored {w!r}, read back {h!r}")
                return problems
    return problems


# --- the data ------------------------------------------------------------------------------------


OBS_COLUMNS = [
    "id", "client_id", "observer_id", "species_id", "observed_at", "latitude", "longitude",
    "accuracy_m", "count", "count_unit", "notes", "public_latitude", "public_longitude",
    "public_accuracy_m", "generalised", "zone_id", "status", "created_at", "updated_at",
    "deleted_at", "flags",
]  # fmt: skip
DECISION_COLUMNS = [
    "id", "target", "target_id", "reviewer_id", "decision", "comment", "created_at",
]  # fmt: skip
AUDIT_COLUMNS = ["id", "at", "actor_id", "entity", "entity_id", "action", "changes"]
PHOTO_COLUMNS = [
    "id", "observation_id", "uploader_id", "content_hash", "full_sha256", "large_sha256",
    "small_sha256", "width", "height", "media_type", "bytes_full", "bytes_large", "bytes_small",
    "source_format", "licence", "has_original", "exif_latitude", "exif_longitude",
    "exif_taken_at", "position", "created_at",
]  # fmt: skip


@dataclass
class World:
    """What the generated rows refer to (ids as 32 hex digits)."""

    species: list[tuple[str, str]]  # (id, scientific name)
    species_cum_weights: list[float]  # the first species the commonest
    observers: list[str]
    observer_cum_weights: list[float]
    reviewers: list[str]  # the ecologists of the past, who reviewed the history
    zone_id: str

    def species_share(self, index: int) -> float:
        prev = self.species_cum_weights[index - 1] if index else 0.0
        return (self.species_cum_weights[index] - prev) / self.species_cum_weights[-1]


@dataclass
class Chunk:
    observations: list[tuple[Any, ...]] = field(default_factory=list)
    decisions: list[tuple[Any, ...]] = field(default_factory=list)
    audits: list[tuple[Any, ...]] = field(default_factory=list)
    photos: list[tuple[Any, ...]] = field(default_factory=list)


def _cum_zipf(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))


NEEDS_INFO_COMMENT = "Photo floue, pouvez-vous préciser ?"


def generate(
    n: int, world: World, rng: random.Random, *, history: bool, now: datetime
) -> Iterator[Chunk]:
    """``n`` observations in arrival order over ``YEARS`` years, ``CHUNK`` at a time, with the
    review history and photos that go with them. ``now`` is naive UTC."""
    for first in range(0, n, CHUNK):
        yield generate_chunk(first, min(CHUNK, n - first), n, world, rng, history=history, now=now)


def _chunk_job(job: tuple[int, int, int, World, int, bool, datetime]) -> Chunk:
    first, size, n, world, seed, history, now = job
    rng = random.Random(f"{seed}:{first}")
    return generate_chunk(first, size, n, world, rng, history=history, now=now)


def generate_parallel(
    n: int, world: World, seed: int, *, history: bool, now: datetime, workers: int
) -> Iterator[Chunk]:
    """As :func:`generate`, the chunks made by ``workers`` processes while this one loads the
    previous ones; chunk *k* draws from its own generator, seeded by ``seed`` and *k*, so that
    the data do not depend on the number of workers (they differ from :func:`generate`'s, drawn
    from one generator, by the draws only: the same distributions)."""
    import collections
    import multiprocessing

    jobs = iter(
        [
            (first, min(CHUNK, n - first), n, world, seed, history, now)
            for first in range(0, n, CHUNK)
        ]
    )
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        # A window of chunks ahead, not all of them: ten million rows would not fit in memory.
        window: collections.deque[Any] = collections.deque()
        for job in itertools.islice(jobs, 2 * workers):
            window.append(pool.apply_async(_chunk_job, (job,)))
        while window:
            chunk = window.popleft().get()
            job = next(jobs, None)
            if job is not None:
                window.append(pool.apply_async(_chunk_job, (job,)))
            yield chunk


def generate_chunk(
    first: int,
    size: int,
    n: int,
    world: World,
    rng: random.Random,
    *,
    history: bool,
    now: datetime,
) -> Chunk:
    """Observations ``first`` to ``first + size`` of the ``n`` of :func:`generate`."""
    span = timedelta(days=365 * YEARS).total_seconds()
    start = now - timedelta(seconds=span)
    statuses = list(STATUS_SHARES)
    status_cum = list(itertools.accumulate(STATUS_SHARES.values()))
    flag_cuts = [cut for cut, _ in FLAG_SHARES]
    flag_texts = [json.dumps(flags) for _, flags in FLAG_SHARES] + ["[]"]
    comments = {s: NEEDS_INFO_COMMENT if s == "needs_info" else None for s in statuses}
    changes = {
        s: json.dumps({"status": ["pending", s], "comment": [None, comments[s]]}) for s in statuses
    }
    bits, rand, uniform, choice = rng.getrandbits, rng.random, rng.uniform, rng.choice
    second = timedelta(seconds=1)
    chunk = Chunk()
    species = rng.choices(world.species, cum_weights=world.species_cum_weights, k=size)
    observers = rng.choices(world.observers, cum_weights=world.observer_cum_weights, k=size)
    drawn = rng.choices(statuses, cum_weights=status_cum, k=size)
    for j in range(size):
        created_at = start + second * (span * (first + j + rand()) / n)
        created = _text_time(created_at)
        observed_at = created_at - second * min(rng.expovariate(1 / 7200), 20 * 86400)
        observed = _text_time(observed_at)
        status = drawn[j]
        updated = created
        if status != "pending":
            updated = _text_time(min(now, created_at + second * uniform(3600, 30 * 86400)))
        lat = round(uniform(*LAT_RANGE), 6)
        lon = round(uniform(*LON_RANGE), 6)
        accuracy = float(3 + int(rand() * 48))
        flags = flag_texts[bisect.bisect_right(flag_cuts, rand())]
        obs_id, observer = _uuid_hex(bits), observers[j]
        chunk.observations.append((
            obs_id, _uuid_hex(bits), observer, species[j][0], observed, lat, lon, accuracy,
            1 + int(rand() * 12), "nests" if rand() < 0.1 else "individuals",
            choice(NOTES), lat, lon, accuracy, False, world.zone_id, status, created,
            updated, None, flags,
        ))  # fmt: skip
        if history and status != "pending":
            reviewer = choice(world.reviewers)
            chunk.decisions.append((
                _uuid_hex(bits), "observation", obs_id, reviewer, status, comments[status],
                updated,
            ))  # fmt: skip
            chunk.audits.append((
                _uuid_hex(bits), updated, reviewer, "observation", obs_id, "review",
                changes[status],
            ))  # fmt: skip
        if rand() < PHOTO_SHARE:
            digest = f"{first + j:064x}"
            chunk.photos.append((
                _uuid_hex(bits), obs_id, observer, digest, digest, digest, digest, 3024,
                4032, "image/jpeg", 3_100_000, 420_000, 38_000, "jpeg", "CC-BY-4.0", False,
                lat, lon, observed, 0, _text_time(created_at + 40 * second),
            ))  # fmt: skip
    return chunk


# --- loading -------------------------------------------------------------------------------------


class Loader:
    """Bulk inserts on one raw driver connection: sqlite3 ``executemany`` or psycopg ``COPY``.
    Secondary indexes are dropped before the load and created again from their own DDL after
    it (as a restore does); the primary keys and unique constraints stay in place throughout.
    Foreign keys are not checked while loading (the rows refer to rows made for them)."""

    TABLES = ("observation", "review_decision", "audit_event", "observation_photo")

    def __init__(self, db: str, url: str) -> None:
        self.db = db
        self.tables = _tables()
        self.columns = {
            "observation": OBS_COLUMNS,
            "review_decision": DECISION_COLUMNS,
            "audit_event": AUDIT_COLUMNS,
            "observation_photo": PHOTO_COLUMNS,
        }
        if db == "sqlite":
            self.conn: Any = sqlite3.connect(make_url(url).database, isolation_level=None)
            self.conn.execute("PRAGMA synchronous=OFF")  # this connection's writes only
            # No rollback journal nor WAL while loading a throwaway database (a crash loses it
            # anyway); WAL again on the way out, as the app's connections set it.
            self.conn.execute("PRAGMA journal_mode=OFF")
            self.conn.execute("PRAGMA temp_store=MEMORY")
            self.conn.execute("PRAGMA cache_size=-1000000")  # 1 GB, for the index builds
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self.conn.execute("BEGIN")
        else:
            import psycopg

            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(dsn)
            self.conn.execute("SET synchronous_commit = off")
            self.conn.execute("SET TimeZone = 'UTC'")  # the generated times are UTC
            self.conn.execute("SET maintenance_work_mem = '512MB'")
            # As pg_restore --disable-triggers: no foreign-key triggers while loading.
            self.conn.execute("SET session_replication_role = replica")
        self.pending = 0

    def drop_indexes(self) -> list[str]:
        """Drops the secondary indexes of the loaded tables; returns their DDL."""
        if self.db == "sqlite":
            found = self.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({', '.join('?' * len(self.TABLES))})",
                self.TABLES,
            ).fetchall()
        else:
            found = self.conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = ANY(%s) AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
                (list(self.TABLES),),
            ).fetchall()
        for name, _ddl in found:
            self.conn.execute(f'DROP INDEX "{name}"')
        self.commit()
        return [ddl for _name, ddl in found]

    def create_indexes(self, ddl: list[str]) -> None:
        for statement in ddl:
            self.conn.execute(statement)
        self.commit()

    def insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cols = self.columns[table]
        if self.db == "sqlite":
            marks = ", ".join("?" * len(cols))
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
        else:
            quoted = ", ".join(f'"{c}"' for c in cols)
            with self.conn.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        self.pending += len(rows)

    def maybe_commit(self) -> None:
        if self.pending >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        if self.db == "postgresql":
            self.conn.commit()
        else:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")
        self.pending = 0

    def analyze(self) -> None:
        if self.db == "sqlite":
            self.conn.execute("COMMIT")
            self.conn.execute("ANALYZE")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("BEGIN")
        else:
            # VACUUM too: a database in service has been vacuumed, and autovacuum would
            # otherwise start on the million new rows while the measures run.
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("VACUUM ANALYZE")
            self.conn.autocommit = False

    def size_mib(self, url: str) -> float:
        if self.db == "sqlite":
            path = Path(make_url(url).database or "")
            files = [path, Path(f"{path}-wal")]
            return sum(p.stat().st_size for p in files if p.exists()) / 2**20
        (size,) = self.conn.execute("SELECT pg_database_size(current_database())").fetchone()
        self.conn.commit()
        return float(size) / 2**20

    def close(self) -> None:
        if self.db == "sqlite":
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA journal_mode=WAL")
        else:
            self.conn.commit()
        self.conn.close()


@dataclass
class LoadFigure:
    db: str
    rows: int
    statuses: dict[str, int]
    decisions: int
    photos: int
    prepare_s: float  # migrate + reference data
    insert_s: float  # generating and inserting every row, indexes dropped
    generate_s: float  # the Python side of it
    index_s: float
    analyze_s: float
    size_mib: float

    @property
    def total_s(self) -> float:
        return self.insert_s + self.index_s + self.analyze_s


def make_world(url: str, rng: random.Random, ecologist_hash: str) -> tuple[World, dict[str, Any]]:
    """Observers, past reviewers, the bench's ecologist and the floor's reviewer, inserted with
    SQLAlchemy Core; species and the commune's zone read back."""
    from shapely.geometry import box, shape
    from sqlalchemy import insert, select

    from app.accounts.models import User
    from app.core.db import make_engine, utcnow
    from app.species.models import Species
    from app.zones.models import Zone

    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            species = conn.execute(
                select(Species.id, Species.scientific_name)  # type: ignore[call-overload]
                .where(Species.sensitive.is_(False))  # type: ignore[attr-defined]
                .order_by(Species.cd_nom)
            ).all()
            zone = conn.execute(
                select(Zone.id, Zone.geometry).where(Zone.code == ZONE_CODE)  # type: ignore[call-overload, arg-type]
            ).one()
            area = box(LON_RANGE[0], LAT_RANGE[0], LON_RANGE[1], LAT_RANGE[1])
            if not shape(json.loads(zone.geometry)).covers(area):
                raise RuntimeError(f"the bench's box is not inside zone {ZONE_CODE}")
            now = utcnow()
            users: list[dict[str, Any]] = []

            def user(i: str, name: str, role: str, password_hash: str = DUMMY_HASH) -> uuid.UUID:
                users.append({
                    "id": uuid.uuid4(), "email": f"{i}@bench.example.org", "display_name": name,
                    "password_hash": password_hash, "role": role, "photo_licence": "CC-BY-4.0",
                    "created_at": now, "updated_at": now, "anonymised_at": None,
                })  # fmt: skip
                return users[-1]["id"]

            observers = [
                user(f"observer-{i}", f"Sentinelle {i}", "sentinel") for i in range(OBSERVERS)
            ]
            reviewers = [user(f"reviewer-{i}", f"Écologue {i}", "ecologist") for i in range(3)]
            floor_reviewer = user("floor", "Plancher", "ecologist")
            email = f"ecologist-{uuid.uuid4().hex[:8]}@bench.example.org"
            ecologist = user(email.split("@")[0], "Écologue du banc", "ecologist", ecologist_hash)
            conn.execute(insert(User.__table__), users)  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    shuffled = list(species)
    rng.shuffle(shuffled)  # which species are common: drawn, as a survey's are
    world = World(
        species=[(s.id.hex, s.scientific_name) for s in shuffled],
        species_cum_weights=_cum_zipf(len(shuffled), 1.0),
        observers=[o.hex for o in observers],
        observer_cum_weights=_cum_zipf(len(observers), 0.8),  # a few very active observers
        reviewers=[r.hex for r in reviewers],
        zone_id=zone.id.hex,
    )
    return world, {"ecologist_id": ecologist, "ecologist_email": email, "floor": floor_reviewer}


class LoadProgress:
    """A progress bar on a terminal; a line every 10% otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.next_line = label, total, 0, 0.1
        self.t0 = time.perf_counter()
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} rows"), TimeElapsedColumn(),
                TimeRemainingColumn(), console=console, transient=True,
            )  # fmt: skip
            self.task = self.bar.add_task(label, total=total)
            self.bar.start()

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif self.done >= self.next_line * self.total or self.done == self.total:
            rate = self.done / max(1e-9, time.perf_counter() - self.t0)
            console.log(f"{self.label}: {self.done:,}/{self.total:,} rows ({rate:,.0f}/s)")
            while self.next_line * self.total <= self.done:
                self.next_line += 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


PARALLEL_FROM_ROWS = 2_000_000  # --load-workers auto: one process generating from there on


def load_workers(args: argparse.Namespace) -> int:
    """The processes generating rows while this one loads them (0: in this process, the rows
    of earlier runs); ``--load-workers`` (-1 or absent: auto)."""
    workers = getattr(args, "load_workers", -1)
    if workers is None or workers < 0:
        return max(1, (os.cpu_count() or 2) - 1) if args.rows >= PARALLEL_FROM_ROWS else 0
    return int(workers)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load-workers", type=int, default=-1, metavar="N",
        help="processes generating the rows while they load (0: in this process; default: "
        f"auto, one per core but one from {PARALLEL_FROM_ROWS:,} rows on, else 0)",
    )  # fmt: skip


def load(
    db: str, url: str, args: argparse.Namespace, rng: random.Random
) -> tuple[LoadFigure, World, dict[str, Any], list[str]]:
    from app.core.security import hash_password
    from app.core.settings import Settings

    t0 = time.perf_counter()
    prepare_database(url)
    prepare_s = time.perf_counter() - t0
    # The app's own hashing, with the server's settings (the defaults: argon2id, 64 MiB).
    ecologist_hash = hash_password(BENCH_PASSWORD, Settings(_env_file=None))  # type: ignore[call-arg]
    world, people = make_world(url, rng, ecologist_hash)

    loader = Loader(db, url)
    checks: list[str] = []
    statuses: Counter[str] = Counter()
    decisions = photos = 0
    generate_s = 0.0
    progress = LoadProgress(f"{db}: loading observations", args.rows)
    try:
        t1 = time.perf_counter()
        ddl = loader.drop_indexes()
        now = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
        workers = load_workers(args)
        if workers:
            chunks = generate_parallel(
                args.rows, world, rng.getrandbits(64), history=args.history, now=now,
                workers=workers,
            )  # fmt: skip
        else:
            chunks = generate(args.rows, world, rng, history=args.history, now=now)
        first: dict[str, list[tuple[Any, ...]]] = {}
        while True:
            tg = time.perf_counter()
            chunk = next(chunks, None)
            generate_s += time.perf_counter() - tg
            if chunk is None:
                break
            if not first:  # the first chunk's first rows: checked after the load
                first = {
                    "observation": chunk.observations[:50],
                    "review_decision": chunk.decisions[:50],
                    "audit_event": chunk.audits[:50],
                    "observation_photo": chunk.photos[:50],
                }
            loader.insert("observation", chunk.observations)
            loader.insert("review_decision", chunk.decisions)
            loader.insert("audit_event", chunk.audits)
            loader.insert("observation_photo", chunk.photos)
            loader.maybe_commit()
            statuses.update(row[16] for row in chunk.observations)
            decisions += len(chunk.decisions)
            photos += len(chunk.photos)
            progress.advance(len(chunk.observations))
        loader.commit()
        insert_s = time.perf_counter() - t1
        progress.close()
        console.log(f"{db}: {args.rows:,} rows in {insert_s:.1f} s; creating {len(ddl)} indexes")
        t2 = time.perf_counter()
        loader.create_indexes(ddl)
        index_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        loader.analyze()
        analyze_s = time.perf_counter() - t3
        size = loader.size_mib(url)
    finally:
        progress.close()
        loader.close()
    for table, rows in first.items():
        if db == "sqlite":
            checks += check_sqlite_encoding(loader.tables[table], loader.columns[table], rows)
        checks += check_read_back(url, loader.tables[table], loader.columns[table], rows)
    figure = LoadFigure(
        db=db, rows=args.rows, statuses=dict(statuses), decisions=decisions, photos=photos,
        prepare_s=prepare_s, insert_s=insert_s, generate_s=generate_s, index_s=index_s,
        analyze_s=analyze_s, size_mib=size,
    )  # fmt: skip
    console.log(
        f"{db}: loaded in {figure.total_s:.1f} s (rows {insert_s:.1f} s, of which Python "
        f"{generate_s:.1f} s; indexes {index_s:.1f} s; ANALYZE {analyze_s:.1f} s), "
        f"{size:,.0f} MiB"
    )
    return figure, world, people, checks


# --- the floor: the service's statements, straight ----------------------------------------------


def _columns(table: str) -> str:
    return ", ".join(f'{table}."{c.name}"' for c in _tables()[table].columns)


_ID_ARRAY = re.compile(r"'\{([0-9a-f-]{36}(?:,[0-9a-f-]{36})*)\}'::uuid\[\]")


def _shorten_ids(match: re.Match[str]) -> str:
    return f"'{{…{match.group(1).count(',') + 1} ids…}}'::uuid[]"


class Floor:
    """The service's statements written out as SQL and run with the driver, on one connection
    of an engine made as the server makes its own (``app.core.db.make_engine``: the same
    PRAGMAs on SQLite)."""

    def __init__(self, db: str, url: str) -> None:
        from app.core.db import make_engine

        self.db = db
        self.engine = make_engine(url, pool_size=1)
        self.raw = self.engine.raw_connection()
        self.conn: Any = self.raw.driver_connection
        self.mark = "?" if db == "sqlite" else "%s"

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()

    def _id(self, value: uuid.UUID) -> Any:
        return value.hex if self.db == "sqlite" else value

    def _time(self, value: datetime) -> Any:
        return _sqlite_datetime(value) if self.db == "sqlite" else value

    def _in(self, n: int) -> str:
        return ", ".join([self.mark] * n)

    def _begin(self, write: bool = False) -> None:
        if self.db == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _commit(self) -> None:
        self.conn.execute("COMMIT") if self.db == "sqlite" else self.conn.commit()

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return list(rows)

    # the queue

    def queue_sql(self, filters: dict[str, str]) -> tuple[str, list[Any]]:
        """The page's SELECT, as ``observation_queue`` builds it for these filters."""
        where = [
            "observation.status IN ('pending', 'needs_info')",
            "observation.deleted_at IS NULL",
        ]
        params: list[Any] = []
        if "species_id" in filters:
            where.append(f"observation.species_id = {self.mark}")
            params.append(self._id(uuid.UUID(filters["species_id"])))
        if "flag" in filters:
            where.append(f"CAST(observation.flags AS VARCHAR) LIKE {self.mark}")
            params.append(f'%"{filters["flag"]}"%')
        params.append(QUEUE_LIMIT + 1)
        sql = (
            f"SELECT {_columns('observation')}, {_columns('species')}, "
            f"{_columns('user_account')} FROM observation "
            "JOIN species ON species.id = observation.species_id "
            "JOIN user_account ON user_account.id = observation.observer_id "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY observation.created_at ASC, observation.id ASC LIMIT {self.mark}"
        )
        return sql, params

    def photos_sql(self, n: int) -> str:
        return (
            f"SELECT {_columns('observation_photo')} FROM observation_photo "
            f"WHERE observation_photo.observation_id IN ({self._in(n)}) "
            "ORDER BY observation_photo.observation_id, observation_photo.position, "
            "observation_photo.created_at"
        )

    def reviews_sql(self, n: int) -> str:
        return (
            f"SELECT {_columns('review_decision')} FROM review_decision "
            f"WHERE review_decision.target = {self.mark} "
            f"AND review_decision.target_id IN ({self._in(n)}) "
            "ORDER BY review_decision.created_at, review_decision.id"
        )

    def queue_page(self, filters: dict[str, str]) -> list[str]:
        """One page as the service reads it, in one read transaction: the ids, as text."""
        sql, params = self.queue_sql(filters)
        self._begin()
        rows = self._fetch(sql, params)[:QUEUE_LIMIT]
        ids = [row[0] for row in rows]
        if ids:
            self._fetch(self.photos_sql(len(ids)), ids)
            self._fetch(self.reviews_sql(len(ids)), ["observation", *ids])
        self._commit()
        return [str(uuid.UUID(hex=i) if isinstance(i, str) else i) for i in ids]

    def explain(self, filters: dict[str, str], page_ids: list[str]) -> list[str]:
        sql, params = self.queue_sql(filters)
        ids = [self._id(uuid.UUID(i)) for i in page_ids]
        statements = [("page", sql, params)]
        if ids:
            statements += [
                ("photos", self.photos_sql(len(ids)), ids),
                ("reviews", self.reviews_sql(len(ids)), ["observation", *ids]),
            ]
        lines: list[str] = []
        for label, statement, values in statements:
            lines.append(f"-- {label}")
            if self.db == "sqlite":
                for row in self._fetch(f"EXPLAIN QUERY PLAN {statement}", values):
                    lines.append(f"{row[3]}")
            else:
                rows = self._fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", values)
                lines += [_ID_ARRAY.sub(_shorten_ids, row[0]) for row in rows]
                self.conn.rollback()
        return lines

    # the bulk review

    def bulk_review(self, ids: list[uuid.UUID], reviewer: uuid.UUID) -> None:
        """``bulk_review``'s statements: the look-up, the UPDATE, the decisions and the audit
        events (``executemany``, as SQLAlchemy Core runs a list of rows), one transaction."""
        now = datetime.now(UTC)
        keys = [self._id(i) for i in ids]
        rid, at = self._id(reviewer), self._time(now)
        self._begin(write=True)
        found = self._fetch(
            f"SELECT observation.id, observation.status FROM observation WHERE observation.id "
            f"IN ({self._in(len(keys))}) AND observation.deleted_at IS NULL",
            keys,
        )
        if len(found) != len(keys):
            raise RuntimeError(f"floor: {len(found)} of {len(keys)} ids found")
        status = dict(found)

        def changes(key: Any) -> str:
            return json.dumps({"status": [status[key], "validated"], "comment": [None, None]})

        cur = self.conn.cursor()
        cur.execute(
            f"UPDATE observation SET status={self.mark}, updated_at={self.mark} "
            f"WHERE observation.id IN ({self._in(len(keys))})",
            ["validated", at, *keys],
        )
        cur.executemany(
            f"INSERT INTO review_decision ({', '.join(DECISION_COLUMNS)}) "
            f"VALUES ({self._in(len(DECISION_COLUMNS))})",
            [(self._id(uuid.uuid4()), "observation", k, rid, "validated", None, at) for k in keys],
        )
        cur.executemany(
            f"INSERT INTO audit_event ({', '.join(AUDIT_COLUMNS)}) "
            f"VALUES ({self._in(len(AUDIT_COLUMNS))})",
            [
                (self._id(uuid.uuid4()), at, rid, "observation", k, "review", changes(k))
                for k in keys
            ],
        )
        cur.close()
        self._commit()

    def pending_ids(self, n: int) -> list[uuid.UUID]:
        """The ``n`` oldest pending observations, in queue order."""
        rows = self._fetch(
            "SELECT observation.id FROM observation WHERE observation.status = 'pending' "
            "AND observation.deleted_at IS NULL "
            f"ORDER BY observation.created_at, observation.id LIMIT {self.mark}",
            [n],
        )
        if self.db == "postgresql":
            self.conn.commit()
        return [uuid.UUID(hex=r[0]) if isinstance(r[0], str) else r[0] for r in rows]

    def count(self, sql: str, params: Sequence[Any]) -> int:
        rows = self._fetch(sql, params)
        if self.db == "postgresql":
            self.conn.commit()
        return int(rows[0][0])


# --- measures ------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Timing:
    api_ms: list[float]
    floor_ms: list[float]
    cpu: CpuUse
    errors: list[str]
    response_bytes: int = 0


def sign_in(server: Server, email: str) -> Account:
    with httpx.Client(base_url=server.api, timeout=60.0) as client:
        r = client.post("/auth/token", data={"username": email, "password": BENCH_PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"token answered {r.status_code}: {r.text[:300]}")
        token = str(r.json()["access_token"])
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        user_id = str(me.json().get("id")) if me.status_code == 200 else "?"
    return Account(id=user_id, email=email, token=token)


def time_queue(
    server: Server,
    account: Account,
    floor: Floor,
    filters: dict[str, str],
    args: argparse.Namespace,
    probe: PostgresProbe | None,
) -> Timing:
    """``--warmup`` then ``--queue-requests`` pages from the API and from the floor, taken in
    turn (which goes first alternates), so that both see the same machine."""
    api_ms: list[float] = []
    floor_ms: list[float] = []
    errors: list[str] = []
    size = 0
    params = {"limit": str(QUEUE_LIMIT), **filters}
    with httpx.Client(base_url=server.api, timeout=60.0, headers=account.headers) as client:

        def api() -> list[str]:
            nonlocal size
            t0 = time.perf_counter()
            r = client.get("/review/observations", params=params)
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:300]}")
                return []
            api_ms.append(elapsed)
            size = len(r.content)
            return [item["id"] for item in r.json()["items"]]

        def base() -> list[str]:
            t0 = time.perf_counter()
            ids = floor.queue_page(filters)
            floor_ms.append((time.perf_counter() - t0) * 1000)
            return ids

        # Warm-up, untimed; the first pages must be the same page.
        for i in range(args.warmup):
            got_api, got_floor = api(), base()
            if i == 0 and got_api != got_floor:
                errors.append(
                    f"the API's page ({len(got_api)} items, first {got_api[:1]}) is not the "
                    f"floor's ({len(got_floor)} items, first {got_floor[:1]})"
                )
            if i == 0 and len(got_api) != QUEUE_LIMIT:
                errors.append(f"the page holds {len(got_api)} items, not {QUEUE_LIMIT}")
        api_ms.clear()
        floor_ms.clear()
        with CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
            for i in range(args.queue_requests):
                first, second = (api, base) if i % 2 == 0 else (base, api)
                first()
                second()
    return Timing(api_ms=api_ms, floor_ms=floor_ms, cpu=cpu, errors=errors, response_bytes=size)


def time_bulk(
    server: Server,
    account: Account,
    floor: Floor,
    floor_reviewer: uuid.UUID,
    args: argparse.Namespace,
    probe: PostgresProbe | None,
) -> tuple[Timing, list[uuid.UUID]]:
    """One untimed round, then ``--bulk-rounds`` rounds; in each, 500 ids for the API and the
    next 500 for the floor, in queue order (which goes first alternates)."""
    rounds = 1 + args.bulk_rounds
    ids = floor.pending_ids(rounds * 2 * BULK_SIZE)
    if len(ids) < rounds * 2 * BULK_SIZE:
        raise RuntimeError(
            f"{len(ids)} pending observations, {rounds * 2 * BULK_SIZE} needed: more --rows"
        )
    api_ms: list[float] = []
    floor_ms: list[float] = []
    errors: list[str] = []
    api_ids: list[uuid.UUID] = []
    with httpx.Client(base_url=server.api, timeout=120.0, headers=account.headers) as client:

        def api(mine: list[uuid.UUID]) -> None:
            body = json.dumps(
                {"target": "observation", "ids": [str(i) for i in mine], "decision": "validated"}
            ).encode()
            t0 = time.perf_counter()
            r = client.post(
                "/review/bulk", content=body, headers={"Content-Type": "application/json"}
            )
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200 or r.json().get("reviewed") != BULK_SIZE:
                errors.append(f"{r.status_code} {r.text[:300]}")
                return
            api_ms.append(elapsed)
            api_ids.extend(mine)

        def base(theirs: list[uuid.UUID]) -> None:
            t0 = time.perf_counter()
            floor.bulk_review(theirs, floor_reviewer)
            floor_ms.append((time.perf_counter() - t0) * 1000)

        blocks = [ids[i : i + BULK_SIZE] for i in range(0, len(ids), BULK_SIZE)]
        api(blocks[0])  # warm-up, untimed
        base(blocks[1])
        api_ms.clear()
        floor_ms.clear()
        with CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
            for r_ in range(1, rounds):
                mine, theirs = blocks[2 * r_], blocks[2 * r_ + 1]
                if r_ % 2:
                    api(mine)
                    base(theirs)
                else:
                    base(theirs)
                    api(mine)
    return Timing(api_ms=api_ms, floor_ms=floor_ms, cpu=cpu, errors=errors), api_ids


def check_bulk(floor: Floor, ecologist_id: uuid.UUID, api_ids: list[uuid.UUID]) -> list[str]:
    """What the API's bulk reviews left: every observation validated, one decision and one
    audit event each."""
    m = floor.mark
    rid = floor._id(ecologist_id)
    problems = []
    n = len(api_ids)
    decided = floor.count(
        "SELECT count(*) FROM review_decision JOIN observation ON observation.id = "
        f"review_decision.target_id WHERE review_decision.reviewer_id = {m} "
        f"AND review_decision.decision = 'validated' AND observation.status = 'validated'",
        [rid],
    )
    audited = floor.count(
        f"SELECT count(*) FROM audit_event WHERE actor_id = {m} AND action = 'review'", [rid]
    )
    if decided != n:
        problems.append(f"{n} observations reviewed through the API, {decided} decisions found")
    if audited != n:
        problems.append(f"{n} observations reviewed through the API, {audited} audit events")
    return problems


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Figure:
    db: str
    measure: str
    requests: int
    median_ms: float
    p95_ms: float
    floor_median_ms: float
    floor_p95_ms: float
    ratio: float
    aim: str
    met: bool | None
    server_cpu_ms: float  # per request
    client_cpu_pct: float
    database_cpu_pct: float
    others_cores: float
    response_bytes: int
    errors: list[str]
    api_samples_ms: list[float]  # in the order taken
    floor_samples_ms: list[float]


@dataclass
class RunResult:
    db: str
    load: LoadFigure
    figures: list[Figure]
    plans: dict[str, list[str]]
    checks: list[str]
    server_peak_rss_mib: float | None
    server_log: str = ""


def _figure(db: str, measure: str, timing: Timing, *, queue: bool) -> Figure:
    median = statistics.median(timing.api_ms) if timing.api_ms else float("nan")
    floor_median = statistics.median(timing.floor_ms) if timing.floor_ms else float("nan")
    ratio = median / floor_median
    met: bool | None = None
    aim = "—"
    if queue:
        aim = f"< {QUEUE_AIM_RATIO:g}× floor, < {QUEUE_AIM_MS:.0f} ms"
        met = ratio < QUEUE_AIM_RATIO and median < QUEUE_AIM_MS and not timing.errors
    wall = max(timing.cpu.wall_s, 1e-9)
    return Figure(
        db=db, measure=measure, requests=len(timing.api_ms), median_ms=median,
        p95_ms=_percentile(timing.api_ms, 0.95), floor_median_ms=floor_median,
        floor_p95_ms=_percentile(timing.floor_ms, 0.95), ratio=ratio, aim=aim, met=met,
        server_cpu_ms=1000 * timing.cpu.server_s / max(1, len(timing.api_ms)),
        client_cpu_pct=100 * timing.cpu.client_s / wall,
        database_cpu_pct=100 * timing.cpu.database_s / wall,
        others_cores=timing.cpu.others_cores, response_bytes=timing.response_bytes,
        errors=timing.errors, api_samples_ms=[round(v, 2) for v in timing.api_ms],
        floor_samples_ms=[round(v, 2) for v in timing.floor_ms],
    )  # fmt: skip


def run_once(db: str, args: argparse.Namespace, rng: random.Random) -> RunResult:
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        loaded, world, people, checks = load(db, url, args, rng)
        middle = len(world.species) // 2
        species_hex, species_name = world.species[middle]
        share = world.species_share(middle)
        console.log(f"{db}: species filter on {species_name}, {share:.1%} of the observations")
        variants = [
            ("queue, first page", {}),
            (
                f"queue, species_id ({share:.1%})",
                {"species_id": str(uuid.UUID(hex=species_hex))},
            ),
            ("queue, flag=out_of_season", {"flag": "out_of_season"}),
        ]
        figures: list[Figure] = []
        plans: dict[str, list[str]] = {}
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(run_server(url, workdir=Path(tmp)))
            account = sign_in(server, people["ecologist_email"])
            floor = Floor(db, url)
            stack.callback(floor.close)
            probe = None
            if db == "postgresql":
                probe = PostgresProbe(url)
                stack.callback(probe.close)
            console.log(f"{db}: server pid {server.pid} on {server.base_url}, ecologist signed in")
            for measure, filters in variants:
                console.log(f"{db}: {measure}: {args.queue_requests} pages (+ {args.warmup})")
                timing = time_queue(server, account, floor, filters, args, probe)
                figures.append(_figure(db, measure, timing, queue=True))
                if args.explain:
                    plans[measure] = floor.explain(filters, floor.queue_page(filters))
            console.log(f"{db}: bulk review of {BULK_SIZE}: {args.bulk_rounds} rounds (+ 1)")
            timing, api_ids = time_bulk(server, account, floor, people["floor"], args, probe)
            figures.append(_figure(db, f"bulk review, {BULK_SIZE}", timing, queue=False))
            checks += check_bulk(floor, people["ecologist_id"], api_ids)
            peak = server.peak_rss_mib()
            failed = bool(checks) or any(f.errors for f in figures)
            server_log = server.log_tail(40) if failed else ""
    return RunResult(
        db=db, load=loaded, figures=figures, plans=plans, checks=checks,
        server_peak_rss_mib=peak, server_log=server_log,
    )  # fmt: skip


# --- output --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[RunResult]) -> dict[str, Any]:
    """Per database and measure: the median of the runs, and each run's figures."""
    by: dict[tuple[str, str], list[Figure]] = {}
    for run in runs:
        for fig in run.figures:
            # The species' name differs from run to run: one key for the species filter.
            key = fig.measure.split(" (")[0]
            by.setdefault((fig.db, key), []).append(fig)
    results = []
    for (db, _key), figs in by.items():
        mets = [f.met for f in figs]
        ratio = _median([f.ratio for f in figs])
        median = _median([f.median_ms for f in figs])
        met = None
        if mets[0] is not None:
            met = (
                ratio < QUEUE_AIM_RATIO
                and median < QUEUE_AIM_MS
                and not any(f.errors for f in figs)
            )
        results.append({
            "db": db, "measure": figs[0].measure if len(figs) == 1 else _key,
            "median_ms": median, "p95_ms": _median([f.p95_ms for f in figs]),
            "floor_median_ms": _median([f.floor_median_ms for f in figs]),
            "floor_p95_ms": _median([f.floor_p95_ms for f in figs]),
            "ratio": ratio, "aim": figs[0].aim, "met": met,
            "runs_met": sum(bool(m) for m in mets),
            "server_cpu_ms": _median([f.server_cpu_ms for f in figs]),
            "client_cpu_pct": _median([f.client_cpu_pct for f in figs]),
            "database_cpu_pct": _median([f.database_cpu_pct for f in figs]),
            "others_cores": max(f.others_cores for f in figs),
            "response_bytes": figs[-1].response_bytes,
            "runs": [asdict(f) for f in figs],
        })  # fmt: skip
    loads: dict[str, list[LoadFigure]] = {}
    for run in runs:
        loads.setdefault(run.db, []).append(run.load)
    load_rows = []
    for db, figs_ in loads.items():
        load_rows.append({
            "db": db, "rows": figs_[0].rows, "statuses": figs_[0].statuses,
            "decisions": figs_[0].decisions, "photos": figs_[0].photos,
            **{k: _median([getattr(f, k) for f in figs_]) for k in (
                "prepare_s", "insert_s", "generate_s", "index_s", "analyze_s", "size_mib",
            )},
            "total_s": _median([f.total_s for f in figs_]),
            "runs": [{**asdict(f), "total_s": f.total_s} for f in figs_],
        })  # fmt: skip
    peaks = {
        db: max((r.server_peak_rss_mib or 0.0) for r in runs if r.db == db)
        for db in {r.db for r in runs}
    }
    return {"results": results, "load": load_rows, "server_peak_rss_mib": peaks}


def _ms(value: float) -> str:
    if value != value:
        return "—"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def print_report(
    machine: dict[str, Any],
    args: argparse.Namespace,
    summary: dict[str, Any],
    runs: list[RunResult],
) -> None:
    console.print(
        f"[bold]Machine[/]: {machine['cpu_model']} ({machine['cpu_mhz']} MHz), "
        f"{machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['ram_gib']} GiB RAM; Python {machine['python']}; "
        f"SQLite {sqlite3.sqlite_version}; {machine['date']}"
    )
    console.print(
        f"[bold]Settings[/]: {args.rows:,} observations ({args.runs} run(s) per database, each on "
        f"a new database{', medians' if args.runs > 1 else ''}); queue pages of {QUEUE_LIMIT}: "
        f"{args.queue_requests} timed after {args.warmup}; bulk review of {BULK_SIZE}: "
        f"{args.bulk_rounds} rounds after 1; floor = the service's statements straight on the "
        "driver, in the same run, interleaved"
    )
    loads = Table(title="Loading (bulk inserts, secondary indexes built after; medians)")
    for col in (
        "DB", "observations", "awaiting review", "decisions, photos", "inserts (Python)",
        "indexes", "ANALYZE", "total", "size",
    ):  # fmt: skip
        loads.add_column(col, justify="left" if col == "DB" else "right")
    for s in summary["load"]:
        st = s["statuses"]
        loads.add_row(
            s["db"], f"{s['rows']:,}", f"{st.get('pending', 0) + st.get('needs_info', 0):,}",
            f"{s['decisions']:,}, {s['photos']:,}",
            f"{s['insert_s']:.0f} s ({s['generate_s']:.0f} s)", f"{s['index_s']:.0f} s",
            f"{s['analyze_s']:.0f} s", f"{s['total_s']:.0f} s", f"{s['size_mib']:,.0f} MiB",
        )  # fmt: skip
    console.print(loads)
    console.print(
        "Awaiting review: pending + needs_info. Decisions: one review decision and one audit "
        "event per reviewed observation. ANALYZE: VACUUM ANALYZE on PostgreSQL."
    )

    table = Table(title="Review: milliseconds per request (median of the requests; p95)")
    for col in ("DB", "measure", "API", "floor", "ratio", "aim", "met?"):
        table.add_column(col, justify="right" if col not in ("DB", "measure", "aim") else "left")
    for s in summary["results"]:
        met = "—" if s["met"] is None else ("[green]yes[/]" if s["met"] else "[red]no[/]")
        if s["met"] is not None and len(s["runs"]) > 1 and s["runs_met"] not in (0, len(s["runs"])):
            met += f" ({s['runs_met']} of {len(s['runs'])} runs)"
        table.add_row(
            s["db"], s["measure"], f"{_ms(s['median_ms'])} ({_ms(s['p95_ms'])})",
            f"{_ms(s['floor_median_ms'])} ({_ms(s['floor_p95_ms'])})", f"{s['ratio']:.1f}×",
            s["aim"], met,
        )  # fmt: skip
    console.print(table)

    side = Table(title="Side figures (medians)")
    for col in (
        "DB", "measure", "each run: API / floor (ms)", "server CPU / request", "bench CPU",
        "PostgreSQL CPU", "other load", "answer",
    ):  # fmt: skip
        side.add_column(col)
    for s in summary["results"]:
        side.add_row(
            s["db"], s["measure"],
            " · ".join(f"{_ms(r['median_ms'])} / {_ms(r['floor_median_ms'])}" for r in s["runs"]),
            f"{s['server_cpu_ms']:.1f} ms", f"{s['client_cpu_pct']:.0f}% of a core",
            f"{s['database_cpu_pct']:.0f}% of a core" if s["db"] == "postgresql" else "—",
            f"{s['others_cores']:.1f} cores",
            f"{s['response_bytes'] / 1024:,.0f} KiB" if s["response_bytes"] else "—",
        )  # fmt: skip
    console.print(side)
    console.print(
        "Bench CPU: this process (HTTP client and the floor's queries); PostgreSQL CPU: its "
        "processes serving the server and the floor; other load: the rest of the machine. "
        "Server peak RSS: "
        + ", ".join(f"{db} {v:.0f} MiB" for db, v in sorted(summary["server_peak_rss_mib"].items()))
    )
    noisy = [s for s in summary["results"] if s["others_cores"] >= NOISY_CORES]
    if noisy:
        console.print(
            f"[yellow]Other processes kept up to {max(s['others_cores'] for s in noisy):.1f} "
            "cores busy during some measures: those figures are pessimistic; run again on a "
            "quiet machine.[/]"
        )
    if args.explain:
        shown: set[str] = set()
        for run in runs:
            if run.db in shown:
                continue
            shown.add(run.db)
            for measure, lines in run.plans.items():
                console.rule(f"{run.db}: plan of {measure}")
                console.print("\n".join(lines), markup=False, highlight=False)
    for s in summary["results"]:
        for run in s["runs"]:
            for error in run["errors"]:
                console.print(f"[red]{s['db']} {s['measure']}: {error}[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="observations stored (default 1,000,000)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per database; medians shown")
    parser.add_argument(
        "--queue-requests", type=int, default=30, help="timed queue pages per variant (30)"
    )
    parser.add_argument("--bulk-rounds", type=int, default=10, help="timed bulk reviews (10)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed queue pages first (5)")
    parser.add_argument(
        "--no-history", dest="history", action="store_false",
        help="load no review decisions nor audit events for the reviewed observations",
    )  # fmt: skip
    add_load_arguments(parser)
    parser.add_argument(
        "--no-explain", dest="explain", action="store_false", help="do not print query plans"
    )
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)"
    )
    args = parser.parse_args(argv)
    if min(args.runs, args.queue_requests, args.bulk_rounds, args.warmup) < 1:
        parser.error("--runs, --queue-requests, --bulk-rounds and --warmup must be at least 1")
    # Each bulk round reviews 2 × 500 pending observations (API and floor), of about 15%.
    least = math.ceil(2 * BULK_SIZE * (1 + args.bulk_rounds) / (STATUS_SHARES["pending"] * 0.9))
    if args.rows < least:
        parser.error(f"--rows must be at least {least:,} for {args.bulk_rounds} bulk rounds")
    return args


def measures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: each measure's median against its SQL
    floor; the queue's aim (issue 20) on the ratio."""
    out = []
    for s in summary["results"]:
        queue = s["met"] is not None
        m = as_measure(
            s["measure"].split(" (")[0], s["db"], s["median_ms"], "ms",
            floor=s["floor_median_ms"], ratio=s["ratio"],
            aim=f"ratio ≤ {QUEUE_AIM_RATIO:g}" if queue else None,
        )  # fmt: skip
        if queue and any(run["errors"] for run in s["runs"]):
            m["met"] = False
        out.append(m)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    machine = machine_info()
    runs: list[RunResult] = []
    for db in databases(args.db, args.pg_admin_url, console):
        for i in range(args.runs):
            if args.runs > 1:
                console.rule(f"{db}: run {i + 1} of {args.runs}")
            runs.append(run_once(db, args, rng))
    if not runs:
        console.print("[red]nothing measured[/]")
        return 2
    summary = summarise(runs)
    print_report(machine, args, summary, runs)
    for run in runs:
        if run.server_log:
            console.rule(f"{run.db}: last lines of the server's log")
            console.print(run.server_log, markup=False, highlight=False)
    problems = [f"{r.db}: {c}" for r in runs for c in r.checks]
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if args.json:
        settings = {**vars(args), "pg_admin_url": make_url(args.pg_admin_url).render_as_string()}
        plans = {f"{r.db}: {m}": lines for r in runs for m, lines in r.plans.items()}
        doc = {
            "machine": {**machine, "sqlite": sqlite3.sqlite_version},
            "settings": settings,
            "measures": measures(summary),
            **summary,
            "plans": plans,
            "checks": problems,
        }
        text = json.dumps(doc, indent=2, default=str)
        write: Callable[[str], Any] = (
            sys.stdout.write if args.json == "-" else Path(args.json).write_text
        )
        write(text + "\n")
    errors = any(run["errors"] for s in summary["results"] for run in s["runs"])
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
