"""Export benchmark: a million validated observations exported as CSV and as a Darwin Core
Archive through the API, next to the same rows read with a plain cursor and written with
``csv.writer``; and the server's peak memory growth while it streams them.

    .venv/bin/python scripts/bench/export.py [--db sqlite|postgresql|both] [--rows 1000000]
        [--runs R] [--rounds K] [--json PATH]

For each database: a fresh database, migrated, with the reference species and zones; ``--rows``
observations loaded by ``review.py``'s bulk loader (imported: five years, inside Loos-en-Gohelle
with the commune's zone set, of the non-sensitive reference species Zipf-distributed, one in
five with a photo row, from 2,000 observers; without the review history, which no export reads)
but with 95% of them validated (exports hold validated observations); then 0.5% of the validated
ones moved to the sensitive reference species, their public position generalised by the app's
``public_position`` (a few sensitive records, as a town's data holds). Then ONE ``uvicorn``
process started as production starts it, and an ecologist signed in (the account created by
the loader with the app's own password hashing; the token asked of ``POST /auth/token``): an
ecologist's export holds every validated observation, at its exact position.

Measured in turn (the order rotates from round to round), after an untimed warm-up of each on a
rare species (``species_id``):

* **CSV**: ``GET /exports/observations.csv`` downloaded by an ``httpx`` streaming client, its
  lines (rows) and bytes counted as they arrive;
* **DwC-A**: ``GET /exports/dwca.zip`` likewise, written to a file; its rows are the
  observations it must hold (the validated ones). Whatever fails here (the writer, the stream,
  the archive) is reported as this measure's error and the rest goes on;
* **floor**: in this process, on one connection of an engine made as the server's
  (``app.core.db.make_engine``: the same PRAGMAs on SQLite), the same rows (observation JOIN
  species JOIN user_account LEFT JOIN zone LEFT JOIN observation_photo, validated, not deleted,
  ORDER BY observed_at, id: the CSV's columns, photo links included) read by ONE statement with
  a plain DB-API cursor (sqlite3; psycopg 3 with a server-side cursor, so that it streams as the
  API does) by ``fetchmany(1000)``, and written with ``csv.writer`` into a buffer encoded to
  UTF-8 bytes a batch at a time (counted, then dropped). It is the least an export can do: read
  the rows once, in order, and write them as CSV text; no objects per row, no time-zone
  conversion, no keyset pagination, no HTTP.

Rates are rows per second, wall time from the request to the last byte. The ratio is the API's
rate over the floor's of the same round; the aims (issue 20: exports) are at least half the floor's
rate for each format. While each export runs, the server's resident memory (VmRSS of the
process) is sampled every 50 ms: the baseline before the request and the peak growth over it;
the aim is a growth under 100 MB (10^6 bytes), whatever the number of rows. The kernel's peak
(``VmHWM``, reset before each export where the kernel allows) is reported too: it catches a
spike shorter than the sampling interval.

Checks: the CSV's header is ``app.exports.tabular.CSV_COLUMNS`` and its rows are as many as the
validated observations (the floor's too); the archive opens with ``zipfile``, its ``meta.xml``
names the occurrence file, whose data lines are at least as many as the observations. Exit
status: 0 when every export succeeded and every check passed, 1 otherwise (the aims are
reported, not enforced), 2 when no database could be measured.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import json
import pstats
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from xml.etree import ElementTree

import httpx
from rich.table import Table
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

import review  # the loader of a million observations: the same rows as the review bench
from _common import (
    DEFAULT_PG_ADMIN_URL,
    Account,
    CpuMeter,
    CpuUse,
    PostgresProbe,
    RssSampler,
    Server,
    as_measure,
    databases,
    fresh_database,
    machine_info,
    peak_rss_mib,
    reset_peak_rss,
    rss_mib,
    run_server,
)
from review import LoadFigure, sign_in

console = review.console

RATE_AIM = 0.5  # × the floor's rows/s, CSV
DWCA_RATE_AIM = 0.3  # × the floor's rows/s, DwC-A (issue 20)
MEMORY_AIM_MB = 100.0  # server's peak RSS growth during one export, in MB (10^6 bytes)
RSS_INTERVAL_S = 0.05
FETCH_ROWS = 1000  # the floor's fetchmany, as the app's chunks (app.exports.rows.CHUNK_ROWS)
NOISY_CORES = 0.25
MIB_TO_MB = 2**20 / 1e6
# Exports hold validated observations: most of a town's are (review.py loads 80%).
STATUS_SHARES = {"validated": 0.95, "pending": 0.04, "needs_info": 0.008, "rejected": 0.002}
SENSITIVE_SHARE = 0.005  # of the validated observations, moved to the sensitive species
MEASURES = ("CSV", "DwC-A", "floor")
CSV_PATH = "/exports/observations.csv"
DWCA_PATH = "/exports/dwca.zip"
OCCURRENCE = "http://rs.tdwg.org/dwc/terms/Occurrence"


# --- the data ------------------------------------------------------------------------------------


@dataclass
class Loaded:
    load: LoadFigure
    validated: int  # rows every export must hold
    sensitive: int  # of them, of a sensitive species
    photos: int
    rare_species_id: str  # for the warm-up
    ecologist_email: str
    checks: list[str]


def _raw_connection(url: str) -> tuple[Any, Any]:
    """``(engine, raw DB-API connection)``, the engine made as the server makes its own."""
    from app.core.db import make_engine

    engine = make_engine(url, pool_size=1)
    return engine, engine.raw_connection()


def make_sensitive(db: str, url: str, n: int, rng: random.Random) -> int:
    """Moves ``n`` validated observations (the first by id: a random sample) to the sensitive
    reference species, with the public position the app would have stored for them."""
    from app.observations.visibility import public_position

    if n <= 0:
        return 0
    engine, raw = _raw_connection(url)
    conn: Any = raw.driver_connection
    mark = "?" if db == "sqlite" else "%s"
    try:
        cur = conn.cursor()
        cur.execute("SELECT id, generalisation FROM species WHERE sensitive ORDER BY cd_nom")
        species = list(cur.fetchall())
        if not species:
            return 0
        cur.execute(
            "SELECT id, latitude, longitude, accuracy_m FROM observation "
            f"WHERE status = 'validated' AND deleted_at IS NULL ORDER BY id LIMIT {mark}",
            (n,),
        )
        picked = list(cur.fetchall())
        updates = []
        for obs_id, lat, lon, accuracy in picked:
            species_id, generalisation = rng.choice(species)
            public = public_position(
                sensitive=True, latitude=lat, longitude=lon, accuracy_m=accuracy,
                generalisation=generalisation,
            )  # fmt: skip
            updates.append((
                species_id, public.latitude, public.longitude, public.accuracy_m,
                public.generalised, obs_id,
            ))  # fmt: skip
        if db == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        cur.executemany(
            f"UPDATE observation SET species_id = {mark}, public_latitude = {mark}, "
            f"public_longitude = {mark}, public_accuracy_m = {mark}, generalised = {mark} "
            f"WHERE id = {mark}",
            updates,
        )
        if db == "sqlite":
            cur.execute("COMMIT")
        else:
            conn.commit()
        cur.close()
        return len(updates)
    finally:
        raw.close()
        engine.dispose()


def load(db: str, url: str, args: argparse.Namespace, rng: random.Random) -> Loaded:
    # review.py's loader draws the statuses from its STATUS_SHARES: the export's shares instead,
    # for the time of the load.
    with mock.patch.dict(review.STATUS_SHARES, STATUS_SHARES, clear=True):
        loaded, world, people, checks = review.load(db, url, args, rng)
    validated = loaded.statuses.get("validated", 0)
    t0 = time.perf_counter()
    sensitive = make_sensitive(db, url, round(validated * SENSITIVE_SHARE), rng)
    console.log(
        f"{db}: {validated:,} validated observations, {sensitive:,} of them moved to the "
        f"sensitive species ({time.perf_counter() - t0:.1f} s); {loaded.photos:,} photo rows"
    )
    return Loaded(
        load=loaded, validated=validated, sensitive=sensitive, photos=loaded.photos,
        rare_species_id=str(uuid.UUID(hex=world.species[-1][0])),
        ecologist_email=people["ecologist_email"], checks=checks,
    )  # fmt: skip


# --- the floor -----------------------------------------------------------------------------------

FLOOR_SQL = (
    "SELECT observation.id, observation.observed_at, species.cd_nom, species.cd_ref, "
    "species.scientific_name, species.vernacular_name, observation.latitude, "
    "observation.longitude, observation.accuracy_m, observation.generalised, "
    'observation."count", observation.count_unit, zone.code, zone.name, observation.status, '
    "user_account.display_name, observation_photo.id, observation_photo.licence "
    "FROM observation "
    "JOIN species ON species.id = observation.species_id "
    "JOIN user_account ON user_account.id = observation.observer_id "
    "LEFT JOIN zone ON zone.id = observation.zone_id "
    "LEFT JOIN observation_photo ON observation_photo.observation_id = observation.id "
    "WHERE observation.status = 'validated' AND observation.deleted_at IS NULL "
    "ORDER BY observation.observed_at, observation.id"
)
COUNT_SQL = (
    "SELECT count(*) FROM observation JOIN species ON species.id = observation.species_id "
    "WHERE observation.status = 'validated' AND observation.deleted_at IS NULL"
)
FLOOR_HEADER = (
    "id", "observed_at", "cd_nom", "cd_ref", "scientific_name", "vernacular_name", "latitude",
    "longitude", "accuracy_m", "generalised", "count", "count_unit", "zone_code", "zone_name",
    "status", "observer", "photo_id", "photo_licence",
)  # fmt: skip


class Floor:
    """The rows read by one statement with the driver's cursor, written with ``csv.writer``."""

    def __init__(self, db: str, url: str) -> None:
        self.db = db
        self.engine, self.raw = _raw_connection(url)
        self.conn: Any = self.raw.driver_connection

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()

    def count(self) -> int:
        cur = self.conn.cursor()
        cur.execute(COUNT_SQL)
        (n,) = cur.fetchone()
        cur.close()
        if self.db == "postgresql":
            self.conn.commit()
        return int(n)

    def export(self) -> tuple[int, int]:
        """``(rows, bytes)`` of the CSV written."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(FLOOR_HEADER)
        rows = size = 0
        if self.db == "sqlite":
            cur = self.conn.cursor()
            cur.execute("BEGIN")  # one read transaction, as a session's
        else:
            cur = self.conn.cursor(name="export_floor")  # server-side: streamed, not fetched whole
        try:
            cur.execute(FLOOR_SQL)
            while batch := cur.fetchmany(FETCH_ROWS):
                writer.writerows(batch)
                rows += len(batch)
                size += len(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
            size += len(buffer.getvalue().encode("utf-8"))
        finally:
            cur.close()
            if self.db == "sqlite":
                self.conn.execute("COMMIT")
            else:
                self.conn.commit()
        return rows, size


# --- the measures --------------------------------------------------------------------------------


@dataclass
class Measure:
    db: str
    measure: str  # CSV, DwC-A, floor
    round: int
    rows: int = 0
    bytes: int = 0
    seconds: float = float("nan")
    first_byte_s: float | None = None
    rss_base_mb: float | None = None  # the server's, before the export
    rss_growth_mb: float | None = None  # sampled peak − baseline
    hwm_growth_mb: float | None = None  # VmHWM after − baseline (None: not reset)
    rss_samples: int = 0
    cpu: CpuUse = field(default_factory=CpuUse)
    error: str | None = None
    checks: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        if self.error or not self.seconds > 0:
            return float("nan")
        return self.rows / self.seconds


def _server_error(server: Server) -> str:
    """The last exception line of the server's log (``NameError: …``), if any."""
    found = ""
    for line in server.log_tail(80).splitlines():
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line.strip()):
            found = line.strip()
    return found


