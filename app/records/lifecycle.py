"""The life of a record, the same for every kind a phone captures (observations, survey sites and
visits): created once per ``client_id``, edited back to review, deleted as a tombstone.

* **Capture** (:class:`Capture`): a phone that lost its connection sends again what it sent, so a
  record is stored once per ``(owner, client_id)``. The database decides, with the table's unique
  ``(owner, client_id)`` and ``INSERT ... ON CONFLICT DO NOTHING``, not a prior SELECT: two copies
  of the same request racing each other still store one row, and the loser answers with the row
  the winner stored (or a 409 ``<kind>.client_id_in_flight`` when the winner has not committed,
  so that the phone sends again).
* **Refusals** (:func:`raise_for`): the 422 of the field errors that refuse a record.
* **Batches** (:func:`parse_item`, :func:`client_id_of`, :func:`rejected`): each item of a batch
  is validated on its own, and answered ``created``, ``existing`` or ``rejected`` in the order
  sent.
* **Edits** (:func:`ensure_editable`, :func:`back_to_review`, :func:`audit_update`): a rejected
  record stays as judged; an edited validated one goes back to pending; ``updated_at`` moves so
  that syncing phones fetch it again; the audit trail keeps what changed.
* **Deletion** (:func:`tombstone`, :func:`delete_audited`): soft, so that phones syncing with
  ``updated_since`` learn of it (``records.listing`` lists the tombstones).

A kind of record takes part with ``id``, ``client_id``, an owner column, ``status`` (for review),
``created_at``, ``updated_at`` and ``deleted_at``; it declares one :class:`Capture` and one
:class:`~app.records.listing.Listing`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Insert, Select, Table, Uuid, any_, bindparam, inspect
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from app.accounts.models import User
from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.audit.service import diff
from app.core.db import utcnow
from app.core.errors import Conflict, FieldError, Unprocessable, validation_errors
from app.core.validation import item_errors
from app.records.models import EDITABLE_STATUSES, ObservationStatus
from app.records.schemas import BatchResult, BatchStatus

_DIALECTS = ("sqlite", "postgresql")

Item = TypeVar("Item", bound=BaseModel)
Model = TypeVar("Model", bound=SQLModel)


def table_of(model: type[SQLModel]) -> Table:
    """The table of a model, for Core statements (bulk inserts) that skip the ORM's cost."""
    table: Any = inspect(model).local_table
    assert isinstance(table, Table)
    return table


# --- capture ---------------------------------------------------------------------------------


