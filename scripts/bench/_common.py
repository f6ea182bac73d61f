"""What every benchmark of ``scripts/bench`` shares: a fresh database, a real server process, a
signed-in user, and the machine's own figures (CPU, memory, process RSS) to print beside results.

The benches measure the service as it is deployed: one ``uvicorn`` process started the way
production starts it, talking HTTP over a socket, on a database migrated by Alembic and loaded
with the reference data. Nothing here imports the app into the benchmark's own process except to
prepare the database.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

API = "/api/v1"
DEFAULT_PG_ADMIN_URL = os.environ.get(
    "SENTINELLES_BENCH_POSTGRES_URL",
    os.environ.get(
        "SENTINELLES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
)
BENCH_PASSWORD = "bench-password-0123456789"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the machine -------------------------------------------------------------------------------


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with Path(path).open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to compare figures across machines."""
    mem_kib = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name") or platform.processor(),
        "cpu_mhz": _first_line_with("/proc/cpuinfo", "cpu MHz"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gib": round(int(mem_kib.split()[0]) / 1024 / 1024, 1) if mem_kib else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- processes -----------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int | None:
    value = _first_line_with(f"/proc/{pid}/status", field + ":")
    return int(value.split()[0]) if value else None


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text_ = (task / "children").read_text()
            kids.extend(int(p) for p in text_.split())
    return kids


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(_children(p))
    return tree


def peak_rss_mib(pid: int) -> float | None:
    """The peak resident set (VmHWM) of a process and its children, in MiB."""
    total = [_status_kib(p, "VmHWM") for p in process_tree(pid)]
    known = [v for v in total if v is not None]
    return round(sum(known) / 1024, 1) if known else None


def rss_mib(pid: int) -> float | None:
    """The current resident set (VmRSS) of a process and its children, in MiB."""
    known = [v for v in (_status_kib(p, "VmRSS") for p in process_tree(pid)) if v is not None]
    return round(sum(known) / 1024, 1) if known else None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its children (from /proc/<pid>/stat)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """User + system CPU time of this process and of the children it has waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine_cpu_jiffies() -> tuple[int, int]:
    """``(busy, total)`` CPU time of the whole machine so far, all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass
class CpuUse:
    """CPU time spent during one measure, by whom. ``others_cores`` is what the rest of the
    machine kept busy on average (in cores): well above zero, something else shared the cores
    and the figure is pessimistic."""

    wall_s: float = 0.0
    client_s: float = 0.0
    server_s: float = 0.0
    database_s: float = 0.0  # PostgreSQL's backends; SQLite works inside the server process
    others_cores: float = 0.0


class CpuMeter:
    """Measures :class:`CpuUse` over a ``with`` block. ``database_pids`` lists the database
    server's processes working for the bench, asked at the start and at the end: a process that
    appears in between counts whole, one that exits in between is lost."""

    def __init__(
        self, server_pid: int, database_pids: Callable[[], list[int]] | None = None
    ) -> None:
        self.server_pid = server_pid
        self.database_pids = database_pids or list
        self.use = CpuUse()

    def _database(self) -> dict[int, float]:
        return {pid: process_cpu_seconds(pid) for pid in self.database_pids()}

    def __enter__(self) -> CpuUse:
        self._database0 = self._database()
        self._machine = machine_cpu_jiffies()
        self._client = own_cpu_seconds()
        self._server = process_cpu_seconds(self.server_pid)
        self._t0 = time.perf_counter()
        return self.use

    def __exit__(self, *exc: object) -> None:
        use = self.use
        use.wall_s = time.perf_counter() - self._t0
        use.client_s = own_cpu_seconds() - self._client
        use.server_s = process_cpu_seconds(self.server_pid) - self._server
        busy0, total0 = self._machine
        busy1, total1 = machine_cpu_jiffies()
        use.database_s = sum(
            max(0.0, cpu - self._database0.get(pid, 0.0)) for pid, cpu in self._database().items()
        )
        all_cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
        ours = (use.client_s + use.server_s + use.database_s) / max(use.wall_s, 1e-9)
        use.others_cores = max(0.0, all_cores - ours)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``uvicorn`` process serving the app."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def api(self) -> str:
        return self.base_url + API

    def peak_rss_mib(self) -> float | None:
        return peak_rss_mib(self.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production deployment, on ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLES_")}
    env.update(
        SENTINELLES_DATABASE_URL=database_url,
        SENTINELLES_ENVIRONMENT="production",
        SENTINELLES_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def run_server(
    database_url: str,
    *,
    workdir: Path,
    workers: int = 1,
    app: str = "app.main:app_factory",
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 180.0,  # a busy 2-core machine can take a minute to import the app
) -> Iterator[Server]:
    """Start ``uvicorn`` on a free port of 127.0.0.1 as production does, wait for ``/readyz``,
    and stop it (SIGTERM, then SIGKILL) on the way out. ``app`` is the factory to serve (an
    experiment may serve a variant of the app from a module on ``PYTHONPATH``)."""
    port = free_port()
    extra = dict(extra_env or {})
    extra.setdefault("SENTINELLES_MEDIA_DIR", str(workdir / "media"))
    cmd = [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    log_path = workdir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=server_env(database_url, **extra),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        wait_ready(server, timeout=ready_timeout)
        yield server
    except BaseException:
        # The log goes with the temporary directory: show it while it is there.
        print(f"--- server log ({log_path.name}), last lines ---", file=sys.stderr)
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        stop(process)


def wait_ready(server: Server, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                r = client.get(server.base_url + "/readyz")
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise RuntimeError(
        f"the server was not ready after {timeout:.0f}s ({last}):\n{server.log_tail()}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --- databases -----------------------------------------------------------------------------------


def postgres_unreachable(admin_url: str) -> str | None:
    """Why PostgreSQL at ``admin_url`` cannot be used, or None when it can."""
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        where = make_url(admin_url).render_as_string()
        return f"PostgreSQL not reachable at {where}: {type(exc).__name__}: {exc}"[:300]
    return None


class PostgresProbe:
    """Looks at a PostgreSQL database from the side while a bench runs: which server processes
    serve it (to count their CPU) and how many connections were opened. Only meaningful when
    PostgreSQL runs on this machine, as the benches assume. Holds one connection of its own,
    opened before any measure, so that it does not count itself."""

    def __init__(self, url: str) -> None:
        self.database = make_url(url).database
        self._engine = create_engine(url, pool_size=1, max_overflow=0)
        self._conn = self._engine.connect()

    def _scalars(self, sql: str) -> list[int]:
        rows = self._conn.execute(text(sql), {"db": self.database}).all()
        self._conn.rollback()  # no transaction left open between measures
        return [int(value) for (value,) in rows]

    def backend_pids(self) -> list[int]:
        """The server processes of the connections to the database, this probe's excepted."""
        return self._scalars(
            "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        )

    def sessions(self) -> int:
        """Connections opened to the database so far (PostgreSQL 14+; 0 before)."""
        found = self._scalars("SELECT sessions FROM pg_stat_database WHERE datname = :db")
        return found[0] if found else 0

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


@contextlib.contextmanager
def throwaway_postgres(admin_url: str, prefix: str = "sentinelles_bench") -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped (even with connections left) on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, *, pg_admin_url: str) -> Iterator[str]:
    """The URL of a new empty database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
    elif kind == "postgresql":
        with throwaway_postgres(pg_admin_url) as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}")


def prepare_database(url: str) -> None:
    """Migrate to head and load the species and zones a fresh install ships with."""
    from sqlmodel import Session

    from app.core.db import make_engine
    from app.core.migrations import upgrade
    from app.species.service import DEFAULT_SPECIES_FILE, import_species
    from app.zones.service import DEFAULT_ZONES_FILE, import_zones

    engine = make_engine(url, pool_size=2)
    try:
        upgrade(engine)
        with Session(engine) as session:
            import_species(session, DEFAULT_SPECIES_FILE)
            import_zones(session, DEFAULT_ZONES_FILE)
            session.commit()
    finally:
        engine.dispose()


# --- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(api: str, *, display_name: str = "Banc d'essai") -> Account:
    """Register a new sentinel through the API and sign in (OAuth2 password form)."""
    email = f"bench-{uuid.uuid4().hex[:12]}@example.org"
    with httpx.Client(base_url=api, timeout=30.0) as client:
        r = client.post(
            "/auth/register",
            json={"email": email, "password": BENCH_PASSWORD, "display_name": display_name},
        )
        if r.status_code != 201:
            raise RuntimeError(f"register answered {r.status_code}: {r.text[:300]}")
        user_id = str(r.json()["id"])
        r = client.post("/auth/token", data={"username": email, "password": BENCH_PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"token answered {r.status_code}: {r.text[:300]}")
        return Account(id=user_id, email=email, token=str(r.json()["access_token"]))


# --- memory over a measure (added for the photos bench) ------------------------------------------


def reset_peak_rss(pid: int) -> bool:
    """Reset the peak resident set (``VmHWM``) of a process and its children to their current
    RSS (``echo 5 > /proc/<pid>/clear_refs``, Linux 4.0+), so that the peak read after a measure
    is the measure's own. False when a process of the tree could not be reset (then the peak
    still includes what came before)."""
    done = True
    for p in process_tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


class RssSampler:
    """Samples the resident set of a process tree every ``interval`` seconds in a thread while a
    ``with`` block runs: ``peak_mib`` is the largest sample. A check on ``VmHWM`` that also works
    where the peak cannot be reset; it misses a spike shorter than the interval."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        import threading  # here rather than at the top: this section was added at the end

        self.pid = pid
        self.interval = interval
        self.peak_mib: float | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mib(self.pid)
            if value is not None:
                self.samples += 1
                if self.peak_mib is None or value > self.peak_mib:
                    self.peak_mib = value
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def databases(choice: str, pg_admin_url: str, console: Any) -> Iterator[str]:
    """The databases a bench runs on (``sqlite``, ``postgresql`` or ``both``); PostgreSQL is
    skipped, with the reason printed, when it does not answer."""
    if choice in ("sqlite", "both"):
        yield "sqlite"
    if choice in ("postgresql", "both"):
        reason = postgres_unreachable(pg_admin_url)
        if reason:
            console.print(f"[yellow]PostgreSQL skipped: {reason}[/]")
        else:
            yield "postgresql"


# --- the measures every bench emits (read by scripts/bench/all) ---------------------------------


def as_measure(
    name: str,
    db: str,
    value: float | None,
    unit: str,
    *,
    floor: float | None = None,
    ratio: float | None = None,
    aim: str | None = None,
) -> dict[str, Any]:
    """One measure in the shape ``scripts/bench/all`` collects: ``{"name", "db", "value", "unit",
    "floor", "ratio", "aim", "met"}``. ``ratio`` defaults to value / floor. ``aim`` reads
    ``"ratio ≥ X"``, ``"ratio ≤ X"``, ``"value ≥ X"`` or ``"value ≤ X"`` (``<``/``>`` also
    accepted); ``met`` says whether it holds, None when there is no aim or nothing to read it on."""

    def number(x: float | None) -> float | None:
        return None if x is None or x != x else float(x)

    value, floor = number(value), number(floor)
    if ratio is None and value is not None and floor:
        ratio = value / floor
    ratio = number(ratio)
    return {
        "name": name,
        "db": db,
        "value": value,
        "unit": unit,
        "floor": floor,
        "ratio": ratio,
        "aim": aim,
        "met": aim_met(aim, value=value, ratio=ratio),
    }


def aim_met(aim: str | None, *, value: float | None, ratio: float | None) -> bool | None:
    """Whether ``value`` or ``ratio`` meets an aim written as in :func:`as_measure`."""
    if not aim:
        return None
    subject, op, threshold = aim.split()
    read = ratio if subject == "ratio" else value
    if read is None:
        return False
    limit = float(threshold.rstrip("×"))
    return {
        "≥": read >= limit,
        ">=": read >= limit,
        ">": read > limit,
        "≤": read <= limit,
        "<=": read <= limit,
        "<": read < limit,
    }[op]