@contextlib.contextmanager
def watched(server: Server, probe: PostgresProbe | None, m: Measure) -> Iterator[None]:
    """The server's memory (baseline, sampled peak, VmHWM) and everyone's CPU over the block."""
    base = rss_mib(server.pid)
    hwm_reset = reset_peak_rss(server.pid)
    sampler = RssSampler(server.pid, interval=RSS_INTERVAL_S)
    with sampler, CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
        yield
    m.cpu = cpu
    m.rss_samples = sampler.samples
    if base is not None:
        m.rss_base_mb = base * MIB_TO_MB
        if sampler.peak_mib is not None:
            m.rss_growth_mb = max(0.0, sampler.peak_mib - base) * MIB_TO_MB
        hwm = peak_rss_mib(server.pid)
        if hwm_reset and hwm is not None:
            m.hwm_growth_mb = max(0.0, hwm - base) * MIB_TO_MB


def download(
    client: httpx.Client, path: str, params: dict[str, str], sink: Callable[[bytes], None]
) -> tuple[float | None, int]:
    """Streams ``path`` into ``sink``; ``(seconds to the first byte, status)``."""
    t0 = time.perf_counter()
    first: float | None = None
    with client.stream("GET", path, params=params) as r:
        if r.status_code != 200:
            r.read()
            raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:300]}")
        for chunk in r.iter_bytes():
            if first is None:
                first = time.perf_counter() - t0
            sink(chunk)
        return first, r.status_code