class Capture:
    """Idempotent capture of one kind of record: the rows of ``model`` are unique on
    ``(owner, client_id)`` (``owner``: the column of the account that sent them), and
    ``in_flight`` is the error code of a request that lost the race to one not yet committed.

    The statements are built once per database dialect: building and hashing them per request
    costs more than running them.
    """

    def __init__(self, model: type[SQLModel], *, owner: str, in_flight: str) -> None:
        self.table = table_of(model)
        self.owner = owner
        self.in_flight = in_flight
        columns = self.table.c
        self._insert = {name: self._insert_statement(name) for name in _DIALECTS}
        self._insert_returning = {
            name: statement.returning(columns.client_id, columns.id)
            for name, statement in self._insert.items()
        }
        self._stored_ids = {name: self._stored_ids_statement(name) for name in _DIALECTS}

    def _insert_statement(self, dialect: str) -> Insert:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        return insert(self.table).on_conflict_do_nothing(index_elements=[self.owner, "client_id"])

    def _stored_ids_statement(self, dialect: str) -> Select[tuple[uuid.UUID, uuid.UUID]]:
        """On PostgreSQL ``client_id = ANY(:array)``: one parameter and one statement text
        whatever the number of ids, where an expanding IN renders and binds one per id."""
        columns = self.table.c
        if dialect == "postgresql":
            wanted = any_(bindparam("client_ids", type_=postgresql.ARRAY(Uuid)))
            matches = columns.client_id == wanted
        else:
            matches = columns.client_id.in_(bindparam("client_ids", expanding=True))
        return sa_select(columns.client_id, columns.id).where(
            columns[self.owner] == bindparam("owner_id"), matches
        )

    def insert_missing(
        self, session: Session, rows: Sequence[Mapping[str, Any]]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """Inserts the rows (every column given, of one owner, distinct ``client_id``s) whose
        ``(owner, client_id)`` is not stored yet; ``client_id -> id`` of those this call
        inserted. A row stored meanwhile by a concurrent request is left alone."""
        if not rows:
            return {}
        connection = session.connection()
        dialect = connection.dialect.name
        if len(rows) == 1:
            result = connection.execute(self._insert_returning[dialect], rows)
            return dict(result.all())
        # Several rows: the driver's plain executemany (psycopg pipelines it), where RETURNING
        # would have SQLAlchemy render one statement of every row's values and read every id
        # back. The rows' client_ids are distinct, so when as many rows were inserted as sent,
        # they are all ours; otherwise which ones are is read back.
        inserted = connection.execute(self._insert[dialect], rows).rowcount
        ours = {row["client_id"]: row["id"] for row in rows}
        if inserted == len(rows):
            return ours
        stored = self.stored_ids(session, owner_id=rows[0][self.owner], client_ids=ours)
        return {client_id: id_ for client_id, id_ in stored.items() if ours[client_id] == id_}

    def stored_ids(
        self, session: Session, *, owner_id: uuid.UUID, client_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """``client_id -> id`` of the owner's rows stored with these ``client_id``s."""
        wanted = list(client_ids)
        if not wanted:
            return {}
        dialect = session.connection().dialect.name
        statement = self._stored_ids["postgresql" if dialect == "postgresql" else "sqlite"]
        rows = session.execute(statement, {"owner_id": owner_id, "client_ids": wanted})
        return {client_id: id_ for client_id, id_ in rows.all()}  # noqa: C416 (Row to pairs)

    def stored(
        self, session: Session, statement: Any, *, owner_id: uuid.UUID, client_id: uuid.UUID
    ) -> Any:
        """The one result of ``statement`` (a select of this kind of record, joins allowed)
        for the owner's row of this ``client_id``: what a replayed request answers."""
        columns = self.table.c
        found = session.exec(
            statement.where(columns[self.owner] == owner_id, columns.client_id == client_id)
        ).one_or_none()
        if found is None:
            # Only a concurrent request that inserted the row and then rolled back gets here.
            raise self.in_flight_error()
        return found

    def in_flight_error(self, *, batch: bool = False) -> Conflict:
        """The 409 of a request whose ``client_id`` a concurrent one holds, uncommitted."""
        if batch:
            message = "Another request with these client_ids was in progress; send the batch again."
        else:
            message = "Another request with this client_id was in progress; send it again."
        return Conflict(message, code=self.in_flight)


# --- batches ---------------------------------------------------------------------------------


def raise_for(errors: list[FieldError]) -> None:
    """The 422 of the field errors that refuse a record (its code: the first error's), if any."""
    if errors:
        raise Unprocessable(
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            code=errors[0].code,
            errors=errors,
        )


def parse_item(
    model: type[Item], item: Any, *, not_an_object: FieldError
) -> Item | list[FieldError]:
    """A batch item validated as ``model``, or the errors that refuse it (``not_an_object``
    when it is not a JSON object)."""
    if not isinstance(item, Mapping):
        return [not_an_object]
    if unstorable := item_errors(item):
        return unstorable
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        return validation_errors(exc.errors(include_url=False, include_input=False))


def client_id_of(item: Any) -> uuid.UUID | None:
    """The item's ``client_id`` when readable, so that a rejection can be matched to it."""
    if isinstance(item, Mapping):
        value = item.get("client_id")
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                return None
    return None


def rejected(client_id: uuid.UUID | None, errors: list[FieldError]) -> BatchResult:
    """The answer to an item refused for ``errors``."""
    return BatchResult(client_id=client_id, status=BatchStatus.rejected, id=None, errors=errors)


# --- edits and deletion ----------------------------------------------------------------------


class Record(Protocol):
    """What the lifecycle reads and writes of any record (a survey site too)."""

    id: uuid.UUID
    updated_at: datetime
    deleted_at: datetime | None


class Reviewed(Record, Protocol):
    """A record the CPIE reviews (an observation, a visit): it has a review ``status``."""

    status: str


def ensure_editable(record: Reviewed, *, kind: str, code: str) -> None:
    """A 409 ``code`` unless its observer may still correct the record (``kind``: how the
    message names it, article included: "An observation")."""
    if record.status not in EDITABLE_STATUSES:
        raise Conflict(f"{kind} that is {record.status} can no longer be edited.", code=code)


def back_to_review(record: Reviewed) -> None:
    """After an edit: a validated record goes back to pending, for the CPIE to look at again,
    and ``updated_at`` moves, so that phones syncing with ``updated_since`` fetch it."""
    if record.status == ObservationStatus.validated.value:
        record.status = ObservationStatus.pending.value
    record.updated_at = utcnow()


def audit_update(
    session: Session,
    *,
    actor: User,
    entity: AuditEntity,
    record: Record,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    """Adds the edit to the audit trail, with the fields that changed, if any did."""
    changed = diff(before, after)
    if changed:
        audit.record(
            session,
            actor_id=actor.id,
            entity=entity,
            entity_id=record.id,
            action=AuditAction.update,
            changes=changed,
        )


def tombstone(session: Session, record: Record, now: datetime) -> None:
    """Marks the record deleted at ``now``: the row stays, listed to syncing phones as a
    tombstone (``deleted: true``)."""
    record.deleted_at = now
    record.updated_at = now
    session.add(record)


def delete_audited(session: Session, record: Record, *, actor: User, entity: AuditEntity) -> None:
    """Soft deletion of the record by ``actor``, in the audit trail."""
    now = utcnow()
    tombstone(session, record, now)
    audit.record(
        session,
        actor_id=actor.id,
        entity=entity,
        entity_id=record.id,
        action=AuditAction.delete,
        changes={"deleted_at": [None, now]},
    )
    session.flush()


def live(session: Session, model: type[Model], record_id: uuid.UUID) -> Model | None:
    """The record of ``model`` with this id, None when unknown or deleted."""
    record = session.get(model, record_id)
    if record is None or getattr(record, "deleted_at") is not None:  # noqa: B009
        return None
    return record
