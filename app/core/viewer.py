"""Who a service works for, as a plain value: no request, no token, no ambient state.

The routes build it (``app.accounts.dependencies``: the signed-in account, and for a pupil's
token the pupil and class it names) and hand it to the services, which decide visibility and
attribution from it alone, so that a service reads the same from HTTP, the CLI or a test.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from app.core.vocabulary import STAFF_ROLES, Role


class HasRole(Protocol):
    """Anything that carries an account's role: a ``Viewer``, or an account row."""

    @property
    def role(self) -> str: ...


class Account(HasRole, Protocol):
    """An account row as the viewer is built from it (``app.accounts.models.User``)."""

    @property
    def id(self) -> uuid.UUID: ...


@dataclass(frozen=True, slots=True)
class Viewer:
    """The account a request acts as, and the pupil and class when a pupil's token acts as
    the class's account (the records it writes carry them)."""

    user_id: uuid.UUID
    role: str
    pupil_id: uuid.UUID | None = None
    class_id: uuid.UUID | None = None

    @classmethod
    def of(
        cls,
        account: Account,
        *,
        pupil_id: uuid.UUID | None = None,
        class_id: uuid.UUID | None = None,
    ) -> Viewer:
        """The viewer an account is, acting for itself unless a pupil's token names a pupil."""
        return cls(user_id=account.id, role=account.role, pupil_id=pupil_id, class_id=class_id)

    @property
    def id(self) -> uuid.UUID:
        """The account's id: what records name as their observer or owner."""
        return self.user_id

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_pupil(self) -> bool:
        return self.pupil_id is not None

    @property
    def is_teacher(self) -> bool:
        return self.role == Role.teacher.value


def is_staff(viewer: HasRole | None) -> bool:
    """Ecologists and admins see everything, exact positions included."""
    return viewer is not None and viewer.role in STAFF_ROLES
