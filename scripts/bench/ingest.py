"""Ingest benchmark: how fast observations get in, next to how fast the database alone takes them.

    .venv/bin/python scripts/bench/ingest.py [--db sqlite|postgresql|both] [--single N]
        [--batches M] [--concurrency C] [--runs R] [--json PATH]

For each database: a fresh database, migrated, with the reference species and zones; ONE
``uvicorn`` process started as production starts it; a registered, signed-in sentinel. Then:

* single POST: N ``POST /observations`` sent by C concurrent keep-alive connections;
* batch sync: M ``POST /observations/batch`` of 500 observations, one after the other, as a phone
  syncs;
* the batch's floor: the very same rows (same values, zone and public position computed here
  as the API computes them, every column of the table) inserted straight into the same database
  with SQLAlchemy Core ``conn.execute(insert(table), rows)`` in one transaction, which runs the
  driver's ``cursor.executemany`` (sqlite3; psycopg 3, which pipelines it);
* the single POST's floor: the same requests, same connections and concurrency, answered by a
  bare FastAPI app (``bare_app.py``: the route, a pydantic model of the same fields, no
  database) served by ``uvicorn`` exactly as Sentinelles is.

The ratio rate / floor says how much of what the database (batch) or the framework (single)
can take the HTTP path delivers. The aims (issue: performance, item 1) are batch sync at 40% of
the executemany floor on both databases, single POST at 30% of the bare FastAPI POST. The CPU
ratio compares CPU time per observation instead (floor over server, PostgreSQL's backends
included), which a busy machine disturbs less than the rates.

The load generator is a small HTTP/1.1 client on asyncio streams (uvloop) that sends pre-built
requests, so that on a 2-core machine it leaves the server most of the other core; ``--client
httpx`` uses httpx.AsyncClient instead. Its CPU time is printed so that the reader can judge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
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
    sign_up,
)

BATCH_SIZE = 500
SINGLE_AIM_RATIO = 0.30  # of the bare FastAPI POST, both databases
BATCH_AIM_RATIO = 0.40  # of the executemany floor, both databases
# Cores kept busy by processes outside the bench above which a figure is flagged as disturbed.
NOISY_CORES = 0.25
# Loos-en-Gohelle, roughly: where the points are drawn.
LAT_RANGE = (50.44, 50.47)
LON_RANGE = (2.77, 2.81)
PARIS_SUMMER = timezone(timedelta(hours=2))
NOTES = [None, None, None, "sur le fil électrique", "au-dessus du terril", "chant entendu"]

# Wide enough for the tables when the output is a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 120)


# --- reference data and what the API stores ------------------------------------------------------


@dataclass(frozen=True)
class SpeciesRef:
    id: uuid.UUID
    cd_nom: int
    sensitive: bool


class ZoneLocator:
    """The zone the API places a point in: the smallest zone whose polygon covers it (the
    rule of app/zones/index.py, written again here so that the floor does not reuse the code
    it is compared with)."""

    def __init__(self, zones: list[tuple[uuid.UUID, str, str, float]]) -> None:
        from shapely import prepare
        from shapely.geometry import shape

        self._zones = []
        for zone_id, _code, geometry, _area in sorted(zones, key=lambda z: (z[3], z[1])):
            geom = shape(json.loads(geometry))
            prepare(geom)
            self._zones.append((zone_id, geom))

    def locate(self, latitude: float, longitude: float) -> uuid.UUID | None:
        from shapely.geometry import Point

        point = Point(longitude, latitude)
        for zone_id, geom in self._zones:
            if geom.covers(point):
                return zone_id
        return None


def load_reference(url: str) -> tuple[list[SpeciesRef], ZoneLocator]:
    from sqlalchemy import select

    from app.core.db import make_engine
    from app.species.models import Species
    from app.zones.models import Zone

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            species = [
                SpeciesRef(id=row.id, cd_nom=row.cd_nom, sensitive=row.sensitive)
                for row in conn.execute(select(Species.id, Species.cd_nom, Species.sensitive))  # type: ignore[call-overload]
            ]
            zones = [
                (row.id, row.code, row.geometry, row.area_m2)
                for row in conn.execute(select(Zone.id, Zone.code, Zone.geometry, Zone.area_m2))  # type: ignore[call-overload]
            ]
    finally:
        engine.dispose()
    if not species or not zones:
        raise RuntimeError(
            f"reference data missing after import: {len(species)} species, {len(zones)} zones"
        )
    return species, ZoneLocator(zones)


@dataclass
class Item:
    """One observation: the JSON a phone sends, and the row the API should store from it."""

    payload: dict[str, Any]
    row: dict[str, Any]


def make_items(
    n: int, *, species: list[SpeciesRef], zones: ZoneLocator, rng: random.Random
) -> list[Item]:
    from app.core.db import utcnow
    from app.zones.grid import generalise

    now = datetime.now(UTC).replace(microsecond=0)
    items = []
    for _ in range(n):
        sp = rng.choice(species)
        lat = round(rng.uniform(*LAT_RANGE), 6)
        lon = round(rng.uniform(*LON_RANGE), 6)
        accuracy = float(rng.randint(3, 50))
        observed = now - timedelta(seconds=rng.randint(3600, 200 * 86400))
        client_id = uuid.uuid4()
        count = rng.randint(0, 20)
        unit = "nests" if rng.random() < 0.1 else "individuals"
        notes = rng.choice(NOTES)
        payload: dict[str, Any] = {
            "client_id": str(client_id),
            "observed_at": observed.astimezone(PARIS_SUMMER).isoformat(),
            "latitude": lat,
            "longitude": lon,
            "accuracy_m": accuracy,
            "count": count,
            "count_unit": unit,
        }
        # A quarter of the phones name the species by its TAXREF id.
        if rng.random() < 0.25:
            payload["cd_nom"] = sp.cd_nom
        else:
            payload["species_id"] = str(sp.id)
        if notes:
            payload["notes"] = notes
        if sp.sensitive:
            pub_lat, pub_lon, pub_acc = generalise(lat, lon)
        else:
            pub_lat, pub_lon, pub_acc = lat, lon, accuracy
        stamp = utcnow()
        row = {
            "id": uuid.uuid4(),
            "client_id": client_id,
            "observer_id": None,  # set to the floor's own user before inserting
            "species_id": sp.id,
            "observed_at": observed,
            "latitude": lat,
            "longitude": lon,
            "accuracy_m": accuracy,
            "count": count,
            "count_unit": unit,
            "notes": notes,
            "public_latitude": pub_lat,
            "public_longitude": pub_lon,
            "public_accuracy_m": pub_acc,
            "generalised": sp.sensitive,
            "zone_id": zones.locate(lat, lon),
            "status": "pending",
            "created_at": stamp,
            "updated_at": stamp,
            "deleted_at": None,
        }
        items.append(Item(payload=payload, row=row))
    return items


# --- the load generator --------------------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int
    statuses: Counter[int]
    cpu: CpuUse
    latencies_ms: list[float]
    errors: list[str] = field(default_factory=list)
    # PostgreSQL connections the server opened during the measure (None on SQLite): a pool too
    # small for the concurrency closes and reopens connections, each a new server process.
    connections_opened: int | None = None

    @property
    def seconds(self) -> float:
        return self.cpu.wall_s

    def ok(self, status: int) -> int:
        return self.statuses.get(status, 0)


def _request_bytes(host: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, body, headers.get("connection", "").lower() != "close"


async def _raw_load(
    base_url: str, path: str, token: str, bodies: list[bytes], concurrency: int
) -> tuple[Counter[int], list[float], list[str]]:
    url = httpx.URL(base_url)
    host, port = str(url.host), int(url.port or 80)
    requests = iter([_request_bytes(f"{host}:{port}", path, token, b) for b in bodies])
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for req in requests:
                t0 = time.perf_counter()
                try:
                    writer.write(req)
                    status, body, keep = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    # Counted as a failed request (status 0); the bench goes on on a new socket.
                    status, body, keep = 0, f"{type(exc).__name__}: {exc}".encode(), False
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] += 1
                if status != 201 and len(errors) < 5:
                    errors.append(f"{status} {body[:300].decode(errors='replace')}")
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies, errors


async def _httpx_load(
    base_url: str, path: str, token: str, bodies: list[bytes], concurrency: int
) -> tuple[Counter[int], list[float], list[str]]:
    requests = iter(bodies)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def worker() -> None:
            for body in requests:
                t0 = time.perf_counter()
                r = await client.post(path, content=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[r.status_code] += 1
                if r.status_code != 201 and len(errors) < 5:
                    errors.append(f"{r.status_code} {r.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies, errors


def post_singles(
    server: Server,
    account: Account,
    items: list[Item],
    *,
    concurrency: int,
    client: str,
    probe: PostgresProbe | None = None,
) -> LoadResult:
    import uvloop

    bodies = [json.dumps(item.payload).encode() for item in items]
    load = _raw_load if client == "raw" else _httpx_load
    sessions = probe.sessions() if probe else 0
    with CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
        statuses, latencies, errors = uvloop.run(
            load(server.base_url, "/api/v1/observations", account.token, bodies, concurrency)
        )
    return LoadResult(
        sent=len(bodies), statuses=statuses, cpu=cpu, latencies_ms=latencies, errors=errors,
        connections_opened=probe.sessions() - sessions if probe else None,
    )  # fmt: skip


def post_batches(
    server: Server,
    account: Account,
    items: list[Item],
    *,
    probe: PostgresProbe | None = None,
) -> LoadResult:
    """One batch after the other, as a phone syncs; counts ``created`` results as the 201s."""
    bodies = [
        json.dumps({"observations": [it.payload for it in items[i : i + BATCH_SIZE]]}).encode()
        for i in range(0, len(items), BATCH_SIZE)
    ]
    headers = {**account.headers, "Content-Type": "application/json"}
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    sessions = probe.sessions() if probe else 0
    with (
        httpx.Client(base_url=server.api, timeout=300.0) as client,
        CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu,
    ):
        for body in bodies:
            t1 = time.perf_counter()
            r = client.post("/observations/batch", content=body, headers=headers)
            latencies.append((time.perf_counter() - t1) * 1000)
            if r.status_code != 200:
                statuses[r.status_code] += 1
                errors.append(f"{r.status_code} {r.text[:300]}")
                continue
            for result in r.json()["results"]:
                statuses[201 if result["status"] == "created" else 0] += 1
                if result["status"] != "created" and len(errors) < 5:
                    errors.append(json.dumps(result)[:300])
    return LoadResult(
        sent=len(items), statuses=statuses, cpu=cpu, latencies_ms=latencies, errors=errors,
        connections_opened=probe.sessions() - sessions if probe else None,
    )  # fmt: skip


# --- the floors ----------------------------------------------------------------------------------


def post_bare(
    url: str,
    workdir: Path,
    account: Account,
    warmup: list[Item],
    items: list[Item],
    args: argparse.Namespace,
) -> LoadResult:
    """The single POSTs' requests sent to ``bare_app.py`` served as the app is (same uvicorn
    options, one process), after the same warm-up."""
    bench_dir = str(Path(__file__).resolve().parent)
    env = {"PYTHONPATH": bench_dir}
    with run_server(url, workdir=workdir, app="bare_app:app_factory", extra_env=env) as bare:
        conc, client = args.concurrency, args.client
        post_singles(bare, account, warmup, concurrency=conc, client=client)
        return post_singles(bare, account, items, concurrency=conc, client=client)


def insert_floor(
    url: str, items: list[Item], observer_id: uuid.UUID, meter: Callable[[], CpuMeter]
) -> tuple[float, float]:
    """Seconds to insert the items' rows in one transaction with the driver's executemany, and
    the CPU seconds it took (this process's, and on PostgreSQL its backends')."""
    from sqlalchemy import insert

    from app.core.db import make_engine
    from app.observations.models import Observation

    rows = [{**it.row, "observer_id": observer_id} for it in items]
    table = Observation.__table__  # type: ignore[attr-defined]
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:  # connected and warmed before timing
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()
            with meter() as cpu, conn.begin():
                conn.execute(insert(table), rows)
            return cpu.wall_s, cpu.client_s + cpu.database_s
    finally:
        engine.dispose()


def check_stored(url: str, items: list[Item], observer_id: uuid.UUID) -> list[str]:
    """Differences between what the API stored and the rows the floor inserts for the same
    observations: the floor is only a floor if they are the same rows."""
    from sqlalchemy import select

    from app.core.db import make_engine
    from app.observations.models import Observation

    compared = [
        "species_id", "observed_at", "latitude", "longitude", "accuracy_m", "count", "count_unit",
        "notes", "public_latitude", "public_longitude", "public_accuracy_m", "generalised",
        "zone_id", "status", "deleted_at",
    ]  # fmt: skip
    table = Observation.__table__  # type: ignore[attr-defined]
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            stored = {
                row.client_id: row
                for row in conn.execute(select(table).where(table.c.observer_id == observer_id))
            }
    finally:
        engine.dispose()
    problems: list[str] = []
    if len(stored) != len(items):
        problems.append(f"{len(stored)} rows stored for {len(items)} observations sent")
    mismatches: Counter[str] = Counter()
    for item in items:
        got = stored.get(item.row["client_id"])
        if got is None:
            mismatches["missing"] += 1
            continue
        for name in compared:
            want, have = item.row[name], getattr(got, name)
            if isinstance(want, float) and isinstance(have, float):
                same = math.isclose(want, have, rel_tol=0, abs_tol=1e-9)
            else:
                same = want == have
            if not same:
                mismatches[name] += 1
                if mismatches[name] == 1:
                    problems.append(f"{name}: API stored {have!r}, floor inserts {want!r}")
    if mismatches:
        problems.append(f"mismatching rows per column: {dict(mismatches)}")
    return problems


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Figure:
    db: str
    measure: str
    observations: int
    seconds: float
    rate: float
    floor_seconds: float
    floor_rate: float
    ratio: float
    aim: str
    met: bool | None
    floor_cpu_s: float
    cpu_ratio: float
    client_cpu_s: float
    server_cpu_s: float
    database_cpu_s: float
    others_cores: float
    connections_opened: int | None
    latency_p50_ms: float
    latency_p99_ms: float
    errors: list[str]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _figure(
    db: str, measure: str, load: LoadResult, floor_seconds: float, floor_cpu_s: float, n: int
) -> Figure:
    created = load.ok(201)
    rate = created / load.seconds
    floor_rate = n / floor_seconds
    ratio = rate / floor_rate
    # The same comparison in CPU time, which other processes on the machine move much less:
    # the floor's CPU per observation over the server's (and its PostgreSQL backends').
    used = load.cpu.server_s + load.cpu.database_s
    cpu_ratio = (floor_cpu_s / n) / (used / max(1, created)) if used > 0 else float("nan")
    aim_ratio = SINGLE_AIM_RATIO if measure == "single POST" else BATCH_AIM_RATIO
    aim = f"≥ {aim_ratio:.0%} of floor"
    met = ratio >= aim_ratio
    errors = list(load.errors)
    if created != load.sent:
        errors.insert(0, f"{load.sent - created} of {load.sent} not created: {dict(load.statuses)}")
        met = False
    return Figure(
        db=db, measure=measure, observations=created, seconds=load.seconds, rate=rate,
        floor_seconds=floor_seconds, floor_rate=floor_rate, ratio=ratio, aim=aim, met=met,
        floor_cpu_s=floor_cpu_s, cpu_ratio=cpu_ratio,
        client_cpu_s=load.cpu.client_s, server_cpu_s=load.cpu.server_s,
        database_cpu_s=load.cpu.database_s, others_cores=load.cpu.others_cores,
        connections_opened=load.connections_opened,
        latency_p50_ms=_percentile(load.latencies_ms, 0.5),
        latency_p99_ms=_percentile(load.latencies_ms, 0.99), errors=errors,
    )  # fmt: skip


@dataclass
class RunResult:
    db: str
    figures: list[Figure]
    server_peak_rss_mib: float | None
    checks: list[str]
    server_log: str = ""


def run_once(db: str, args: argparse.Namespace, rng: random.Random) -> RunResult:
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        prepare_database(url)
        species, zones = load_reference(url)
        n_single, n_batch = args.single, args.batches * BATCH_SIZE
        warmup = make_items(args.warmup, species=species, zones=zones, rng=rng)
        singles = make_items(n_single, species=species, zones=zones, rng=rng)
        batched = make_items(n_batch, species=species, zones=zones, rng=rng)

        with contextlib.ExitStack() as stack:
            server = stack.enter_context(run_server(url, workdir=Path(tmp)))
            api_user = sign_up(server.api)
            floor_user = sign_up(server.api, display_name="Plancher")
            console.log(f"{db}: server pid {server.pid} on {server.base_url}, warming up")
            conc, client = args.concurrency, args.client
            post_singles(server, api_user, warmup, concurrency=conc, client=client)
            # PostgreSQL's processes serving the server's connections do the database's share
            # of the work; SQLite's is done inside the server process.
            probe = None
            if db == "postgresql":
                probe = PostgresProbe(url)
                stack.callback(probe.close)

            console.log(f"{db}: {n_single} single POSTs, concurrency {args.concurrency}")
            single = post_singles(
                server, api_user, singles, concurrency=conc, client=client, probe=probe
            )
            console.log(f"{db}: {args.batches} batches of {BATCH_SIZE}")
            batch = post_batches(server, api_user, batched, probe=probe)
            peak = server.peak_rss_mib()

            console.log(f"{db}: batch floor (executemany)")
            observer = uuid.UUID(floor_user.id)
            # The server is idle meanwhile: the meter's client and database CPU are the floor's.
            batch_floor, batch_floor_cpu = insert_floor(
                url,
                batched,
                observer,
                lambda: CpuMeter(server.pid, probe.backend_pids if probe else None),
            )
            checks = check_stored(url, warmup + singles + batched, uuid.UUID(api_user.id))
            failed = single.ok(201) != single.sent or batch.ok(201) != batch.sent
            server_log = server.log_tail(40) if failed else ""

        console.log(f"{db}: single floor (bare FastAPI POST, same requests)")
        bare = post_bare(url, Path(tmp), api_user, warmup, singles, args)
        if bare.ok(201) != bare.sent:
            raise RuntimeError(f"the bare app answered {dict(bare.statuses)}: {bare.errors}")

        return RunResult(
            db=db,
            figures=[
                _figure(db, "single POST", single, bare.seconds, bare.cpu.server_s, n_single),
                _figure(db, "batch sync", batch, batch_floor, batch_floor_cpu, n_batch),
            ],
            server_peak_rss_mib=peak,
            checks=checks,
            server_log=server_log,
        )


# --- output --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[RunResult]) -> list[dict[str, Any]]:
    """Per database and measure: the median of the runs, and each run's figures."""
    summary = []
    keys: dict[tuple[str, str], list[Figure]] = {}
    for run in runs:
        for fig in run.figures:
            keys.setdefault((fig.db, fig.measure), []).append(fig)
    for (db, measure), figs in keys.items():
        peaks = [r.server_peak_rss_mib for r in runs if r.db == db and r.server_peak_rss_mib]
        mets = [f.met for f in figs]
        summary.append(
            {
                "db": db,
                "measure": measure,
                "rate": _median([f.rate for f in figs]),
                "rate_min": min(f.rate for f in figs),
                "rate_max": max(f.rate for f in figs),
                "floor_rate": _median([f.floor_rate for f in figs]),
                "floor_rate_min": min(f.floor_rate for f in figs),
                "floor_rate_max": max(f.floor_rate for f in figs),
                "ratio": _median([f.ratio for f in figs]),
                "ratio_min": min(f.ratio for f in figs),
                "ratio_max": max(f.ratio for f in figs),
                "cpu_ratio": _median([f.cpu_ratio for f in figs]),
                "cpu_ratio_min": min(f.cpu_ratio for f in figs),
                "cpu_ratio_max": max(f.cpu_ratio for f in figs),
                "aim": figs[0].aim,
                "met": None if mets[0] is None else all(bool(m) for m in mets),
                "client_cpu_s": _median([f.client_cpu_s for f in figs]),
                "client_cpu_pct": _median([100 * f.client_cpu_s / f.seconds for f in figs]),
                "server_cpu_pct": _median([100 * f.server_cpu_s / f.seconds for f in figs]),
                "server_cpu_ms_per_obs": _median(
                    [1000 * f.server_cpu_s / max(1, f.observations) for f in figs]
                ),
                "database_cpu_pct": _median([100 * f.database_cpu_s / f.seconds for f in figs]),
                "others_cores": max(f.others_cores for f in figs),
                "connections_opened": max(
                    (f.connections_opened for f in figs if f.connections_opened is not None),
                    default=None,
                ),
                "latency_p50_ms": _median([f.latency_p50_ms for f in figs]),
                "latency_p99_ms": _median([f.latency_p99_ms for f in figs]),
                "server_peak_rss_mib": max(peaks) if peaks else None,
                "runs": [asdict(f) for f in figs],
            }
        )
    return summary


