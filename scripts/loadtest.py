"""The load test: many phones syncing at once, then a count of what the database holds.

Simulated phones (asyncio + httpx, a bounded number of requests in flight) run against the
service as it is deployed: ``uvicorn`` with several worker processes, production settings, a
fresh database migrated by Alembic, PostgreSQL with S3-compatible photo storage (a local moto
server) or SQLite with local files. Each phone signs in, then until the time is up syncs batches
of 1–50 new observations through ``POST /observations/batch``, sometimes losing the answer (it
then sends the same ``client_id``s again with its next batch, as the app does), adds a photo to
about one observation in twenty (sometimes sending it twice, for the same reason), and reads its
own list with ``updated_since``. At the end each phone sends what it still holds until answered.

It prints the throughput and the p50/p99 latency per call, then counts in the database, for the
phones' accounts: every observation and photo acknowledged is stored (0 lost), once (0
duplicated), nothing is stored that was not sent, and every acknowledged photo is served. Any
error answer (non-2xx, transport failure, a rejected batch item) counts as an error. The exit
status is 1 unless errors, lost and duplicated are all 0.

Run through ``scripts/load`` (``scripts/load --help``); the figures measured so far are in
docs/performance.md ("Load test").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))

from _common import (
    BENCH_PASSWORD,
    DEFAULT_PG_ADMIN_URL,
    free_port,
    fresh_database,
    machine_info,
    postgres_unreachable,
    prepare_database,
    run_server,
    stop,
)

CALLS = ("sign_in", "batch", "photo", "list")
# Loos-en-Gohelle, roughly: where the points are drawn.
LAT_RANGE = (50.44, 50.47)
LON_RANGE = (2.77, 2.81)
PARIS_SUMMER = timezone(timedelta(hours=2))
S3_BUCKET = "sentinelles-load"
S3_KEYS = {"SENTINELLES_S3_ACCESS_KEY_ID": "testing", "SENTINELLES_S3_SECRET_ACCESS_KEY": "testing"}


# --- what the phones do --------------------------------------------------------------------------


@dataclass
class Tally:
    """Everything the phones saw, merged: latencies, errors, and what was acknowledged."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    # (observer id, client_id) -> the observation's server id, from answers the phone kept.
    observations: dict[tuple[str, str], str] = field(default_factory=dict)
    # observation id -> photo id, from answers the phone kept.
    photos: dict[str, str] = field(default_factory=dict)
    # Inconsistent answers: "created" twice for one client_id, another id on a resend.
    api_duplicates: int = 0
    resent_items: int = 0
    resent_photos: int = 0

    def error(self, call: str, what: str) -> None:
        self.errors[call] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{call}: {what}"[:300])


@dataclass
class Phone:
    email: str
    user_id: str
    rng: random.Random
    token: str = ""
    pending: list[dict[str, Any]] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    last_listed: datetime | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Plan:
    seconds: float
    ramp_seconds: float
    species: list[int]
    photos: list[bytes]
    lost_answer_rate: float = 0.1
    photo_rate: float = 0.05


async def timed(
    tally: Tally, call: str, request: Any, *, ok: tuple[int, ...] = (200, 201)
) -> httpx.Response | None:
    """Sends ``request`` (an awaitable), records its latency; None, counted, when it failed."""
    start = time.perf_counter()
    try:
        response: httpx.Response = await request
    except httpx.HTTPError as exc:
        tally.latencies[call].append(time.perf_counter() - start)
        tally.error(call, f"{type(exc).__name__}: {exc}")
        return None
    tally.latencies[call].append(time.perf_counter() - start)
    if response.status_code not in ok:
        tally.error(call, f"{response.status_code} {response.text[:200]}")
        return None
    return response


def new_observation(phone: Phone, plan: Plan) -> dict[str, Any]:
    rng = phone.rng
    observed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=rng.randint(1, 43200))
    return {
        "client_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "cd_nom": rng.choice(plan.species),
        "observed_at": observed.astimezone(PARIS_SUMMER).isoformat(),
        "latitude": round(rng.uniform(*LAT_RANGE), 6),
        "longitude": round(rng.uniform(*LON_RANGE), 6),
        "accuracy_m": rng.choice([5, 8, 12, 20, 50]),
        "count": rng.randint(0, 12),
        "count_unit": "individuals",
    }


