"""The open-data snapshot: what the town publishes for anyone (GBIF, the public, researchers).

``sentinelles publish`` (or ``POST /exports/publish``) builds it from validated data only:

- ``dwca.zip``, a Darwin Core Archive (Event core: the protocols' visits and the casual
  sightings; Occurrence extension; Simple Multimedia extension with each photo's licence);
- ``observations.csv`` and ``observations.geojson``, the same sightings for spreadsheets and GIS;
- ``manifest.json``, what ``GET /open-data`` lists: each file's size, checksum, record count,
  licence and date.

Nobody is named without consent and no home is shown:

- sightings are read as an anonymous viewer sees them: sensitive species at their
  generalisation cell, ``informationWithheld`` and ``dataGeneralizations`` filled;
- survey visits at a home (a garden) are moved to the centre of their 1 km Lambert-93 cell,
  visits that counted a sensitive species to that species' cell, the uncertainty grown to it;
- observers appear as a stable keyed pseudonym, unless they chose to be credited by name
  (``credit_by_name`` on their account): then by their display name (one that looks like an
  address or a phone number is still replaced). A school class, its pupils and a deleted
  account are never named.

The snapshot is written to a folder of its own beside the current one; ``current.json`` is then
replaced in one atomic rename, so that a download never sees a half-written file. The previous
snapshot stays on disk (a download begun on it completes), older ones are removed.

With ``SENTINELLES_OPEN_DATA_REBUILD_HOURS`` set, every app process runs
:func:`rebuild_when_due` in a thread: the snapshot is rebuilt once it is that old. The
build's lock and a second look at the snapshot's age once it is held make one build, whatever
the number of processes sharing the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from app.core.db import Database, utcnow
from app.core.errors import Conflict
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.core.vocabulary import Role
from app.exports import dwca, tabular
from app.exports.rows import (
    ObservationRow,
    Photo,
    VisitRow,
    count_observations,
    decimals_for,
    export_filters,
    observation_rows,
    observer_pseudonym,
    visit_rows,
)
from app.exports.service import observer_key
from app.observations.schemas import ObservationFilters
from app.zones.grid import CELL_1KM, CELL_10KM, generalise

MANIFEST = "manifest.json"
CURRENT = "current.json"
FILES = {
    "dwca.zip": "application/zip",
    "observations.csv": "text/csv; charset=utf-8",
    "observations.geojson": "application/geo+json",
}
HOME_KINDS = frozenset({"garden"})
CELLS = {"grid_1km": CELL_1KM, "grid_10km": CELL_10KM, "commune": CELL_10KM}
log = logging.getLogger(__name__)
SENSITIVE_WITHHELD = "Precise coordinates withheld: sensitive species counted at the site"


@dataclass(frozen=True)
class PublishedFile:
    name: str
    media_type: str
    size: int
    sha256: str
    records: int
    licence: str
    modified: str


@dataclass
class Snapshot:
    generated_at: str
    licence: str
    dataset_id: str
    files: list[PublishedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    directory: Path | None = None

    def file(self, name: str) -> PublishedFile | None:
        return next((f for f in self.files if f.name == name), None)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        del data["directory"]
        return data


def problems(settings: Settings) -> list[str]:
    """What keeps the snapshot from being published: the dataset's contact must be real."""
    if settings.dataset_contact_is_placeholder:
        return [
            f"the dataset's contact is still the placeholder {settings.dataset_contact_email!r}: "
            "set SENTINELLES_DATASET_CONTACT_EMAIL (and SENTINELLES_DATASET_CONTACT_NAME) to "
            "the address GBIF and the data's users should write to"
        ]
    return []


def warnings(settings: Settings) -> list[str]:
    out = []
    if settings.public_url is None:
        out.append(
            "SENTINELLES_PUBLIC_URL is unset: the photo links in the snapshot use "
            "http://localhost:8000, which nobody else can open"
        )
    return out


# --- the rows as they are published -------------------------------------------------------------


def _published_name(
    observer: str, credited: bool, observer_id: uuid.UUID | None, key: bytes
) -> str:
    """The observer as the open data names them: their display name as the exports write it
    (``rows.published_observer``) when they agreed to be credited, the pseudonym otherwise."""
    return observer if credited else observer_pseudonym(observer_id, key)


def _published_observation(row: ObservationRow, key: bytes) -> ObservationRow:
    observer = _published_name(row.observer, row.observer_credited, row.observer_id, key)
    places = decimals_for(row.accuracy_m)
    return replace(
        row,
        observer=observer,
        latitude=round(row.latitude, places),
        longitude=round(row.longitude, places),
        photos=tuple(
            Photo(p.url, p.licence, p.media_type, observer, p.created) for p in row.photos
        ),
    )


