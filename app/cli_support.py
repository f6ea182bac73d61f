"""The plumbing every ``sentinelles`` command shares: consoles, settings, the engine, failures.

Its own module so that :mod:`app.cli` and :mod:`app.cli_backup` both import it, and neither the
other: a database that does not answer is one line on stderr and exit code 1, never a traceback.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from app.core.db import make_engine
from app.core.settings import Settings, get_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# SQLite's and PostgreSQL's words for a table that is not there: the schema was never migrated.
_MISSING_TABLE = re.compile(r"no such (table|column)|(relation|column) .* does not exist")


def _progress(*amounts: ProgressColumn, transient: bool = False) -> Progress:
    """The commands' progress bar on stderr: the step's name, the bar, ``amounts`` (counts,
    bytes, a percentage) and the time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *amounts,
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code=1)


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise _fail(
            f"invalid configuration ({where}): {first.get('msg', 'invalid value')}"
        ) from None


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    """The configured engine; an unreachable database ends the command with one clear line."""
    url = settings.database_url
    try:
        engine = make_engine(url, pool_size=2)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise _fail(f"SENTINELLES_DATABASE_URL is not a usable database URL ({exc})") from None
    try:
        # Connect before any progress bar is drawn, so that a dead database is one line.
        with engine.connect():
            pass
        yield engine
    except (OperationalError, InterfaceError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if _MISSING_TABLE.search(reason):
            raise _fail(
                f"the database at {_safe_url(url)} has no schema or an old one ({reason}): "
                "run `sentinelles migrate`"
            ) from None
        if isinstance(exc, ProgrammingError):
            raise
        raise _fail(f"cannot reach the database at {_safe_url(url)}: {reason}") from None
    finally:
        engine.dispose()


def _summary(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