async def sign_in(client: httpx.AsyncClient, phone: Phone, tally: Tally) -> bool:
    response = await timed(
        tally,
        "sign_in",
        client.post("/auth/token", data={"username": phone.email, "password": BENCH_PASSWORD}),
        ok=(200,),
    )
    if response is None:
        return False
    phone.token = str(response.json()["access_token"])
    return True


async def sync_batch(
    client: httpx.AsyncClient,
    phone: Phone,
    tally: Tally,
    items: list[dict[str, Any]],
    *,
    lost_answer_rate: float,
) -> list[str]:
    """Sends ``items``; the ids of the observations created by an answer the phone kept.

    An answer "lost" on the way back (``lost_answer_rate``) is ignored: its items stay pending
    and go again with the next batch.
    """
    response = await timed(
        tally,
        "batch",
        client.post("/observations/batch", json={"observations": items}, headers=phone.headers),
    )
    if response is None:
        return []
    results = response.json()["results"]
    if phone.rng.random() < lost_answer_rate:
        return []  # the phone never heard the answer: everything stays pending
    sent = {item["client_id"] for item in items}
    phone.pending = [item for item in phone.pending if item["client_id"] not in sent]
    new_ids: list[str] = []
    for result in results:
        client_id, status, obs_id = result["client_id"], result["status"], result.get("id")
        if status == "rejected" or obs_id is None:
            tally.error("batch", f"item rejected: {result.get('errors')}")
            continue
        key = (phone.user_id, client_id)
        known = tally.observations.get(key)
        if status == "created":
            if client_id in phone.created:
                tally.api_duplicates += 1
            phone.created.add(client_id)
            new_ids.append(obs_id)
        if known is not None and known != obs_id:
            tally.api_duplicates += 1
        tally.observations[key] = obs_id
    return new_ids


async def add_photo(
    client: httpx.AsyncClient, phone: Phone, tally: Tally, plan: Plan, observation_id: str
) -> None:
    """One photo; its answer is sometimes lost, and the phone sends the same bytes again."""
    data = phone.rng.choice(plan.photos)
    sends = 2 if phone.rng.random() < plan.lost_answer_rate else 1
    for attempt in range(sends):
        response = await timed(
            tally,
            "photo",
            client.post(
                f"/observations/{observation_id}/photos",
                files={"file": ("IMG_0001.jpg", data, "image/jpeg")},
                headers=phone.headers,
            ),
        )
        if response is None:
            return
        if attempt < sends - 1:
            tally.resent_photos += 1
            continue  # lost on the way back
        photo_id = str(response.json()["id"])
        if sends > 1 and response.status_code != 200:
            tally.api_duplicates += 1  # the same bytes again must answer the stored photo
        known = tally.photos.get(observation_id)
        if known is not None and known != photo_id:
            tally.api_duplicates += 1
        tally.photos[observation_id] = photo_id


async def read_list(client: httpx.AsyncClient, phone: Phone, tally: Tally) -> None:
    """What changed since the phone last looked (all of it, the first time)."""
    params: dict[str, str] = {"mine": "true", "limit": "500"}
    asked_at = datetime.now(UTC) - timedelta(seconds=1)
    if phone.last_listed is not None:
        params["updated_since"] = phone.last_listed.isoformat()
    response = await timed(
        tally, "list", client.get("/observations", params=params, headers=phone.headers), ok=(200,)
    )
    if response is not None:
        phone.last_listed = asked_at


async def run_phone(
    client: httpx.AsyncClient, phone: Phone, tally: Tally, plan: Plan, start_after: float
) -> None:
    deadline = time.monotonic() + plan.seconds
    await asyncio.sleep(start_after)  # phones are not all opened in the same second
    if not await sign_in(client, phone, tally):
        return
    while time.monotonic() < deadline:
        fresh = [new_observation(phone, plan) for _ in range(phone.rng.randint(1, 50))]
        if phone.pending:
            tally.resent_items += len(phone.pending)
        phone.pending.extend(fresh)
        created = await sync_batch(
            client, phone, tally, list(phone.pending), lost_answer_rate=plan.lost_answer_rate
        )
        for observation_id in created:
            if phone.rng.random() < plan.photo_rate:
                await add_photo(client, phone, tally, plan, observation_id)
        await read_list(client, phone, tally)
    # Before the phone goes quiet, what it still holds goes until it is answered.
    for _ in range(5):
        if not phone.pending:
            break
        tally.resent_items += len(phone.pending)
        await sync_batch(client, phone, tally, list(phone.pending), lost_answer_rate=0.0)
    if phone.pending:
        tally.error("batch", f"{len(phone.pending)} observations never acknowledged")


