"""School classes and their pupils (teachers' invitation codes are accounts': ``app.accounts``).

A class observes as one observer: its *account* (a ``user_account`` row with a sentinel's
role, no e-mail of a person and no password anyone knows) owns the class's observations, sites
and visits, so that every rule of visibility, sync and review applies to a class as to a
sentinel. Next school year's class may continue the same account (``POST /classes`` with
``continues``): the school garden and street stay its sites and their series go on.

A pupil is a pseudonym inside a class, nothing more: no e-mail, no name, no account. Their
token names the pupil and the class; closing the class refuses every one of them at once, and
after the retention period the pseudonyms themselves are erased (``erased_at``), leaving the
observations attributed to the class alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow


class SchoolClass(SQLModel, table=True):
    __tablename__ = "school_class"
    __table_args__ = (Index("ix_school_class_teacher_id", "teacher_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    teacher_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    # The class as an observer; shared by the classes that continue it.
    account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    name: str = Field(max_length=120)
    school: str = Field(max_length=200)
    school_year: str = Field(max_length=9)  # "2025-2026"
    join_code: str = Field(max_length=16, unique=True)
    active: bool = True
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pupils_erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Pupil(SQLModel, table=True):
    __tablename__ = "pupil"
    __table_args__ = (UniqueConstraint("class_id", "pseudonym"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    class_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("school_class.id", ondelete="CASCADE"), nullable=False)
    )
    # None once erased (the retention period after the class closed).
    pseudonym: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
