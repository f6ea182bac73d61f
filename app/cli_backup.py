"""``sentinelles backup`` and ``sentinelles restore``: :mod:`app.backup.service` with progress bars.

The commands share the settings, database and failure plumbing of :mod:`app.cli_support`;
:mod:`app.cli` registers them. All three are the command line's side of the composition root:
the backup package below knows nothing of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.progress import (
    DownloadColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
)

from app.backup.service import Progress as Steps
from app.cli_support import _engine, _fail, _load_settings, _progress, _safe_url, _summary, err

if TYPE_CHECKING:
    from app.core.settings import Settings
    from app.media.storage import Storage


class _AmountColumn(ProgressColumn):
    """Bytes for a step counted in bytes, ``done/total`` for rows and files."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._items = MofNCompleteColumn()

    def render(self, task: Task) -> RenderableType:
        column = self._bytes if task.fields.get("unit") == "B" else self._items
        return column.render(task)


@contextmanager
def _steps() -> Iterator[Steps]:
    """A rich progress bar per step of a backup or restore."""

    with _progress(TaskProgressColumn(), _AmountColumn()) as progress:

        class Bars(Steps):
            task: TaskID | None = None

            def start(self, description: str, total: int, *, unit: str = "items") -> None:
                if self.task is not None:
                    progress.update(self.task, completed=progress.tasks[-1].total)
                self.task = progress.add_task(description, total=total or 0, unit=unit)

            def advance(self, amount: int) -> None:
                if self.task is not None:
                    progress.advance(self.task, amount)

        yield Bars()


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:,.1f} KiB"


def _media_storage(settings: Settings) -> Storage:
    from app.media.storage import StorageError, storage_from_settings

    try:
        return storage_from_settings(settings)
    except (StorageError, ValueError) as exc:
        raise _fail(str(exc)) from None


def backup_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="The archive to write (a .tar), or an existing folder to put a dated "
            "sentinelles-YYYYMMDD-HHMMSSZ.tar in."
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
) -> None:
    """Write one archive of the whole service: every table, every media file, a manifest of
    row counts and SHA-256 sums. Safe while the service runs; see docs/deployment.md, Backups."""
    from app.backup.service import BackupError, create_backup

    settings = _load_settings()
    storage = _media_storage(settings)
    with _engine(settings) as engine:
        try:
            with _steps() as steps:
                report = create_backup(
                    engine,
                    storage,
                    path,
                    media_backend=settings.media_backend,
                    overwrite=force,
                    progress=steps,
                )
        except BackupError as exc:
            raise _fail(str(exc)) from None
    for key in report.missing_files:
        err.print(f"[yellow]warning:[/] {escape(key)} was deleted during the backup; left out.")
    _summary(
        f"Backup {report.path}",
        [
            ("database", f"{report.database}, revision {report.revision}"),
            ("rows", f"{sum(report.rows.values()):,} in {len(report.rows)} tables"),
            ("media files", f"{report.files:,} ({_size(report.media_bytes)})"),
            ("archive", _size(report.size)),
        ],
    )


def restore_command(
    path: Annotated[
        Path,
        typer.Argument(help="An archive written by `sentinelles backup`.", dir_okay=False),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Restore even though the database or the media store holds data: everything "
            "they hold is replaced.",
        ),
    ] = False,
) -> None:
    """Restore an archive of `sentinelles backup` into an empty database and media store,
    after checking every file's SHA-256; the schema is migrated to this version afterwards."""
    from app.backup.service import BackupError, restore_backup

    settings = _load_settings()
    storage = _media_storage(settings)
    with _engine(settings) as engine:
        try:
            with _steps() as steps:
                report = restore_backup(engine, storage, path, force=force, progress=steps)
        except BackupError as exc:
            raise _fail(str(exc)) from None
    rows = [
        ("made", f"{report.created_at} on {report.source_database}"),
        ("revision", report.revision),
        ("rows", f"{sum(report.rows.values()):,} in {len(report.rows)} tables"),
    ]
    rows += [(f"  {name}", f"{n:,}") for name, n in report.rows.items() if n]
    rows.append(("media files", f"{report.files:,} ({_size(report.media_bytes)})"))
    if report.upgraded_to:
        rows.append(("schema upgraded to", report.upgraded_to))
    _summary(f"Restored {path.name} into {_safe_url(settings.database_url)}", rows)
