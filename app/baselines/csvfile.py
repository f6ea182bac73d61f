"""Reading the CPIE's inventory file: one baseline count per row.

Columns (a header row, any order, names as below; `;` or `,` as separator, UTF-8 with or without
a BOM, as a spreadsheet saves it): ``year, cd_nom, zone_code, site_code, count, unit, method,
source``. ``zone_code`` empty means the whole territory; ``site_code`` ties the count to a survey
site; ``unit`` is ``individuals``, ``nests`` or ``presence`` (then ``count`` is 0 or 1). Every
row is checked and every error reported with its line number, so that the CPIE fixes its file
in one go. Pure functions: the references (species, zones, sites) are checked by the service.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from app.baselines.models import BaselineUnit

COLUMNS = ("year", "cd_nom", "zone_code", "site_code", "count", "unit", "method", "source")
REQUIRED = ("year", "cd_nom", "count", "unit")
MAX_ROWS = 100_000
MAX_COUNT = 10_000_000


@dataclass(frozen=True, slots=True)
class BaselineRow:
    line: int
    year: int
    cd_nom: int
    zone_code: str | None
    site_code: str | None
    count: float
    unit: BaselineUnit
    method: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class LineError:
    """One problem of the file: its line, the column at fault when one is (``None`` for the
    whole line or file), and the message in English (the API's) and in French (the pages')."""

    line: int
    message: str
    column: str | None = None
    french: str | None = None


class BaselineFileError(ValueError):
    """The file cannot be imported; ``errors`` lists every problem with its line (1-based, as a
    spreadsheet numbers rows, the header being line 1)."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.message}" for e in errors[:20]))
        self.errors = errors


MAX_FILE_BYTES = 4 * 1024 * 1024


