"""The ``sentinelles`` command: serve, migrate, load reference data, create accounts, load a demo.

Thin on purpose: each command reads the settings, opens one session, calls a service function and
commits once; the work itself lives in the services (and ``app.demo``), where the tests reach it.
A database that does not answer is one line on stderr and exit code 1, never a traceback.
"""

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    DownloadColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlmodel import Session

from app import __version__
from app.cli_backup import backup_command, restore_command
from app.cli_support import (
    _engine,
    _fail,
    _load_settings,
    _progress,
    _safe_url,
    _summary,
    err,
    out,
)
from app.core.db import make_engine
from app.core.errors import AppError
from app.core.migrations import current_revision, head_revision, upgrade
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.core.vocabulary import Role
from app.stats.trim_cli import trim as trim_command
from app.surveys import rollups

cli = typer.Typer(
    name="sentinelles",
    help="Sentinelles: the backend of the Loos-en-Gohelle citizen biodiversity survey.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
MIN_PASSWORD_LENGTH = 10


def main() -> None:
    """Entry point of the ``sentinelles`` script."""
    cli()


def _version(value: bool) -> None:
    if value:
        out.print(f"sentinelles {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Sentinelles: the backend of the Loos-en-Gohelle citizen biodiversity survey.

    Settings come from SENTINELLES_* environment variables or a .env file (see
    docs/configuration.md); the database is SENTINELLES_DATABASE_URL (default: SQLite in
    ./var/sentinelles.db).
    """


# --- shared plumbing ---------------------------------------------------------------------------


def _print_problem(exc: AppError) -> None:
    err.print(f"[bold red]error:[/] {escape(exc.detail)}")
    for e in exc.errors or []:
        line = f"{e.field}: {e.message}"
        if line not in exc.detail:
            err.print(f"  {line}", markup=False)


# --- serve and migrate -------------------------------------------------------------------------


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every one).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    reload: Annotated[
        bool, typer.Option(help="Restart on code changes (development only; one process).")
    ] = False,
) -> None:
    """Run the HTTP API with uvicorn (interactive documentation at /docs)."""
    import uvicorn

    settings = _load_settings()
    if settings.is_sqlite and workers > 1:
        err.print(
            "[yellow]warning:[/] SQLite lets one process write at a time; with several workers "
            "use PostgreSQL (SENTINELLES_DATABASE_URL=postgresql+psycopg://…)."
        )
    if reload and workers > 1:
        err.print("[yellow]warning:[/] --reload runs a single process; --workers is ignored.")
    _warn_if_not_migrated(settings)
    out.print(
        f"Sentinelles API on http://{host}:{port}  (documentation: http://{host}:{port}/docs)"
    )
    # Forwarding headers are believed only from the configured proxies (uvicorn's default
    # would believe them from 127.0.0.1, whatever the settings say).
    allow = settings.forwarded_allow
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        proxy_headers=bool(allow),
        forwarded_allow_ips=",".join(allow) if allow else None,
        server_header=False,
    )


def _warn_if_not_migrated(settings: Settings) -> None:
    """A hint before serving; /readyz reports the same to orchestrators."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except Exception as exc:  # serving goes on: the database may come up after the process
        err.print(f"[yellow]warning:[/] the database does not answer yet ({type(exc).__name__}).")
        return
    finally:
        engine.dispose()
    if current != head_revision():
        err.print(
            "[yellow]warning:[/] the database schema is not up to date: run `sentinelles migrate`."
        )


@cli.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Alembic revision to upgrade to.")] = "head",
) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    settings = _load_settings()
    with _engine(settings) as engine:
        with engine.connect() as conn:
            before = current_revision(conn)
        upgrade(engine, revision)
        with engine.connect() as conn:
            after = current_revision(conn)
    where = _safe_url(settings.database_url)
    if before == after:
        out.print(f"Database {where} already at revision {after}.")
    else:
        out.print(f"Database {where} upgraded from {before or 'empty'} to revision {after}.")


# --- accounts ----------------------------------------------------------------------------------


@cli.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="E-mail address, used to sign in.")],
    role: Annotated[Role, typer.Option(help="What the account may do.")] = Role.sentinel,
    password: Annotated[
        str | None,
        typer.Option(help="At least 10 characters; asked twice, hidden, when left out."),
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="Name shown to others (default: the e-mail's local part).")
    ] = None,
) -> None:
    """Create an account with any role (an ecologist of the CPIE, an admin, a teacher)."""
    from app.accounts.service import register_user

    settings = _load_settings()
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _fail(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    name = display_name or email.split("@", 1)[0]
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        try:
            user = register_user(
                session,
                settings,
                email=email,
                password=password,
                display_name=name,
                role=role,
            )
        except AppError as exc:
            if exc.code == "auth.email_taken":
                raise _fail(
                    f"an account with the e-mail {email.strip().lower()} exists already"
                ) from None
            _print_problem(exc)
            raise typer.Exit(code=1) from None
        session.commit()
        out.print(f"Created {user.role} account {user.email} ({user.display_name}), id {user.id}.")


# --- reference data ----------------------------------------------------------------------------


@cli.command("import-species")
def import_species_command(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Our CSV extract or a full TAXREF .txt (default: the shipped extract).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    taxref_version: Annotated[
        str | None,
        typer.Option(help="TAXREF version to record, e.g. 18.0 (default: read from the name)."),
    ] = None,
    all_ranks: Annotated[
        bool,
        typer.Option(help="Keep every rank of a TAXREF file, not only species and subspecies."),
    ] = False,
) -> None:
    """Load or update the species reference (upsert on cd_nom; all or nothing)."""
    from app.species.service import DEFAULT_SPECIES_FILE, import_species
    from app.species.taxref import DEFAULT_RANKS

    settings = _load_settings()
    path = file or DEFAULT_SPECIES_FILE
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        # Names may have changed taxon or sensitivity: the statistics' rollups are recomputed.
        rollups.mark_everything(session)
        with _byte_progress(path) as on_progress:
            try:
                report = import_species(
                    session,
                    path,
                    on_progress=on_progress,
                    taxref_version=taxref_version,
                    ranks=None if all_ranks else DEFAULT_RANKS,
                )
            except AppError as exc:
                session.rollback()
                _print_problem(exc)
                raise typer.Exit(code=1) from None
        session.commit()
    _summary(
        f"Species from {path.name}",
        [
            ("format", report.format),
            ("TAXREF version", report.taxref_version or "-"),
            ("rows read", f"{report.total:,}"),
            ("created", f"{report.created:,}"),
            ("updated", f"{report.updated:,}"),
            ("skipped", f"{report.skipped:,}"),
        ],
    )


@contextmanager
def _byte_progress(path: Path) -> Iterator[Callable[[int, int], None]]:
    with _progress(DownloadColumn(), TransferSpeedColumn(), transient=True) as progress:
        task = progress.add_task(f"Reading {path.name}", total=path.stat().st_size)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_progress


@cli.command("import-zones")
def import_zones_command(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A GeoJSON FeatureCollection of Polygons/MultiPolygons with code and name "
            "properties (default: the shipped communes).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    kind: Annotated[
        str, typer.Option(help="Kind of the zones whose features carry no `kind` property.")
    ] = "commune",
) -> None:
    """Load or update survey zones (upsert on code; all or nothing)."""
    from app.zones.service import DEFAULT_ZONES_FILE, import_zones

    settings = _load_settings()
    path = file or DEFAULT_ZONES_FILE
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        with err.status(f"Reading {path.name}…"):
            try:
                report = import_zones(session, path, default_kind=kind)
            except AppError as exc:
                session.rollback()
                _print_problem(exc)
                raise typer.Exit(code=1) from None
        session.commit()
    _summary(
        f"Zones from {path.name}",
        [
            ("features", f"{report.total:,}"),
            ("created", f"{report.created:,}"),
            ("updated", f"{report.updated:,}"),
        ],
    )


