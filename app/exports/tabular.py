"""CSV, GeoJSON and SINP writers: rows in, text out, a few hundred rows per piece.

Each writer is a generator over an iterator of rows (``app.exports.rows``) and never holds more
than one piece: whatever the export's size, the server's memory does not grow with it.

- CSV (RFC 4180: comma, CRLF, quotes where needed, UTF-8). ``excel-fr`` is what a French
  spreadsheet opens right with a double click: semicolons, a byte-order mark (else Excel reads
  the accents as Windows-1252), decimal commas.
- GeoJSON (RFC 7946): one FeatureCollection, points as ``[longitude, latitude]`` in WGS 84.
- SINP: the flat « Occurrences de taxon » layout of GeoNature's Occtax export (semicolons,
  its field names), for the regional platform and the INPN.

Every CSV (both dialects and the SINP's) goes through ``neutralised``: a pseudonym such as
``=HYPERLINK(...)`` would otherwise run when the file is opened in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from app.exports.rows import ObservationRow

PIECE_ROWS = 500
BOM = "\ufeff"
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): these first
# characters, a tab and a carriage return included (some spreadsheets skip them, then see the
# formula behind).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)

CSV_COLUMNS = (
    "id",
    "observed_at",
    "local_date",
    "local_time",
    "cd_nom",
    "cd_ref",
    "scientific_name",
    "vernacular_name",
    "latitude",
    "longitude",
    "accuracy_m",
    "generalised",
    "count",
    "count_unit",
    "zone_code",
    "zone_name",
    "status",
    "observer",
    "photo_urls",
    "photo_licences",
)
DIALECTS = ("rfc4180", "excel-fr")


def _iso(at: datetime) -> str:
    """``2025-05-10T06:30:00Z``: an instant in UTC, to the second."""
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _record(row: ObservationRow, tz: ZoneInfo) -> dict[str, object]:
    local = row.observed_at.astimezone(tz).isoformat(timespec="minutes")
    return {
        "id": str(row.id),
        "observed_at": _iso(row.observed_at),
        "local_date": local[:10],
        "local_time": local[11:16],
        "cd_nom": row.taxon.cd_nom,
        "cd_ref": row.taxon.cd_ref,
        "scientific_name": row.taxon.scientific_name,
        "vernacular_name": row.taxon.vernacular_name,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "accuracy_m": row.accuracy_m,
        "generalised": row.generalised,
        "count": row.count,
        "count_unit": row.count_unit,
        "zone_code": row.zone_code,
        "zone_name": row.zone_name,
        "status": row.status,
        "observer": row.observer,
        "photo_urls": " ".join(p.url for p in row.photos),
        "photo_licences": " ".join(p.licence for p in row.photos),
    }


def _cells(row: ObservationRow, tz: ZoneInfo) -> list[object]:
    """The CSV row in ``CSV_COLUMNS`` order, as RFC 4180 writes it: empty for none, ``true``
    / ``false``, text neutralised (``neutralised``); built in one go, the export's inner loop.

    Only the cells that hold text from people or from the reference (names, zones, the
    observer's name, the photos' links and licences) are looked at: the others are numbers,
    the id's hexadecimal digits, dates that start with their year's digits, and the values of
    closed vocabularies (``true``, ``nests``, ``validated``), none of which can start like a
    formula."""
    local = row.observed_at.astimezone(tz).isoformat(timespec="minutes")
    taxon = row.taxon
    photos = row.photos
    return [
        str(row.id),
        _iso(row.observed_at),
        local[:10],
        local[11:16],
        taxon.cd_nom,
        taxon.cd_ref,
        _text(taxon.scientific_name),
        _text(taxon.vernacular_name or ""),
        row.latitude,
        row.longitude,
        "" if row.accuracy_m is None else row.accuracy_m,
        "true" if row.generalised else "false",
        row.count,
        row.count_unit,
        _text(row.zone_code or ""),
        _text(row.zone_name or ""),
        row.status,
        _text(row.observer),
        _text(" ".join(p.url for p in photos)) if photos else "",
        _text(" ".join(p.licence for p in photos)) if photos else "",
    ]


def _text(cell: str) -> str:
    """``neutralised`` for one text cell."""
    return "'" + cell if cell[:1] in _FORMULA_FIRST else cell


def neutralised(cells: Iterable[object]) -> list[object]:
    """The one rule against formula injection, for every cell of every CSV: text that starts
    like a formula gets a leading apostrophe, which spreadsheets show as text and do not run
    (OWASP's advice). Only text is touched: a number, such as a negative longitude, is written
    as the number it is, so that the column stays numeric. A row at a time, in one
    comprehension: this is the export's inner loop."""
    return [
        "'" + cell if isinstance(cell, str) and cell[:1] in _FORMULA_FIRST else cell
        for cell in cells
    ]


def neutralise(value: object) -> object:
    """``neutralised`` for one cell."""
    return neutralised((value,))[0]


def _excel_fr(value: object) -> object:
    """A neutralised cell as a French spreadsheet reads it: decimal commas, ``oui``/``non``."""
    value = neutralise(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return repr(value).replace(".", ",")
    return value


def csv_pieces(
    rows: Iterable[ObservationRow], *, tz: ZoneInfo, dialect: str = "rfc4180"
) -> Iterator[str]:
    """The CSV file, piece by piece (the header in the first)."""
    excel = dialect == "excel-fr"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",", lineterminator="\r\n")
    if excel:
        buffer.write(BOM)
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(rows, 1):
        if excel:
            record = _record(row, tz)
            writer.writerow([_excel_fr(record[c]) for c in CSV_COLUMNS])
        else:
            writer.writerow(_cells(row, tz))
        if n % PIECE_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def geojson_pieces(rows: Iterable[ObservationRow], *, tz: ZoneInfo) -> Iterator[str]:
    """One RFC 7946 FeatureCollection, piece by piece."""
    parts = ['{"type":"FeatureCollection","features":[']
    first = True
    for row in rows:
        record = _record(row, tz)
        del record["latitude"], record["longitude"]
        record["photos"] = [{"url": p.url, "licence": p.licence} for p in row.photos]
        del record["photo_urls"], record["photo_licences"]
        feature = {
            "type": "Feature",
            "id": str(row.id),
            "geometry": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
            "properties": record,
        }
        parts.append(("" if first else ",") + json.dumps(feature, ensure_ascii=False))
        first = False
        if len(parts) >= PIECE_ROWS:
            yield "".join(parts)
            parts.clear()
    parts.append("]}")
    yield "".join(parts)


# --- SINP ---------------------------------------------------------------------------------------

SINP_COLUMNS = (
    "permId",
    "statObs",
    "nomCite",
    "dateDebut",
    "dateFin",
    "heureDebut",
    "heureFin",
    "cdNom",
    "cdRef",
    "versionTAXREF",
    "dSPublique",
    "jddMetaId",
    "statSource",
    "obsTech",
    "denbrMin",
    "denbrMax",
    "objDenbr",
    "typDenbr",
    "obsId",
    "obsNomOrg",
    "detId",
    "natObjGeo",
    "WKT",
    "precisGeo",
    "sensiNiveau",
    "diffusionNiveauPrecision",
    "dEEFloutage",
    "nivVal",
    # The descriptive nomenclatures of the standard, as their codes: what a sighting of the
    # application says (or does not say) of the organism.
    "ocEtatBio",
    "ocNat",
    "ocSex",
    "ocStade",
    "ocStatBio",
    "preuveOui",
    "preuvNum",
)
# SINP sensitivity levels (0 none … 4 no diffusion) and the precision a record is diffused at
# (1 commune, 2 10 km cell, 5 precise), from the species' generalisation.
SENSITIVITY = {"grid_1km": "1", "commune": "1", "grid_10km": "2"}
PRECISION = {"grid_1km": "1", "commune": "1", "grid_10km": "2"}
# The review status as the SINP validation level: 1 certain, 0 not yet assessed, 4 invalid.
VALIDATION = {"validated": "1", "pending": "0", "needs_info": "0", "rejected": "4"}
OBJECT = {"nests": "NID", "individuals": "IND"}
# SINP nomenclature codes (standard « Occurrences de taxon » v2, as GeoNature stores them):
# METH_OBS 0 « Vu »; ETA_BIO 1 « Non renseigné »; NATURALITE 1 « Sauvage »; SEXE 6 « Non
# renseigné »; STADE_VIE 0 « Inconnu »; STATUT_BIO 1 « Non renseigné »; PREUVE_EXIST 1 « Oui »
# (a photo), 2 « Non ».
OBS_TECH_SEEN = "0"
ETAT_BIO_UNKNOWN = "1"
NATURALNESS_WILD = "1"
SEX_NOT_GIVEN = "6"
STAGE_UNKNOWN = "0"
STATUT_BIO_NOT_GIVEN = "1"
PROOF = {True: "1", False: "2"}
# A resident takes part on their own account: no organisation; staff belong to the publisher.
INDEPENDENT = "Indépendant"
STAFF = frozenset({"ecologist", "admin"})


def sinp_pieces(
    rows: Iterable[ObservationRow],
    *,
    tz: ZoneInfo,
    dataset_id: str,
    public_status: str,
    taxref_version: str,
    organisation: str = "NSP",
) -> Iterator[str]:
    """The Occtax export layout, piece by piece: dates as GeoNature writes them (the local
    date, ``YYYY-MM-DD``, and the local hour, ``HH:MM``, in columns of their own), every coded
    column as its nomenclature's code. ``organisation`` is the staff's (the publisher)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(SINP_COLUMNS)
    for n, row in enumerate(rows, 1):
        at = row.observed_at.astimezone(tz)
        day, hour = at.strftime("%Y-%m-%d"), at.strftime("%H:%M")
        taxon = row.taxon
        name = taxon.scientific_name
        if taxon.authority and taxon.authority not in name:
            name = f"{name} {taxon.authority}"
        writer.writerow(
            neutralised(
                (
                    str(row.id),
                    "Pr" if row.count > 0 else "No",
                    name,
                    day,
                    day,
                    hour,
                    hour,
                    taxon.cd_nom,
                    taxon.cd_ref,
                    taxon.taxref_version or taxref_version,
                    public_status,
                    dataset_id,
                    "Te",
                    OBS_TECH_SEEN,
                    row.count,
                    row.count,
                    OBJECT.get(row.count_unit, "IND"),
                    "Co",
                    row.observer,
                    organisation if row.observer_role in STAFF else INDEPENDENT,
                    row.observer,
                    "St",
                    f"POINT({row.longitude!r} {row.latitude!r})",
                    "" if row.accuracy_m is None else max(1, round(row.accuracy_m)),
                    SENSITIVITY.get(taxon.generalisation, "2") if taxon.sensitive else "0",
                    PRECISION.get(taxon.generalisation, "2") if row.generalised else "5",
                    "OUI" if row.generalised else "NON",
                    VALIDATION.get(row.status, "0"),
                    ETAT_BIO_UNKNOWN,
                    NATURALNESS_WILD,
                    SEX_NOT_GIVEN,
                    STAGE_UNKNOWN,
                    STATUT_BIO_NOT_GIVEN,
                    PROOF[bool(row.photos)],
                    " ".join(p.url for p in row.photos),
                )
            )
        )
        if n % PIECE_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