def measure_csv(
    server: Server, client: httpx.Client, probe: PostgresProbe | None, m: Measure,
    expected: int, params: dict[str, str] | None = None,
) -> Measure:  # fmt: skip
    from app.exports.tabular import CSV_COLUMNS

    lines = size = 0
    head = bytearray()
    last = b""

    def sink(chunk: bytes) -> None:
        nonlocal lines, size, last
        lines += chunk.count(b"\n")
        size += len(chunk)
        if len(head) < 4096:
            head.extend(chunk[:4096])
        last = chunk[-1:]

    try:
        with watched(server, probe, m):
            t0 = time.perf_counter()
            m.first_byte_s, _ = download(client, CSV_PATH, params or {}, sink)
            m.seconds = time.perf_counter() - t0
    except Exception as exc:  # reported as the measure's error; the bench goes on
        m.error = _error(exc, server)
        return m
    m.rows = max(0, lines - 1) + (1 if last not in (b"\n", b"") else 0)
    m.bytes = size
    header = bytes(head).split(b"\r\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    if header != ",".join(CSV_COLUMNS):
        m.checks.append(f"CSV: the header is {header[:200]!r}, not CSV_COLUMNS")
    if params is None and m.rows != expected:
        m.checks.append(f"CSV: {m.rows:,} rows, {expected:,} validated observations")
    return m


def _error(exc: BaseException, server: Server) -> str:
    text = f"{type(exc).__name__}: {exc}"[:300]
    logged = _server_error(server)
    return f"{text}; server log: {logged[:300]}" if logged else text


def check_archive(path: Path, expected: int) -> tuple[list[str], dict[str, Any]]:
    """The archive opens; ``meta.xml`` names the occurrence file; it holds the observations."""
    found: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            found["files"] = names
            location, skip = None, 0
            if "meta.xml" in names:
                root = ElementTree.fromstring(zf.read("meta.xml"))
                for node in root:
                    if node.get("rowType") == OCCURRENCE:
                        loc = node.find("{*}files/{*}location")
                        location = loc.text.strip() if loc is not None and loc.text else None
                        skip = int(node.get("ignoreHeaderLines") or 0)
            else:
                return ["DwC-A: no meta.xml in the archive"], found
            if location is None:
                return ["DwC-A: meta.xml names no occurrence file (rowType Occurrence)"], found
            if location not in names:
                return [f"DwC-A: meta.xml names {location!r}, not in the archive"], found
            lines, last = 0, b""
            with zf.open(location) as fh:
                while block := fh.read(1 << 20):
                    lines += block.count(b"\n")
                    last = block[-1:]
            lines += 1 if last not in (b"\n", b"") else 0
            found.update(occurrence_file=location, occurrence_rows=lines - skip)
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError, ValueError) as exc:
        return [f"DwC-A: {type(exc).__name__}: {exc}"[:300]], found
    if found["occurrence_rows"] < expected:
        return [
            f"DwC-A: {found['occurrence_rows']:,} occurrence rows in {found['occurrence_file']}, "
            f"fewer than the {expected:,} observations"
        ], found
    return [], found