@cli.command("import-baselines")
def import_baselines_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="The CPIE's inventory as CSV: year, cd_nom, zone_code, site_code, count, unit "
            "(individuals, nests or presence), method, source.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Load the inventory baselines (all or nothing; every row's error listed with its line;
    importing the same file again changes nothing)."""
    from app.baselines.csvfile import BaselineFileError
    from app.baselines.service import import_baselines

    settings = _load_settings()
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        with err.status(f"Checking {file.name}…"):
            try:
                report = import_baselines(session, text)
            except BaselineFileError as exc:
                session.rollback()
                err.print(f"[bold red]error:[/] {escape(file.name)}: nothing was stored")
                for problem in exc.errors:
                    err.print(f"  line {problem.line}: {problem.message}", markup=False)
                raise typer.Exit(code=1) from None
        session.commit()
    _summary(
        f"Baselines from {file.name}",
        [
            ("rows", f"{report.rows:,}"),
            ("created", f"{report.created:,}"),
            ("updated", f"{report.updated:,}"),
            ("unchanged", f"{report.unchanged:,}"),
        ],
    )


class TrendConvention(StrEnum):
    """The trend label's convention (``app.stats.labels.Convention``, without importing SciPy)."""

    pecbms = "pecbms"
    rtrim = "rtrim"