def _published_visit(visit: VisitRow, key: bytes) -> VisitRow:
    """A visit as anyone may see it: at its cell when its site is a home or a sensitive species
    was counted there, by the observer's pseudonym (or their name, when they agreed)."""
    sizes: list[int] = []
    withheld: list[str] = []
    notes: list[str] = []
    if visit.site_kind in HOME_KINDS:
        sizes.append(CELL_1KM)
        withheld.append(dwca.HOME_WITHHELD)
        notes.append(dwca.HOME_GENERALISED)
    sensitive = [c.taxon for c in visit.counts if c.taxon.sensitive] + [
        t for t in visit.absent if t.sensitive
    ]
    if sensitive:
        strictest = max(sensitive, key=lambda t: CELLS.get(t.generalisation, CELL_10KM))
        sizes.append(CELLS.get(strictest.generalisation, CELL_10KM))
        withheld.append(SENSITIVE_WITHHELD)
        notes.append(dwca.GENERALISATIONS.get(strictest.generalisation, "Coordinates generalised"))
    published = replace(
        visit,
        observer=_published_name(visit.observer, visit.observer_credited, visit.observer_id, key),
    )
    if not sizes:
        return published
    size = max(sizes)
    latitude, longitude, radius = generalise(visit.latitude, visit.longitude, size)
    if size != CELL_1KM and notes and dwca.HOME_GENERALISED in notes:
        notes.remove(dwca.HOME_GENERALISED)  # the larger cell says it for both
    places = decimals_for(radius)
    return replace(
        published,
        latitude=round(latitude, places),
        longitude=round(longitude, places),
        geometry=None,
        accuracy_m=radius,
        withheld="; ".join(withheld),
        generalisations="; ".join(notes),
    )


