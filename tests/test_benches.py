"""Every bench of ``scripts/bench`` runs and gives its measures, on each database.

It runs ``scripts/bench/all --smoke`` (tiny sizes) as a developer runs it, so that a bench
broken by a change of the app (a column, a route, an answer) fails the test suite instead of
waiting for the next measuring session. It asserts what each bench produced, never a timing nor
an aim: CI machines differ, and tiny sizes measure nothing; the figures are in
docs/performance.md.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "scripts" / "bench" / "all"
BENCHES = {"ingest", "stats", "review", "review_page", "export", "dashboard", "photos"}
SHAPE = {"name", "db", "value", "unit", "floor", "ratio", "aim", "met"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")  # skips, or fails in CI, without PostgreSQL
    return str(request.param)


def test_every_bench_runs_and_gives_its_measures(database: str, tmp_path: Path) -> None:
    output = tmp_path / "benches.json"
    # fmt: off
    command = [
        sys.executable, str(RUNNER), "--smoke", "--db", database, "--json", str(output),
        "--pg-admin-url", PG_ADMIN_URL, "--timeout", "600",
    ]
    # fmt: on
    done = subprocess.run(command, capture_output=True, text=True, timeout=3000, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    doc = json.loads(output.read_text(encoding="utf-8"))
    assert {b["name"] for b in doc["benches"]} == BENCHES
    assert all(b["ok"] for b in doc["benches"]), [b for b in doc["benches"] if not b["ok"]]
    by_bench: dict[str, list[dict]] = {}
    for m in doc["measures"]:
        by_bench.setdefault(m["bench"], []).append(m)
    assert set(by_bench) == BENCHES
    for bench, measures in by_bench.items():
        for m in measures:
            assert set(m) >= SHAPE, (bench, m)
            assert m["db"] == database, (bench, m)
            assert isinstance(m["value"], int | float) and math.isfinite(m["value"]), (bench, m)
            if m["floor"] is not None:
                assert m["floor"] > 0 and m["ratio"] is not None, (bench, m)
            if m["aim"] is not None:
                assert isinstance(m["met"], bool), (bench, m)
    names = {m["name"] for m in doc["measures"]}
    # The aims, each with its measure (their figures are not asserted).
    for wanted in (
        "batch sync",
        "single POST",
        "/stats/yearly",
        "/stats/comparison",
        "queue, first page",
        "CSV export",
        "DwC-A export",
    ):
        assert wanted in names, (wanted, sorted(names))
    assert any(n.startswith("photo upload") for n in names), sorted(names)