@cli.command("trends")
def trends_command(
    species: Annotated[
        int, typer.Option("--species", help="The species' TAXREF id (cd_nom).", show_default=False)
    ],
    model: Annotated[
        int,
        typer.Option(min=2, max=3, help="3: a parameter per year (the API's default); 2: linear."),
    ] = 3,
    convention: Annotated[
        TrendConvention,
        typer.Option(
            help="The trend label's convention: pecbms (TRIM 3, the European schemes) or "
            "rtrim (t on n − 2 df), as the API's convention parameter.",
        ),
    ] = TrendConvention.pecbms,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="Print the indices and totals as CSV instead of a table.")
    ] = False,
) -> None:
    """A species' trend from its survey sites (TRIM), as the API's /stats/trends computes it."""
    from app.core.errors import Unprocessable
    from app.stats import trends

    settings = _load_settings()
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        request = trends.TrendRequest(
            species_id=None,
            cd_nom=species,
            zone_id=None,
            model=model,
            changepoints=None,
            base_year=None,
            covariate=None,
            overdispersion=True,
            serial_correlation=True,
            convention=convention.value,
        )
        try:
            taxon, result, sites = trends.fit_species_trend(session, settings, request)
        except Unprocessable as exc:
            _print_problem(exc)
            raise typer.Exit(code=1) from None
    if csv_output:
        out.print("year,index,index_se,total,total_se", markup=False)
        for index, total in zip(result.indices, result.totals, strict=True):
            out.print(
                f"{index.year},{index.imputed:.4f},{index.imputed_se:.4f},"
                f"{total.imputed:.1f},{total.imputed_se:.1f}",
                markup=False,
            )
        return
    name = taxon.vernacular_name or taxon.scientific_name
    table = Table(
        title=f"{name}: TRIM model {result.model}, {sites} sites, base {result.base_year}"
    )
    for column in ("year", "index", "se", "total", "se"):
        table.add_column(column, justify="right")
    for index, total in zip(result.indices, result.totals, strict=True):
        table.add_row(
            str(index.year),
            f"{index.imputed:.3f}",
            f"{index.imputed_se:.3f}",
            f"{total.imputed:.0f}",
            f"{total.imputed_se:.0f}",
        )
    out.print(table)
    from app.stats import labels

    slope = result.slope_imputed
    if slope is not None:
        label = labels.trend_label(result, slope, convention=convention.value)
        verdict = slope.slope_class.value if label is None else label.text
        if label is not None and label.p is not None:
            verdict += f", p = {label.p:.4f} ({label.convention.value})"
        if label is not None and label.reason:
            verdict += f": {label.reason}"
        out.print(
            f"slope: ×{slope.mul:.4f} a year (se {slope.mul_se:.4f}): {verdict}", markup=False
        )
    warning = labels.sigma2_warning(result)
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}")