async def drive(api: str, phones: list[Phone], plan: Plan, concurrency: int) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(120.0, pool=None)  # waiting for a free connection is the bound
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        step = plan.ramp_seconds / max(1, len(phones))
        await asyncio.gather(
            *(run_phone(client, phone, tally, plan, i * step) for i, phone in enumerate(phones))
        )
        elapsed = time.perf_counter() - start
    return tally, elapsed


# --- setting up and counting ---------------------------------------------------------------------


def make_photos(n: int, seed: int) -> list[bytes]:
    """Small phone-like JPEGs (noise, so that they do not compress to nothing)."""
    from PIL import Image

    rng = random.Random(seed)
    photos = []
    for _ in range(n):
        image = Image.frombytes("RGB", (800, 600), rng.randbytes(800 * 600 * 3))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        photos.append(buffer.getvalue())
    return photos


def create_accounts(
    url: str, n: int, *, fast_hashing: bool
) -> tuple[list[tuple[str, str]], list[int]]:
    """``n`` sentinels written straight to the database (one password hash for all: the
    API's registration would spend the run's first minute hashing), and the species to use."""
    from sqlmodel import Session, select

    from app.accounts.models import User
    from app.core.db import make_engine
    from app.core.security import hash_password
    from app.core.settings import Settings
    from app.species.models import Species

    cost = {"argon2_time_cost": 1, "argon2_memory_kib": 8} if fast_hashing else {}
    settings = Settings(environment="test", database_url=url, **cost)  # type: ignore[arg-type]
    password_hash = hash_password(BENCH_PASSWORD, settings)
    engine = make_engine(url, pool_size=1)
    accounts = []
    try:
        with Session(engine) as session:
            for i in range(n):
                user = User(
                    email=f"phone-{i:04d}-{uuid.uuid4().hex[:8]}@example.org",
                    display_name=f"Téléphone {i}",
                    password_hash=password_hash,
                )
                session.add(user)
                accounts.append(user)
            session.commit()
            pairs = [(user.email, str(user.id)) for user in accounts]
            species = [
                int(s.cd_nom)
                for s in session.exec(select(Species).where(Species.sensitive == False))  # noqa: E712
                if s.cd_nom is not None
            ]
    finally:
        engine.dispose()
    return pairs, species


@dataclass
class Counts:
    acknowledged_observations: int
    stored_observations: int
    lost_observations: int
    duplicated_observations: int
    unacknowledged_stored: int
    acknowledged_photos: int
    stored_photos: int
    lost_photos: int
    duplicated_photos: int
    photos_not_served: int


def count_stored(url: str, user_ids: list[str], tally: Tally) -> Counts:
    """What the database holds for the phones' accounts, against what they were told."""
    from sqlmodel import col, select

    from app.core.db import make_engine
    from app.media.models import ObservationPhoto
    from app.observations.models import Observation

    engine = make_engine(url, pool_size=1)
    ids = [uuid.UUID(u) for u in user_ids]
    try:
        with engine.connect() as conn:
            mine = col(Observation.observer_id).in_(ids)
            rows = conn.execute(
                select(Observation.observer_id, Observation.client_id, Observation.id).where(mine)
            ).all()
            photo_rows = conn.execute(
                select(ObservationPhoto.observation_id, ObservationPhoto.id)
                .join(Observation, col(Observation.id) == col(ObservationPhoto.observation_id))
                .where(mine)
            ).all()
    finally:
        engine.dispose()
    stored: dict[tuple[str, str], list[str]] = defaultdict(list)
    for observer_id, client_id, obs_id in rows:
        stored[(str(observer_id), str(client_id))].append(str(obs_id))
    lost = sum(1 for key, obs_id in tally.observations.items() if obs_id not in stored.get(key, []))
    photos: dict[str, list[str]] = defaultdict(list)
    for observation_id, photo_id in photo_rows:
        photos[str(observation_id)].append(str(photo_id))
    return Counts(
        acknowledged_observations=len(tally.observations),
        stored_observations=len(rows),
        lost_observations=lost,
        duplicated_observations=sum(len(v) - 1 for v in stored.values()) + tally.api_duplicates,
        unacknowledged_stored=sum(1 for key in stored if key not in tally.observations),
        acknowledged_photos=len(tally.photos),
        stored_photos=len(photo_rows),
        lost_photos=sum(
            1 for obs, photo in tally.photos.items() if photo not in photos.get(obs, [])
        ),
        duplicated_photos=sum(len(v) - 1 for v in photos.values()),
        photos_not_served=0,
    )


