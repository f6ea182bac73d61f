"""Words several domains share, kept below all of them so that none imports another for a name.

The roles are read by every domain's rules (who is staff, who is a teacher) and by the viewer a
service is handed (``app.core.viewer``). The photo licences are chosen on an account (the default
for its uploads) and carried by each photo: accounts sit below media, so the licence cannot
belong to either.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError


# What an account may do: observe, teach a class, review (ecologists) or administer. No
# docstring: the OpenAPI schema would publish it.
class Role(StrEnum):
    sentinel = "sentinel"
    teacher = "teacher"
    ecologist = "ecologist"
    admin = "admin"


# Ecologists and admins see everything, exact positions included.
STAFF_ROLES = frozenset({Role.ecologist.value, Role.admin.value})


class PhotoLicence(StrEnum):
    """The Creative Commons licences a photo may carry (exports of the data need one)."""

    cc0 = "CC0-1.0"
    cc_by = "CC-BY-4.0"
    cc_by_nc = "CC-BY-NC-4.0"


DEFAULT_LICENCE = PhotoLicence.cc_by
LICENCE_VALUES = ", ".join(f"'{licence.value}'" for licence in PhotoLicence)


def check_licence(value: Any) -> Any:
    """A licence the service knows, refused with a domain code the phone app can translate."""
    if isinstance(value, PhotoLicence):
        return value
    if isinstance(value, str) and value in {licence.value for licence in PhotoLicence}:
        return value
    raise PydanticCustomError(
        "photo.unknown_licence",
        "The licence must be one of: {licences}.",
        {"licences": ", ".join(licence.value for licence in PhotoLicence)},
    )


Licence = Annotated[
    PhotoLicence,
    BeforeValidator(check_licence),
    Field(
        description="CC0-1.0 (public domain), CC-BY-4.0 (credit the author) or CC-BY-NC-4.0 "
        "(credit, no commercial use).",
        examples=["CC-BY-4.0"],
    ),
]
