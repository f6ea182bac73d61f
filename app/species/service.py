"""The species reference: search, look-ups for other domains, loading TAXREF files, and the
edits ecologists make one species at a time (each in the audit trail)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from sqlalchemy import Table, and_, collate, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.core.cache import RevisionCache, table_revision
from app.core.db import utcnow
from app.core.errors import Conflict, FieldError, NotFound, Unprocessable
from app.core.pagination import decode_cursor, encode_cursor, invalid_cursor
from app.core.settings import Settings
from app.species.models import Species
from app.species.schemas import SpeciesCreate, SpeciesUpdate
from app.species.taxref import (
    DEFAULT_RANKS,
    SpeciesFileError,
    SpeciesRow,
    decode_line,
    fold,
    iter_records,
    make_search_text,
    parse_header,
    taxref_version_from_name,
)

DEFAULT_SPECIES_FILE = Path(__file__).parent / "data" / "species.csv"

SPECIES_TABLE: Table = Species.metadata.tables[Species.__tablename__]
CHUNK_ROWS = 2000
MAX_REPORTED_ERRORS = 100
MAX_QUERY_LENGTH = 100

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SpeciesImportReport:
    created: int
    updated: int
    # Rows left out: ranks not kept, or a name repeated in the same chunk (the last one wins).
    skipped: int
    # Data rows read (header excluded).
    total: int
    format: str
    taxref_version: str | None


@dataclass(frozen=True, slots=True)
class SpeciesListing:
    items: list[Species]
    next_cursor: str | None


# --- look-ups for other domains -------------------------------------------------------------


def get_species(session: Session, species_id: uuid.UUID) -> Species:
    species = session.get(Species, species_id)
    if species is None:
        raise NotFound("No species has this id.", code="species.not_found")
    return species


class SpeciesLookup:
    """Species already looked up by this process, by id and by ``cd_nom``: a capture names
    one of a few dozen species, and re-reading it for every observation would cost more than
    storing the observation. Filled on demand (TAXREF has hundreds of thousands of names);
    instances are detached from any session and only read."""

    def __init__(self) -> None:
        self.by_id: dict[uuid.UUID, Species] = {}
        self.by_cd_nom: dict[int, Species] = {}
        self._lock = threading.Lock()

    def remember(self, session: Session, found: Iterable[Species]) -> None:
        with self._lock:
            for species in found:
                if species in session:
                    session.expunge(species)
                self.by_id[species.id] = species
                self.by_cd_nom[species.cd_nom] = species


_lookups: RevisionCache[SpeciesLookup] = RevisionCache(
    revision_of=lambda session: table_revision(session, Species),
    build=lambda _session: SpeciesLookup(),
)


def invalidate_species_cache() -> None:
    _lookups.invalidate()


def resolve_species(
    session: Session,
    settings: Settings,
    *,
    species_id: uuid.UUID | None,
    cd_nom: int | None,
) -> Species | None:
    """The species an observation names, by our id first, else by its TAXREF ``cd_nom``."""
    by_id, by_cd_nom = species_by_keys(
        session,
        settings,
        ids=() if species_id is None else (species_id,),
        cd_noms=() if cd_nom is None else (cd_nom,),
    )
    if species_id is not None and species_id in by_id:
        return by_id[species_id]
    return by_cd_nom.get(cd_nom) if cd_nom is not None else None


def species_by_keys(
    session: Session,
    settings: Settings,
    *,
    ids: Iterable[uuid.UUID] = (),
    cd_noms: Iterable[int] = (),
) -> tuple[dict[uuid.UUID, Species], dict[int, Species]]:
    """Every species named in a batch, from this process's cache, else in at most two
    queries: ``({id: s}, {cd_nom: s})``. The instances are shared: read them, never change
    them."""
    lookup = _lookups.get(session, max_age=settings.reference_cache_seconds)
    wanted_ids = set(ids)
    wanted_cd_noms = set(cd_noms)
    missing_ids = wanted_ids - lookup.by_id.keys()
    missing_cd_noms = wanted_cd_noms - lookup.by_cd_nom.keys()
    if missing_ids:
        query = select(Species).where(col(Species.id).in_(missing_ids))
        lookup.remember(session, session.exec(query).all())
    if missing_cd_noms:
        query = select(Species).where(col(Species.cd_nom).in_(missing_cd_noms))
        lookup.remember(session, session.exec(query).all())
    by_id = {key: lookup.by_id[key] for key in wanted_ids if key in lookup.by_id}
    by_cd_nom = {key: lookup.by_cd_nom[key] for key in wanted_cd_noms if key in lookup.by_cd_nom}
    return by_id, by_cd_nom


# --- listing ----------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _species_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    last_key, last_id = decode_cursor(cursor, length=2)
    try:
        return str(last_key), uuid.UUID(str(last_id))
    except ValueError:
        raise invalid_cursor() from None


def list_species(
    session: Session,
    *,
    q: str | None = None,
    group: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SpeciesListing:
    """Alphabetical by displayed name (French, else scientific), without accents.

    Ordering and cursors use ``search_text``, whose first part is the folded displayed name,
    compared bytewise (``COLLATE "C"`` on PostgreSQL) so both databases page identically.
    """
    dialect = session.get_bind().dialect.name
    key = collate(col(Species.search_text), "C" if dialect == "postgresql" else "BINARY")
    query = select(Species)
    if q is not None and (needle := fold(q)):
        query = query.where(col(Species.search_text).like(f"%{_escape_like(needle)}%", escape="\\"))
    if group is not None:
        query = query.where(Species.group == group)
    if cursor is not None:
        last_key, after_id = _species_cursor(cursor)
        query = query.where(or_(key > last_key, and_(key == last_key, col(Species.id) > after_id)))
    rows = list(session.exec(query.order_by(key, col(Species.id)).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last.search_text, str(last.id)])
    return SpeciesListing(items=rows, next_cursor=next_cursor)


# --- edits by ecologists ---------------------------------------------------------------------

# What the audit trail keeps of a species: every field an edit or an import may change.
AUDITED_FIELDS = (
    "cd_nom",
    "cd_ref",
    "scientific_name",
    "authority",
    "vernacular_name",
    "vernacular_en",
    "group",
    "rank",
    "kingdom",
    "family",
    "taxref_version",
    "sensitive",
    "generalisation",
)
# Fields that decide where the public sees the species' observations.
POSITION_FIELDS = frozenset({"sensitive", "generalisation"})
NAME_FIELDS = frozenset({"scientific_name", "vernacular_name"})


def _cd_nom_taken(cd_nom: int) -> Conflict:
    return Conflict(
        f"A species with cd_nom {cd_nom} is already in the reference.",
        code="species.cd_nom_taken",
    )


def create_species(session: Session, *, actor_id: uuid.UUID, data: SpeciesCreate) -> Species:
    """Adds a TAXREF name to the reference; 409 ``species.cd_nom_taken`` when its ``cd_nom``
    is there already (checked first, and again by the unique index against a concurrent add)."""
    existing = session.exec(select(Species.id).where(col(Species.cd_nom) == data.cd_nom)).first()
    if existing is not None:
        raise _cd_nom_taken(data.cd_nom)
    now = utcnow()
    species = Species(
        cd_nom=data.cd_nom,
        cd_ref=data.cd_ref if data.cd_ref is not None else data.cd_nom,
        scientific_name=data.scientific_name,
        authority=data.authority,
        vernacular_name=data.vernacular_name,
        vernacular_en=data.vernacular_en,
        group=data.group.value,
        rank=data.rank,
        kingdom=data.kingdom,
        family=data.family,
        taxref_version=data.taxref_version,
        sensitive=data.sensitive,
        generalisation=data.generalisation.value,
        search_text=make_search_text(
            scientific_name=data.scientific_name,
            vernacular_name=data.vernacular_name,
            cd_nom=data.cd_nom,
        ),
        created_at=now,
        updated_at=now,
    )
    savepoint = session.begin_nested()
    try:
        session.add(species)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise _cd_nom_taken(data.cd_nom) from None
    savepoint.commit()
    audit.record(
        session,
        actor_id=actor_id,
        entity=AuditEntity.species,
        entity_id=species.id,
        action=AuditAction.create,
        changes=audit.diff({}, audit.snapshot(species, AUDITED_FIELDS)),
        at=now,
    )
    session.flush()
    invalidate_species_cache()
    return species


def update_species(
    session: Session,
    settings: Settings,
    *,
    actor_id: uuid.UUID,
    species_id: uuid.UUID,
    data: SpeciesUpdate,
    move_positions: Callable[[Species, datetime], object],
) -> Species:
    """Applies an ecologist's correction in one unit of work: the species, one audit event
    naming the fields changed, and, when ``sensitive`` or ``generalisation`` changed,
    ``move_positions(species, now)``: the observations above this domain move their public
    positions (``app.observations.sensitivity``), a step no caller may leave out. A PATCH that
    changes nothing writes nothing.

    The species row is locked first (PostgreSQL; SQLite has one writer anyway): two concurrent
    edits would otherwise each recompute the positions from a species the other was changing,
    and the last to write the observations could leave them exact under a sensitive species.
    """
    species = session.get(Species, species_id, with_for_update=True, populate_existing=True)
    if species is None:
        raise NotFound("No species has this id.", code="species.not_found")
    before = audit.snapshot(species, AUDITED_FIELDS)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if isinstance(value, StrEnum):  # stored as their value
            value = value.value
        setattr(species, name, value)
    changes = audit.diff(before, audit.snapshot(species, AUDITED_FIELDS))
    if not changes:
        return species
    now = utcnow()
    if changes.keys() & NAME_FIELDS:
        species.search_text = make_search_text(
            scientific_name=species.scientific_name,
            vernacular_name=species.vernacular_name,
            cd_nom=species.cd_nom,
        )
    # The caches of other processes notice the change by this column (the table's revision).
    species.updated_at = now
    session.add(species)
    session.flush()
    if changes.keys() & POSITION_FIELDS:
        move_positions(species, now)
    audit.record(
        session,
        actor_id=actor_id,
        entity=AuditEntity.species,
        entity_id=species.id,
        action=AuditAction.update,
        changes=changes,
        at=now,
    )
    session.flush()
    invalidate_species_cache()
    return species


# --- import -----------------------------------------------------------------------------------


def import_species(
    session: Session,
    path: Path,
    *,
    on_progress: ProgressCallback | None = None,
    taxref_version: str | None = None,
    ranks: Collection[str] | None = DEFAULT_RANKS,
) -> SpeciesImportReport:
    """Load a species file (our CSV extract or a TAXREF ``.txt``), all or nothing.

    The file is streamed and upserted on ``cd_nom`` in chunks inside a SAVEPOINT; reading goes on
    past the first bad row to report up to 100 of them with their line numbers, then the
    SAVEPOINT is rolled back so nothing is stored. TAXREF rows never change ``sensitive`` on a
    species already stored (ecologists decide that); the CSV extract sets it when given.
    ``ranks`` filters TAXREF rows (None keeps every rank).
    """
    path = Path(path)
    total_bytes = path.stat().st_size
    with path.open("rb") as raw:
        lines = _ProgressLines(raw, total_bytes, on_progress)
        header = next(iter(lines), None)
        if header is None:
            _fail([SpeciesFileError(1, "the file is empty")])
        try:
            parser = parse_header(header, ranks=ranks)
        except SpeciesFileError as exc:
            _fail([exc])
        version = taxref_version
        if version is None and parser.format == "taxref":
            version = taxref_version_from_name(path.name)

        errors: list[SpeciesFileError] = []
        created = updated = skipped = total = 0
        chunk: dict[int, SpeciesRow] = {}
        savepoint = session.begin_nested()
        try:
            for line_number, record in iter_records(parser, lines):
                total += 1
                try:
                    if isinstance(record, SpeciesFileError):
                        raise record
                    row = parser.parse(record, line_number)
                except SpeciesFileError as exc:
                    errors.append(exc)
                    if len(errors) > MAX_REPORTED_ERRORS:
                        break
                    continue
                if row is None:
                    skipped += 1
                    continue
                if row.cd_nom in chunk:
                    skipped += 1
                chunk[row.cd_nom] = row
                if len(chunk) >= CHUNK_ROWS:
                    if not errors:
                        made, changed = _upsert(session, chunk.values(), version)
                        created, updated = created + made, updated + changed
                    chunk.clear()
                    lines.report()
            if chunk and not errors:
                made, changed = _upsert(session, chunk.values(), version)
                created, updated = created + made, updated + changed
        except BaseException:
            savepoint.rollback()
            raise
        if errors:
            savepoint.rollback()
            _fail(errors)
        savepoint.commit()
        invalidate_species_cache()
        lines.report(done=True)
    # Objects already in this session may hold the old values: the upsert went around the ORM.
    session.expire_all()
    return SpeciesImportReport(
        created=created,
        updated=updated,
        skipped=skipped,
        total=total,
        format=parser.format,
        taxref_version=version,
    )


def _fail(errors: list[SpeciesFileError]) -> NoReturn:
    """``errors`` holds one more than the cap when reading stopped there."""
    shown = errors[:MAX_REPORTED_ERRORS]
    count = f"more than {len(shown)}" if len(errors) > len(shown) else str(len(shown))
    raise Unprocessable(
        f"The species file has {count} bad row(s); nothing was stored.",
        code="species.invalid_file",
        errors=[
            FieldError(field=f"line {e.line}", message=e.message, code="species.invalid_row")
            for e in shown
        ],
    )


def _upsert(session: Session, rows: Iterable[SpeciesRow], version: str | None) -> tuple[int, int]:
    """Inserts or updates a chunk on ``cd_nom``; ``(created, updated)``."""
    batch = list(rows)
    existing = set(
        session.exec(
            select(Species.cd_nom).where(col(Species.cd_nom).in_([r.cd_nom for r in batch]))
        )
    )
    now = utcnow()
    explicit = [r for r in batch if r.sensitive is not None]
    implicit = [r for r in batch if r.sensitive is None]
    dialect = session.get_bind().dialect.name
    for group, keep_sensitive in ((explicit, False), (implicit, True)):
        if not group:
            continue
        values = [
            {
                "id": uuid.uuid4(),
                "cd_nom": r.cd_nom,
                "cd_ref": r.cd_ref,
                "scientific_name": r.scientific_name,
                "authority": r.authority,
                "vernacular_name": r.vernacular_name,
                "vernacular_en": r.vernacular_en,
                "group": r.group,
                "rank": r.rank,
                "kingdom": r.kingdom,
                "family": r.family,
                "sensitive": bool(r.sensitive),
                "taxref_version": version,
                "search_text": r.search_text,
                "created_at": now,
                "updated_at": now,
            }
            for r in group
        ]
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # One statement, many parameter sets: compiled once and cached, then batched by the
        # driver ("insertmanyvalues"); inlining 2000 rows of values costs more to compile than
        # to run.
        statement = insert(SPECIES_TABLE)
        update_columns = [
            "cd_ref",
            "scientific_name",
            "authority",
            "vernacular_name",
            "vernacular_en",
            "group",
            "rank",
            "kingdom",
            "family",
            "search_text",
            "updated_at",
        ]
        if not keep_sensitive:
            update_columns.append("sensitive")
        set_: dict[str, Any] = {c: statement.excluded[c] for c in update_columns}
        if version is not None:
            set_["taxref_version"] = statement.excluded["taxref_version"]
        session.connection().execute(
            statement.on_conflict_do_update(index_elements=["cd_nom"], set_=set_), values
        )
    created = sum(1 for r in batch if r.cd_nom not in existing)
    return created, len(batch) - created


class _ProgressLines:
    """A binary file's lines, decoded, counting bytes for the progress callback."""

    def __init__(
        self, raw: BinaryIO, total_bytes: int, on_progress: ProgressCallback | None
    ) -> None:
        self._raw = raw
        self._total = total_bytes
        self._on_progress = on_progress
        self.bytes_read = 0
        self._first = True

    def __iter__(self) -> Iterator[str]:
        for raw_line in self._raw:
            self.bytes_read += len(raw_line)
            text = decode_line(raw_line)
            if self._first:
                text = text.lstrip("\ufeff")
                self._first = False
            yield text

    def report(self, *, done: bool = False) -> None:
        if self._on_progress is not None:
            self._on_progress(self._total if done else self.bytes_read, self._total)
