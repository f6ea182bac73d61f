"""Statistics benchmark: ``/stats/yearly`` and ``/stats/comparison`` with a million observations
and ten thousand survey site-years stored, next to the bare SQL aggregates; and a TRIM fit.

    .venv/bin/python scripts/bench/stats.py [--db sqlite|postgresql|both] [--rows 1000000]
        [--site-years 10000] [--runs R] [--json PATH]

For each database: a fresh database, migrated, with the reference species and zones;
``--rows`` observations loaded as ``review.py`` loads them (its loader is imported: five years,
about 80% validated, the non-sensitive reference species Zipf-distributed, inside
Loos-en-Gohelle with the commune's zone set; without the review history, which no statistic
reads); then ``--site-years`` survey site-years (``SURVEY_YEARS`` years of half as many nest
sites counting swallow, house martin and swift nests as gardens counting six butterflies, three
validated, complete visits a year, every target species listed with its count, 0 included;
some nest sites with house-martin nest boxes, a second row), by the same bulk loader; then
inventory baselines for every reference species through ``app.baselines.service.
import_baselines`` (a CSV, as the CPIE imports it); then ``ANALYZE``. ONE ``uvicorn`` process
started as production starts it; the statistics are public, so the requests are anonymous.

* ``GET /stats/yearly?cd_nom=C&from_year=F&to_year=L``: the commonest of the species the
  protocols count, over the survey's years; ``GET /stats/comparison?year=Y``: the last full
  year. Each timed ``--requests`` times (fewer once ``--max-seconds`` have passed, never under
  ``MIN_ROUNDS``) after ``--warmup`` untimed.
* their floors, timed the same way and in turn with the API's requests, in this process on one
  connection of an engine made as the server's: the bare SQL aggregates an answer needs, written
  by hand and run with the driver. **observations**: for the yearly figures, the validated
  observations' count sum, number and distinct observers per local year (the same ``CASE`` over
  the years' first instants) and zone, for the taxon's species ids; for the comparison, per
  taxon (``cd_ref``) the year's count sum, number, sum counted in nests and largest count in
  individuals, plus the latest baseline of each taxon up to the year (territory-wide).
  **observations + protocols**: the same, plus in the same read transaction the protocols'
  values aggregated in SQL (per visit and species the figure, per site, species and local month
  the largest, per site and year the largest (nest sites) or the sum over months (gardens),
  summed per year, taxon and zone). **observations + protocols + TRIM** (the comparison, whose
  statuses follow each taxon's TRIM trend): every site's yearly values up to the year in SQL and
  ``fit_trim(model=2)`` per taxon with a baseline. The first answer of each measure is checked
  against its floors' figures. Run i draws its data from ``--seed`` + i on each database.
* then the "best index": covering indexes for the two observation aggregates are created
  (``BEST_INDEXES``), the tables analysed again, and everything timed again. The floor of a
  measure is the faster of the two index sets; the API's ratio is taken on the schema as it is
  (the covering indexes are not the app's), and its figure with them is printed too.
* in this process, the services called straight (no HTTP), their parts timed apart, one call of
  each profiled, and the plans of their observation statements and of the floors' printed
  (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL).
* TRIM: a ``--trim-sites`` × ``--trim-years`` matrix of Poisson counts around a trend (with a
  site-level AR(1) noise, so that there is overdispersion and serial correlation to estimate),
  ``--trim-missing`` of the cells missing; ``app.stats.trim.fit_trim`` model 3 and model 2, with
  overdispersion and serial correlation, median of ``--trim-repeats``; its floor is the same
  model fitted by plain Poisson maximum likelihood (the start of the GEE iterations).

Aims (issue 20: rollups): each endpoint no slower than its floor (ratio ≤ 1); the TRIM fit under
1 s. Reported, not enforced: the exit status is 1 only when a request failed or a check found
a difference.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.table import Table
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

import review  # the loader of a million observations: the same rows as the review bench
from _common import (
    DEFAULT_PG_ADMIN_URL,
    CpuMeter,
    CpuUse,
    PostgresProbe,
    Server,
    as_measure,
    databases,
    fresh_database,
    machine_cpu_jiffies,
    machine_info,
    own_cpu_seconds,
    run_server,
)
from review import (
    _ID_ARRAY,
    Loader,
    World,
    _percentile,
    _shorten_ids,
    _text_time,
    _uuid_hex,
    check_read_back,
    check_sqlite_encoding,
)

console = review.console

AIM_RATIO = 1.0  # × the floor (issue 20: faster than the GROUP BY by hand)
MIN_ROUNDS = 5  # timed rounds of a measure, whatever --max-seconds
TRIM_AIM_S = 1.0
NOISY_CORES = 0.25
TZ = ZoneInfo("Europe/Paris")  # the default territory time zone of the settings
SURVEY_YEARS = 10
VISITS_PER_YEAR = 3
# Nest sites: (cd_nom, mean occupied nests at the season's peak, yearly log-change).
NEST_SPECIES = ((459478, 6.0, -0.04), (3696, 2.5, 0.0), (3551, 3.0, -0.02))
NEST_VISIT_SHARE = (0.7, 1.0, 0.9)  # of the nests occupied at the first, second, third visit
NEST_BOX_SHARE = 0.2  # nest sites that also count house-martin nest boxes (a second row)
NEST_BOX_SPECIES = 459478
# Gardens (Opération Papillons): (cd_nom, peak count, month of the peak, yearly log-change).
GARDEN_SPECIES = (
    (608364, 5.0, 7, 0.0),
    (219831, 4.0, 7, 0.01),
    (54342, 3.0, 8, -0.02),
    (53741, 2.0, 9, 0.02),
    (54417, 1.5, 5, 0.0),
    (53668, 3.0, 7, -0.01),
)
GARDEN_MONTHS = (5, 6, 7, 8, 9)
BASELINE_YEARS = (2008, 2014, 2020)
BASELINE_ZONE_SPECIES = 10  # species with a baseline for the zone too (not compared territory-wide)
MEAN_OBSERVATION_COUNT = 6.5  # review.py draws counts 1..12

# Covering indexes for the floors' observation aggregates ("the best index"), created after the
# first measures. The yearly figures of one taxon walk (species, status, time); the comparison
# of a year walks (status, time). Every column the aggregates read is in the index.
BEST_INDEXES = {
    "sqlite": [
        "CREATE INDEX bench_observation_species_cover ON observation (species_id, status, "
        'observed_at, deleted_at, "count", count_unit, observer_id, zone_id)',
        "CREATE INDEX bench_observation_status_cover ON observation (status, observed_at, "
        'deleted_at, species_id, "count", count_unit, observer_id, zone_id)',
    ],
    "postgresql": [
        "CREATE INDEX bench_observation_species_cover ON observation (species_id, status, "
        'observed_at) INCLUDE (deleted_at, "count", count_unit, observer_id, zone_id)',
        "CREATE INDEX bench_observation_status_cover ON observation (status, observed_at) "
        'INCLUDE (deleted_at, species_id, "count", count_unit, observer_id, zone_id)',
    ],
}


def _tables() -> Any:
    from sqlmodel import SQLModel

    import app.baselines.models
    import app.surveys.models  # noqa: F401

    review._tables()
    return SQLModel.metadata.tables


# --- survey sites, visits and counts, as the drivers take them ------------------------------------

SITE_COLUMNS = [
    "id", "client_id", "owner_id", "class_id", "kind", "name", "code", "latitude", "longitude",
    "geometry", "zone_id", "created_at", "updated_at", "deleted_at",
]  # fmt: skip
VISIT_COLUMNS = [
    "id", "client_id", "site_id", "observer_id", "started_at", "duration_min", "observers",
    "complete", "temperature_c", "wind", "cloud_pct", "notes", "status", "flags", "pupil_id",
    "created_at", "updated_at", "deleted_at",
]  # fmt: skip
COUNT_COLUMNS = [
    "id", "visit_id", "species_id", "count", "occupied", "unoccupied", "destroyed", "artificial",
]  # fmt: skip


@dataclass
class Survey:
    sites: list[tuple[Any, ...]] = field(default_factory=list)
    visits: list[tuple[Any, ...]] = field(default_factory=list)
    counts: list[tuple[Any, ...]] = field(default_factory=list)


def survey_years(now: datetime) -> tuple[int, int]:
    """The survey's years: ``SURVEY_YEARS`` up to the current local year once its season is
    over (from October), else up to the year before."""
    local = now.astimezone(TZ)
    last = local.year if local.month >= 10 else local.year - 1
    return last - SURVEY_YEARS + 1, last


def _local_text(day: date, hour: int, minute: int) -> str:
    """A local time of the territory as naive UTC text (what the loader writes)."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)
    return _text_time(local.astimezone(UTC).replace(tzinfo=None))


