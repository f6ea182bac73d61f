"""Shapes of the classes API. A pseudonym is checked not to be an e-mail address or a phone
number: children's personal data must not reach the database, even by mistake."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")
EMAIL_LIKE = re.compile(r"\S+@\S+")
# Seven digits or more, whatever separates them (06 12 34 56 78, +33612345678, 06.12.34…).
PHONE_LIKE = re.compile(r"(?:\+?\d[\s.\-/()]*){7,}")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
School = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ClassCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "CM1 B", "school": "École Basly", "school_year": "2025-2026"},
                {
                    "name": "CM1 B",
                    "school": "École Basly",
                    "school_year": "2026-2027",
                    "continues": "0b9f3f3e-5d1c-4c53-9b43-6f6f7f1f1a21",
                },
            ]
        },
    )

    name: Name
    school: School
    school_year: str = Field(description="`YYYY-YYYY`, the second year the first plus one.")
    continues: uuid.UUID | None = Field(
        default=None,
        description="Last year's class this one continues: it keeps that class's sites (the "
        "school garden, the street) and its observations' series.",
    )

    @field_validator("school_year")
    @classmethod
    def _school_year(cls, value: str) -> str:
        match = SCHOOL_YEAR.match(value.strip())
        if not match or int(match.group(2)) != int(match.group(1)) + 1:
            raise ValueError("a school year is written YYYY-YYYY, e.g. 2025-2026")
        if not 2000 <= int(match.group(1)) <= 2100:
            raise ValueError("the school year must lie between 2000 and 2101")
        return value.strip()


class ClassPublic(BaseModel):
    id: uuid.UUID
    name: str
    school: str
    school_year: str
    join_code: str
    active: bool
    pupils: int = 0
    created_at: datetime
    closed_at: datetime | None = None


class ClassList(BaseModel):
    items: list[ClassPublic]
    next_cursor: str | None = None


def check_pseudonym(value: str) -> str:
    value = " ".join(value.split())
    if EMAIL_LIKE.search(value):
        raise ValueError("a pseudonym must not be an e-mail address")
    if PHONE_LIKE.search(value):
        raise ValueError("a pseudonym must not be a phone number")
    return value


class JoinRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"join_code": "K7MQ-TR4X-HA", "pseudonym": "Renard 12"}]},
    )

    join_code: str = Field(min_length=4, max_length=40)
    pseudonym: str = Field(
        min_length=2,
        max_length=40,
        description="Not a name: a nickname the class agrees on (« Renard 12 »). Refused if it "
        "looks like an e-mail address or a phone number.",
    )

    _pseudonym = field_validator("pseudonym")(lambda cls, v: check_pseudonym(v))


class JoinAnswer(BaseModel):
    pupil_id: uuid.UUID
    pseudonym: str
    class_id: uuid.UUID
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class CheckRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ids": ["6f1c2d8e-3b1a-4f7e-9a55-2c0d4f9b8e21"]}]},
    )

    ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class CheckAnswer(BaseModel):
    checked: int


class InvitationPublic(BaseModel):
    code: str
    expires_at: datetime


class SpeciesSeen(BaseModel):
    """One species in a class's year."""

    species_id: uuid.UUID
    cd_nom: int
    vernacular_name: str | None
    scientific_name: str
    observations: int
    count: int = Field(description="Individuals (and nests) counted, all observations added up.")
    first_date: date = Field(description="The first day it was seen (local date).")


class YearSummary(BaseModel):
    year: int
    observations: int
    species: list[SpeciesSeen]
    swallows_return: date | None = Field(
        description="The first swallow, martin or swift of the year (local date), if any."
    )


class ClassSummary(BaseModel):
    class_id: uuid.UUID
    name: str
    school: str
    year: int
    this_year: YearSummary
    last_year: YearSummary