def measure_dwca(
    server: Server, client: httpx.Client, probe: PostgresProbe | None, m: Measure,
    expected: int, workdir: Path, params: dict[str, str] | None = None,
) -> tuple[Measure, dict[str, Any]]:  # fmt: skip
    path = workdir / "export.zip"
    size = 0
    try:
        with path.open("wb") as fh, watched(server, probe, m):

            def sink(chunk: bytes) -> None:
                nonlocal size
                size += len(chunk)
                fh.write(chunk)

            t0 = time.perf_counter()
            m.first_byte_s, _ = download(client, DWCA_PATH, params or {}, sink)
            m.seconds = time.perf_counter() - t0
    except Exception as exc:  # the writer is being written: report it and go on
        m.error = _error(exc, server)
        return m, {}
    m.bytes = size
    m.rows = expected  # the observations the archive must hold (checked below)
    problems, found = check_archive(path, 0 if params else expected)
    m.checks += problems
    with contextlib.suppress(OSError):
        path.unlink()
    return m, found


def measure_floor(
    server: Server, floor: Floor, probe: PostgresProbe | None, m: Measure, expected: int
) -> Measure:
    try:
        with watched(server, probe, m):
            t0 = time.perf_counter()
            m.rows, m.bytes = floor.export()
            m.seconds = time.perf_counter() - t0
    except Exception as exc:
        m.error = f"{type(exc).__name__}: {exc}"[:300]
        return m
    if m.rows != expected:
        m.checks.append(f"floor: {m.rows:,} rows, {expected:,} validated observations")
    return m


# --- in process: a profile of one export ---------------------------------------------------------