def generate_survey(
    n_sites: int,
    years: tuple[int, int],
    world: World,
    species_ids: dict[int, str],
    rng: random.Random,
    np_rng: Any,
) -> Survey:
    """``n_sites`` sites (nest sites and gardens in turn) counted three times a year over
    ``years``; every visit validated and complete, listing each target species of its kind."""
    first, last = years
    bits, rint, poisson = rng.getrandbits, rng.randint, np_rng.poisson
    survey = Survey()
    created = _text_time(datetime(first - 1, 12, 1))
    for i in range(n_sites):
        nest = i % 2 == 0
        site_id, owner = _uuid_hex(bits), world.observers[i % len(world.observers)]
        kind = "nest_site" if nest else "garden"
        lat = round(rng.uniform(*review.LAT_RANGE), 6)
        lon = round(rng.uniform(*review.LON_RANGE), 6)
        survey.sites.append((
            site_id, _uuid_hex(bits), owner, None, kind, f"Banc {kind} {i}",
            f"BENCH-{i:05d}", lat, lon, None, world.zone_id, created, created, None,
        ))  # fmt: skip
        factor = float(np_rng.lognormal(0.0, 0.5))
        boxes = nest and rng.random() < NEST_BOX_SHARE
        for year in range(first, last + 1):
            t = year - first
            if nest:
                days = [
                    date(year, m, 15) + timedelta(days=rint(-10, 10)) for m in (5, 6, 7)
                ]  # one visit a month, May to July
            else:  # two visits may fall in the same month: their counts are not added up
                months = sorted(rng.choice(GARDEN_MONTHS) for _ in range(VISITS_PER_YEAR))
                days = [date(year, m, rint(1, 28)) for m in months]
            for k, day in enumerate(days):
                visit_id = _uuid_hex(bits)
                started = _local_text(day, rint(8, 17), rng.choice((0, 15, 30, 45)))
                done = _local_text(day, 19, 0)
                survey.visits.append((
                    visit_id, _uuid_hex(bits), site_id, owner, started, 30 + rint(0, 30), 1, 1,
                    float(rint(12, 26)), "leger", rint(0, 80), None, "validated", "[]", None,
                    done, done, None,
                ))  # fmt: skip
                if nest:
                    for cd_nom, mean, change in NEST_SPECIES:
                        mu = mean * factor * math.exp(change * t) * NEST_VISIT_SHARE[k]
                        survey.counts.append((
                            _uuid_hex(bits), visit_id, species_ids[cd_nom], None,
                            int(poisson(mu)), int(poisson(0.5)), 0, 0,
                        ))  # fmt: skip
                    if boxes:
                        survey.counts.append((
                            _uuid_hex(bits), visit_id, species_ids[NEST_BOX_SPECIES], None,
                            int(poisson(1.5 * NEST_VISIT_SHARE[k])), 0, 0, 1,
                        ))  # fmt: skip
                else:
                    for cd_nom, peak, month, change in GARDEN_SPECIES:
                        season = math.exp(-(((day.month - month) / 1.5) ** 2))
                        mu = peak * factor * math.exp(change * t) * season
                        survey.counts.append((
                            _uuid_hex(bits), visit_id, species_ids[cd_nom], int(poisson(mu)),
                            None, None, None, 0,
                        ))  # fmt: skip
    return survey


def baselines_csv(
    reference: list[dict[str, Any]],
    shares: dict[int, float],
    rows: int,
    n_sites: int,
    rng: random.Random,
) -> str:
    """The CPIE's inventory for every reference species: three territory-wide years, and one
    zone baseline for a few (which a territory-wide comparison must leave out). Nest birds in
    nests, amphibians and reptiles as presence, the others in individuals, around what the
    bench's data will show (so that every status comes up)."""
    nests = {c: m for c, m, _ in NEST_SPECIES}
    gardens = {c: p for c, p, _, _ in GARDEN_SPECIES}
    yearly_validated = rows * review.STATUS_SHARES["validated"] / review.YEARS
    lines = ["year,cd_nom,zone_code,site_code,count,unit,method,source"]
    for n, sp in enumerate(sorted(reference, key=lambda s: s["cd_nom"])):
        cd_nom = sp["cd_nom"]
        if cd_nom in nests:
            unit, expected = "nests", nests[cd_nom] * n_sites / 2
        elif sp["group"] in ("amphibian", "reptile"):
            unit, expected = "presence", 1.0
        elif cd_nom in gardens:
            unit, expected = "individuals", gardens[cd_nom] * 2 * n_sites / 2
        else:
            expected = yearly_validated * shares.get(cd_nom, 0.0) * MEAN_OBSERVATION_COUNT
            unit, expected = "individuals", max(expected, 3.0)
        for year in BASELINE_YEARS:
            count = expected if unit == "presence" else round(expected * rng.uniform(0.6, 1.5))
            lines.append(f"{year},{cd_nom},,,{count:g},{unit},inventaire CPIE,banc d'essai")
        if n < BASELINE_ZONE_SPECIES:
            count = expected if unit == "presence" else round(expected / 3)
            lines.append(f"2014,{cd_nom},{review.ZONE_CODE},,{count:g},{unit},inventaire,banc")
    return "\n".join(lines) + "\n"


@dataclass
class LoadFigure:
    db: str
    rows: int
    statuses: dict[str, int]
    observations_s: float  # review.py's load: prepare, rows, indexes, ANALYZE
    sites: int
    visits: int
    visit_counts: int
    survey_s: float
    baselines: int
    baselines_s: float
    analyze_s: float
    size_mib: float
    observations: review.LoadFigure | None = None  # review.py's load, its parts


@dataclass
class Plan:
    """What the measures need to know of the loaded data."""

    cd_nom: int  # the yearly figures' species
    species_name: str
    share: float  # of the observations
    taxon_ids: list[uuid.UUID]
    years: tuple[int, int]  # the yearly figures' range
    year: int  # the comparison's year


def load(
    db: str, url: str, args: argparse.Namespace, rng: random.Random
) -> tuple[LoadFigure, Plan, list[str]]:
    import numpy as np
    from sqlalchemy import select
    from sqlmodel import Session

    from app.baselines.service import import_baselines
    from app.core.db import make_engine
    from app.species.models import Species
    from app.surveys import rollups

    loaded, world, _people, checks = review.load(db, url, args, rng)
    np_rng = np.random.default_rng(rng.getrandbits(32))

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            reference = [
                dict(r._mapping)
                for r in conn.execute(
                    select(Species.id, Species.cd_nom, Species.cd_ref, Species.group)  # type: ignore[call-overload]
                )
            ]
    finally:
        engine.dispose()
    by_hex = {r["id"].hex: r for r in reference}
    species_ids = {r["cd_nom"]: r["id"].hex for r in reference}
    shares = {by_hex[h]["cd_nom"]: world.species_share(i) for i, (h, _) in enumerate(world.species)}

    # The survey, by the same bulk loader (indexes kept: 1.5 rows in 10 of the observations').
    t0 = time.perf_counter()
    years = survey_years(datetime.now(UTC))
    n_sites = max(2, args.site_years // SURVEY_YEARS)
    survey = generate_survey(n_sites, years, world, species_ids, rng, np_rng)
    tables = _tables()
    columns = {
        "survey_site": SITE_COLUMNS,
        "survey_visit": VISIT_COLUMNS,
        "survey_visit_count": COUNT_COLUMNS,
    }
    for table, cols in columns.items():
        if set(cols) != set(tables[table].columns.keys()):
            raise RuntimeError(f"{table}: the bench's columns are not the model's")
    loader = Loader(db, url)
    try:
        loader.columns.update(columns)
        for table, rows in (
            ("survey_site", survey.sites),
            ("survey_visit", survey.visits),
            ("survey_visit_count", survey.counts),
        ):
            for i in range(0, len(rows), review.CHUNK):
                loader.insert(table, rows[i : i + review.CHUNK])
                loader.maybe_commit()
        loader.commit()
    finally:
        loader.close()
    survey_s = time.perf_counter() - t0
    for table, rows in (
        ("survey_site", survey.sites[:50]),
        ("survey_visit", survey.visits[:50]),
        ("survey_visit_count", survey.counts[:50]),
    ):
        if db == "sqlite":
            checks += check_sqlite_encoding(tables[table], columns[table], rows)
        checks += check_read_back(url, tables[table], columns[table], rows)
    console.log(
        f"{db}: {len(survey.sites):,} survey sites × {SURVEY_YEARS} years, "
        f"{len(survey.visits):,} visits, {len(survey.counts):,} counts in {survey_s:.1f} s"
    )

    # The baselines, through the service, as the CPIE imports its file.
    t1 = time.perf_counter()
    text = baselines_csv(reference, shares, args.rows, n_sites, rng)
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            report = import_baselines(session, text)
            session.commit()
    finally:
        engine.dispose()
    baselines_s = time.perf_counter() - t1

    # Statistics of the new tables (the observations' were taken by review.py's load).
    t2 = time.perf_counter()
    new_tables = ["survey_site", "survey_visit", "survey_visit_count", "baseline"]
    analyze(db, url, new_tables)
    analyze_s = time.perf_counter() - t2

    # The statistics' rollups: the data went in by SQL, past the application that keeps them.
    t3 = time.perf_counter()
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine, info={"tz": TZ}) as session:
            cells, site_years = rollups.rebuild(session, tz=TZ)
            session.commit()
    finally:
        engine.dispose()
    analyze(db, url, ["stats_yearly_cell", "stats_site_year"])
    console.log(
        f"{db}: rollups rebuilt ({cells:,} cells, {site_years:,} site-years) in "
        f"{time.perf_counter() - t3:.1f} s"
    )

    # The yearly figures' species: the commonest of those the protocols count.
    counted = [c for c, _, _ in NEST_SPECIES] + [c for c, _, _, _ in GARDEN_SPECIES]
    cd_nom = max(counted, key=lambda c: shares.get(c, 0.0))
    taxon = by_hex[species_ids[cd_nom]]["cd_ref"]
    name = next(n for h, n in world.species if by_hex[h]["cd_nom"] == cd_nom)
    plan = Plan(
        cd_nom=cd_nom, species_name=name, share=shares[cd_nom],
        taxon_ids=[r["id"] for r in reference if r["cd_ref"] == taxon], years=years,
        year=datetime.now(UTC).astimezone(TZ).year - 1,
    )  # fmt: skip
    figure = LoadFigure(
        db=db, rows=args.rows, statuses=loaded.statuses, observations_s=loaded.total_s
        + loaded.prepare_s, sites=len(survey.sites), visits=len(survey.visits),
        visit_counts=len(survey.counts), survey_s=survey_s, baselines=report.rows,
        baselines_s=baselines_s, analyze_s=analyze_s, size_mib=database_size(db, url),
        observations=loaded,
    )  # fmt: skip
    return figure, plan, checks