# --- building the snapshot ----------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                "Another snapshot is being built; try again soon.",
                code="open_data.publish_running",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def publish(
    db: Database,
    settings: Settings,
    *,
    root: Path | None = None,
    on_rows: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Build the snapshot from validated data and make it the current one. ``on_rows`` is told
    of every hundred rows read (the progress bar of :func:`planned_rows`)."""
    snapshot = _publish(db, settings, root=root, on_rows=on_rows, now=now, older_than=None)
    assert snapshot is not None
    return snapshot


def _age(snapshot: Snapshot | None, now: datetime) -> timedelta | None:
    if snapshot is None:
        return None
    return now - datetime.fromisoformat(snapshot.generated_at)


def rebuild_if_due(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> Snapshot | None:
    """Publish when the current snapshot is older than ``open_data_rebuild_hours`` (or there is
    none); None when it is fresh, another build runs, or the contact is still a placeholder."""
    if not settings.open_data_rebuild_hours or problems(settings):
        return None
    every = timedelta(hours=settings.open_data_rebuild_hours)
    now = now or utcnow()
    age = _age(current(settings), now)
    if age is not None and age < every:
        return None
    try:
        return _publish(db, settings, root=None, on_rows=None, now=now, older_than=every)
    except Conflict:
        return None  # another process is building it


def rebuild_when_due(db: Database, settings: Settings, stop: threading.Event) -> None:
    """The scheduled rebuild's loop (a thread of each app process), until ``stop`` is set.
    Looks every few minutes, so that a process started late or a failed build catches up."""
    while not stop.is_set():
        try:
            snapshot = rebuild_if_due(db, settings)
            if snapshot is not None:
                log.info("open data rebuilt: %s", snapshot.directory)
        except Exception:
            log.exception("the scheduled open-data rebuild failed; next attempt in 5 minutes")
        stop.wait(min(300.0, settings.open_data_rebuild_hours * 3600 / 4))


def _publish(
    db: Database,
    settings: Settings,
    *,
    root: Path | None,
    on_rows: Callable[[int], None] | None,
    now: datetime | None,
    older_than: timedelta | None,
) -> Snapshot | None:
    found = problems(settings)
    if found:
        raise Conflict(found[0], code="open_data.contact_placeholder")
    root = root or settings.open_data_dir
    now = now or utcnow()
    key = observer_key(settings)
    base = settings.public_url or "http://localhost:8000"
    filters = export_filters(ObservationFilters())
    staff = Viewer(user_id=uuid.uuid4(), role=Role.admin.value)

    def ticking(rows: Iterable[ObservationRow | VisitRow]) -> Iterator[ObservationRow | VisitRow]:
        n = 0
        for n, row in enumerate(rows, 1):
            yield row
            if on_rows is not None and n % 100 == 0:
                on_rows(100)
        if on_rows is not None:
            on_rows(n % 100)

    def observations() -> Iterator[ObservationRow]:
        rows = observation_rows(db, viewer=None, filters=filters, base_url=base, observer_key=key)
        for row in ticking(rows):
            assert isinstance(row, ObservationRow)
            yield _published_observation(row, key)

    def visits() -> Iterator[VisitRow]:
        for row in ticking(visit_rows(db, viewer=staff, filters=filters, observer_key=key)):
            assert isinstance(row, VisitRow)
            yield _published_visit(row, key)

    with _lock(root):
        if older_than is not None:
            age = _age(current(settings, root), now)
            if age is not None and age < older_than:
                return None  # built by another process while this one waited
        building = root / f".building-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        building.mkdir(parents=True)
        try:
            snapshot = _build(building, settings, now, observations, visits)
            _swap(root, building, snapshot)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    snapshot.warnings = warnings(settings)
    return snapshot


def _build(
    folder: Path,
    settings: Settings,
    now: datetime,
    observations: Callable[[], Iterator[ObservationRow]],
    visits: Callable[[], Iterator[VisitRow]],
) -> Snapshot:
    licence = dwca.licence_url(settings)
    stamp = now.astimezone(settings.tz).isoformat(timespec="seconds")
    snapshot = Snapshot(stamp, licence, str(settings.dataset_uuid))
    records: dict[str, int] = {}
    with (folder / "dwca.zip").open("wb") as file:
        counts = dwca.write_dwca(file, observations, visits, settings=settings, generated_at=now)
    records["dwca.zip"] = counts.occurrences
    for name, writer in (
        ("observations.csv", tabular.csv_pieces),
        ("observations.geojson", tabular.geojson_pieces),
    ):
        n = 0

        def counted() -> Iterator[ObservationRow]:
            nonlocal n
            for n, row in enumerate(observations(), 1):  # noqa: B007 (read after the loop)
                yield row

        with (folder / name).open("w", encoding="utf-8", newline="") as text:
            for piece in writer(counted(), tz=settings.tz):
                text.write(piece)
        records[name] = n
    for name, media_type in FILES.items():
        path = folder / name
        snapshot.files.append(
            PublishedFile(
                name=name,
                media_type=media_type,
                size=path.stat().st_size,
                sha256=_sha256(path),
                records=records[name],
                licence=licence,
                modified=stamp,
            )
        )
    (folder / MANIFEST).write_text(json.dumps(snapshot.as_json(), indent=2), encoding="utf-8")
    snapshot.directory = folder
    return snapshot


def _swap(root: Path, building: Path, snapshot: Snapshot) -> None:
    """Make ``building`` the current snapshot in one rename, then drop all but the previous."""
    final = root / building.name.removeprefix(".building-")
    building.replace(final)
    snapshot.directory = final
    previous = _current_name(root)
    pointer = root / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    pointer.write_text(json.dumps({"snapshot": final.name}), encoding="utf-8")
    pointer.replace(root / CURRENT)  # atomic: readers see the old or the new one
    keep = {final.name, previous}
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in keep and not entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)


def _current_name(root: Path) -> str | None:
    try:
        data = json.loads((root / CURRENT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("snapshot") if isinstance(data, dict) else None
    return name if isinstance(name, str) and "/" not in name and name != ".." else None


def current(settings: Settings, root: Path | None = None) -> Snapshot | None:
    """The snapshot being served, or None when none was published yet."""
    root = root or settings.open_data_dir
    name = _current_name(root)
    if name is None:
        return None
    folder = root / name
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = [PublishedFile(**f) for f in data.get("files", [])]
    return Snapshot(
        generated_at=data["generated_at"],
        licence=data["licence"],
        dataset_id=data["dataset_id"],
        files=files,
        directory=folder,
    )


def planned_rows(db: Database, settings: Settings) -> int:
    """How many rows :func:`publish` reads, for a progress bar: the sightings three times
    (the archive, the CSV, the GeoJSON), the visits twice."""
    filters = export_filters(ObservationFilters())
    staff = Viewer(user_id=uuid.uuid4(), role=Role.admin.value)
    observations = count_observations(db, viewer=None, filters=filters)
    visits = sum(1 for _ in visit_rows(db, viewer=staff, filters=filters))
    return observations * 3 + visits * 2
