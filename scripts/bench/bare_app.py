"""The single POST's floor: FastAPI alone, served as the bench serves Sentinelles.

The same route (``POST /api/v1/observations``), the same request bodies parsed into a pydantic
model of the same fields and answered ``201`` with it as JSON; no authentication, middleware,
species, zones, flags nor database. What Sentinelles adds per request is the difference.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import FastAPI, Response, status
from pydantic import BaseModel


class Sent(BaseModel):
    client_id: uuid.UUID
    species_id: uuid.UUID | None = None
    cd_nom: int | None = None
    observed_at: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None = None
    count: int = 1
    count_unit: str = "individuals"
    notes: str | None = None


def app_factory() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/api/v1/observations", status_code=status.HTTP_201_CREATED)
    async def create(data: Sent) -> Response:
        return Response(
            data.model_dump_json(),
            status_code=status.HTTP_201_CREATED,
            media_type="application/json",
        )

    return app