def _raw(db: str, url: str) -> Any:
    """A plain driver connection in autocommit (for DDL, ANALYZE and sizes)."""
    if db == "sqlite":
        return sqlite3.connect(make_url(url).database, isolation_level=None)
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn, autocommit=True)


def analyze(db: str, url: str, tables: Sequence[str]) -> None:
    conn = _raw(db, url)
    try:
        if db == "sqlite":
            for table in tables:
                conn.execute(f"ANALYZE {table}")
        else:
            conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    finally:
        conn.close()


def database_size(db: str, url: str) -> float:
    if db == "sqlite":
        path = Path(make_url(url).database or "")
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 2**20
    conn = _raw(db, url)
    try:
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    finally:
        conn.close()
    return float(size) / 2**20


def create_best_indexes(db: str, url: str) -> float:
    """The covering indexes of ``BEST_INDEXES``, then ANALYZE (VACUUM ANALYZE: PostgreSQL's
    index-only scans need the visibility map). Returns the seconds taken."""
    t0 = time.perf_counter()
    conn = _raw(db, url)
    try:
        if db == "postgresql":
            conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in BEST_INDEXES[db]:
            conn.execute(statement)
        conn.execute("ANALYZE observation" if db == "sqlite" else "VACUUM ANALYZE observation")
    finally:
        conn.close()
    return time.perf_counter() - t0


# --- the floors: the bare aggregates, straight on the driver -------------------------------------


def _year_start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=TZ).astimezone(UTC)


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=TZ).astimezone(UTC)


class Floor:
    """The aggregates written by hand as SQL, run with the driver on one connection of an
    engine made as the server makes its own (``app.core.db.make_engine``: the same PRAGMAs on
    SQLite). Instants are written as literals of the column's stored form."""

    def __init__(self, db: str, url: str) -> None:
        from app.core.db import make_engine

        self.db = db
        self.engine = make_engine(url, pool_size=1)
        self.raw = self.engine.raw_connection()
        self.conn: Any = self.raw.driver_connection
        self.mark = "?" if db == "sqlite" else "%s"
        # Once the covering indexes exist: SQLite is told to read them (its planner keeps the
        # schema's index for these statements); PostgreSQL's planner picks them by itself.
        self.covering = False

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()

    def _id(self, value: uuid.UUID) -> Any:
        return value.hex if self.db == "sqlite" else value

    def _indexed(self, index: str) -> str:
        return f" INDEXED BY {index}" if self.covering and self.db == "sqlite" else ""

    def _at(self, value: datetime) -> str:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        if self.db == "sqlite":
            return f"'{_text_time(naive)}'"
        return f"TIMESTAMPTZ '{naive.isoformat(' ')}+00'"

    def _in(self, n: int) -> str:
        return ", ".join([self.mark] * n)

    def _begin(self) -> None:
        if self.db == "sqlite":
            self.conn.execute("BEGIN")

    def _end(self) -> None:
        self.conn.execute("COMMIT") if self.db == "sqlite" else self.conn.commit()

    def touch_site(self) -> None:
        """A change to the survey data as a review makes one: one site's ``updated_at`` moves,
        so that the comparison's kept trend fits no longer apply and are fitted again."""
        now = self._at(datetime.now(UTC))
        self._begin()
        self.conn.execute(
            f"UPDATE survey_site SET updated_at = {now} "
            "WHERE id = (SELECT id FROM survey_site ORDER BY id LIMIT 1)"
        )
        self._end()

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return list(rows)

    def year_case(self, column: str, first: int, last: int) -> str:
        whens = " ".join(
            f"WHEN {column} < {self._at(_year_start(y + 1))} THEN {y}"
            for y in range(first, last + 1)
        )
        return f"CASE {whens} END"

    def month_case(self, column: str, first: int, last: int) -> str:
        """The local month as 1..12: a ``CASE`` on the year's first instants, each year's
        branch a ``CASE`` on its months' (a dozen comparisons a row rather than a hundred)."""
        years = []
        for y in range(first, last + 1):
            months = " ".join(
                f"WHEN {column} < {self._at(_month_start(y, m + 1))} THEN {m}" for m in range(1, 12)
            )
            years.append(
                f"WHEN {column} < {self._at(_year_start(y + 1))} THEN CASE {months} ELSE 12 END"
            )
        return f"CASE {' '.join(years)} END"

    # the statements

    def observations_yearly_sql(self, n_ids: int, first: int, last: int) -> str:
        return (
            f"SELECT {self.year_case('observed_at', first, last)} AS y, zone_id, "
            'sum("count"), count(*), count(DISTINCT observer_id) '
            f"FROM observation{self._indexed('bench_observation_species_cover')} "
            f"WHERE species_id IN ({self._in(n_ids)}) AND status = 'validated' "
            f"AND deleted_at IS NULL AND observed_at >= {self._at(_year_start(first))} "
            f"AND observed_at < {self._at(_year_start(last + 1))} GROUP BY y, zone_id"
        )

    def _protocol_ctes(self, n_ids: int | None, first: int, last: int) -> str:
        """Per site, species and local year, the site's yearly value: per visit and species the
        figure (natural and nest-box rows added), per local month the largest, then per year
        the largest (nest sites) or the sum over months (gardens, transects). ``n_ids`` None:
        every species."""
        species = "" if n_ids is None else f"AND vc.species_id IN ({self._in(n_ids)}) "
        return (
            "WITH visit AS MATERIALIZED ("
            f"SELECT id, site_id, {self.year_case('started_at', first, last)} AS y, "
            f"{self.month_case('started_at', first, last)} AS m FROM survey_visit "
            "WHERE status = 'validated' AND deleted_at IS NULL "
            f"AND started_at >= {self._at(_year_start(first))} "
            f"AND started_at < {self._at(_year_start(last + 1))}), "
            "per_visit AS ("
            "SELECT v.site_id, v.y, v.m, vc.species_id, "
            'sum(COALESCE(vc."count", vc.occupied, 0)) AS figure '
            "FROM visit v JOIN survey_visit_count vc ON vc.visit_id = v.id "
            f"{species.replace('AND', 'WHERE', 1)}"
            "GROUP BY v.id, v.site_id, v.y, v.m, vc.species_id), "
            "per_month AS ("
            "SELECT site_id, species_id, y, m, max(figure) AS best "
            "FROM per_visit GROUP BY site_id, species_id, y, m), "
            "per_site AS ("
            "SELECT pm.site_id, s.zone_id, s.kind, pm.species_id, pm.y, "
            "CASE WHEN s.kind = 'nest_site' THEN max(pm.best) ELSE sum(pm.best) END AS value "
            "FROM per_month pm JOIN survey_site s ON s.id = pm.site_id "
            "WHERE s.deleted_at IS NULL GROUP BY pm.site_id, s.zone_id, s.kind, pm.species_id, "
            "pm.y) "
        )

    def protocols_sql(self, n_ids: int | None, first: int, last: int) -> str:
        """Per local year, taxon and zone: the sum over sites of their yearly values, the
        number of those sites, and whether any is a nest site."""
        return self._protocol_ctes(n_ids, first, last) + (
            "SELECT ps.y, sp.cd_ref, ps.zone_id, sum(ps.value), count(DISTINCT ps.site_id), "
            "max(CASE WHEN ps.kind = 'nest_site' THEN 1 ELSE 0 END) "
            "FROM per_site ps JOIN species sp ON sp.id = ps.species_id "
            "GROUP BY ps.y, sp.cd_ref, ps.zone_id"
        )

    def site_values_sql(self, first: int, last: int) -> str:
        """Per site, taxon and local year: the site's value (TRIM's cells), its zone and
        whether it is a nest site."""
        return self._protocol_ctes(None, first, last) + (
            "SELECT ps.site_id, sp.cd_ref, ps.y, ps.zone_id, sum(ps.value), "
            "max(CASE WHEN ps.kind = 'nest_site' THEN 1 ELSE 0 END) "
            "FROM per_site ps JOIN species sp ON sp.id = ps.species_id "
            "GROUP BY ps.site_id, sp.cd_ref, ps.y, ps.zone_id"
        )

    def observations_year_sql(self, year: int) -> str:
        """Per taxon that year: the validated observations' count sum, number, sum counted in
        nests and largest count in individuals."""
        return (
            'SELECT sp.cd_ref, sum(o."count"), count(*), '
            "sum(CASE WHEN o.count_unit = 'nests' THEN o.\"count\" ELSE 0 END), "
            "max(CASE WHEN o.count_unit = 'individuals' THEN o.\"count\" END) "
            f"FROM observation o{self._indexed('bench_observation_status_cover')} "
            "JOIN species sp ON sp.id = o.species_id "
            "WHERE o.status = 'validated' AND o.deleted_at IS NULL "
            f"AND o.observed_at >= {self._at(_year_start(year))} "
            f"AND o.observed_at < {self._at(_year_start(year + 1))} GROUP BY sp.cd_ref"
        )

    def baselines_sql(self, year: int) -> str:
        return (
            'SELECT sp.cd_ref, b.year, b."count", b.unit FROM baseline b '
            "JOIN species sp ON sp.id = b.species_id "
            f"WHERE b.year <= {int(year)} AND b.site_id IS NULL AND b.zone_id IS NULL "
            "ORDER BY b.year, b.updated_at"
        )

    # the floors

    def yearly(self, ids: list[uuid.UUID], years: tuple[int, int], protocols: bool) -> dict:
        """The yearly figures of one taxon; with ``protocols``, the protocols' values too, in
        the same read transaction."""
        keys = [self._id(i) for i in ids]
        self._begin()
        obs = self._fetch(self.observations_yearly_sql(len(keys), *years), keys)
        proto = self._fetch(self.protocols_sql(len(keys), *years), keys) if protocols else None
        self._end()
        return {"observations": obs, "protocols": proto}

    def comparison(self, year: int, level: int, first: int) -> dict:
        """The comparison's figures: level 0, the observations' aggregate of the year and the
        baselines; 1, with the protocols' values of the year; 2, with instead every site's
        values from ``first`` to ``year`` and a TRIM fit (model 2, overdispersion and serial
        correlation) per taxon with a baseline, as the comparison's trend classes."""
        self._begin()
        obs = self._fetch(self.observations_year_sql(year))
        base = self._fetch(self.baselines_sql(year))
        proto = cells = None
        if level == 1:
            proto = self._fetch(self.protocols_sql(None, year, year))
        elif level == 2:
            cells = self._fetch(self.site_values_sql(first, year))
        self._end()
        latest = {ref: (y, count, unit) for ref, y, count, unit in base}  # the last one wins
        classes: dict[int, str] = {}
        if cells is not None:
            proto, classes = _protocols_and_trends(cells, year, set(latest))
        return {"observations": obs, "baselines": latest, "protocols": proto, "trends": classes}

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        if self.db == "sqlite":
            return [str(row[3]) for row in self._fetch(f"EXPLAIN QUERY PLAN {sql}", params)]
        rows = self._fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        self.conn.rollback()
        return [_short(row[0]) for row in rows]


