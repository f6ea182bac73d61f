"""Dashboard benchmark: the public page ``/`` and its map data, cached and after a data change,
with a million observations stored.

    .venv/bin/python scripts/bench/dashboard.py [--db sqlite|postgresql|both] [--rows 1000000]
        [--site-years 10000] [--requests 30] [--quick] [--json PATH]

For each database: a fresh database loaded by ``stats.py``'s loader (``--rows`` observations
over five years, survey sites and visits, the CPIE's baselines; ``--quick``: 20,000 rows and
400 site-years), then two ``uvicorn`` processes started as production starts them, one after
the other, requests anonymous as a resident's browser sends them (``Accept: text/html``):

* **after a change** (server with ``SENTINELLES_REFERENCE_CACHE_SECONDS=0``, so that it reads
  the data version on every request): before each timed ``GET /?year=Y`` the bench moves one
  validated observation's ``updated_at`` (what a review does), so that the page is computed
  again: the comparison, the yearly figures, both swallows' phenology, the trend charts, the
  map's features, the template. Its floor: the public API calls the page is made of, timed in
  turn after the same change: ``/stats/comparison?year=Y``, ``/stats/yearly`` (25 years),
  ``/stats/phenology`` for both swallows and ``/observations?year=Y&limit=500`` for as many
  pages as the map reads. (The trend charts, TRIM fits, follow the survey's tables only: an
  observation's change does not fit them again, in the page as in ``trend_classes``.)
* **cached, version read each time** (same server): ``GET /?year=Y`` again and again with the
  data unchanged: only the version (count and latest ``updated_at`` of seven tables), the header
  and the CSRF token cost. Also ``/dashboard/map.geojson`` (200) and with its ``ETag`` (304).
* **cached** (server with the default settings: the version is read at most every 5 s).
  Floor of both cached figures: ``GET /login``, a page of the same app that reads nothing.

Printed: medians and 95th percentiles, and each figure as a ratio to its floor; the aim
(issue 16: a crowd costs one computation per data change) is read on the cached ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stats  # the loader of a million observations, surveys and baselines
from _common import (
    DEFAULT_PG_ADMIN_URL,
    as_measure,
    databases,
    fresh_database,
    machine_info,
    run_server,
)

console = Console()
HTML = {"accept": "text/html"}


def _timed(
    fn: Callable[[], Any], rounds: int, before: Callable[[], None] | None = None
) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "rounds": len(times),
    }


def _ok(response: httpx.Response, status: int = 200) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.url} answered {response.status_code}: {response.text[:300]}"
        )
    return response


class Toucher:
    """Moves one validated observation's ``updated_at``: a data change, as a review is."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, text

        self.engine = create_engine(url)
        self.text = text
        with self.engine.connect() as conn:
            self.row_id = conn.execute(
                text("SELECT id FROM observation WHERE status = 'validated' LIMIT 1")
            ).scalar_one()

    def __call__(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.text("UPDATE observation SET updated_at = :now WHERE id = :id"),
                {"now": datetime.now(UTC), "id": self.row_id},
            )

    def close(self) -> None:
        self.engine.dispose()


