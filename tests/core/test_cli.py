"""The ``sentinelles`` command, run as an operator would, against a fresh database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import col
from typer.testing import CliRunner, Result

from app.accounts.models import User
from app.cli import cli
from app.core.migrations import head_revision
from app.core.settings import get_settings
from app.observations.models import Observation
from app.species.models import Species
from app.species.service import DEFAULT_SPECIES_FILE
from app.zones.models import Zone
from app.zones.service import DEFAULT_ZONES_FILE
from tests.conftest import PG_ADMIN_URL

COMMANDS = [
    "serve",
    "migrate",
    "create-user",
    "import-species",
    "import-zones",
    "import-baselines",
    "demo",
    "trim",
    "publish",
    "trends",
    "export",
    "erase-pupils",
    "rollups",
    "backup",
    "restore",
]

runner = CliRunner()
# The demo's people and their sightings; the demo class observes through an account of its own.
PEOPLE = col(User.email).not_like("class-%")
SIGHTINGS = col(Observation.pupil_id).is_(None)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Each command reads the environment afresh, as a new process would."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "SENTINELLES_DATABASE_URL": url,
        "SENTINELLES_ENVIRONMENT": "test",
        "SENTINELLES_ARGON2_TIME_COST": "1",
        "SENTINELLES_ARGON2_MEMORY_KIB": "8",
        "SENTINELLES_MEDIA_DIR": str(tmp_path / "media"),
    }


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return _env(db_url, tmp_path)


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    get_settings.cache_clear()
    return runner.invoke(cli, list(args), env=env, input=input)


def count(url: str, model: Any, *where: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    finally:
        engine.dispose()


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    result = run(env, "migrate")
    assert result.exit_code == 0, result.output
    return env


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_explains_itself(command: str | None) -> None:
    result = runner.invoke(cli, [command, "--help"] if command else ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if command is None:
        assert all(c in result.output for c in COMMANDS)


def test_the_list_above_names_every_command() -> None:
    """So that a new command cannot miss the test of its help."""
    import typer.main

    group: Any = typer.main.get_command(cli)
    assert sorted(group.commands) == sorted(COMMANDS)


def test_migrate_reaches_head_and_says_so_again(env: dict[str, str], db_url: str) -> None:
    first = run(env, "migrate")
    assert first.exit_code == 0, first.output
    head = head_revision()
    assert head and f"to revision {head}" in first.output

    again = run(env, "migrate")
    assert again.exit_code == 0, again.output
    assert f"already at revision {head}" in again.output
    assert count(db_url, Species) == 0


def test_import_species_loads_the_shipped_extract(migrated: dict[str, str], db_url: str) -> None:
    result = run(migrated, "import-species", str(DEFAULT_SPECIES_FILE))
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "32" in result.output
    assert count(db_url, Species) == 32

    again = run(migrated, "import-species", str(DEFAULT_SPECIES_FILE))
    assert again.exit_code == 0, again.output
    assert count(db_url, Species) == 32


def test_a_bad_species_file_names_its_lines_and_stores_nothing(
    migrated: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "species.csv"
    bad.write_text(
        "cd_nom,cd_ref,scientific_name,vernacular_fr,group\n"
        "3696,3696,Hirundo rustica,Hirondelle rustique,bird\n"
        "abc,3551,Apus apus,Martinet noir,bird\n",
        encoding="utf-8",
    )
    result = run(migrated, "import-species", str(bad))
    assert result.exit_code == 1
    assert "line 3:" in result.output
    assert "Traceback" not in result.output
    assert count(db_url, Species) == 0


def test_import_zones_loads_the_communes_and_refuses_a_bad_file(
    migrated: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    result = run(migrated, "import-zones", str(DEFAULT_ZONES_FILE), "--kind", "commune")
    assert result.exit_code == 0, result.output
    assert count(db_url, Zone) == 10
    assert count(db_url, Zone, Zone.code == "62528", Zone.kind == "commune") == 1

    bad = tmp_path / "zones.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"properties": {"name": "Terril 74"}, "geometry": {"type": "Point", '
        '"coordinates": [2.77, 50.45]}}]}',
        encoding="utf-8",
    )
    refused = run(migrated, "import-zones", str(bad))
    assert refused.exit_code == 1
    assert "features[0]:" in refused.output
    assert count(db_url, Zone) == 10


def test_create_user_with_a_role(migrated: dict[str, str], db_url: str) -> None:
    result = run(
        migrated,
        "create-user",
        "Claire@CPIE.example.org",
        "--role",
        "ecologist",
        "--password",
        "terrils-et-hirondelles",
        "--display-name",
        "Claire",
    )
    assert result.exit_code == 0, result.output
    assert count(db_url, User, User.email == "claire@cpie.example.org", User.role == "ecologist")

    taken = run(
        migrated, "create-user", "claire@cpie.example.org", "--password", "another-password"
    )
    assert taken.exit_code == 1
    assert "exists already" in taken.output
    assert count(db_url, User) == 1


def test_create_user_asks_the_password_twice(migrated: dict[str, str], db_url: str) -> None:
    result = run(
        migrated,
        "create-user",
        "prof@ecole.example.org",
        "--role",
        "teacher",
        input="ecole-jaures-2026\necole-jaures-2026\n",
    )
    assert result.exit_code == 0, result.output
    assert "ecole-jaures-2026" not in result.output
    assert count(db_url, User, User.role == "teacher") == 1


def test_create_user_refuses_short_passwords_and_unknown_roles(
    migrated: dict[str, str], db_url: str
) -> None:
    short = run(migrated, "create-user", "a@example.org", "--password", "court")
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    wizard = run(
        migrated, "create-user", "b@example.org", "--role", "wizard", "--password", "x" * 12
    )
    assert wizard.exit_code == 2
    assert count(db_url, User) == 0


def test_demo_twice_makes_no_duplicates(env: dict[str, str], db_url: str) -> None:
    assert run(env, "migrate").exit_code == 0
    args = ["demo", "--sentinels", "3", "--observations", "150", "--year", "2025"]

    first = run(env, *args)
    assert first.exit_code == 0, first.output
    assert "demo-ecologist@sentinelles.test" in first.output
    assert "demo-sentinel-03@sentinelles.test" in first.output
    assert "sentinelles-demo" in first.output
    assert count(db_url, Species) == 32 and count(db_url, Zone) == 10
    assert count(db_url, User, PEOPLE) == 6
    assert count(db_url, Observation, SIGHTINGS) == 150

    second = run(env, *args)
    assert second.exit_code == 0, second.output
    assert "already there" in second.output
    assert count(db_url, User, PEOPLE) == 6
    assert count(db_url, Observation, SIGHTINGS) == 150

    reset = run(env, "demo", "--reset", "--sentinels", "3", "--observations", "40")
    assert reset.exit_code == 0, reset.output
    assert count(db_url, User, PEOPLE) == 6
    assert count(db_url, Observation, SIGHTINGS) == 40


def test_an_unmigrated_database_asks_for_migrate(env: dict[str, str]) -> None:
    result = run(env, "demo", "--observations", "10")
    assert result.exit_code == 1
    assert "sentinelles migrate" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/sentinelles"
    for args in (["migrate"], ["demo"], ["import-species"]):
        result = run(_env(url, tmp_path), *args)
        assert result.exit_code == 1
        assert result.output.count("\n") == 1, result.output
        assert "cannot reach the database" in result.output
        assert "secret" not in result.output


@pytest.fixture
def throwaway_postgres(postgres_url: str) -> Iterator[str]:
    """A database of its own: the session's one is shared with the other tests."""
    name = f"sentinelles_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrate_and_demo_on_postgresql(throwaway_postgres: str, tmp_path: Path) -> None:
    env = _env(throwaway_postgres, tmp_path)
    migrated = run(env, "migrate")
    assert migrated.exit_code == 0, migrated.output
    for _ in range(2):
        result = run(env, "demo", "--sentinels", "2", "--observations", "120", "--year", "2025")
        assert result.exit_code == 0, result.output
    assert count(throwaway_postgres, User, PEOPLE) == 5
    assert count(throwaway_postgres, Observation, SIGHTINGS) == 120
    assert count(throwaway_postgres, Observation, col(Observation.generalised).is_(True)) >= 1