def _protocols_and_trends(
    cells: list[tuple[Any, ...]], year: int, taxa: set[int]
) -> tuple[list[tuple[Any, ...]], dict[int, str]]:
    """From every site's yearly values: the year's totals per taxon and zone (as
    :meth:`Floor.protocols_sql` gives them) and the TRIM slope class of each taxon in ``taxa``
    (model 2 on its sites, every year up to ``year``)."""
    from app.stats import labels
    from app.stats.trim import TrimData, TrimError, TrimRecord, fit_trim

    totals: dict[tuple[int, Any], list[Any]] = {}
    series: dict[int, list[TrimRecord]] = {}
    for site, ref, y, zone, value, nests in cells:
        if y == year:
            row = totals.setdefault((ref, zone), [0, set(), 0])
            row[0] += int(value)
            row[1].add(site)
            row[2] = max(row[2], nests)
        if ref in taxa:
            series.setdefault(ref, []).append(TrimRecord(site=str(site), year=y, count=value))
    classes = {}
    for ref, records in series.items():
        try:
            data = TrimData.from_records(records)
            result = fit_trim(data, model=2)
        except TrimError:
            continue
        # The class is the trend label's (PECBMS convention); none where the data are too few.
        label = labels.trend_label(
            result, result.slope_imputed, support=labels.remember_support(result, data)
        )
        if label is not None and not label.insufficient:
            classes[ref] = label.slope_class
    rows = [(year, ref, zone, v, len(sites), n) for (ref, zone), (v, sites, n) in totals.items()]
    return rows, classes


# --- checks: the API's first answer against its floors' figures -----------------------------------


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def check_yearly(answer: dict, floor: dict, cd_ref: int) -> list[str]:
    """Per (year, zone): the observations' sum, number and observers, the protocols' value and
    sites, as the floors found them."""
    api = {
        (i["year"], _uuid(i["zone_id"])): (
            i["count"] + i["nests"],  # individuals and nests: every count, as the floor sums
            i["observations"],
            i["observers"],
            i["protocol_value"],
            i["sites"],
        )
        for i in answer["items"]
        if i["cd_ref"] == cd_ref
    }
    want: dict[tuple[int, uuid.UUID | None], list[Any]] = {}
    for y, zone, total, n, observers in floor["observations"]:
        want[(y, _uuid(zone))] = [int(total), n, observers, None, 0]
    for y, ref, zone, value, sites, _nests in floor["protocols"] or []:
        if ref == cd_ref:
            row = want.setdefault((y, _uuid(zone)), [0, 0, 0, None, 0])
            row[3], row[4] = int(value), sites
    wanted = {k: tuple(v) for k, v in want.items()}
    if api == wanted:
        return []
    diff = sorted(set(api.items()) ^ set(wanted.items()), key=str)[:4]
    return [f"/stats/yearly differs from the floor's figures: {diff}"]


def check_comparison(answer: dict, floor: dict) -> list[str]:
    """Each item's baseline and the year's value in its unit, by the comparison's rules, from
    the floors' figures; and its trend class where the floor fitted one."""
    obs = {
        ref: (int(total), n, int(nests), int(largest or 0))
        for ref, total, n, nests, largest in floor["observations"]
    }
    proto: dict[int, list[Any]] = {}
    for _y, ref, _zone, value, _sites, nests in floor["protocols"] or []:
        merged = proto.setdefault(ref, [0, "individuals"])
        merged[0] += int(value)
        if nests:
            merged[1] = "nests"
    baselines = floor["baselines"]
    problems = []
    expected_refs = set(obs) | set(proto) | set(baselines)
    got_refs = {i["cd_nom"] for i in answer["items"]}
    if got_refs != expected_refs:
        problems.append(
            f"/stats/comparison lists {len(got_refs)} taxa, the floors {len(expected_refs)}: "
            f"{sorted(got_refs ^ expected_refs)[:5]}"
        )
    for item in answer["items"]:
        ref = item["cd_nom"]
        base = baselines.get(ref)
        unit = base[2] if base else "individuals"
        total, _n, nests, largest = obs.get(ref, (0, 0, 0, 0))
        value, proto_unit = proto.get(ref, (None, None))
        if base is None and not largest and proto_unit != "individuals":
            # Without a baseline, a species counted only in nests is compared in nests.
            unit = "nests" if nests or proto_unit == "nests" else unit
        if ref not in obs and ref not in proto and not nests:
            count = 0.0
        elif unit == "presence":
            count = 1.0 if total > 0 or (value or 0) > 0 or nests > 0 else 0.0
        elif unit == "nests":
            count = float(value if value is not None and proto_unit == "nests" else nests)
        else:
            count = float(value if value is not None and proto_unit == "individuals" else largest)
        want: tuple[Any, ...] = (count, base[0] if base else None, float(base[1]) if base else None)
        have: tuple[Any, ...] = (item["count"], item["baseline_year"], item["baseline_count"])
        if floor["trends"]:
            want += (floor["trends"].get(ref),)
            have += (item.get("trend_class"),)
        if want != have:
            problems.append(f"/stats/comparison, cd_nom {ref}: API {have}, floors {want}")
    return problems[:5]


