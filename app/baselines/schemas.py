"""Inventory baselines as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.baselines.models import BaselineUnit


class BaselinePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716",
                    "year": 2010,
                    "species_id": "0b6f2a52-3c1d-4c8e-9a4f-6d2e1b7c3a90",
                    "cd_nom": 459478,
                    "scientific_name": "Delichon urbicum",
                    "vernacular_name": "Hirondelle de fenêtre",
                    "zone_id": None,
                    "site_id": None,
                    "count": 34,
                    "unit": "nests",
                    "method": "recensement des façades",
                    "source": "CPIE Chaîne des terrils, inventaire 2010",
                    "created_at": "2026-11-26T09:00:00Z",
                    "updated_at": "2026-11-26T09:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    year: int
    species_id: uuid.UUID
    cd_nom: int
    scientific_name: str
    vernacular_name: str | None
    zone_id: uuid.UUID | None
    site_id: uuid.UUID | None
    count: float
    unit: BaselineUnit
    method: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class BaselineList(BaseModel):
    items: list[BaselinePublic]


class ImportReportPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rows": 64, "created": 64, "updated": 0, "unchanged": 0}]}
    )

    rows: int
    created: int
    updated: int
    unchanged: int
