"""Exports: which rows, which writer, which file name; the router only streams the result.

Everything that can refuse a request (a filter that needs a signed-in user, say) is checked
here, before the first byte is sent: once a streamed answer has begun, its status is fixed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.core.db import Database, utcnow
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.exports import dwca, tabular
from app.exports.rows import ObservationRow, export_filters, observation_rows, visit_rows
from app.observations.schemas import ObservationFilters
from app.observations.service import filter_clauses


class ExportFormat(StrEnum):
    csv = "csv"
    geojson = "geojson"
    dwca = "dwca"
    sinp = "sinp"


MEDIA_TYPES = {
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.geojson: "application/geo+json",
    ExportFormat.dwca: "application/zip",
    ExportFormat.sinp: "text/csv; charset=utf-8",
}
SUFFIXES = {
    ExportFormat.csv: "observations.csv",
    ExportFormat.geojson: "observations.geojson",
    ExportFormat.dwca: "dwca.zip",
    ExportFormat.sinp: "sinp.csv",
}


@dataclass
class Export:
    media_type: str
    filename: str
    pieces: Iterator[bytes]


def _encoded(pieces: Iterator[str]) -> Iterator[bytes]:
    for piece in pieces:
        if piece:
            yield piece.encode("utf-8")


def observer_key(settings: Settings) -> bytes:
    """The key of the observers' pseudonyms: derived from the deployment's secret, so that a
    pseudonym cannot be computed from an account id by anyone else."""
    return hashlib.sha256(
        b"sentinelles-observer-pseudonym:" + settings.secret_key.encode()
    ).digest()


def filename(kind: ExportFormat, settings: Settings, at: datetime) -> str:
    territory = "".join(c if c.isalnum() else "-" for c in settings.territory_name.lower())
    return f"sentinelles-{territory}-{at:%Y%m%d}-{SUFFIXES[kind]}"


def export(
    kind: ExportFormat,
    db: Database,
    settings: Settings,
    *,
    viewer: Viewer | None,
    filters: ObservationFilters,
    base_url: str,
    dialect: str = "rfc4180",
    on_rows: Callable[[int], None] | None = None,
) -> Export:
    """The export ``viewer`` may have under ``filters`` (validated data unless a status is
    asked for), as pieces of bytes produced as they are read. ``on_rows`` is told of every
    hundred observations read (a progress bar's feed)."""
    filters = export_filters(filters)
    filter_clauses(filters, viewer=viewer)  # refuses now what it would refuse mid-stream
    base = settings.public_url or base_url
    tz = settings.tz
    now = utcnow()

    def observations() -> Iterator[ObservationRow]:
        rows = observation_rows(
            db, viewer=viewer, filters=filters, base_url=base, observer_key=observer_key(settings)
        )
        if on_rows is None:
            yield from rows
            return
        n = 0
        for n, row in enumerate(rows, 1):
            yield row
            if n % 100 == 0:
                on_rows(100)
        on_rows(n % 100)

    pieces: Iterator[bytes]
    if kind is ExportFormat.csv:
        pieces = _encoded(tabular.csv_pieces(observations(), tz=tz, dialect=dialect))
    elif kind is ExportFormat.geojson:
        pieces = _encoded(tabular.geojson_pieces(observations(), tz=tz))
    elif kind is ExportFormat.sinp:
        pieces = _encoded(
            tabular.sinp_pieces(
                observations(),
                tz=tz,
                dataset_id=str(settings.sinp_dataset_uuid),
                public_status=settings.sinp_public_status,
                taxref_version=settings.taxref_version,
                organisation=settings.dataset_publisher,
            )
        )
    else:
        pieces = dwca.dwca_pieces(
            observations,
            lambda: visit_rows(
                db, viewer=viewer, filters=filters, observer_key=observer_key(settings)
            ),
            settings=settings,
            generated_at=now,
        )
    return Export(
        media_type=MEDIA_TYPES[kind], filename=filename(kind, settings, now), pieces=pieces
    )