# --- measures ------------------------------------------------------------------------------------


@dataclass
class Timing:
    samples_ms: dict[str, list[float]]  # per contender, in the order taken
    cpu: CpuUse
    checks: list[str]
    response_bytes: int
    items: int


def time_in_turn(
    contenders: dict[str, Callable[[], Any]],
    args: argparse.Namespace,
    server: Server,
    probe: PostgresProbe | None,
    check: Callable[[dict[str, Any]], list[str]],
) -> Timing:
    """``--warmup`` rounds untimed (the first one's results checked), then ``--requests``
    rounds, each running every contender once (which goes first rotates); fewer when the
    rounds have taken ``--max-seconds``, but never under ``MIN_ROUNDS``."""
    names = list(contenders)
    samples: dict[str, list[float]] = {n: [] for n in names}

    def run(name: str) -> Any:
        t0 = time.perf_counter()
        result = contenders[name]()
        samples[name].append((time.perf_counter() - t0) * 1000)
        return result

    first = {name: run(name) for name in names}
    checks = check(first)
    for _ in range(args.warmup - 1):
        for name in names:
            run(name)
    for values in samples.values():
        values.clear()
    deadline = time.perf_counter() + args.max_seconds
    with CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
        for i in range(args.requests):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                run(name)
            if i + 1 >= MIN_ROUNDS and time.perf_counter() > deadline:
                break
    api = first.get("API") or {}
    return Timing(
        samples_ms=samples, cpu=cpu, checks=checks,
        response_bytes=api.get("_bytes", 0), items=len(api.get("items", [])),
    )  # fmt: skip


class Api:
    """Anonymous GETs on the server; anything but a 200 is an error and raises."""

    def __init__(self, server: Server) -> None:
        self.client = httpx.Client(base_url=server.api, timeout=300.0)

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        r = self.client.get(path, params=params)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:300]}")
        doc = dict(r.json())
        doc["_bytes"] = len(r.content)
        return doc

    def close(self) -> None:
        self.client.close()


@dataclass
class Figure:
    db: str
    measure: str  # "yearly" or "comparison"
    indexes: str  # "schema" or "covering"
    contender: str  # "API", "observations", "observations + protocols"
    requests: int
    median_ms: float
    p95_ms: float
    server_cpu_ms: float  # per API request, over the round of all contenders
    client_cpu_pct: float
    database_cpu_pct: float
    others_cores: float
    response_bytes: int
    items: int
    samples_ms: list[float]


def _figures(db: str, measure: str, indexes: str, timing: Timing) -> list[Figure]:
    wall = max(timing.cpu.wall_s, 1e-9)
    out = []
    for name, values in timing.samples_ms.items():
        out.append(
            Figure(
                db=db, measure=measure, indexes=indexes, contender=name, requests=len(values),
                median_ms=statistics.median(values) if values else math.nan,
                p95_ms=_percentile(values, 0.95),
                server_cpu_ms=1000 * timing.cpu.server_s / max(1, len(values)),
                client_cpu_pct=100 * timing.cpu.client_s / wall,
                database_cpu_pct=100 * timing.cpu.database_s / wall,
                others_cores=timing.cpu.others_cores, response_bytes=timing.response_bytes,
                items=timing.items, samples_ms=[round(v, 2) for v in values],
            )
        )  # fmt: skip
    return out


# --- in process: the services' parts, a profile, the plans --------------------------------------


def _median_ms(fn: Callable[[], Any], repeat: int, budget_s: float = 10.0) -> float:
    """The median of ``repeat`` calls, or of fewer once they have taken ``budget_s``."""
    values: list[float] = []
    while len(values) < repeat and sum(values) < budget_s * 1000:
        t0 = time.perf_counter()
        fn()
        values.append((time.perf_counter() - t0) * 1000)
    return statistics.median(values)


def _profile(fn: Callable[[], Any], lines: int = 18) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(lines)
    text = out.getvalue()
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text.rstrip()


def in_process(db: str, url: str, plan: Plan, repeat: int) -> dict[str, Any]:
    """The services called straight, each part timed apart (median of ``repeat``), one call of
    each profiled, and the statements they issue counted and their observation statements
    captured (to explain them)."""
    from sqlalchemy import event, select
    from sqlmodel import Session, col

    from app.core.db import make_engine
    from app.core.settings import Settings
    from app.observations.models import ObservationStatus
    from app.species.models import Species
    from app.stats import comparison as comparison_module
    from app.stats import parameters as parameters_module
    from app.stats import trends as trends_module
    from app.stats import yearly as yearly_module
    from app.surveys.aggregates import site_year_values

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    tz = settings.tz
    engine = make_engine(url, pool_size=1)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    first, last = plan.years
    out: dict[str, Any] = {}
    try:

        def in_session(fn: Callable[[Session], Any]) -> Callable[[], Any]:
            def call() -> Any:
                with Session(engine) as session:
                    return fn(session)

            return call

        def yearly(s: Session) -> Any:
            return yearly_module.yearly_statistics(
                s, settings, staff=False, species_id=None, cd_nom=plan.cd_nom, zone_id=None,
                from_year=first, to_year=last,
            )  # fmt: skip

        def comparison(s: Session) -> Any:
            return comparison_module.comparison_statistics(
                s, settings, staff=False, year=plan.year, zone_id=None
            )

        def protocols(first_: int, last_: int, cd_ref: int | None) -> Callable[[Session], Any]:
            def fn(s: Session) -> Any:
                rows: dict[Any, Any] = {}
                yearly_module.add_protocols(
                    s, rows, tz=tz, first=first_, last=last_, cd_ref=cd_ref, zone_id=None,
                    staff=False,
                )  # fmt: skip
                return rows

            return fn

        with Session(engine) as s:
            cd_ref = parameters_module.resolve_species(
                s, settings, species_id=None, cd_nom=plan.cd_nom
            ).cd_ref
            taxon_ids = list(
                s.execute(select(Species.id).where(col(Species.cd_ref) == cd_ref)).scalars()
            )
        validated = (ObservationStatus.validated.value,)

        def site_values_of_taxon(s: Session) -> Any:
            return site_year_values(
                s, statuses=validated, tz=tz, first=first, last=last, species_ids=taxon_ids
            )

        for name, call in (("yearly", yearly), ("comparison", comparison)):
            in_session(call)()  # warm
            captured.clear()
            in_session(call)()
            statements = list(captured)
            out[name] = {
                "statements": len(statements),
                "observation_statements": [
                    (sql, params)
                    for sql, params in statements
                    # The observations' figures: from the raw rows, or from the rollups.
                    if "FROM observation" in sql or "FROM stats_yearly_cell" in sql
                ],
                "profile": _profile(in_session(call)),
            }
        parts_yearly = {
            "service, whole": in_session(yearly),
            "its observation statement": _statement(engine, out["yearly"]),
            "the protocols (add_protocols)": in_session(protocols(first, last, cd_ref)),
            "of which site_year_values(), in SQL": in_session(site_values_of_taxon),
        }

        def with_baselines(s: Session) -> set[int]:
            return set(comparison_module._taxa_with_baselines(s, year=plan.year, zone_id=None))

        def trends(s: Session) -> Any:
            return trends_module.trend_classes(
                s, cd_refs=with_baselines(s), zone_id=None, tz=tz, until_year=plan.year
            )

        def fits(s: Session) -> Any:
            return trends_module._fit_classes(
                s, cd_refs=with_baselines(s), zone_id=None, tz=tz, until_year=plan.year
            )

        def series(s: Session) -> Any:
            return trends_module._series(s, cd_refs=with_baselines(s), zone_id=None, tz=tz)

        def compare(s: Session) -> Any:
            return comparison_module.compare(
                s, year=plan.year, zone_id=None, tz=tz, staff=False, trend_classes=None
            )

        parts_comparison = {
            "service, whole": in_session(comparison),
            "trend_classes(), kept from an earlier request": in_session(trends),
            "the same fitted anew (TRIM per taxon with a baseline)": in_session(fits),
            "of which the series (_series)": in_session(series),
            "compare(), without the trends": in_session(compare),
            "of which its observation statement": _statement(engine, out["comparison"]),
            "of which the protocols (add_protocols)": in_session(
                protocols(plan.year, plan.year, None)
            ),
        }
        for name, parts in (("yearly", parts_yearly), ("comparison", parts_comparison)):
            out[name]["parts_ms"] = {}
            for part, fn in parts.items():
                try:
                    out[name]["parts_ms"][part] = _median_ms(fn, repeat)
                except Exception as exc:  # the app's internals moved: say so, go on
                    out[name]["parts_ms"][part] = math.nan
                    out.setdefault("errors", []).append(f"{part}: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    return out


def _statement(engine: Any, found: dict[str, Any]) -> Callable[[], Any]:
    """The service's first observation statement, run as it was issued, rows fetched."""
    sql, params = found["observation_statements"][0]

    def run() -> Any:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql, params).all()

    return run


