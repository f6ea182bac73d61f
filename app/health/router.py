"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.accounts.dependencies import PUPILS_ADMITTED
from app.core.db import Database
from app.core.migrations import current_revision, head_revision

# Probes answer every caller, a pupil's tablet included.
router = APIRouter(tags=["health"], dependencies=[PUPILS_ADMITTED])


@router.get("/healthz", summary="The process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and its schema is at the latest migration",
    responses={503: {"description": "Not ready: database down or migrations pending"}},
)
def readyz(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    try:
        with db.session() as session:
            conn = session.connection()
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head = head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "revision": current, "head": head},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "revision": current})
