"""How a kind of record is listed, the same way for observations, sites and visits.

Two orders, each paged by keyset (``core.pagination``): newest first by the record's own time
(when it was seen, made or visited), for people reading a list; and, for a phone resuming its
sync with ``updated_since``, oldest change first by ``(updated_at, id)`` with deletions kept as
tombstones, so that the phone learns of them and never misses a change made while it paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session

from app.core.pagination import decode_position, encode_position


@dataclass(frozen=True)
class Listing:
    """The listing of one table: its model (with ``id``, ``updated_at`` and ``deleted_at``
    columns), the column of its own time, and the two cursor kinds, distinct per table so that a
    cursor of one list is refused by another."""

    model: Any
    own_time: str
    newest_first: str
    changes: str

    def _column(self, name: str) -> Any:
        return getattr(self.model, name)

    def window(self, updated_since: datetime | None) -> ColumnElement[bool]:
        """Live records for a reader; every record changed since then (tombstones too) for sync."""
        clause: ColumnElement[bool]
        if updated_since is None:
            clause = self._column("deleted_at").is_(None)
        else:
            clause = self._column("updated_at") >= updated_since
        return clause

    def page(
        self, clauses: list[ColumnElement[bool]], *, cursor: str | None, sync: bool
    ) -> tuple[Any, Any]:
        """Adds the cursor's condition to ``clauses``; the ORDER BY of the page."""
        at = self._column("updated_at" if sync else self.own_time)
        id_ = self._column("id")
        if cursor is not None:
            last_at, last_id = decode_position(
                cursor, kind=self.changes if sync else self.newest_first
            )
            if sync:
                clauses.append(or_(at > last_at, and_(at == last_at, id_ > last_id)))
            else:
                clauses.append(or_(at < last_at, and_(at == last_at, id_ < last_id)))
        return (at.asc(), id_.asc()) if sync else (at.desc(), id_.desc())

    def fetch(
        self,
        session: Session,
        statement: Any,
        clauses: list[ColumnElement[bool]],
        *,
        cursor: str | None,
        sync: bool,
        limit: int,
    ) -> tuple[list[Any], str | None]:
        """One page of ``statement`` (a select whose first entity is this model) under
        ``clauses``, and the cursor of the next page (None on the last one)."""
        order = self.page(clauses, cursor=cursor, sync=sync)
        rows = list(session.exec(statement.where(*clauses).order_by(*order).limit(limit + 1)))
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1] if isinstance(rows[-1], self.model) else rows[-1][0]
        return rows, self.cursor_after(last, sync=sync)

    def cursor_after(self, last: Any, *, sync: bool) -> str:
        """The cursor of the page that follows ``last``, the last record sent."""
        if sync:
            return encode_position(self.changes, last.updated_at, last.id)
        return encode_position(self.newest_first, getattr(last, self.own_time), last.id)
