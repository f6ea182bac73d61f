"""What the API says about species, and what ecologists send to add or correct one.

Bounds are the table's (``app.species.taxref``'s limits): a value longer than a column would pass
on SQLite and fail on PostgreSQL, so it is refused here with the same 422 on both.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.patching import refuse_null
from app.species.models import Generalisation
from app.species.taxref import (
    MAX_AUTHORITY,
    MAX_CD_NOM,
    MAX_FAMILY,
    MAX_KINGDOM,
    MAX_RANK,
    MAX_SCIENTIFIC_NAME,
    MAX_VERNACULAR,
    SpeciesGroup,
)

MAX_TAXREF_VERSION = 16

GENERALISATION_DESCRIPTION = (
    "Where a sensitive species is shown to anyone but the observer and staff: `grid_1km` or "
    "`grid_10km`, the centre of the Lambert-93 grid cell holding the point (accuracy: the "
    "cell's half-diagonal), or `commune`, the centre of the commune holding it (accuracy: the "
    "commune's radius). Ignored while `sensitive` is false."
)


def check_name_text(value: str | None) -> str | None:
    """Text every database stores as given: no control character (a NUL breaks PostgreSQL, a
    tab would split ``search_text``), nothing that is not Unicode."""
    if value is None:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PydanticCustomError(
            "species.invalid_characters", "The text holds a control character."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "species.invalid_characters", "The text holds characters that are not Unicode."
        ) from None
    return value


_NameText = AfterValidator(check_name_text)


def _bounds(limit: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=limit)


TaxonId = Annotated[int, Field(ge=1, le=MAX_CD_NOM, strict=True)]
Flag = Annotated[bool, Field(strict=True)]
ScientificName = Annotated[str, _bounds(MAX_SCIENTIFIC_NAME), _NameText]
Authority = Annotated[str, _bounds(MAX_AUTHORITY), _NameText]
Vernacular = Annotated[str, _bounds(MAX_VERNACULAR), _NameText]
Rank = Annotated[str, _bounds(MAX_RANK), _NameText]
Kingdom = Annotated[str, _bounds(MAX_KINGDOM), _NameText]
Family = Annotated[str, _bounds(MAX_FAMILY), _NameText]
TaxrefVersion = Annotated[str, _bounds(MAX_TAXREF_VERSION), _NameText]


class SpeciesPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7d6a55-3f1e-4d0e-9a57-2f0e3c2b9d11",
                    "cd_nom": 3696,
                    "cd_ref": 3696,
                    "scientific_name": "Hirundo rustica",
                    "authority": "Linnaeus, 1758",
                    "vernacular_name": "Hirondelle rustique",
                    "vernacular_en": "Barn Swallow",
                    "group": "bird",
                    "rank": "ES",
                    "sensitive": False,
                    "generalisation": "grid_10km",
                }
            ]
        },
    )

    id: uuid.UUID
    cd_nom: int = Field(description="TAXREF id of this name.")
    cd_ref: int = Field(description="TAXREF id of the accepted taxon; counts aggregate on it.")
    scientific_name: str
    authority: str | None = None
    vernacular_name: str | None = Field(
        default=None, description="French name(s); several are separated by commas."
    )
    vernacular_en: str | None = None
    group: str = Field(description=f"Our group: {', '.join(SpeciesGroup)}.")
    rank: str | None = Field(default=None, description="TAXREF rank code (`ES` = species).")
    sensitive: bool = Field(
        description="Positions of this species are generalised for the public, as "
        "`generalisation` says."
    )
    generalisation: Generalisation = Field(
        default=Generalisation.grid_10km, description=GENERALISATION_DESCRIPTION
    )


class SpeciesCreate(BaseModel):
    """A TAXREF name to add to the reference, with the fields of its TAXREF row."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cd_nom": 4001,
                    "cd_ref": 4001,
                    "scientific_name": "Delichon urbicum",
                    "authority": "(Linnaeus, 1758)",
                    "vernacular_name": "Hirondelle de fenêtre",
                    "vernacular_en": "Common House Martin",
                    "group": "bird",
                    "rank": "ES",
                    "kingdom": "Animalia",
                    "family": "Hirundinidae",
                    "taxref_version": "18.0",
                    "sensitive": False,
                    "generalisation": "grid_10km",
                }
            ]
        },
    )

    cd_nom: TaxonId = Field(description="TAXREF `CD_NOM`: unique in the reference.")
    cd_ref: TaxonId | None = Field(
        default=None, description="TAXREF `CD_REF`, the accepted taxon; default: `cd_nom`."
    )
    scientific_name: ScientificName = Field(description="TAXREF `LB_NOM`.")
    authority: Authority | None = Field(default=None, description="TAXREF `LB_AUTEUR`.")
    vernacular_name: Vernacular | None = Field(
        default=None, description="TAXREF `NOM_VERN`: French name(s), separated by commas."
    )
    vernacular_en: Vernacular | None = Field(default=None, description="TAXREF `NOM_VERN_ENG`.")
    group: SpeciesGroup
    rank: Rank | None = Field(default=None, description="TAXREF `RANG` (`ES` = species).")
    kingdom: Kingdom | None = Field(default=None, description="TAXREF `REGNE`.")
    family: Family | None = Field(default=None, description="TAXREF `FAMILLE`.")
    taxref_version: TaxrefVersion | None = Field(default=None, examples=["18.0"])
    sensitive: Flag = False
    generalisation: Generalisation = Field(
        default=Generalisation.grid_10km, description=GENERALISATION_DESCRIPTION
    )

    @field_validator("rank")
    @classmethod
    def _rank_upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @model_validator(mode="after")
    def _cd_ref_defaults_to_cd_nom(self) -> SpeciesCreate:
        if self.cd_ref is None:
            self.cd_ref = self.cd_nom
        return self


# Fields of a PATCH that may be null (cleared); the others may only be left out.
NULLABLE_ON_UPDATE = frozenset({"authority", "vernacular_name", "vernacular_en"})


class SpeciesUpdate(BaseModel):
    """A correction by an ecologist; a field left out stays as it is. A change of `sensitive`
    or `generalisation` moves the public position of every observation of the species."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"vernacular_name": "Hirondelle rustique, Hirondelle de cheminée"},
                {"sensitive": True, "generalisation": "commune"},
            ]
        },
    )

    scientific_name: ScientificName | None = None
    authority: Authority | None = Field(default=None, description="null clears it.")
    vernacular_name: Vernacular | None = Field(default=None, description="null clears it.")
    vernacular_en: Vernacular | None = Field(default=None, description="null clears it.")
    group: SpeciesGroup | None = None
    sensitive: Flag | None = None
    generalisation: Generalisation | None = Field(
        default=None, description=GENERALISATION_DESCRIPTION
    )

    _no_null = refuse_null(
        "scientific_name", "group", "sensitive", "generalisation", code="species.null_not_allowed"
    )