async def photos_served(api: str, phones: list[Phone], tally: Tally, concurrency: int) -> int:
    """How many acknowledged photos the service cannot serve back (their files were lost)."""
    token_of = {phone.user_id: phone.token for phone in phones}
    owner_of = {obs_id: observer for (observer, _), obs_id in tally.observations.items()}
    gate = asyncio.Semaphore(concurrency)
    missing = 0

    async def fetch(client: httpx.AsyncClient, observation_id: str, photo_id: str) -> None:
        nonlocal missing
        headers = {"Authorization": f"Bearer {token_of[owner_of[observation_id]]}"}
        async with gate:
            response = await client.get(f"/photos/{photo_id}/small", headers=headers)
        if response.status_code != 200 or not response.content.startswith(b"\xff\xd8"):
            missing += 1

    async with httpx.AsyncClient(base_url=api, timeout=60.0) as client:
        await asyncio.gather(*(fetch(client, o, p) for o, p in tally.photos.items()))
    return missing


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """A local S3-compatible server (moto) in a process of its own; its URL."""
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process)
        log.close()


def s3_env(endpoint: str) -> dict[str, str]:
    from app.media.storage import S3Storage

    S3Storage(
        bucket=S3_BUCKET,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=S3_KEYS["SENTINELLES_S3_ACCESS_KEY_ID"],
        secret_access_key=S3_KEYS["SENTINELLES_S3_SECRET_ACCESS_KEY"],
    ).ensure_bucket()
    return {
        "SENTINELLES_MEDIA_BACKEND": "s3",
        "SENTINELLES_S3_ENDPOINT_URL": endpoint,
        "SENTINELLES_S3_BUCKET": S3_BUCKET,
        "SENTINELLES_S3_REGION": "us-east-1",
        **S3_KEYS,
    }


