"""The load test, short: 20 phones for 5 s against two uvicorn workers, on each database.

It runs ``scripts/loadtest.py`` as an operator runs ``scripts/load`` (PostgreSQL with S3 photo
storage on a moto server, SQLite with local files) and checks what it counted in the database:
no error answer, nothing acknowledged lost, nothing stored twice, every photo served back. It
asserts no timings: CI machines differ; the figures of the full run are in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "loadtest.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        pytest.importorskip("moto.server", reason="S3 photo storage needs moto (dev extra)")
        request.getfixturevalue("postgres_url")  # skips, or fails in CI, without PostgreSQL
    return str(request.param)


def test_short_load_loses_and_duplicates_nothing(database: str, tmp_path: Path) -> None:
    output = tmp_path / "load.json"
    # fmt: off
    command = [
        sys.executable, str(SCRIPT), "--phones", "20", "--seconds", "5", "--db", database,
        "--workers", "2", "--fast-hashing", "--json", str(output), "--pg-admin-url", PG_ADMIN_URL,
    ]
    # fmt: on
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    (result,) = json.loads(output.read_text(encoding="utf-8"))
    counts = result["counts"]
    assert result["errors"] == 0, result["error_samples"]
    assert counts["lost_observations"] == 0
    assert counts["duplicated_observations"] == 0
    assert counts["unacknowledged_stored"] == 0
    assert counts["stored_observations"] == counts["acknowledged_observations"] > 0
    assert counts["lost_photos"] == 0
    assert counts["duplicated_photos"] == 0
    assert counts["photos_not_served"] == 0
    assert counts["stored_photos"] == counts["acknowledged_photos"] > 0
    # The run did what it says: every kind of call, and resends after lost answers.
    assert all(call["count"] > 0 for call in result["calls"].values())
    assert result["resent_items"] > 0
    assert result["media"] == ("s3" if database == "postgresql" else "local")
