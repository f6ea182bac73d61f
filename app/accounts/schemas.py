"""What the accounts endpoints read and write.

E-mail addresses are checked by a local parser rather than pydantic's ``EmailStr``: that needs
the ``email-validator`` package, which the project does not declare (it is only present in the
development environment by accident), and whose extra policy (refusing ``.local`` or ``.test``
domains) is not ours to impose. The check below accepts the dot-atom addresses real mail systems
hand out (internationalised domains included) and nothing with spaces, quotes, comments or a
missing domain.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from app.core.patching import refuse_null
from app.core.vocabulary import Licence, PhotoLicence, Role

EMAIL_MAX_LENGTH = 254
EMAIL_LOCAL_MAX_LENGTH = 64
PASSWORD_MIN_LENGTH = 10
# argon2 hashes whatever it is given: an unbounded password is a cheap way to burn server CPU.
PASSWORD_MAX_LENGTH = 1024
DISPLAY_NAME_MAX_LENGTH = 80
REFRESH_TOKEN_MAX_LENGTH = 256

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = rf"{_ATEXT}(?:\.{_ATEXT})*"
# A domain label: letters or digits of any script, hyphens only inside.
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
# The top-level domain: letters only, or its punycode (xn--...) form.
_TLD = r"(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{1,59})"
_EMAIL_RE = re.compile(rf"(?P<local>{_LOCAL_PART})@(?P<domain>(?:{_LABEL}\.)+{_TLD})")


def normalise_email(value: str) -> str:
    """The address trimmed and lower-cased (how it is stored and compared), or a 422 error."""
    email = value.strip().lower()
    match = _EMAIL_RE.fullmatch(email) if len(email) <= EMAIL_MAX_LENGTH else None
    if match is None or len(match["local"]) > EMAIL_LOCAL_MAX_LENGTH:
        raise PydanticCustomError("auth.email_invalid", "This is not a valid e-mail address.")
    return email


# What a display name must not be: it is shown to others and written in the exports, so an
# e-mail address or a phone number (nine digits or more, whatever separates them) would give its
# owner's contact away. The exports apply the same rule to older accounts.
CONTACT_EMAIL_LIKE = re.compile(r"\S+@\S+")
CONTACT_PHONE_LIKE = re.compile(r"(?:\+|00)?\d(?:[\s./()-]*\d){8,}")


def looks_like_contact(value: str) -> bool:
    """Whether a display name looks like an e-mail address or a phone number."""
    return bool(CONTACT_EMAIL_LIKE.search(value) or CONTACT_PHONE_LIKE.search(value))


def check_display_name(value: str) -> str:
    if looks_like_contact(value):
        raise PydanticCustomError(
            "user.display_name_contact",
            "A display name must not be an e-mail address or a phone number.",
        )
    return value


def check_password(value: str) -> str:
    if len(value) < PASSWORD_MIN_LENGTH:
        raise PydanticCustomError(
            "auth.password_too_short",
            "The password must have at least {min_length} characters.",
            {"min_length": PASSWORD_MIN_LENGTH},
        )
    if len(value) > PASSWORD_MAX_LENGTH:
        raise PydanticCustomError(
            "auth.password_too_long",
            "The password must have at most {max_length} characters.",
            {"max_length": PASSWORD_MAX_LENGTH},
        )
    return value


Email = Annotated[
    str,
    AfterValidator(normalise_email),
    Field(
        json_schema_extra={"format": "email", "maxLength": EMAIL_MAX_LENGTH},
        examples=["camille.durand@example.org"],
    ),
]
Password = Annotated[
    str,
    AfterValidator(check_password),
    Field(
        json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH},
        examples=["hirondelles-2026"],
    ),
]
CREDIT_BY_NAME_DESCRIPTION = (
    "Whether the published open data (`GET /open-data`) credits this person by their display "
    "name; otherwise (the default) a stable anonymous pseudonym stands for them there. The "
    "staff's exports and every other answer are not affected."
)

DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX_LENGTH),
    AfterValidator(check_display_name),
    Field(
        examples=["Camille"],
        description="Shown to others and in the exports: refused when it looks like an e-mail "
        "address or a phone number (`user.display_name_contact`).",
    ),
]


class UserCreate(BaseModel):
    """A new account; it gets the ``sentinel`` role."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "camille.durand@example.org",
                    "password": "hirondelles-2026",
                    "display_name": "Camille",
                    "credit_by_name": False,
                }
            ]
        },
    )

    email: Email
    password: Password
    display_name: DisplayName
    credit_by_name: bool = Field(
        default=False,
        description=CREDIT_BY_NAME_DESCRIPTION,
        examples=[False],
    )
    invitation_code: str | None = Field(
        default=None,
        max_length=32,
        description="A teacher invitation code from the town or the CPIE: the account gets "
        "the `teacher` role.",
    )


class UserPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b9f3d4e-5c1a-4e8b-9a57-2f1d6c3b8e10",
                    "email": "camille.durand@example.org",
                    "display_name": "Camille",
                    "role": "sentinel",
                    "photo_licence": "CC-BY-4.0",
                    "credit_by_name": False,
                    "created_at": "2026-04-12T05:45:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    photo_licence: PhotoLicence = Field(
        description="The licence of this account's photos unless an upload names another."
    )
    credit_by_name: bool = Field(
        default=False, description=CREDIT_BY_NAME_DESCRIPTION, examples=[False]
    )
    created_at: datetime


class UserUpdate(BaseModel):
    """Changes to the signed-in account; a field left out stays as it is."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"display_name": "Camille D.", "photo_licence": "CC0-1.0", "credit_by_name": True}
            ]
        },
    )

    display_name: DisplayName | None = None
    photo_licence: Licence | None = None
    credit_by_name: bool | None = Field(
        default=None, description=CREDIT_BY_NAME_DESCRIPTION, examples=[True]
    )

    _no_null = refuse_null(
        "display_name", "photo_licence", "credit_by_name", code="user.null_not_allowed"
    )


class UserRoleUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "ecologist"}]}
    )

    role: Role


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"refresh_token": "q3J1n0bV2m6X8yQ-3kq7rE4c9o1Zt5pA8sLw0fHgUe4"}]
        },
    )

    refresh_token: str = Field(min_length=1, max_length=REFRESH_TOKEN_MAX_LENGTH)


class TokenPair(BaseModel):
    """What a successful sign-in or refresh answers (RFC 6749, section 5.1)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.sig",
                    "token_type": "bearer",
                    "expires_in": 1800,
                    "refresh_token": "q3J1n0bV2m6X8yQ-3kq7rE4c9o1Zt5pA8sLw0fHgUe4",
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the access token, in seconds.")
    refresh_token: str
