"""Accounts: people who sign in, their refresh tokens, the sign-in throttle and the invitation
codes that make a registering person a teacher."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Uuid, false
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id, utcnow
from app.core.vocabulary import DEFAULT_LICENCE, LICENCE_VALUES, Role

ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role_known"),
        CheckConstraint(f"photo_licence IN ({LICENCE_VALUES})", name="photo_licence_known"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Stored lower-cased: e-mail addresses are compared without case.
    email: str = Field(max_length=254, unique=True)
    display_name: str = Field(max_length=80)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.sentinel.value, max_length=16)
    # The licence of the user's photos unless an upload names another (exports need one).
    photo_licence: str = Field(
        default=DEFAULT_LICENCE.value,
        max_length=16,
        sa_column_kwargs={"server_default": DEFAULT_LICENCE.value},
    )
    # The person agreed to be credited by their display name in the published open data
    # (``app.exports.publish``); otherwise a keyed pseudonym stands for them there.
    credit_by_name: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when the person deleted their account: the row stays, emptied of everything personal,
    # as the anonymous participant their observations remain attributed to.
    anonymised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One refresh token; rotated on every use. ``family_id`` ties a chain of rotations, so that
    replaying a used token (a sign of theft) can revoke the whole chain."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_user_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False)
    )
    token_digest: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    family_id: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins per key (``account:<email>`` or ``ip:<address>``), kept in the database so
    that every process of the service sees the same counts."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=300)
    failures: int = 0
    window_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TeacherInvitation(SQLModel, table=True):
    """A code the town hands to a teacher: registering with it gives the ``teacher`` role."""

    __tablename__ = "teacher_invitation"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    created_by: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), nullable=False)
    )
    used_by: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
