"""Run every bench of scripts/bench, on SQLite and PostgreSQL, and collect their measures.

    scripts/bench/all [--quick | --smoke] [--db sqlite|postgresql|both] --json PATH

Each bench runs in its own process (``.venv/bin/python scripts/bench/NAME.py ... --json ...``),
one after the other, with the sizes of the mode: the benches' own defaults (the issue's sizes,
about two hours in all), ``--quick`` (reduced sizes, under 10 minutes on a 2-core machine) or
``--smoke`` (tiny sizes, seconds per bench: it checks that every bench runs and gives its
measures, not the aims; the test suite runs it). Every bench writes its figures in one shape,
``{"name", "db", "value", "unit", "floor", "ratio", "aim", "met"}`` (``as_measure`` in
``_common.py``); this script gathers them into ``{"measures": [...]}`` at PATH, with each bench's
status and time, prints one line per bench as it ends and a table of every measure at the end.

Set up as ``scripts/test`` does: the project's ``.venv`` (created with the development tools
when missing), PostgreSQL at ``SENTINELLES_BENCH_POSTGRES_URL`` (or
``SENTINELLES_TEST_POSTGRES_URL``, or ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``),
an administrative connection from which each bench creates its throwaway databases and drops
them; when it does not answer, the benches run on SQLite only (``--require-postgres``: fail).
Each bench's output goes to a log beside PATH (``PATH.logs/NAME.log``), its tail printed when it
fails.

Exit status: 0 when every bench ran and gave every measure a number on every database; 1 when
one failed (its exit status, a missing measure or a missing number); with ``--check-aims``, 3
when they all ran but an aim was not met; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "scripts" / "bench"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def ensure_venv() -> None:
    """Run under the project's .venv, created and installed as scripts/test does."""
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        return
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = ROOT / ".venv" / ".installed-dev"
    if not VENV_PYTHON.exists():
        print("==> Creating .venv…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
    ready = installed.exists() and installed.read_text().strip() == stamp
    if not ready:
        probe = subprocess.run(
            [str(VENV_PYTHON), "-c", "import app, httpx, rich, uvicorn, psycopg"],
            capture_output=True,
        )
        if probe.returncode != 0:
            print("==> Installing Sentinelles with its development tools into .venv…", flush=True)
            subprocess.run(
                [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-e",
                 ".[dev]"],
                cwd=ROOT,
                check=True,
            )  # fmt: skip
            installed.write_text(stamp + "\n")
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    full: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    smoke: list[str] = field(default_factory=list)


# The sizes of each mode. Smoke: the least each bench accepts and still checks its answers.
BENCHES = [
    Bench(
        "ingest",
        "single POST and batch sync against the bare FastAPI POST and executemany",
        quick=["--single", "2000", "--batches", "4", "--warmup", "100"],
        smoke=["--single", "40", "--batches", "1", "--warmup", "10", "--concurrency", "4"],
    ),
    Bench(
        "stats",
        "/stats/yearly and /stats/comparison against the GROUP BY by hand",
        quick=[
            "--rows",
            "100000",
            "--site-years",
            "1000",
            "--requests",
            "5",
            "--warmup",
            "1",
            "--max-seconds",
            "10",
            "--no-explain",
            "--no-best-index",
            "--no-trim",
        ],
        smoke=[
            "--rows",
            "10000",
            "--site-years",
            "20",
            "--requests",
            "1",
            "--warmup",
            "1",
            "--max-seconds",
            "1",
            "--no-explain",
            "--no-best-index",
            "--no-trim",
        ],
    ),
    Bench(
        "review",
        "the review queue and bulk review against their SQL floor",
        quick=[
            "--rows",
            "100000",
            "--queue-requests",
            "10",
            "--warmup",
            "2",
            "--bulk-rounds",
            "2",
            "--no-explain",
        ],
        smoke=[
            "--rows",
            "15000",
            "--queue-requests",
            "1",
            "--warmup",
            "1",
            "--bulk-rounds",
            "1",
            "--no-explain",
            "--no-history",
        ],
    ),
    Bench(
        "review_page",
        "the review workbench's pages against the API",
        quick=["--quick"],
        smoke=["--rows", "10000", "--requests", "1", "--warmup", "1"],
    ),
    Bench(
        "export",
        "CSV and DwC-A exports against the cursor floor",
        quick=["--rows", "50000"],
        smoke=["--rows", "2000"],
    ),
    Bench(
        "dashboard",
        "the public dashboard, cached and after a change",
        quick=["--quick", "--requests", "10"],
        smoke=["--rows", "10000", "--site-years", "20", "--requests", "1"],
    ),
    Bench(
        "photos",
        "photo uploads against process_photo",
        quick=["--uploads", "10", "--burst", "10"],
        smoke=["--uploads", "1", "--burst", "2", "--concurrency", "1"],
    ),
]


@dataclass
class Outcome:
    bench: str
    seconds: float
    exit: int | None
    log: str
    measures: list[dict[str, Any]]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_measures(measures: list[dict[str, Any]], dbs: list[str]) -> list[str]:
    """What is wrong with a bench's measures: a database without any, an item not of the shape,
    a value that is not a number."""
    keys = {"name", "db", "value", "unit", "floor", "ratio", "aim", "met"}
    problems = []
    for db in dbs:
        if not any(m.get("db") == db for m in measures):
            problems.append(f"no measure on {db}")
    for m in measures:
        if not keys <= set(m):
            problems.append(f"{m.get('name')!r} lacks {sorted(keys - set(m))}")
        elif not _number(m["value"]):
            problems.append(f"{m['name']} ({m['db']}): value {m['value']!r} is not a number")
        elif m["aim"] is not None and not isinstance(m["met"], bool):
            problems.append(f"{m['name']} ({m['db']}): aim {m['aim']!r} without met")
    # The same measures on every database: a bench that drops one on a database is broken.
    names = {db: {m.get("name") for m in measures if m.get("db") == db} for db in dbs}
    for db in dbs:
        for other in dbs:
            missing = names[other] - names[db]
            if missing:
                problems.append(f"on {db}, missing {sorted(missing)} (given on {other})")
    return problems


def run_bench(
    bench: Bench, sizes: list[str], args: argparse.Namespace, dbs: list[str], logs: Path
) -> Outcome:
    out = logs / f"{bench.name}.json"
    log = logs / f"{bench.name}.log"
    out.unlink(missing_ok=True)
    db = dbs[0] if len(dbs) == 1 else "both"
    cmd = [
        sys.executable, str(BENCH_DIR / f"{bench.name}.py"), "--db", db,
        "--pg-admin-url", args.pg_admin_url, *sizes, "--json", str(out),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "140"}
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        try:
            code: int | None = subprocess.run(
                cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=args.timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.perf_counter() - t0
    problems: list[str] = []
    measures: list[dict[str, Any]] = []
    if code is None:
        problems.append(f"stopped after {args.timeout:.0f} s")
    elif code != 0:
        problems.append(f"exit status {code}")
    if out.exists():
        try:
            measures = list(json.loads(out.read_text())["measures"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"its JSON has no measures ({type(exc).__name__}: {exc})")
    elif code is not None:
        problems.append("wrote no JSON")
    if out.exists() and measures is not None:
        problems += check_measures(measures, dbs)
    for m in measures:
        m["bench"] = bench.name
    return Outcome(bench.name, seconds, code, str(log), measures, problems)


def _tail(path: str, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _fmt(value: Any) -> str:
    if not _number(value):
        return "—"
    v = float(value)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}"
    return f"{v:.3f}"


def _git_commit() -> str | None:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return found.stdout.strip() or None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench/all",
        description="Run every bench of scripts/bench and write their measures as one JSON.",
        epilog="Modes: the benches' own sizes (the issue's, about two hours); --quick, reduced "
        "sizes, under 10 minutes on 2 cores; --smoke, tiny sizes, seconds per bench, checks "
        "only that every bench runs and gives its measures (the test suite runs it).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="reduced sizes, under 10 minutes")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: every bench runs")
    parser.add_argument("--json", metavar="PATH", required=True, help="where to write measures")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--only", metavar="NAME", action="append", choices=[b.name for b in BENCHES],
        help="run only this bench (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--require-postgres", action="store_true",
        default=os.environ.get("SENTINELLES_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false"),
        help="fail when PostgreSQL does not answer (default: SQLite only, with a message; "
        "on when SENTINELLES_TEST_REQUIRE_POSTGRES is set)",
    )  # fmt: skip
    parser.add_argument(
        "--check-aims", action="store_true", help="exit 3 when an aim is not met (not with --smoke)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds a bench may take (default: none)"
    )
    parser.add_argument("--pg-admin-url", default=None, help="PostgreSQL administrative URL")
    args = parser.parse_args(argv)
    if args.smoke and args.check_aims:
        parser.error("--smoke checks that the benches run, not their aims")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_venv()
    sys.path.insert(0, str(BENCH_DIR))
    from _common import DEFAULT_PG_ADMIN_URL, machine_info, postgres_unreachable
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    args.pg_admin_url = args.pg_admin_url or DEFAULT_PG_ADMIN_URL
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in dbs:
        reason = postgres_unreachable(args.pg_admin_url)
        if reason:
            if args.require_postgres:
                console.print(f"[red]{reason} (PostgreSQL required)[/]")
                return 1
            console.print(f"[yellow]{reason}: SQLite only[/]")
            dbs.remove("postgresql")
            if not dbs:
                return 1
    json_path = Path(args.json)
    logs = json_path.with_name(json_path.name + ".logs")
    logs.mkdir(parents=True, exist_ok=True)
    benches = [b for b in BENCHES if not args.only or b.name in args.only]
    console.print(
        f"[bold]scripts/bench/all[/] ({mode}): {len(benches)} benches on {', '.join(dbs)}; "
        f"logs in {logs}"
    )
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    for i, bench in enumerate(benches, 1):
        sizes = {"smoke": bench.smoke, "quick": bench.quick, "full": bench.full}[mode]
        label = f"[{i}/{len(benches)}] {bench.name}: {bench.what}"
        with console.status(f"{label} …", spinner="dots"):
            outcome = run_bench(bench, sizes, args, dbs, logs)
        outcomes.append(outcome)
        met = [m["met"] for m in outcome.measures if m["met"] is not None]
        aims = f", {sum(met)} of {len(met)} aims met" if met and mode != "smoke" else ""
        if outcome.ok:
            console.print(
                f"[green]✓[/] {label}: {len(outcome.measures)} measures{aims} "
                f"in {outcome.seconds:.0f} s"
            )
        else:
            console.print(
                f"[red]✗[/] {label}: {'; '.join(outcome.problems[:4])} "
                f"({outcome.seconds:.0f} s; log {outcome.log})"
            )
            console.print(_tail(outcome.log), markup=False, highlight=False)
    total = time.perf_counter() - started

    measures = [m for o in outcomes for m in o.measures]
    table = Table(title=f"Measures ({mode}), {total:.0f} s in all")
    for col in ("bench", "measure", "DB", "value", "unit", "floor", "ratio", "aim", "met"):
        table.add_column(col, justify="right" if col in ("value", "floor", "ratio") else "left")
    for m in measures:
        met = "—" if m["met"] is None else "[green]yes[/]" if m["met"] else "[red]no[/]"
        table.add_row(
            m["bench"], m["name"], m["db"], _fmt(m["value"]), m["unit"], _fmt(m["floor"]),
            _fmt(m["ratio"]), m["aim"] or "", met,
        )  # fmt: skip
    console.print(table)
    doc = {
        "mode": mode,
        "databases": dbs,
        "commit": _git_commit(),
        "machine": machine_info(),
        "seconds": total,
        "benches": [
            {
                "name": o.bench,
                "seconds": o.seconds,
                "exit": o.exit,
                "ok": o.ok,
                "problems": o.problems,
                "log": o.log,
                "measures": len(o.measures),
            }
            for o in outcomes
        ],
        "measures": measures,
    }
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    failed = [o.bench for o in outcomes if not o.ok]
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/]")
        return 1
    unmet = [m for m in measures if m["met"] is False]
    if mode != "smoke":
        console.print(
            f"{sum(m['met'] is True for m in measures)} aims met, {len(unmet)} not met"
            + (" (not enforced; --check-aims)" if unmet and not args.check_aims else "")
        )
    if args.check_aims and unmet:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
