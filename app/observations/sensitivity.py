"""Moving the public positions of a species' observations when its sensitivity changes.

Every output reads the public position stored on each observation (so that lists, bbox filters
and exports never project anything per row): when an ecologist makes a species sensitive, or
changes how far it is blurred, those stored positions must follow in the same transaction, or
the species would be published exactly until its observations were next edited. A common
species may have a hundred thousand observations, so they are read and rewritten in chunks,
in key order, with one prepared UPDATE per chunk; deleted observations are rewritten too,
because syncing phones still receive them as tombstones.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, inspect, or_, select, update
from sqlmodel import Session

from app.core.db import utcnow
from app.core.settings import Settings
from app.observations.models import Observation
from app.observations.visibility import PublicPosition, public_position_of
from app.species import service as species_service
from app.species.models import Species
from app.species.schemas import SpeciesUpdate

CHUNK_ROWS = 1000

_table = inspect(Observation).local_table
assert isinstance(_table, Table)
OBSERVATION_TABLE: Table = _table

# Prepared once: a chunk is one executemany of this statement on the primary key.
_columns = OBSERVATION_TABLE.c
_MOVE = (
    update(OBSERVATION_TABLE)
    .where(_columns.id == bindparam("row_id", type_=_columns.id.type))
    .values(
        public_latitude=bindparam("new_latitude", type_=_columns.public_latitude.type),
        public_longitude=bindparam("new_longitude", type_=_columns.public_longitude.type),
        public_accuracy_m=bindparam("new_accuracy_m", type_=_columns.public_accuracy_m.type),
        generalised=bindparam("new_generalised", type_=_columns.generalised.type),
        updated_at=bindparam("new_updated_at", type_=_columns.updated_at.type),
    )
)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


def _unchanged(stored: tuple[float, float, float | None, bool], public: PublicPosition) -> bool:
    latitude, longitude, accuracy_m, generalised = stored
    return (
        _same(latitude, public.latitude)
        and _same(longitude, public.longitude)
        and _same(accuracy_m, public.accuracy_m)
        and generalised == public.generalised
    )


def regeneralise_observations(
    session: Session,
    settings: Settings,
    species: Species,
    *,
    now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Recomputes the public position of every observation of ``species`` (deleted ones
    included) from its exact one, as ``species`` now says; returns how many moved.

    Only observations whose public position changes are written, and their ``updated_at`` is
    set to ``now`` so that phones syncing with ``updated_since`` fetch them again. Rows are read
    ``chunk_rows`` at a time by ``(observed_at, id)``, which the per-species index serves and
    which this rewrite never changes.
    """
    stamp = now or utcnow()
    observed_at, row_id = _columns.observed_at, _columns.id
    query = select(
        row_id,
        observed_at,
        _columns.latitude,
        _columns.longitude,
        _columns.accuracy_m,
        _columns.public_latitude,
        _columns.public_longitude,
        _columns.public_accuracy_m,
        _columns.generalised,
    ).where(_columns.species_id == species.id)
    connection = session.connection()
    moved = 0
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        chunk_query = query
        if after is not None:
            last_at, last_id = after
            chunk_query = chunk_query.where(
                or_(observed_at > last_at, and_(observed_at == last_at, row_id > last_id))
            )
        rows = connection.execute(chunk_query.order_by(observed_at, row_id).limit(chunk_rows)).all()
        if not rows:
            break
        changes = []
        for row in rows:
            public = public_position_of(
                session,
                settings,
                species,
                latitude=row.latitude,
                longitude=row.longitude,
                accuracy_m=row.accuracy_m,
            )
            stored = (
                row.public_latitude,
                row.public_longitude,
                row.public_accuracy_m,
                bool(row.generalised),
            )
            if _unchanged(stored, public):
                continue
            changes.append(
                {
                    "row_id": row.id,
                    "new_latitude": public.latitude,
                    "new_longitude": public.longitude,
                    "new_accuracy_m": public.accuracy_m,
                    "new_generalised": public.generalised,
                    "new_updated_at": stamp,
                }
            )
        if changes:
            connection.execute(_MOVE, changes)
            moved += len(changes)
        last = rows[-1]
        after = (last.observed_at, last.id)
        if len(rows) < chunk_rows:
            break
    if moved:
        _expire_loaded(session, species.id)
    return moved


def _expire_loaded(session: Session, species_id: uuid.UUID) -> None:
    """Observations of the species this session already holds were rewritten around the ORM."""
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Observation) and instance.species_id == species_id:
            session.expire(instance)


def correct_species(
    session: Session,
    settings: Settings,
    *,
    actor_id: uuid.UUID,
    species_id: uuid.UUID,
    data: SpeciesUpdate,
) -> Species:
    """An ecologist's correction of a species (``app.species.service.update_species``), with
    the public positions of its observations moved in the same transaction when its
    sensitivity changed."""
    return species_service.update_species(
        session,
        settings,
        actor_id=actor_id,
        species_id=species_id,
        data=data,
        move_positions=lambda species, now: regeneralise_observations(
            session, settings, species, now=now
        ),
    )