def decode_file(raw: bytes) -> str | None:
    """The text of an uploaded file: UTF-8, else a spreadsheet's "CSV (Windows)"
    (Windows-1252); ``None`` when it is neither."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return None


def _dialect(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def _text(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] if value else None


def parse_baselines(text: str) -> list[BaselineRow]:
    """The rows of an inventory file, or :class:`BaselineFileError` with every error found."""
    rows, errors = read_baselines(text)
    if errors:
        raise BaselineFileError(errors)
    if not rows:
        raise BaselineFileError(
            [
                LineError(
                    1,
                    "the file has a header but no rows",
                    french="le fichier a une ligne d'en-tête mais aucune ligne de données",
                )
            ]
        )
    return rows


def read_baselines(text: str) -> tuple[list[BaselineRow], list[LineError]]:
    """The rows that read well and the errors of the others, so that the caller can add its own
    checks of the good rows and report everything at once. A file that cannot be read at all
    (no header, wrong columns) raises :class:`BaselineFileError`."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise BaselineFileError(
            [
                LineError(
                    1,
                    "the file is not text (it holds NUL bytes)",
                    french="ce n'est pas un fichier texte (il contient des octets nuls)",
                )
            ]
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BaselineFileError(
            [LineError(1, f"unreadable header: {exc}", french="ligne d'en-tête illisible")]
        ) from None
    if header is None or not any(h.strip() for h in header):
        raise BaselineFileError(
            [
                LineError(
                    1,
                    "the file is empty: expected a header row",
                    french="le fichier est vide : il faut une ligne d'en-tête",
                )
            ]
        )
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    unknown = [n for n in names if n and n not in COLUMNS]
    if missing or unknown:
        parts, french = [], []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
            french.append(f"colonne(s) manquante(s) : {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
            french.append(f"colonne(s) inconnue(s) : {', '.join(unknown)}")
        raise BaselineFileError(
            [
                LineError(
                    1,
                    "; ".join(parts) + f" (expected: {', '.join(COLUMNS)})",
                    french="; ".join(french) + f" (colonnes attendues : {', '.join(COLUMNS)})",
                )
            ]
        )
    index = {name: i for i, name in enumerate(names)}
    rows: list[BaselineRow] = []
    errors: list[LineError] = []
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(
                    LineError(
                        line,
                        f"more than {MAX_ROWS:,} rows: split the file",
                        french=f"plus de {MAX_ROWS:_} lignes : découpez le fichier".replace(
                            "_", "\u202f"
                        ),
                    )
                )
                break
            parsed = _row(line, record, index)
            if isinstance(parsed, BaselineRow):
                rows.append(parsed)
            else:
                errors.extend(parsed)
    except csv.Error as exc:
        errors.append(LineError(line + 1, f"unreadable row: {exc}", french="ligne illisible"))
    return rows, errors


def _row(line: int, record: list[str], index: dict[str, int]) -> BaselineRow | list[LineError]:
    def cell(name: str) -> str:
        i = index.get(name)
        return record[i].strip() if i is not None and i < len(record) else ""

    errors: list[LineError] = []
    year = count = cd_nom = None
    unit: BaselineUnit | None = None
    try:
        year = int(cell("year"))
        if not 1900 <= year <= 2100:
            errors.append(
                LineError(
                    line,
                    f"year {year} is not between 1900 and 2100",
                    column="year",
                    french=f"l'année {year} n'est pas comprise entre 1900 et 2100",
                )
            )
    except ValueError:
        errors.append(
            LineError(
                line,
                f"year {cell('year')!r} is not a whole number",
                column="year",
                french=f"l'année « {cell('year')} » n'est pas un nombre entier",
            )
        )
    try:
        cd_nom = int(cell("cd_nom"))
        if not 1 <= cd_nom <= 2_147_483_647:
            errors.append(
                LineError(
                    line,
                    f"cd_nom {cd_nom} is not a TAXREF id",
                    column="cd_nom",
                    french=f"{cd_nom} n'est pas un identifiant TAXREF (cd_nom)",
                )
            )
    except ValueError:
        errors.append(
            LineError(
                line,
                f"cd_nom {cell('cd_nom')!r} is not a TAXREF id",
                column="cd_nom",
                french=f"« {cell('cd_nom')} » n'est pas un identifiant TAXREF (cd_nom)",
            )
        )
    raw_count = cell("count").replace(",", ".")
    try:
        count = float(raw_count)
        if not math.isfinite(count) or count < 0 or count > MAX_COUNT:
            errors.append(
                LineError(
                    line,
                    f"count {cell('count')!r} must be 0 or more",
                    column="count",
                    french=f"l'effectif « {cell('count')} » doit être un nombre positif ou nul",
                )
            )
    except ValueError:
        errors.append(
            LineError(
                line,
                f"count {cell('count')!r} is not a number",
                column="count",
                french=f"l'effectif « {cell('count')} » n'est pas un nombre",
            )
        )
    try:
        unit = BaselineUnit(cell("unit").lower())
    except ValueError:
        allowed = ", ".join(u.value for u in BaselineUnit)
        errors.append(
            LineError(
                line,
                f"unit {cell('unit')!r} is not one of {allowed}",
                column="unit",
                french=f"l'unité « {cell('unit')} » n'est pas l'une de : {allowed}",
            )
        )
    if unit is BaselineUnit.presence and count is not None and count not in (0.0, 1.0):
        errors.append(
            LineError(
                line,
                "a presence count is 0 (absent) or 1 (present)",
                column="count",
                french="une présence vaut 0 (absente) ou 1 (présente)",
            )
        )
    if errors:
        return errors
    assert year is not None and cd_nom is not None and count is not None and unit is not None
    return BaselineRow(
        line=line,
        year=year,
        cd_nom=cd_nom,
        zone_code=_text(cell("zone_code"), 64),
        site_code=_text(cell("site_code"), 64),
        count=count,
        unit=unit,
        method=_text(cell("method"), 200),
        source=_text(cell("source"), 500),
    )