def run_once(db: str, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"db": db}
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        _loaded, plan, checks = stats.load(db, url, args, random.Random(args.seed))
        if checks:
            raise RuntimeError(f"{db}: the load's checks failed: {checks[:3]}")
        year = plan.year
        page = f"/?year={year}"
        figures["year"] = year
        figures["rows"] = args.rows
        toucher = Toucher(url)
        try:
            with contextlib.ExitStack() as stack:
                server = stack.enter_context(
                    run_server(
                        url,
                        workdir=Path(tmp),
                        extra_env={"SENTINELLES_REFERENCE_CACHE_SECONDS": "0"},
                    )
                )
                client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=600))
                html = _ok(client.get(page, headers=HTML)).text
                trends = sorted(set(re.findall(r"/dashboard/trend-(\d+)\.svg", html)))
                features = len(
                    _ok(client.get(f"/dashboard/map.geojson?year={year}")).json()["features"]
                )
                pages = max(1, -(-features // 500))
                figures.update(trend_charts=len(trends), map_features=features)
                console.log(
                    f"{db}: the page of {year}: {len(html):,} bytes, {features:,} map features, "
                    f"{len(trends)} trend charts"
                )

                def api_floor() -> None:
                    for path in (
                        f"/api/v1/stats/comparison?year={year}",
                        f"/api/v1/stats/yearly?from_year={year - 24}&to_year={year}",
                        *(
                            f"/api/v1/stats/phenology?cd_nom={c}&from_year={year - 11}"
                            f"&to_year={year}"
                            for c in (3696, 459478)
                        ),
                    ):
                        _ok(client.get(path))
                    cursor = None
                    for _ in range(pages):
                        params: dict[str, Any] = {"year": year, "limit": 500}
                        if cursor:
                            params["cursor"] = cursor
                        cursor = _ok(client.get("/api/v1/observations", params=params)).json()[
                            "next_cursor"
                        ]
                        if not cursor:
                            break

                rounds = args.requests
                slow = max(3, rounds // 3)
                figures["after a change"] = _timed(
                    lambda: _ok(client.get(page, headers=HTML)), slow, toucher
                )
                figures["API calls it is made of"] = _timed(api_floor, slow, toucher)
                figures["cached, version read each time"] = _timed(
                    lambda: _ok(client.get(page, headers=HTML)), rounds
                )
                tag = _ok(client.get(f"/dashboard/map.geojson?year={year}")).headers["etag"]
                figures["map data, cached"] = _timed(
                    lambda: _ok(client.get(f"/dashboard/map.geojson?year={year}")), rounds
                )
                figures["map data, 304"] = _timed(
                    lambda: _ok(
                        client.get(
                            f"/dashboard/map.geojson?year={year}", headers={"if-none-match": tag}
                        ),
                        304,
                    ),
                    rounds,
                )
                figures["login page (floor)"] = _timed(
                    lambda: _ok(client.get("/login", headers=HTML)), rounds
                )
            with contextlib.ExitStack() as stack:
                server = stack.enter_context(run_server(url, workdir=Path(tmp)))
                client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=600))
                _ok(client.get(page, headers=HTML))
                figures["cached"] = _timed(lambda: _ok(client.get(page, headers=HTML)), rounds)
                figures["login page (floor), default settings"] = _timed(
                    lambda: _ok(client.get("/login", headers=HTML)), rounds
                )
        finally:
            toucher.close()
    return figures


def report(results: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    console.print(
        f"{machine['cpu_model']} · {machine['cores_usable']} cores · {machine['ram_gib']} GiB · "
        f"Python {machine['python']} · {machine['date']}"
    )
    for r in results:
        t = Table(title=f"{r['db']}: GET /?year={r['year']}, {r['rows']:,} observations")
        for col in ("measure", "median ms", "p95 ms", "floor", "ratio"):
            t.add_column(col, justify="left" if col in ("measure", "floor") else "right")
        login = r["login page (floor)"]["median_ms"]
        login_default = r["login page (floor), default settings"]["median_ms"]
        api = r["API calls it is made of"]["median_ms"]
        rows = [
            ("after a change", "API calls", api),
            ("API calls it is made of", "", None),
            ("cached, version read each time", "login page", login),
            ("cached", "login page", login_default),
            ("map data, cached", "login page", login),
            ("map data, 304", "login page", login),
            ("login page (floor)", "", None),
        ]
        for name, floor_name, floor in rows:
            f = r[name]
            ratio = f"{f['median_ms'] / floor:.2f}×" if floor else ""
            t.add_row(name, f"{f['median_ms']:.1f}", f"{f['p95_ms']:.1f}", floor_name, ratio)
        console.print(t)
        speedup = r["after a change"]["median_ms"] / r["cached"]["median_ms"]
        console.print(f"{r['db']}: the cache answers {speedup:,.0f}× faster than a computation.")


def measures(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: the page after a change against the
    API calls it is made of, the cached page and the map data against the login page. No aim
    in numbers (issue 16 asks for one computation per data change)."""
    out = []
    for r in results:
        floors = {
            "after a change": "API calls it is made of",
            "cached, version read each time": "login page (floor)",
            "cached": "login page (floor), default settings",
            "map data, cached": "login page (floor)",
            "map data, 304": "login page (floor)",
        }
        for name, floor in floors.items():
            out.append(
                as_measure(
                    f"dashboard, {name}",
                    r["db"],
                    r[name]["median_ms"],
                    "ms",
                    floor=r[floor]["median_ms"],
                )
            )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--site-years", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30, help="timed rounds of a cached measure")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 400 site-years")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.site_years = 20_000, 400
    args.history = False  # review.py's loader: no review decisions nor audit events
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    results = [run_once(db, args) for db in databases(args.db, args.pg_admin_url, console)]
    if not results:
        console.print("[red]nothing measured[/]")
        return 2
    report(results, machine)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": machine, "measures": measures(results), "results": results},
                indent=2,
                default=str,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