def profile_export(url: str, kind: str, email: str, lines: int = 25) -> str:
    """One export called straight (``app.exports.service.export``, no HTTP), under cProfile."""
    from sqlalchemy import select
    from sqlmodel import Session, col

    from app.accounts.models import User
    from app.core.db import Database, make_engine
    from app.core.settings import Settings
    from app.exports import service
    from app.observations.schemas import ObservationFilters

    engine = make_engine(url, pool_size=2)
    try:
        with Session(engine) as session:
            viewer = session.scalars(select(User).where(col(User.email) == email)).one()
            session.expunge(viewer)
        settings = Settings(_env_file=None)
        export = service.export(
            service.ExportFormat(kind), Database(engine), settings, viewer=viewer,
            filters=ObservationFilters(), base_url="http://127.0.0.1",
        )  # fmt: skip
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        size = 0
        try:
            for piece in export.pieces:
                size += len(piece)
        finally:
            profiler.disable()
        wall = time.perf_counter() - t0
    finally:
        engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(lines)
    text = out.getvalue()
    start = text.find("   ncalls")
    body = text[start:].rstrip() if start >= 0 else text.rstrip()
    return f"{kind}: {size:,} bytes in {wall:.2f} s under the profiler\n{body}"


# --- one run -------------------------------------------------------------------------------------


@dataclass
class RunResult:
    db: str
    run: int
    loaded: Loaded
    measures: list[Measure]
    archive: dict[str, Any]
    checks: list[str]
    server_peak_rss_mib: float | None
    profiles: dict[str, str]
    server_log: str = ""


def run_once(db: str, run: int, args: argparse.Namespace) -> RunResult:
    rng = random.Random(args.seed + run)  # the same data on both databases
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        workdir = Path(tmp)
        loaded = load(db, url, args, rng)
        checks = list(loaded.checks)
        measures: list[Measure] = []
        archive: dict[str, Any] = {}
        profiles: dict[str, str] = {}
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(run_server(url, workdir=workdir))
            account: Account = sign_in(server, loaded.ecologist_email)
            floor = Floor(db, url)
            stack.callback(floor.close)
            probe = None
            if db == "postgresql":
                probe = PostgresProbe(url)
                stack.callback(probe.close)
            client = httpx.Client(
                base_url=server.api, headers=account.headers, timeout=httpx.Timeout(600.0)
            )
            stack.callback(client.close)
            expected = floor.count()
            if expected != loaded.validated:
                checks.append(f"{expected:,} validated rows counted, {loaded.validated:,} loaded")
            console.log(
                f"{db}: server pid {server.pid} on {server.base_url}, ecologist signed in; "
                f"{expected:,} observations to export"
            )

            # Warm-up, untimed: each export on a rare species (imports, pools, caches).
            rare = {"species_id": loaded.rare_species_id}
            warm = Measure(db, "CSV", -1)
            measure_csv(server, client, probe, warm, expected, rare)
            if warm.error or warm.checks:
                console.log(f"[yellow]{db}: CSV warm-up: {warm.error or warm.checks}[/]")
            warm = Measure(db, "DwC-A", -1)
            measure_dwca(server, client, probe, warm, expected, workdir, rare)
            if warm.error or warm.checks:
                console.log(f"[yellow]{db}: DwC-A warm-up: {warm.error or warm.checks}[/]")
            floor.count()

            for r in range(args.rounds):
                order = MEASURES[r % 3 :] + MEASURES[: r % 3]
                for name in order:
                    m = Measure(db, name, r)
                    console.log(f"{db}: round {r + 1} of {args.rounds}: {name} …")
                    if name == "CSV":
                        measure_csv(server, client, probe, m, expected)
                    elif name == "DwC-A":
                        _, found = measure_dwca(server, client, probe, m, expected, workdir)
                        archive = archive or found
                    else:
                        measure_floor(server, floor, probe, m, expected)
                    measures.append(m)
                    if m.error:
                        console.log(f"[red]{db}: {name} failed: {m.error}[/]")
                    else:
                        growth = "—" if m.rss_growth_mb is None else f"{m.rss_growth_mb:.1f} MB"
                        console.log(
                            f"{db}: {name}: {m.rows:,} rows, {m.bytes / 1e6:,.1f} MB in "
                            f"{m.seconds:.2f} s ({m.rate:,.0f} rows/s); server RSS growth {growth}"
                        )
                    checks += m.checks
            peak = server.peak_rss_mib()
            failed = bool(checks) or any(m.error for m in measures)
            server_log = server.log_tail(40) if failed else ""
        if args.profile and run == 0:
            for kind in ("csv", "dwca"):
                console.log(f"{db}: profiling one in-process {kind} export …")
                try:
                    profiles[kind] = profile_export(url, kind, loaded.ecologist_email)
                except Exception as exc:  # the DwC-A writer may not work yet
                    profiles[kind] = f"{kind}: failed: {type(exc).__name__}: {exc}"[:300]
    return RunResult(
        db=db, run=run, loaded=loaded, measures=measures, archive=archive, checks=checks,
        server_peak_rss_mib=peak, profiles=profiles, server_log=server_log,
    )  # fmt: skip