@cli.command("export")
def export_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The file to write (its folder must exist).", dir_okay=False
        ),
    ],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="csv, geojson, dwca (Darwin Core Archive for GBIF) or sinp (GeoNature Occtax).",
        ),
    ] = "csv",
    dialect: Annotated[
        str, typer.Option(help="CSV only: rfc4180, or excel-fr for French spreadsheets.")
    ] = "rfc4180",
    species: Annotated[
        int | None, typer.Option(help="Only this species (TAXREF cd_nom).", show_default=False)
    ] = None,
    zone: Annotated[
        str | None, typer.Option(help="Only this zone (its code, e.g. 62528).", show_default=False)
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(help="Only this year (UTC, as the API).", min=1900, max=2100),
    ] = None,
    status: Annotated[
        str, typer.Option(help="validated, pending, needs_info or rejected.")
    ] = "validated",
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Export what the public sees (sensitive species generalised) rather than the "
            "exact data an ecologist gets.",
        ),
    ] = False,
) -> None:
    """Write an export to a file, as the API's /exports give it: the CPIE's yearly deposit."""
    import uuid

    from sqlmodel import col, select

    from app.core.db import Database
    from app.exports import service as exports_service
    from app.exports.rows import count_observations, export_filters
    from app.observations.models import ObservationStatus
    from app.observations.schemas import ObservationFilters
    from app.species.models import Species
    from app.zones.models import Zone

    formats = [f.value for f in exports_service.ExportFormat]
    if format_ not in formats:
        raise _fail(f"--format must be one of {', '.join(formats)}, not {format_!r}")
    if dialect not in ("rfc4180", "excel-fr"):
        raise _fail(f"--dialect must be rfc4180 or excel-fr, not {dialect!r}")
    if status not in [s.value for s in ObservationStatus]:
        raise _fail(f"--status must be one of {', '.join(s.value for s in ObservationStatus)}")
    if not output.parent.exists():
        raise _fail(f"the folder {output.parent} does not exist")
    settings = _load_settings()
    if format_ == "sinp" and settings.sinp_dataset_id is None:
        err.print(
            "[yellow]warning:[/] jddMetaId is the derived default, which no SINP platform "
            "knows: register the dataset with the regional platform's metadata application and "
            "set SENTINELLES_SINP_DATASET_ID to the UUID it gives (docs/open-data.md)."
        )
    with _engine(settings) as engine:
        db = Database(engine)
        with db.session() as session:
            species_id = zone_id = None
            if species is not None:
                species_id = session.exec(
                    select(Species.id).where(col(Species.cd_nom) == species)
                ).first()
                if species_id is None:
                    raise _fail(f"no species with cd_nom {species} in the reference")
            if zone is not None:
                zone_id = session.exec(select(Zone.id).where(col(Zone.code) == zone)).first()
                if zone_id is None:
                    raise _fail(f"no zone with code {zone!r}")
        # The command line is the database's operator: it sees what an admin sees, unless
        # --public asks for what anyone sees.
        viewer = None if public else Viewer(user_id=uuid.uuid4(), role=Role.admin.value)
        filters = export_filters(
            ObservationFilters(
                species_id=species_id,
                zone_id=zone_id,
                year=year,
                status=ObservationStatus(status),
            )
        )
        kind = exports_service.ExportFormat(format_)
        total = count_observations(db, viewer=viewer, filters=filters)
        written = 0
        with _progress(MofNCompleteColumn()) as progress:
            task = progress.add_task(f"Exporting to {output.name}", total=total)

            def on_rows(n: int) -> None:
                progress.advance(task, n)

            export = exports_service.export(
                kind,
                db,
                settings,
                viewer=viewer,
                filters=filters,
                base_url=settings.public_url or "http://localhost:8000",
                dialect=dialect,
                on_rows=on_rows,
            )
            with output.open("wb") as file:
                for piece in export.pieces:
                    file.write(piece)
                    written += len(piece)
    _summary(
        f"Export {format_}",
        [
            ("observations", f"{total:,}"),
            ("file", str(output)),
            ("size", f"{written / 1024:,.1f} KiB"),
        ],
    )


