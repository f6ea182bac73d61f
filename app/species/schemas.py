"""What the API says about species."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.species.taxref import SpeciesGroup


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
        description="Positions of this species are generalised to a 10 km cell for the public."
    )