# --- output --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def _max(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _rate_aim(name: str) -> float:
    return DWCA_RATE_AIM if name == "DwC-A" else RATE_AIM


def measures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: each export's rate against the floor
    of the same round, and its memory growth."""
    out = []
    floors = {s["db"]: s["rate"] for s in summary["results"] if s["measure"] == "floor"}
    for s in summary["results"]:
        if s["measure"] == "floor":
            continue
        m = as_measure(
            f"{s['measure']} export", s["db"], s["rate"], "rows/s", floor=floors.get(s["db"]),
            ratio=s["ratio"], aim=f"ratio ≥ {_rate_aim(s['measure']):g}",
        )  # fmt: skip
        if s["errors"]:
            m["met"] = False
        out.append(m)
        out.append(
            as_measure(
                f"{s['measure']} export, memory growth",
                s["db"],
                s["rss_growth_mb"],
                "MB",
                aim=f"value < {MEMORY_AIM_MB:g}",
            )
        )
    return out


def summarise(runs: list[RunResult]) -> dict[str, Any]:
    """Per database and measure: medians over runs × rounds; the ratio is taken round by round
    (the API's rate over the floor's of the same round), then its median."""
    results = []
    for db in dict.fromkeys(r.db for r in runs):
        mine = [m for r in runs if r.db == db for m in r.measures]
        floor_rates = {
            (r.run, m.round): m.rate for r in runs if r.db == db for m in r.measures
            if m.measure == "floor"
        }  # fmt: skip
        for name in MEASURES:
            ms = [m for m in mine if m.measure == name]
            if not ms:
                continue
            ratios = []
            if name != "floor":
                for r in runs:
                    if r.db != db:
                        continue
                    for m in r.measures:
                        if m.measure == name:
                            ratios.append(m.rate / floor_rates.get((r.run, m.round), float("nan")))
            ok = [m for m in ms if not m.error]
            ratio = _median(ratios) if name != "floor" else 1.0
            growth = _max([m.rss_growth_mb for m in ms])
            hwm = _max([m.hwm_growth_mb for m in ms])
            errors = [m.error for m in ms if m.error]
            rate_met: bool | None = None
            memory_met: bool | None = None
            if name != "floor":
                rate_met = not errors and ratio == ratio and ratio >= _rate_aim(name)
                memory_met = None if errors or growth is None else growth < MEMORY_AIM_MB
            wall = sum(m.cpu.wall_s for m in ok) or 1e-9
            results.append({
                "db": db, "measure": name, "samples": len(ms), "failed": len(errors),
                "rows": ok[0].rows if ok else 0, "bytes": _median([m.bytes for m in ok]),
                "seconds": _median([m.seconds for m in ok]), "rate": _median([m.rate for m in ok]),
                "first_byte_s": _median([m.first_byte_s for m in ok if m.first_byte_s is not None]),
                "ratio": ratio, "rate_met": rate_met,
                "rss_base_mb": _median([m.rss_base_mb for m in ok if m.rss_base_mb is not None]),
                "rss_growth_mb": growth, "hwm_growth_mb": hwm, "memory_met": memory_met,
                "server_cpu_pct": 100 * sum(m.cpu.server_s for m in ok) / wall,
                "client_cpu_pct": 100 * sum(m.cpu.client_s for m in ok) / wall,
                "database_cpu_pct": 100 * sum(m.cpu.database_s for m in ok) / wall,
                "server_cpu_us_per_row": 1e6 * _median(
                    [m.cpu.server_s / m.rows for m in ok if m.rows]
                ),
                "others_cores": max((m.cpu.others_cores for m in ok), default=0.0),
                "errors": errors,
                "runs": [{**asdict(m), "rate": m.rate} for m in ms],
            })  # fmt: skip
    loads = []
    for r in runs:
        loads.append({
            "db": r.db, "run": r.run, "rows": r.loaded.load.rows,
            "statuses": r.loaded.load.statuses, "validated": r.loaded.validated,
            "sensitive": r.loaded.sensitive, "photos": r.loaded.photos,
            "load_s": r.loaded.load.prepare_s + r.loaded.load.total_s,
            "size_mib": r.loaded.load.size_mib,
        })  # fmt: skip
    peaks = {
        db: max((r.server_peak_rss_mib or 0.0) for r in runs if r.db == db)
        for db in {r.db for r in runs}
    }
    return {"results": results, "load": loads, "server_peak_rss_mib": peaks}


def _num(value: float | None, fmt: str = ",.0f", unit: str = "") -> str:
    if value is None or value != value:
        return "—"
    return format(value, fmt) + unit


def _yes(met: bool | None) -> str:
    return "—" if met is None else ("[green]yes[/]" if met else "[red]no[/]")


def print_report(
    machine: dict[str, Any], args: argparse.Namespace, summary: dict[str, Any],
    runs: list[RunResult],
) -> None:  # fmt: skip
    console.print(
        f"[bold]Machine[/]: {machine['cpu_model']} ({machine['cpu_mhz']} MHz), "
        f"{machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['ram_gib']} GiB RAM; Python {machine['python']}; "
        f"SQLite {sqlite3.sqlite_version}; {machine['date']}"
    )
    medians = ", medians" if args.runs * args.rounds > 1 else ""
    console.print(
        f"[bold]Settings[/]: {args.rows:,} observations ({STATUS_SHARES['validated']:.0%} "
        f"validated, {SENSITIVE_SHARE:.1%} of those sensitive, {review.PHOTO_SHARE:.0%} with a "
        f"photo); {args.runs} run(s) per database, each on a new database, of {args.rounds} "
        f"round(s) of CSV, DwC-A and floor in turn (the order rotating){medians}; one uvicorn "
        "process; an ecologist's exports; floor = the same rows by one SELECT on a plain "
        f"cursor (fetchmany({FETCH_ROWS})) written with csv.writer; server RSS sampled every "
        f"{RSS_INTERVAL_S * 1000:.0f} ms"
    )
    loads = Table(title="Loading (review.py's bulk loader)")
    for col in ("DB", "observations", "validated", "sensitive", "photos", "load", "size"):
        loads.add_column(col, justify="left" if col == "DB" else "right")
    for s in summary["load"]:
        loads.add_row(
            s["db"], f"{s['rows']:,}", f"{s['validated']:,}", f"{s['sensitive']:,}",
            f"{s['photos']:,}", f"{s['load_s']:.0f} s", f"{s['size_mib']:,.0f} MiB",
        )  # fmt: skip
    console.print(loads)

    table = Table(title="Exports: rows per second, next to the floor of the same round")
    for col in (
        "DB", "export", "rows", "size", "time", "rows/s", "÷ floor",
        f"≥ {RATE_AIM:g}× (DwC-A {DWCA_RATE_AIM:g}×)?", "server RSS", "peak growth",
        f"< {MEMORY_AIM_MB:.0f} MB?",
    ):  # fmt: skip
        table.add_column(col, justify="left" if col in ("DB", "export") else "right")
    for s in summary["results"]:
        if s["failed"] == s["samples"]:
            table.add_row(
                s["db"], s["measure"], "[red]failed[/]", "", "", "", "",
                _yes(s["rate_met"]), "", "", _yes(s["memory_met"]),
            )  # fmt: skip
            continue
        ratio = "—" if s["measure"] == "floor" else f"{s['ratio']:.2f}×"
        table.add_row(
            s["db"], s["measure"], f"{s['rows']:,}", f"{s['bytes'] / 1e6:,.1f} MB",
            f"{s['seconds']:.2f} s", _num(s["rate"]), ratio, _yes(s["rate_met"]),
            _num(s["rss_base_mb"], unit=" MB"), _num(s["rss_growth_mb"], ",.1f", unit=" MB"),
            _yes(s["memory_met"]),
        )  # fmt: skip
    console.print(table)
    console.print(
        "Server RSS: the uvicorn process's VmRSS before the export; peak growth: the largest "
        "sample over it during the export (for the floor, the idle server's: a control). "
        "The DwC-A's rows are the observations it must hold."
    )

    side = Table(title="Side figures")
    for col in (
        "DB", "export", "rows/s by round", "first byte", "server CPU", "per row", "bench CPU",
        "PG CPU", "VmHWM growth", "other load",
    ):  # fmt: skip
        side.add_column(col)
    for s in summary["results"]:
        rates = " · ".join(
            "failed" if r["error"] else _num(r["rate"]) for r in s["runs"]
        )  # fmt: skip
        side.add_row(
            s["db"], s["measure"], rates,
            "—" if s["measure"] == "floor" else _num(s["first_byte_s"] * 1000, unit=" ms"),
            f"{s['server_cpu_pct']:.0f}%",
            _num(s["server_cpu_us_per_row"], ".1f", unit=" µs") if s["measure"] != "floor" else "—",
            f"{s['client_cpu_pct']:.0f}%",
            f"{s['database_cpu_pct']:.0f}%" if s["db"] == "postgresql" else "—",
            _num(s["hwm_growth_mb"], ",.1f", unit=" MB"), f"{s['others_cores']:.2f}",
        )  # fmt: skip
    console.print(side)
    console.print(
        "First byte: from the request to the first bytes of the answer. CPU as a share of one "
        "core over the export; per row: the server's CPU per row "
        "exported. Bench CPU: this process (the HTTP client, or the floor); PG CPU: PostgreSQL's "
        "processes serving the bench's database; VmHWM growth: the kernel's peak RSS over "
        "the baseline (reset before each export; '—' where it could not be); other load: the "
        "cores the rest of the machine kept busy. Server peak RSS over the run: "
        + ", ".join(f"{db} {v:.0f} MiB" for db, v in sorted(summary["server_peak_rss_mib"].items()))
    )
    noisy = [s for s in summary["results"] if s["others_cores"] >= NOISY_CORES]
    if noisy:
        console.print(
            f"[yellow]Other processes kept up to {max(s['others_cores'] for s in noisy):.2f} "
            "cores busy during some measures: those figures are pessimistic; run again on a "
            "quiet machine.[/]"
        )
    for run in runs:
        if run.archive:
            console.print(
                f"{run.db}: archive files {run.archive.get('files')}; "
                f"{run.archive.get('occurrence_rows', 0):,} occurrence rows in "
                f"{run.archive.get('occurrence_file')}"
            )
            break
    for run in runs:
        for kind, text in run.profiles.items():
            console.rule(f"{run.db}: cProfile of one in-process {kind} export")
            console.print(text, markup=False, highlight=False)
    for s in summary["results"]:
        for error in dict.fromkeys(s["errors"]):
            console.print(f"[red]{s['db']} {s['measure']} failed: {error}[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
        + " Per database: a fresh database loaded with --rows observations, one uvicorn "
        "process, an ecologist's GET /exports/observations.csv and GET /exports/dwca.zip "
        "streamed by httpx, and the floor (the same rows by one SELECT on a plain DB-API "
        "cursor, written with csv.writer), in turn; rows/s, ratio to the floor, the server's "
        "RSS sampled every 50 ms.",
        epilog="Aims (issue: exports): each export at least half the floor's rows/s; the "
        "server's peak memory growth during an export under 100 MB. Reported, not enforced: "
        "exit 1 only when an export fails or a check finds a difference. Quick check: "
        "--db sqlite --rows 20000 (about 30 s).",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--rows", type=int, default=1_000_000,
        help="observations stored, 95%% validated (default 1,000,000)",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=int, default=1, help="runs per database, each on a new database (1)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="rounds of CSV, DwC-A and floor per run, the order rotating (1)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="also profile one in-process CSV and DwC-A export (cProfile) after the first run",
    )  # fmt: skip
    parser.add_argument(
        "--pg-admin-url", default=DEFAULT_PG_ADMIN_URL,
        help="where to create the throwaway PostgreSQL database",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=20261126, help="seed of the generated data")
    parser.add_argument(
        "--json", metavar="PATH", help="also write every figure as JSON ('-': stdout)"
    )
    args = parser.parse_args(argv)
    if min(args.runs, args.rounds) < 1:
        parser.error("--runs and --rounds must be at least 1")
    if args.rows < 1000:
        parser.error("--rows must be at least 1,000")
    args.history = False  # review.py's loader: no review decisions nor audit events
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    runs: list[RunResult] = []
    for db in databases(args.db, args.pg_admin_url, console):
        for i in range(args.runs):
            if args.runs > 1:
                console.rule(f"{db}: run {i + 1} of {args.runs}")
            runs.append(run_once(db, i, args))
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
        doc = {
            "machine": {**machine, "sqlite": sqlite3.sqlite_version},
            "settings": {
                **settings, "status_shares": STATUS_SHARES, "sensitive_share": SENSITIVE_SHARE,
                "photo_share": review.PHOTO_SHARE, "fetch_rows": FETCH_ROWS,
                "rss_interval_s": RSS_INTERVAL_S, "rate_aim": RATE_AIM,
                "dwca_rate_aim": DWCA_RATE_AIM,
                "memory_aim_mb": MEMORY_AIM_MB, "floor_sql": FLOOR_SQL,
            },
            "measures": measures(summary),
            **summary,
            "archive": {r.db: r.archive for r in runs if r.archive},
            "profiles": {f"{r.db}: {k}": v for r in runs for k, v in r.profiles.items()},
            "checks": problems,
        }  # fmt: skip
        text = json.dumps(doc, indent=2, default=str)
        write: Callable[[str], Any] = (
            sys.stdout.write if args.json == "-" else Path(args.json).write_text
        )
        write(text + "\n")
    failed = any(s["errors"] for s in summary["results"])
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