def measures(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: the median rate against its floor."""
    out = []
    for s in summary:
        single = s["measure"] == "single POST"
        aim = SINGLE_AIM_RATIO if single else BATCH_AIM_RATIO
        failed = any(run["errors"] for run in s["runs"])
        out.append(
            as_measure(
                s["measure"],
                s["db"],
                s["rate"],
                "req/s" if single else "obs/s",
                floor=s["floor_rate"],
                ratio=s["ratio"],
                aim=f"ratio ≥ {aim}",
            )
        )
        if failed:
            out[-1]["met"] = False
    return out


def _database_cpu(s: dict[str, Any]) -> str:
    if s["db"] != "postgresql":
        return "(in server)"
    text = f"{s['database_cpu_pct']:.0f}% of a core"
    if s["connections_opened"]:
        # The CPU of a connection's process that ended during the measure is not counted.
        text += f" (+ {s['connections_opened']} connections opened)"
    return text


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value == value else "—"


def print_report(
    machine: dict[str, Any], args: argparse.Namespace, summary: list[dict[str, Any]]
) -> None:
    console.print(
        f"[bold]Machine[/]: {machine['cpu_model']} ({machine['cpu_mhz']} MHz), "
        f"{machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['ram_gib']} GiB RAM; "
        f"Python {machine['python']}; {machine['date']}"
    )
    console.print(
        f"[bold]Settings[/]: {args.single} single POSTs at concurrency {args.concurrency} "
        f"({args.client} client), {args.batches} batches of {BATCH_SIZE}, "
        f"{args.runs} run(s) per database{' (medians)' if args.runs > 1 else ''}; "
        "floors: single = bare FastAPI POST (same requests, server, concurrency), "
        "batch = SQLAlchemy Core insert(table) executemany, one transaction"
    )
    table = Table(title="Ingest: observations/s, min / median / max of the runs")
    for col in (
        "DB", "measure", "rate (obs/s)", "floor (obs/s)", "ratio", "aim", "met?", "CPU ratio",
    ):  # fmt: skip
        table.add_column(col, justify="right" if col not in ("DB", "measure", "aim") else "left")
    for s in summary:
        met = "—" if s["met"] is None else ("[green]yes[/]" if s["met"] else "[red]no[/]")
        table.add_row(
            s["db"], s["measure"],
            " / ".join(_fmt(s[k]) for k in ("rate_min", "rate", "rate_max")),
            " / ".join(_fmt(s[k]) for k in ("floor_rate_min", "floor_rate", "floor_rate_max")),
            " / ".join(f"{s[k]:.3f}" for k in ("ratio_min", "ratio", "ratio_max")),
            s["aim"], met,
            " / ".join(f"{s[k]:.2f}" for k in ("cpu_ratio_min", "cpu_ratio", "cpu_ratio_max")),
        )  # fmt: skip
    console.print(table)

    side = Table(title="Side figures (medians)")
    for col in (
        "DB", "measure", "each run (obs/s)", "latency p50 / p99", "client CPU", "server CPU",
        "database CPU", "other load", "server peak RSS",
    ):  # fmt: skip
        side.add_column(col)
    for s in summary:
        side.add_row(
            s["db"], s["measure"], " / ".join(_fmt(r["rate"]) for r in s["runs"]),
            f"{s['latency_p50_ms']:.1f} / {s['latency_p99_ms']:.1f} ms",
            f"{s['client_cpu_pct']:.0f}% of a core",
            f"{s['server_cpu_pct']:.0f}% of a core, {s['server_cpu_ms_per_obs']:.2f} ms/obs",
            _database_cpu(s),
            f"{s['others_cores']:.1f} cores",
            f"{s['server_peak_rss_mib']} MiB" if s["server_peak_rss_mib"] else "—",
        )  # fmt: skip
    console.print(side)
    noisy = [s for s in summary if s["others_cores"] >= NOISY_CORES]
    if noisy:
        console.print(
            f"[yellow]Other processes kept up to {max(s['others_cores'] for s in noisy):.1f} "
            "cores busy during some measures: those figures are pessimistic; run again on a "
            "quiet machine.[/]"
        )
    for s in summary:
        for run in s["runs"]:
            for error in run["errors"]:
                console.print(f"[red]{s['db']} {s['measure']}: {error}[/]")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--single", type=int, default=5000, help="single POSTs (default 5000)")
    parser.add_argument("--batches", type=int, default=20, help="batches of 500 (default 20)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent connections for single POSTs"
    )
    parser.add_argument("--warmup", type=int, default=200, help="single POSTs before timing")
    parser.add_argument("--runs", type=int, default=1, help="runs per database; medians shown")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)"
    )
    args = parser.parse_args(argv)
    if min(args.single, args.batches, args.concurrency, args.runs) < 1 or args.warmup < 0:
        parser.error("--single, --batches, --concurrency and --runs must be at least 1")
    return args


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
    print_report(machine, args, summary)
    for run in runs:
        if run.server_log:
            console.rule(f"{run.db}: last lines of the server's log")
            console.print(run.server_log, markup=False, highlight=False)
    problems = [f"{r.db}: {c}" for r in runs for c in r.checks]
    for problem in problems:
        console.print(f"[red]stored rows differ from the floor's: {problem}[/]")
    if args.json:
        settings = {**vars(args), "pg_admin_url": make_url(args.pg_admin_url).render_as_string()}
        doc = {
            "machine": machine,
            "settings": settings,
            "measures": measures(summary),
            "results": summary,
            "checks": problems,
        }
        text = json.dumps(doc, indent=2, default=str)
        write: Callable[[str], Any] = (
            sys.stdout.write if args.json == "-" else Path(args.json).write_text
        )
        write(text + "\n")
    errors = any(run["errors"] for s in summary for run in s["runs"])
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