_BOUNDARIES = re.compile(
    r"(?:WHEN \(?[\w.]+ < '[^']+'(?:::timestamp with time zone)?\)? THEN (?:\d+ ?|CASE ))"
    r"(?:[^']*?WHEN \(?[\w.]+ < '[^']+'(?:::timestamp with time zone)?\)? THEN (?:\d+ ?|CASE ))+"
)


def _short(line: str) -> str:
    """A plan's line with the long ``CASE`` over years' and months' first instants cut short."""
    line = _ID_ARRAY.sub(_shorten_ids, line)
    return _BOUNDARIES.sub(lambda m: f"WHEN … ({m.group(0).count('WHEN')} boundaries) ", line)


def explain_service(db: str, url: str, statements: list[tuple[str, Any]]) -> list[str]:
    from app.core.db import make_engine

    engine = make_engine(url, pool_size=1)
    lines: list[str] = []
    try:
        with engine.connect() as conn:
            for sql, params in statements:
                head = "EXPLAIN QUERY PLAN " if db == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
                rows = conn.exec_driver_sql(head + sql, params).all()
                lines.append("-- " + " ".join(sql.split())[:160] + " …")
                if db == "sqlite":
                    lines += [str(r[3]) for r in rows]
                else:
                    lines += [_short(r[0]) for r in rows]
                conn.rollback()
    finally:
        engine.dispose()
    return lines


def explain_floors(floor: Floor, plan: Plan) -> dict[str, list[str]]:
    keys = [floor._id(i) for i in plan.taxon_ids]
    return {
        "floor, yearly observations": floor.explain(
            floor.observations_yearly_sql(len(keys), *plan.years), keys
        ),
        "floor, yearly protocols": floor.explain(floor.protocols_sql(len(keys), *plan.years), keys),
        "floor, comparison observations": floor.explain(floor.observations_year_sql(plan.year)),
    }


# --- TRIM ----------------------------------------------------------------------------------------


@dataclass
class TrimFigure:
    model: int
    sites: int
    years: int
    missing_pct: float
    repeats: int
    median_s: float
    max_s: float
    floor_median_s: float  # the same model by Poisson maximum likelihood
    ratio: float
    met: bool
    iterations: int
    sigma2: float | None
    rho: float | None
    slope: str | None
    others_cores: float
    samples_s: list[float]


def trim_data(sites: int, years: int, missing: float, seed: int) -> Any:
    """Counts around a decline of 3% a year, site effects log-normal, a site-level AR(1) noise
    (ρ 0.5, sd 0.3) on the log scale, then Poisson; ``missing`` of the cells removed."""
    import numpy as np

    from app.stats.trim import TrimData

    rng = np.random.default_rng(seed)
    alpha = rng.normal(2.0, 1.0, sites)
    noise = np.zeros((sites, years))
    noise[:, 0] = rng.normal(0.0, 0.3, sites)
    for j in range(1, years):
        noise[:, j] = 0.5 * noise[:, j - 1] + rng.normal(0.0, 0.3 * math.sqrt(0.75), sites)
    mu = np.exp(alpha[:, None] - 0.03 * np.arange(years)[None, :] + noise)
    counts = rng.poisson(mu).astype(float)
    counts[rng.random((sites, years)) < missing] = np.nan
    first = 2026 - years + 1
    return TrimData(
        sites=tuple(f"site-{i:04d}" for i in range(sites)),
        years=tuple(range(first, first + years)),
        counts=counts,
    )


@contextlib.contextmanager
def other_load() -> Iterator[list[float]]:
    """The cores the rest of the machine kept busy during the block (this process excepted)."""
    found: list[float] = []
    busy0, total0 = machine_cpu_jiffies()
    own0, t0 = own_cpu_seconds(), time.perf_counter()
    yield found
    busy1, total1 = machine_cpu_jiffies()
    wall = max(time.perf_counter() - t0, 1e-9)
    cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    found.append(max(0.0, cores - (own_cpu_seconds() - own0) / wall))


def time_trim(args: argparse.Namespace) -> tuple[list[TrimFigure], str | None]:
    try:
        from app.stats.trim import fit_trim
    except Exception as exc:  # the module is being written: say so, measure the rest
        return [], f"app.stats.trim.fit_trim is not importable ({type(exc).__name__}: {exc})"
    data = trim_data(args.trim_sites, args.trim_years, args.trim_missing, args.seed)
    missing = 100 * float(sum(map(math.isnan, data.counts.ravel()))) / data.counts.size
    figures = []
    for model in (3, 2):

        def fit(full: bool, model: int = model) -> Any:
            return fit_trim(data, model=model, overdispersion=full, serial_correlation=full)

        fit(True)  # warm (imports, BLAS)
        samples, floor = [], []
        with other_load() as others:
            for i in range(args.trim_repeats):
                for full in (True, False) if i % 2 == 0 else (False, True):
                    t0 = time.perf_counter()
                    result = fit(full)
                    (samples if full else floor).append(time.perf_counter() - t0)
                    if full:
                        kept = result
        median, floor_median = statistics.median(samples), statistics.median(floor)
        slope = kept.slope_imputed.slope_class.value if kept.slope_imputed else None
        figures.append(
            TrimFigure(
                model=model, sites=args.trim_sites, years=args.trim_years, missing_pct=missing,
                repeats=args.trim_repeats, median_s=median, max_s=max(samples),
                floor_median_s=floor_median, ratio=median / floor_median,
                met=median < TRIM_AIM_S, iterations=kept.iterations, sigma2=kept.sigma2,
                rho=kept.rho, slope=slope, others_cores=others[0],
                samples_s=[round(v, 4) for v in samples],
            )
        )  # fmt: skip
    return figures, None


# --- one run -------------------------------------------------------------------------------------


@dataclass
class RunResult:
    db: str
    load: LoadFigure
    plan: Plan
    figures: list[Figure]
    checks: list[str]
    best_indexes_s: float
    in_process: dict[str, Any]
    plans: dict[str, list[str]]
    server_peak_rss_mib: float | None


