"""Per-process caches of reference data, kept honest by a cheap revision check.

Reference tables (species, zones) change rarely but are read on every capture. Each process keeps
what it derived from them and, at most every ``reference_cache_seconds``, compares a revision
(row count and latest ``updated_at``) with the one it built from: any import, edit or rollback
elsewhere changes it, and the value is rebuilt. So several processes stay correct without a
shared cache, and a stale answer lasts at most that many seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

V = TypeVar("V")


def table_revision(session: Session, model: Any) -> tuple[int, Any]:
    """``(count, max(updated_at))`` of a table: changes whenever a row is added, edited or
    removed (or such a change is rolled back)."""
    count, latest = session.exec(select(func.count(), func.max(col(model.updated_at)))).one()
    return int(count), latest


def database_key(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


@dataclass
class _Entry(Generic[V]):
    value: V
    revision: Hashable
    checked_at: float


class RevisionCache(Generic[V]):
    def __init__(
        self, revision_of: Callable[[Session], Hashable], build: Callable[[Session], V]
    ) -> None:
        self._revision_of = revision_of
        self._build = build
        self._entries: dict[str, _Entry[V]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, *, max_age: float) -> V:
        """The value for the session's database, rebuilt when its revision changed."""
        key = database_key(session)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry.checked_at < max_age:
            return entry.value
        revision = self._revision_of(session)
        if entry is not None and entry.revision == revision:
            entry.checked_at = now
            return entry.value
        value = self._build(session)
        with self._lock:
            self._entries[key] = _Entry(value=value, revision=revision, checked_at=now)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