@cli.command("publish")
def publish_command(
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Where the snapshot is kept (default: SENTINELLES_OPEN_DATA_DIR, which "
            "GET /api/v1/open-data serves).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Publish the open-data snapshot: a GBIF-ready Darwin Core Archive, a CSV and a GeoJSON.

    Validated data only. The archive has an Event core (the protocols' visits with their
    sampling protocol and effort, and each casual sighting), an Occurrence extension and a
    Simple Multimedia extension (each photo with its own licence, creator and public URL).
    Sensitive species and homes (gardens) are at their Lambert-93 grid cell, with
    informationWithheld and dataGeneralizations; observers appear by a stable pseudonym.

    The new snapshot is written beside the current one and replaces it in one atomic rename:
    the previous one is served until then. Refuses while SENTINELLES_DATASET_CONTACT_EMAIL is
    still the placeholder. See docs/open-data.md for sending it to GBIF.
    """
    from app.core.db import Database
    from app.exports import publish

    settings = _load_settings()
    for problem in publish.problems(settings):
        raise _fail(problem)
    with _engine(settings) as engine:
        db = Database(engine)
        total = publish.planned_rows(db, settings)
        with _progress(MofNCompleteColumn()) as progress:
            task = progress.add_task("Publishing the open data", total=total)
            try:
                snapshot = publish.publish(
                    db,
                    settings,
                    root=output_dir,
                    on_rows=lambda n: progress.advance(task, n),
                )
            except AppError as exc:
                _print_problem(exc)
                raise typer.Exit(code=1) from None
    for warning in snapshot.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    _summary(
        "Open data published",
        [
            ("folder", str(snapshot.directory)),
            *((f.name, f"{f.records:,} records, {f.size / 1024:,.1f} KiB") for f in snapshot.files),
            ("licence", snapshot.licence),
        ],
    )


@cli.command("erase-pupils")
def erase_pupils_command() -> None:
    """Erase the pseudonyms of the pupils of classes closed longer than
    SENTINELLES_PUPIL_RETENTION_DAYS (their observations stay, attributed to the class).
    Run it daily, e.g. from cron or a systemd timer."""
    from app.classwork.service import erase_expired_pupils

    settings = _load_settings()
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        erased = erase_expired_pupils(session, settings)
        session.commit()
    _summary(
        "Pupils' pseudonyms",
        [
            ("erased", f"{erased:,}"),
            ("retention", f"{settings.pupil_retention_days} days after the class closed"),
        ],
    )


# --- rollups -----------------------------------------------------------------------------------

rollups_cli = typer.Typer(
    help="The statistics' rollups: the yearly figures /stats/yearly and /stats/comparison read.",
    no_args_is_help=True,
)
cli.add_typer(rollups_cli, name="rollups")


@rollups_cli.command("rebuild")
def rollups_rebuild_command() -> None:
    """Recompute the rollups from the validated observations and visits, in one transaction.

    Every change keeps them up to date as it is made; this is for a database written to by
    other means (a bulk load in SQL), or to check them: the figures then stay the same.
    """
    settings = _load_settings()
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        with _progress(MofNCompleteColumn(), TaskProgressColumn(), transient=True) as progress:
            task = progress.add_task("Rollups", total=None)

            def on_step(what: str, done: int, total: int) -> None:
                progress.update(task, description=f"Rollups: {what}", completed=done, total=total)

            cells, site_years = rollups.rebuild(session, tz=settings.tz, on_step=on_step)
        session.commit()
    _summary(
        "Rollups rebuilt",
        [("yearly cells", f"{cells:,}"), ("site-years", f"{site_years:,}")],
    )


# --- demo --------------------------------------------------------------------------------------


@cli.command()
def demo(
    sentinels: Annotated[int, typer.Option(help="Demo residents to create.", min=1, max=99)] = 8,
    observations: Annotated[int, typer.Option(help="Sightings to generate.", min=0)] = 1500,
    year: Annotated[
        int | None,
        typer.Option(help="Season to generate (default: this year, up to today)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed, for a repeatable demo.")] = 42,
    reset: Annotated[
        bool, typer.Option(help="Delete the demo observations and generate them again.")
    ] = False,
) -> None:
    """Load demo accounts and a season of sightings across Loos-en-Gohelle (idempotent).

    Loads the shipped species and communes first when the database has none. Running it again
    adds nothing; --reset replaces the demo observations (other data is left alone).
    """
    from app.demo import DEMO_PASSWORD, DemoError, load_demo

    settings = _load_settings()
    with _engine(settings) as engine, Session(engine, info={"tz": settings.tz}) as session:
        with _progress(MofNCompleteColumn(), TaskProgressColumn(), transient=True) as progress:
            task = progress.add_task("Demo sightings", total=observations)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                report = load_demo(
                    session,
                    settings,
                    random.Random(seed),
                    sentinels=sentinels,
                    observations=observations,
                    year=year,
                    reset=reset,
                    on_progress=on_progress,
                )
            except DemoError as exc:
                session.rollback()
                raise _fail(str(exc)) from None
            except AppError as exc:
                session.rollback()
                _print_problem(exc)
                raise typer.Exit(code=1) from None
        session.commit()

    if report.species_loaded or report.zones_loaded:
        loaded = [
            n
            for n, done in (("species", report.species_loaded), ("zones", report.zones_loaded))
            if done
        ]
        out.print(f"Loaded the shipped {' and '.join(loaded)}.")
    table = Table(title=f"Demo accounts (password: {DEMO_PASSWORD})", title_justify="left")
    table.add_column("e-mail", no_wrap=True)
    table.add_column("role")
    table.add_column("name")
    for account in report.accounts:
        table.add_row(account.email, account.role, account.display_name)
    out.print(table)
    if report.observations_deleted:
        out.print(f"Deleted {report.observations_deleted:,} demo observations.")
    if report.sites_deleted:
        out.print(f"Deleted {report.sites_deleted:,} demo survey sites and their visits.")
    if report.baselines_created:
        out.print(f"Loaded {report.baselines_created:,} inventory baselines (the 2010 inventory).")
    if report.classes_created:
        out.print(
            f"Created the demo teacher's class (last school year's and this year's, which "
            f"continues it) with {report.class_observations_created:,} observations."
        )
    if report.sites_created:
        out.print(
            f"Created {report.sites_created:,} survey sites (façades and gardens) with "
            f"{report.visits_created:,} visits over five seasons."
        )
    if report.observations_existing:
        out.print(
            f"{report.observations_existing:,} demo observations are already there; "
            "nothing added (--reset generates them again)."
        )
    else:
        out.print(
            f"Created {report.observations_created:,} observations of the {report.year} season."
        )
    if report.photos_created:
        out.print(f"Attached {report.photos_created:,} photos to validated observations.")


# --- statistics --------------------------------------------------------------------------------

cli.command("trim")(trim_command)

# --- backups -----------------------------------------------------------------------------------

cli.command("backup")(backup_command)
cli.command("restore")(restore_command)