def run_once(db: str, args: argparse.Namespace, rng: random.Random, first_run: bool) -> RunResult:
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        loaded, plan, checks = load(db, url, args, rng)
        console.log(
            f"{db}: yearly figures of {plan.species_name} (cd_nom {plan.cd_nom}, "
            f"{plan.share:.1%} of the observations), {plan.years[0]}–{plan.years[1]}; "
            f"comparison of {plan.year}"
        )
        yearly_params = {
            "cd_nom": plan.cd_nom,
            "from_year": plan.years[0],
            "to_year": plan.years[1],
        }
        figures: list[Figure] = []
        plans: dict[str, list[str]] = {}
        best_s = 0.0
        details: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(run_server(url, workdir=Path(tmp)))
            api = Api(server)
            stack.callback(api.close)
            floor = Floor(db, url)
            stack.callback(floor.close)
            probe = None
            if db == "postgresql":
                probe = PostgresProbe(url)
                stack.callback(probe.close)
            console.log(f"{db}: server pid {server.pid} on {server.base_url}")
            cd_ref_row = floor._fetch(
                f"SELECT cd_ref FROM species WHERE cd_nom = {floor.mark}", [plan.cd_nom]
            )
            if db == "postgresql":
                floor.conn.commit()
            cd_ref = int(cd_ref_row[0][0])

            budget = f"up to {args.requests} rounds or {args.max_seconds:g} s"

            def measure_all(indexes: str) -> None:
                contenders_yearly: dict[str, Callable[[], Any]] = {
                    "API": lambda: api.get("/stats/yearly", yearly_params),
                    "observations": lambda: floor.yearly(plan.taxon_ids, plan.years, False),
                    "observations + protocols": lambda: floor.yearly(
                        plan.taxon_ids, plan.years, True
                    ),
                }
                console.log(f"{db}, {indexes} indexes: /stats/yearly, {budget}")
                timing = time_in_turn(
                    contenders_yearly, args, server, probe,
                    lambda r: check_yearly(r["API"], r["observations + protocols"], cd_ref),
                )  # fmt: skip
                figures.extend(_figures(db, "yearly", indexes, timing))
                checks.extend(f"{indexes} indexes: {c}" for c in timing.checks)
                contenders_comparison: dict[str, Callable[[], Any]] = {
                    "API": lambda: api.get("/stats/comparison", {"year": plan.year}),
                    # The first request after a change in the survey data refits the trends.
                    AFTER_CHANGE: lambda: (
                        floor.touch_site(),
                        api.get("/stats/comparison", {"year": plan.year}),
                    )[1],
                    "observations": lambda: floor.comparison(plan.year, 0, plan.years[0]),
                    "observations + protocols": lambda: floor.comparison(
                        plan.year, 1, plan.years[0]
                    ),
                    "observations + protocols + TRIM": lambda: floor.comparison(
                        plan.year, 2, plan.years[0]
                    ),
                }
                console.log(f"{db}, {indexes} indexes: /stats/comparison, {budget}")
                timing = time_in_turn(
                    contenders_comparison, args, server, probe,
                    lambda r: check_comparison(r["API"], r["observations + protocols"])
                    + check_comparison(r["API"], r["observations + protocols + TRIM"])
                    + check_comparison(r[AFTER_CHANGE], r["observations + protocols + TRIM"]),
                )  # fmt: skip
                figures.extend(_figures(db, "comparison", indexes, timing))
                checks.extend(f"{indexes} indexes: {c}" for c in timing.checks)

            measure_all("schema")
            if first_run and args.explain:
                details = in_process(db, url, plan, args.profile_repeats)
                for name in ("yearly", "comparison"):
                    plans[f"service, {name}, schema indexes"] = explain_service(
                        db, url, details[name]["observation_statements"]
                    )
                for name, lines in explain_floors(floor, plan).items():
                    plans[f"{name}, schema indexes"] = lines
            if args.best_index:
                console.log(f"{db}: creating the covering indexes")
                best_s = create_best_indexes(db, url)
                floor.covering = True
                console.log(f"{db}: covering indexes in {best_s:.1f} s")
                measure_all("covering")
                if first_run and args.explain:
                    for name in ("yearly", "comparison"):
                        plans[f"service, {name}, covering indexes"] = explain_service(
                            db, url, details[name]["observation_statements"]
                        )
                    for name, lines in explain_floors(floor, plan).items():
                        plans[f"{name}, covering indexes"] = lines
            peak = server.peak_rss_mib()
        for name in ("yearly", "comparison"):
            if name in details:
                details[name]["observation_statements"] = [
                    " ".join(sql.split()) for sql, _ in details[name]["observation_statements"]
                ]
    return RunResult(
        db=db, load=loaded, plan=plan, figures=figures, checks=checks, best_indexes_s=best_s,
        in_process=details, plans=plans, server_peak_rss_mib=peak,
    )  # fmt: skip


# --- output --------------------------------------------------------------------------------------

MEASURES = {"yearly": "/stats/yearly", "comparison": "/stats/comparison"}
AFTER_CHANGE = "API, after a change"
SHORT = {
    "API": "API",
    AFTER_CHANGE: "API, after a change",
    "observations": "obs.",
    "observations + protocols": "obs. + prot.",
    "observations + protocols + TRIM": "obs. + prot. + TRIM",
}
FLOORS = {
    "yearly": ("observations", "observations + protocols"),
    "comparison": ("observations", "observations + protocols", "observations + protocols + TRIM"),
}


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarise(runs: list[RunResult]) -> dict[str, Any]:
    """Per database, measure, index set and contender: medians over the runs; and per database
    and measure, the ratios the aims are read on."""
    by: dict[tuple[str, str, str, str], list[Figure]] = {}
    for run in runs:
        for f in run.figures:
            by.setdefault((f.db, f.measure, f.indexes, f.contender), []).append(f)
    figures = []
    for (db, measure, indexes, contender), figs in by.items():
        figures.append({
            "db": db, "measure": measure, "indexes": indexes, "contender": contender,
            "median_ms": _median([f.median_ms for f in figs]),
            "p95_ms": _median([f.p95_ms for f in figs]),
            "server_cpu_ms": _median([f.server_cpu_ms for f in figs]),
            "client_cpu_pct": _median([f.client_cpu_pct for f in figs]),
            "database_cpu_pct": _median([f.database_cpu_pct for f in figs]),
            "others_cores": max(f.others_cores for f in figs),
            "response_bytes": figs[-1].response_bytes, "items": figs[-1].items,
            "runs": [asdict(f) for f in figs],
        })  # fmt: skip
    index = {(f["db"], f["measure"], f["indexes"], f["contender"]): f for f in figures}
    aims = []
    for db in dict.fromkeys(f["db"] for f in figures):
        for measure, floors in FLOORS.items():
            for who in ("API", AFTER_CHANGE):
                api = index.get((db, measure, "schema", who))
                if api is None:
                    continue
                covering = index.get((db, measure, "covering", who))
                for contender in floors:
                    options = [
                        index[k]
                        for k in ((db, measure, i, contender) for i in ("schema", "covering"))
                        if k in index
                    ]
                    best = min(options, key=lambda f: f["median_ms"])
                    # The ratio per run, then the median of the runs' ratios.
                    ratio = _median(
                        [
                            a["median_ms"] / b["median_ms"]
                            for a, b in zip(api["runs"], best["runs"], strict=True)
                        ]
                    )
                    aims.append({
                        "db": db, "measure": measure, "floor": contender, "who": who,
                        "api_median_ms": api["median_ms"], "api_p95_ms": api["p95_ms"],
                        "api_requests": sum(r["requests"] for r in api["runs"]),
                        "api_covering_median_ms": covering["median_ms"] if covering else None,
                        "floor_median_ms": best["median_ms"], "floor_p95_ms": best["p95_ms"],
                        "floor_indexes": best["indexes"], "ratio": ratio,
                        "met": ratio <= AIM_RATIO,
                    })  # fmt: skip
    return {"figures": figures, "aims": aims}