def test_import_baselines_stores_a_good_file_once_and_names_a_bad_files_lines(
    migrated: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    from app.baselines.models import Baseline

    assert run(migrated, "import-species").exit_code == 0
    good = tmp_path / "inventaire.csv"
    good.write_text(
        "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
        "2010,459478,,,34,nests,façades,CPIE\n"
        "2010,3696,,,12,nests,granges,CPIE\n",
        encoding="utf-8",
    )
    first = run(migrated, "import-baselines", str(good))
    assert first.exit_code == 0, first.output
    assert "created" in first.output and count(db_url, Baseline) == 2
    again = run(migrated, "import-baselines", str(good))
    assert again.exit_code == 0 and count(db_url, Baseline) == 2
    assert "unchanged" in again.output

    bad = tmp_path / "faux.csv"
    bad.write_text(
        "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
        "2010,459478,,,-3,nests,,\n"
        "2011,1,,,3,pairs,,\n",
        encoding="utf-8",
    )
    refused = run(migrated, "import-baselines", str(bad))
    assert refused.exit_code == 1
    assert "line 2:" in refused.output and "line 3:" in refused.output
    assert count(db_url, Baseline) == 2


def test_trends_says_when_there_is_no_series(migrated: dict[str, str]) -> None:
    assert run(migrated, "import-species").exit_code == 0
    result = run(migrated, "trends", "--species", "459478")
    assert result.exit_code == 1
    assert "no survey site" in result.output

    assert run(migrated, "demo", "--observations", "50").exit_code == 0
    table = run(migrated, "trends", "--species", "459478")
    assert table.exit_code == 0, table.output
    # The API's default model and convention, and the label with its p-value.
    assert "TRIM model 3" in table.output and "slope:" in table.output
    assert "(pecbms)" in table.output and "p = " in table.output
    linear = run(migrated, "trends", "--species", "459478", "--model", "2", "--convention", "rtrim")
    assert linear.exit_code == 0, linear.output
    assert "TRIM model 2" in linear.output and "(rtrim)" in linear.output
    assert run(migrated, "trends", "--species", "459478", "--convention", "x").exit_code == 2
    as_csv = run(migrated, "trends", "--species", "459478", "--csv")
    lines = as_csv.output.strip().splitlines()
    assert lines[0] == "year,index,index_se,total,total_se"
    assert lines[1].split(",")[1] == "1.0000"  # the base year's index


def test_export_writes_each_format_with_a_progress_bar(
    migrated: dict[str, str], tmp_path: Path
) -> None:
    import csv
    import io
    import json
    import zipfile

    assert run(migrated, "import-species").exit_code == 0
    assert run(migrated, "import-zones").exit_code == 0
    assert run(migrated, "demo", "--observations", "60").exit_code == 0
    validated = count(
        migrated["SENTINELLES_DATABASE_URL"], Observation, Observation.status == "validated"
    )
    assert validated > 0

    target = tmp_path / "obs.csv"
    result = run(migrated, "export", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "Exporting to obs.csv" in result.output and f"{validated:,}" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == validated and {r["status"] for r in rows} == {"validated"}

    excel = tmp_path / "obs-fr.csv"
    assert run(migrated, "export", "-o", str(excel), "--dialect", "excel-fr").exit_code == 0
    assert excel.read_bytes().startswith("\ufeff".encode())

    geo = tmp_path / "obs.geojson"
    assert run(migrated, "export", "-f", "geojson", "-o", str(geo), "--year", "1990").exit_code == 0
    assert json.loads(geo.read_text()) == {"type": "FeatureCollection", "features": []}

    sinp = tmp_path / "sinp.csv"
    assert run(migrated, "export", "-f", "sinp", "-o", str(sinp)).exit_code == 0
    assert sinp.read_text(encoding="utf-8").startswith("permId;statObs;")

    archive = tmp_path / "dwca.zip"
    done = run(migrated, "export", "-f", "dwca", "-o", str(archive), "--species", "459478")
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(archive) as zf:
        assert {"meta.xml", "eml.xml"} <= set(zf.namelist())

    for args, message in (
        (("-f", "xml"), "--format must be one of"),
        (("--species", "1"), "no species with cd_nom 1"),
        (("--zone", "00000"), "no zone with code"),
        (("--status", "ok"), "--status must be one of"),
        (("-o", str(tmp_path / "missing" / "x.csv")), "does not exist"),
    ):
        refused = run(migrated, "export", "-o", str(tmp_path / "x.csv"), *args)
        assert refused.exit_code == 1, args
        assert message in refused.output, refused.output


def test_publish_refuses_the_placeholder_contact_then_writes_a_snapshot(
    migrated: dict[str, str], tmp_path: Path
) -> None:
    import json
    import zipfile

    folder = tmp_path / "open-data"
    env = {**migrated, "SENTINELLES_OPEN_DATA_DIR": str(folder)}
    refused = run(env, "publish")
    assert refused.exit_code == 1
    assert "placeholder" in refused.output and "SENTINELLES_DATASET_CONTACT_EMAIL" in refused.output
    assert not (folder / "current.json").exists()

    env["SENTINELLES_DATASET_CONTACT_EMAIL"] = "donnees@cpie-terrils.fr"
    result = run(env, "publish")
    assert result.exit_code == 0, result.output
    assert "Open data published" in result.output and "dwca.zip" in result.output
    current = json.loads((folder / "current.json").read_text())["snapshot"]
    with zipfile.ZipFile(folder / current / "dwca.zip") as archive:
        assert {"meta.xml", "eml.xml", "event.txt", "occurrence.txt", "multimedia.txt"} <= set(
            archive.namelist()
        )
    assert (folder / current / "observations.csv").read_text().startswith("id,observed_at")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.db'}"
    url: str = request.getfixturevalue("throwaway_postgres")
    return url


def test_publish_on_the_demo_passes_every_reader(any_db_url: str, tmp_path: Path) -> None:
    """The demo's season published: visits, photos under their own licences and protected
    species at their cell, through python-dwca-reader, both XSDs and a streaming read."""
    import json

    from app.exports import dwca
    from tests.exports.test_exports_dwca import DC, DWC
    from tests.exports.test_open_data import validated_archive

    folder = tmp_path / "open-data"
    env = {
        **_env(any_db_url, tmp_path),
        "SENTINELLES_OPEN_DATA_DIR": str(folder),
        "SENTINELLES_DATASET_CONTACT_EMAIL": "donnees@cpie-terrils.fr",
    }
    assert run(env, "migrate").exit_code == 0
    demo = run(env, "demo", "--sentinels", "4", "--observations", "600", "--year", "2025")
    assert demo.exit_code == 0, demo.output
    assert "photos" in demo.output
    result = run(env, "publish")
    assert result.exit_code == 0, result.output

    current = json.loads((folder / "current.json").read_text())["snapshot"]
    archive = validated_archive((folder / current / "dwca.zip").read_bytes(), tmp_path)
    visits = [e for e in archive.events.values() if e[DWC + "parentEventID"]]
    assert len(visits) >= 20
    assert all(e[DWC + "sampleSizeValue"] for e in visits)
    assert len(archive.media) >= 10
    licences = {m[DC + "license"] for m in archive.media}
    assert len(licences) >= 2 and licences <= {url for url, _ in dwca.LICENCES.values()}
    assert all(m["coreid"] in archive.occurrences for m in archive.media)
    withheld = [o for o in archive.occurrences.values() if o[DWC + "informationWithheld"]]
    assert withheld and all(o[DWC + "dataGeneralizations"] for o in withheld)
    assert any("Falco peregrinus" in o[DWC + "scientificName"] for o in withheld)
    everything = "".join(archive.texts.values())
    assert "@sentinelles.test" not in everything and "Sentinelle démo" not in everything


def test_rollups_follow_the_demo_and_rebuild_gives_the_same(
    env: dict[str, str], db_url: str
) -> None:
    """The demo's sightings and visits are in the rollups as loaded; wiped by hand, ``rollups
    rebuild`` gives them back, the same rows."""
    from sqlmodel import Session

    from app.surveys import rollups

    assert run(env, "migrate").exit_code == 0
    demo = run(env, "demo", "--sentinels", "2", "--observations", "120", "--year", "2025")
    assert demo.exit_code == 0, demo.output
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            kept = rollups.stored_cells(session), rollups.stored_site_years(session)
            assert kept == (rollups.expected_cells(session), rollups.expected_site_years(session))
            assert kept[0] and kept[1]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM stats_yearly_cell"))
            conn.execute(text("DELETE FROM stats_site_year"))
    finally:
        engine.dispose()

    rebuilt = run(env, "rollups", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Rollups rebuilt" in rebuilt.output and "yearly cells" in rebuilt.output
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            assert (rollups.stored_cells(session), rollups.stored_site_years(session)) == kept
    finally:
        engine.dispose()
    assert "rebuild" in run(env, "rollups", "--help").output
