"""Keyword-only factories for test data, written straight through the services' models."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.accounts.models import User
from app.core.security import create_access_token, hash_password
from app.core.settings import Settings
from app.core.vocabulary import Role

DEFAULT_PASSWORD = "correct horse battery staple"


def load_reference_data(session: Session) -> None:
    """The species and zones that ship with the package, as a fresh install has them."""
    from app.species.service import DEFAULT_SPECIES_FILE, import_species
    from app.zones.service import DEFAULT_ZONES_FILE, import_zones

    import_species(session, DEFAULT_SPECIES_FILE)
    import_zones(session, DEFAULT_ZONES_FILE)


def create_user(
    session: Session,
    settings: Settings,
    *,
    role: Role | str = Role.sentinel,
    email: str | None = None,
    display_name: str = "Camille",
    password: str = DEFAULT_PASSWORD,
) -> User:
    user = User(
        email=(email or f"user-{uuid.uuid4().hex[:10]}@example.org").lower(),
        display_name=display_name,
        password_hash=hash_password(password, settings),
        role=str(Role(role).value),
    )
    session.add(user)
    session.flush()
    return user


def auth_headers(user: User, settings: Settings) -> dict[str, str]:
    token, _ = create_access_token(user.id, settings)
    return {"Authorization": f"Bearer {token}"}