def measures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: each endpoint (and after a change)
    against its fullest floor, the one that computes what the endpoint answers."""
    out = []
    for a in summary["aims"]:
        if a["floor"] != FLOORS[a["measure"]][-1]:
            continue
        name = MEASURES[a["measure"]] + (", after a change" if a["who"] == AFTER_CHANGE else "")
        out.append(
            as_measure(
                name,
                a["db"],
                a["api_median_ms"],
                "ms",
                floor=a["floor_median_ms"],
                ratio=a["ratio"],
                aim=f"ratio ≤ {AIM_RATIO:g}",
            )
        )
    return out


def _ms(value: float | None) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _yes(met: bool) -> str:
    return "[green]yes[/]" if met else "[red]no[/]"


def print_report(
    machine: dict[str, Any],
    args: argparse.Namespace,
    summary: dict[str, Any],
    runs: list[RunResult],
    trim: list[TrimFigure],
    trim_skipped: str | None,
) -> None:
    console.print(
        f"[bold]Machine[/]: {machine['cpu_model']} ({machine['cpu_mhz']} MHz), "
        f"{machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['ram_gib']} GiB RAM; Python {machine['python']}; "
        f"SQLite {sqlite3.sqlite_version}; {machine['date']}"
    )
    if runs:
        p = runs[0].plan
        console.print(
            f"[bold]Settings[/]: {args.rows:,} observations, {args.site_years:,} site-years "
            f"({args.runs} run(s) per database, each on a new database"
            f"{', medians' if args.runs > 1 else ''}); {args.requests} requests timed after "
            f"{args.warmup}, in turn with the floors; /stats/yearly?cd_nom={p.cd_nom}"
            f"&from_year={p.years[0]}&to_year={p.years[1]} ({p.species_name}, {p.share:.1%} of "
            f"the observations); /stats/comparison?year={p.year}; anonymous"
        )
        loads = Table(title="Loading (medians)")
        for col in (
            "DB", "observations (s)", "sites, visits, counts (s)", "baselines (s)",
            "ANALYZE (s)", "covering indexes (s)", "size",
        ):  # fmt: skip
            loads.add_column(col, justify="left" if col == "DB" else "right")
        for db in dict.fromkeys(r.db for r in runs):
            mine = [r for r in runs if r.db == db]
            lf = mine[0].load

            def med(attr: str, mine: list[RunResult] = mine) -> float:
                return _median([getattr(r.load, attr) for r in mine])

            loads.add_row(
                db, f"{lf.rows:,} ({med('observations_s'):.0f})",
                f"{lf.sites:,}, {lf.visits:,}, {lf.visit_counts:,} ({med('survey_s'):.1f})",
                f"{lf.baselines} ({med('baselines_s'):.1f})", f"{med('analyze_s'):.1f}",
                f"{_median([r.best_indexes_s for r in mine]):.1f}",
                f"{med('size_mib'):,.0f} MiB",
            )  # fmt: skip
        console.print(loads)

    table = Table(
        title="Statistics: milliseconds per request, median (p95); ratio = API / floor, the "
        "floor on the faster index set (schema or covering), the API on the schema's"
    )
    for col in (
        "DB",
        "endpoint",
        "floor of",
        "API",
        "floor, index set",
        "ratio",
        f"≤ {AIM_RATIO:g}×?",
    ):
        table.add_column(col, justify="left" if col in ("DB", "endpoint", "floor of") else "right")
    for a in summary["aims"]:
        table.add_row(
            a["db"],
            MEASURES[a["measure"]] + (", after a change" if a["who"] == AFTER_CHANGE else ""),
            a["floor"],
            f"{_ms(a['api_median_ms'])} ({_ms(a['api_p95_ms'])})",
            f"{_ms(a['floor_median_ms'])} ({_ms(a['floor_p95_ms'])}), {a['floor_indexes']}",
            f"{a['ratio']:.1f}×", _yes(a["met"]),
        )  # fmt: skip
    console.print(table)

    side = Table(title="Every figure, ms (medians of the runs)")
    for col in (
        "DB", "endpoint", "indexes", "who", "n", "median (p95)", "each run", "server CPU/req",
        "bench, PG CPU", "other load", "answer",
    ):  # fmt: skip
        side.add_column(col, justify="left" if col in ("DB", "endpoint", "who") else "right")
    for f in summary["figures"]:
        api = f["contender"].startswith("API")
        side.add_row(
            f["db"], f["measure"], f["indexes"], SHORT[f["contender"]],
            str(sum(r["requests"] for r in f["runs"])),
            f"{_ms(f['median_ms'])} ({_ms(f['p95_ms'])})",
            " · ".join(_ms(r["median_ms"]) for r in f["runs"]) if len(f["runs"]) > 1 else "",
            f"{f['server_cpu_ms']:.0f}" if api else "",
            (f"{f['client_cpu_pct']:.0f}%, {f['database_cpu_pct']:.0f}%"
             if f["db"] == "postgresql" else f"{f['client_cpu_pct']:.0f}%") if api else "",
            f"{f['others_cores']:.2f}" if api else "",
            f"{f['items']}, {f['response_bytes'] / 1024:,.1f} KiB" if api else "",
        )  # fmt: skip
    console.print(side)
    console.print(
        "n: timed requests. Server CPU per request: the server's CPU over the measure / the API's "
        "requests. Bench CPU (this process: client and floors), PostgreSQL CPU (its processes "
        "serving both) and other load (cores the rest of the machine kept busy) are over the "
        "whole measure, API and floors taken in turn, as shares of a core. "
        + ", ".join(
            f"Server peak RSS {r.db} {r.server_peak_rss_mib or 0:.0f} MiB" for r in runs[:2]
        )
    )
    noisy = [f for f in summary["figures"] if f["others_cores"] >= NOISY_CORES]
    if noisy:
        console.print(
            f"[yellow]Other processes kept up to {max(f['others_cores'] for f in noisy):.2f} "
            "cores busy during some measures: those figures are pessimistic.[/]"
        )

    shown: set[str] = set()
    for run in runs:
        if run.db in shown or not run.in_process:
            continue
        shown.add(run.db)
        parts = Table(title=f"{run.db}: in process, the services' parts (ms, median)")
        parts.add_column("service")
        parts.add_column("part")
        parts.add_column("ms", justify="right")
        for name in ("yearly", "comparison"):
            for part, ms in run.in_process[name]["parts_ms"].items():
                parts.add_row(MEASURES[name], part, _ms(ms))
            parts.add_row(
                MEASURES[name], "statements issued", str(run.in_process[name]["statements"])
            )
        console.print(parts)
        for error in run.in_process.get("errors", []):
            console.print(f"[yellow]{run.db}: a part could not be timed: {error}[/]")
        if args.profile:
            for name in ("yearly", "comparison"):
                console.rule(f"{run.db}: profile of one {MEASURES[name]} service call")
                console.print(run.in_process[name]["profile"], markup=False, highlight=False)
        for label, lines in run.plans.items():
            console.rule(f"{run.db}: plan of the {label}")
            console.print("\n".join(lines), markup=False, highlight=False)

    if trim_skipped:
        console.print(f"[yellow]TRIM skipped: {trim_skipped}[/]")
    elif trim:
        t = Table(
            title="TRIM: fit_trim, overdispersion and serial correlation, seconds (median of "
            f"{trim[0].repeats}); floor = the same model by Poisson maximum likelihood"
        )
        for col in (
            "model", "matrix", "fit (max)", "floor", "ratio", "< 1 s?", "iterations", "σ², ρ",
            "slope", "other load",
        ):  # fmt: skip
            t.add_column(col, justify="left" if col in ("model", "slope") else "right")
        for f in trim:
            t.add_row(
                str(f.model), f"{f.sites} × {f.years}, {f.missing_pct:.0f}% missing",
                f"{f.median_s:.3f} ({f.max_s:.3f})", f"{f.floor_median_s:.3f}",
                f"{f.ratio:.1f}×", _yes(f.met), str(f.iterations),
                f"{f.sigma2:.2f}, {f.rho:.2f}" if f.sigma2 is not None and f.rho is not None
                else "—", f.slope or "—", f"{f.others_cores:.2f} cores",
            )  # fmt: skip
        console.print(t)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="observations stored (default 1,000,000)"
    )
    parser.add_argument(
        "--site-years", type=int, default=10_000,
        help=f"survey site-years stored: sites × {SURVEY_YEARS} years (default 10,000)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=1, help="runs per database; medians shown")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per measure (30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    parser.add_argument(
        "--max-seconds", type=float, default=90.0,
        help=f"stop a measure's rounds after this long (at least {MIN_ROUNDS} rounds; 90)",
    )  # fmt: skip
    parser.add_argument(
        "--no-best-index", dest="best_index", action="store_false",
        help="do not create the covering indexes nor measure again with them",
    )  # fmt: skip
    review.add_load_arguments(parser)
    parser.add_argument(
        "--no-explain", dest="explain", action="store_false",
        help="no plans, no in-process parts (the first run's)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of each service call"
    )
    parser.add_argument("--profile-repeats", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--trim-sites", type=int, default=500)
    parser.add_argument("--trim-years", type=int, default=20)
    parser.add_argument("--trim-missing", type=float, default=0.30)
    parser.add_argument("--trim-repeats", type=int, default=5)
    parser.add_argument("--no-trim", dest="trim", action="store_false", help="skip TRIM")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)"
    )
    args = parser.parse_args(argv)
    if min(args.runs, args.requests, args.warmup, args.trim_repeats) < 1:
        parser.error("--runs, --requests, --warmup and --trim-repeats must be at least 1")
    if args.rows < 10_000 or args.site_years < 2 * SURVEY_YEARS:
        parser.error(f"--rows must be at least 10,000 and --site-years {2 * SURVEY_YEARS}")
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
            # The same data on both databases: run i draws from seed + i on each.
            runs.append(run_once(db, args, random.Random(args.seed + i), first_run=i == 0))
    trim: list[TrimFigure] = []
    trim_skipped: str | None = None
    if args.trim:
        console.log(f"TRIM: {args.trim_sites} sites × {args.trim_years} years")
        trim, trim_skipped = time_trim(args)
    if not runs and not trim:
        console.print("[red]nothing measured[/]")
        return 2
    summary = summarise(runs)
    print_report(machine, args, summary, runs, trim, trim_skipped)
    problems = [f"{r.db}: {c}" for r in runs for c in r.checks]
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if args.json:
        settings = {**vars(args), "pg_admin_url": make_url(args.pg_admin_url).render_as_string()}
        doc = {
            "machine": {**machine, "sqlite": sqlite3.sqlite_version},
            "settings": settings,
            "measures": measures(summary),
            **summary,
            "load": [asdict(r.load) for r in runs],
            "plan": [asdict(r.plan) for r in runs[:1]],
            "in_process": {r.db: r.in_process for r in runs if r.in_process},
            "plans": {f"{r.db}: {k}": v for r in runs for k, v in r.plans.items()},
            "trim": [asdict(f) for f in trim],
            "trim_skipped": trim_skipped,
            "checks": problems,
        }
        text = json.dumps(doc, indent=2, default=str)
        write: Callable[[str], Any] = (
            sys.stdout.write if args.json == "-" else Path(args.json).write_text
        )
        write(text + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