# --- one run -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace, db: str) -> dict[str, Any]:
    media = args.media or ("s3" if db == "postgresql" else "local")
    with tempfile.TemporaryDirectory(prefix="sentinelles-load-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(fresh_database(db, workdir, pg_admin_url=args.pg_admin_url))
            prepare_database(url)
            pairs, species = create_accounts(url, args.phones, fast_hashing=args.fast_hashing)
            env = {"SENTINELLES_DATABASE_POOL_SIZE": "20"}
            if args.fast_hashing:
                env |= {"SENTINELLES_ARGON2_TIME_COST": "1", "SENTINELLES_ARGON2_MEMORY_KIB": "8"}
            if media == "s3":
                env |= s3_env(stack.enter_context(moto_server(workdir)))
            server = stack.enter_context(
                run_server(url, workdir=workdir, workers=args.workers, extra_env=env)
            )
            rng = random.Random(args.seed)
            phones = [
                Phone(email=email, user_id=user_id, rng=random.Random(rng.getrandbits(64)))
                for email, user_id in pairs
            ]
            plan = Plan(
                seconds=args.seconds,
                ramp_seconds=min(args.ramp, args.seconds / 2),
                species=species,
                photos=make_photos(8, args.seed),
            )
            tally, elapsed = asyncio.run(drive(server.api, phones, plan, args.concurrency))
            not_served = asyncio.run(photos_served(server.api, phones, tally, args.concurrency))
            counts = count_stored(url, [p.user_id for p in phones], tally)
            counts.photos_not_served = not_served
    calls = {
        call: {
            "count": len(tally.latencies[call]),
            "per_second": len(tally.latencies[call]) / elapsed,
            "p50_ms": percentile(tally.latencies[call], 0.50) * 1000,
            "p99_ms": percentile(tally.latencies[call], 0.99) * 1000,
            "errors": tally.errors[call],
        }
        for call in CALLS
    }
    total = sum(c["count"] for c in calls.values())
    return {
        "db": db,
        "media": media,
        "phones": args.phones,
        "seconds": args.seconds,
        "ramp_seconds": min(args.ramp, args.seconds / 2),
        "workers": args.workers,
        "concurrency": args.concurrency,
        "elapsed_s": elapsed,
        "requests_per_second": total / elapsed,
        "observations_per_second": len(tally.observations) / elapsed,
        "resent_items": tally.resent_items,
        "resent_photos": tally.resent_photos,
        "calls": calls,
        "errors": sum(tally.errors.values()),
        "error_samples": tally.error_samples,
        "counts": vars(counts),
    }


def failures(result: dict[str, Any]) -> int:
    counts = result["counts"]
    return (
        result["errors"]
        + counts["lost_observations"]
        + counts["duplicated_observations"]
        + counts["unacknowledged_stored"]
        + counts["lost_photos"]
        + counts["duplicated_photos"]
        + counts["photos_not_served"]
    )


def report(result: dict[str, Any]) -> str:
    lines = [
        f"== {result['db']} ({result['media']} photos), {result['phones']} phones, "
        f"{result['workers']} workers, {result['elapsed_s']:.1f} s "
        f"(starting over {result['ramp_seconds']:.0f} s), "
        f"at most {result['concurrency']} requests in flight",
        f"throughput: {result['requests_per_second']:.0f} requests/s, "
        f"{result['observations_per_second']:.0f} observations acknowledged/s "
        f"({result['resent_items']} observations and {result['resent_photos']} photos sent again "
        "after a lost answer)",
        f"{'call':<10}{'count':>9}{'per s':>9}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}",
    ]
    for call, c in result["calls"].items():
        lines.append(
            f"{call:<10}{c['count']:>9}{c['per_second']:>9.1f}{c['p50_ms']:>10.1f}"
            f"{c['p99_ms']:>10.1f}{c['errors']:>8}"
        )
    k = result["counts"]
    lines += [
        f"observations: {k['acknowledged_observations']} acknowledged, "
        f"{k['stored_observations']} stored; lost {k['lost_observations']}, duplicated "
        f"{k['duplicated_observations']}, stored but never acknowledged "
        f"{k['unacknowledged_stored']}",
        f"photos: {k['acknowledged_photos']} acknowledged, {k['stored_photos']} stored; lost "
        f"{k['lost_photos']}, duplicated {k['duplicated_photos']}, not served "
        f"{k['photos_not_served']}",
        f"errors: {result['errors']}",
    ]
    lines += [f"  e.g. {sample}" for sample in result["error_samples"]]
    lines.append("OK: 0 errors, 0 lost, 0 duplicated" if not failures(result) else "FAILED")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/load",
        description="Many simulated phones syncing at once against uvicorn worker processes on "
        "a fresh database; prints throughput and p50/p99 per call, then counts in the database "
        "that nothing acknowledged was lost or stored twice. Exit status 1 otherwise.",
        epilog="Examples: scripts/load (200 phones, 60 s, both databases); "
        "scripts/load --phones 20 --seconds 5 --db sqlite --fast-hashing (a quick check). "
        "PostgreSQL: a throwaway database is created from --pg-admin-url and dropped at the end. "
        "Figures so far: docs/performance.md, 'Load test'.",
    )
    parser.add_argument("--phones", type=int, default=200, help="simulated phones (default 200)")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="how long they sync (default 60)"
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="the database; PostgreSQL runs with S3 photo storage (moto), SQLite with local "
        "files (default both)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes (default 2)"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=10.0,
        help="the phones start (sign in) one after the other over this many seconds, at most "
        "half the run (default 10)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="requests in flight at most, all phones together (default 50)",
    )
    parser.add_argument(
        "--media",
        choices=["local", "s3"],
        default=None,
        help="photo storage instead of the database's default",
    )
    parser.add_argument(
        "--fast-hashing",
        action="store_true",
        help="cheap password hashing (argon2 at the tests' cost) so that short runs are not "
        "sign-ins only; not for figures",
    )
    parser.add_argument("--seed", type=int, default=20261203, help="seed of the phones' choices")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN_URL,
        help="administrative PostgreSQL URL (default: SENTINELLES_BENCH_POSTGRES_URL, "
        "SENTINELLES_TEST_POSTGRES_URL, else postgres@127.0.0.1:5432)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(json.dumps(machine_info()))
    chosen = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in chosen and (reason := postgres_unreachable(args.pg_admin_url)):
        print(f"PostgreSQL: {reason} (see --pg-admin-url)", file=sys.stderr)
        return 2
    results = []
    for db in chosen:
        result = run(args, db)
        results.append(result)
        print(report(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if any(failures(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
