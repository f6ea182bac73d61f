"""Parsers for the species files an ecologist loads: our CSV extract and MNHN's TAXREF.

Pure functions, no database: a header line picks the format, then each row becomes a
``SpeciesRow`` or raises ``SpeciesFileError`` naming its line, whatever the text holds. The
service streams a file through them, so a full TAXREF (hundreds of thousands of rows) never sits
in memory.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

FileFormat = Literal["csv", "taxref"]

# Column limits of the species table: longer values would pass on SQLite and fail on PostgreSQL.
MAX_SCIENTIFIC_NAME = 255
MAX_AUTHORITY = 255
MAX_VERNACULAR = 500
MAX_RANK = 8
MAX_KINGDOM = 32
MAX_FAMILY = 100
MAX_SEARCH_TEXT = 1200
MAX_CD_NOM = 2**31 - 1

DEFAULT_RANKS: frozenset[str] = frozenset({"ES", "SSES"})

# Separates the names in ``search_text``: below every printable character, so that ordering by
# ``search_text`` orders by its first part (the displayed name), and never inside a folded query.
SEARCH_SEPARATOR = "\t"

CSV_COLUMNS = (
    "cd_nom",
    "cd_ref",
    "scientific_name",
    "authority",
    "vernacular_fr",
    "vernacular_en",
    "group",
    "rank",
    "sensitive",
    "source",
)
CSV_REQUIRED = ("cd_nom", "scientific_name")
TAXREF_REQUIRED = ("CD_NOM", "CD_REF", "RANG", "LB_NOM")

BUTTERFLY_FAMILIES = frozenset(
    {"papilionidae", "pieridae", "nymphalidae", "lycaenidae", "hesperiidae", "riodinidae"}
)
_INPN_GROUP2 = {
    "oiseaux": "bird",
    "amphibiens": "amphibian",
    "reptiles": "reptile",
    "mammiferes": "mammal",
}

_TRUE = frozenset({"1", "true", "yes", "oui", "vrai", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "non", "faux", "f", "n"})
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_VERSION_IN_NAME = re.compile(r"taxref[_\-\s]?v?(\d+(?:\.\d+)?)", re.IGNORECASE)


class SpeciesGroup(StrEnum):
    """Our own coarse groups, the ones the phone app shows as tabs."""

    bird = "bird"
    butterfly = "butterfly"
    moth = "moth"
    insect = "insect"
    amphibian = "amphibian"
    reptile = "reptile"
    mammal = "mammal"
    plant = "plant"
    fungus = "fungus"
    other = "other"


class SpeciesFileError(ValueError):
    """A row (or the header) that cannot be read; ``line`` is 1-based, as an editor shows it."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class SpeciesRow:
    """One name ready to store. ``sensitive`` None means: keep what the database says."""

    cd_nom: int
    cd_ref: int
    scientific_name: str
    authority: str | None
    vernacular_name: str | None
    vernacular_en: str | None
    group: str
    rank: str | None
    kingdom: str | None
    family: str | None
    sensitive: bool | None
    search_text: str


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced: how names are stored for search and how queries
    are compared with them, so ``PIÉRIDE`` finds "Piéride du Chou" on any database."""
    if text.isascii():  # most of TAXREF: skip the Unicode work
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())


def split_vernacular(names: str | None) -> list[str]:
    """TAXREF's ``NOM_VERN`` lists several French names separated by commas."""
    if not names:
        return []
    return [n.strip() for n in names.split(",") if n.strip()]


def make_search_text(*, scientific_name: str, vernacular_name: str | None, cd_nom: int) -> str:
    """The displayed name first (lists sort on this column), then every other name, then the id."""
    parts = [fold(vernacular_name or scientific_name), fold(scientific_name)]
    parts += [fold(n) for n in split_vernacular(vernacular_name)]
    parts.append(str(cd_nom))
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return SEARCH_SEPARATOR.join(seen)[:MAX_SEARCH_TEXT]


def taxref_version_from_name(file_name: str) -> str | None:
    """``TAXREFv18.txt`` -> ``"18"``."""
    match = _VERSION_IN_NAME.search(file_name)
    return match.group(1) if match else None


def taxref_group(
    *, kingdom: str, class_: str, order: str, family: str, group1: str, group2: str
) -> str:
    """Our group label from TAXREF's classification columns (compared without accents)."""
    kingdom_f, class_f, order_f = fold(kingdom), fold(class_), fold(order)
    group2_f, group1_f = fold(group2), fold(group1)
    if group2_f in _INPN_GROUP2:
        return _INPN_GROUP2[group2_f]
    if order_f == "lepidoptera":
        return "butterfly" if fold(family) in BUTTERFLY_FAMILIES else "moth"
    if class_f == "insecta" or group2_f == "insectes":
        return "insect"
    if kingdom_f == "plantae":
        return "plant"
    if kingdom_f == "fungi" or group1_f == "fonges":
        return "fungus"
    return "other"


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _optional(value: str | None, *, limit: int, what: str, line: int) -> str | None:
    text = _clean(value)
    if not text:
        return None
    if len(text) > limit:
        raise SpeciesFileError(line, f"{what} is longer than {limit} characters")
    return text


def _required(value: str | None, *, limit: int, what: str, line: int) -> str:
    text = _optional(value, limit=limit, what=what, line=line)
    if text is None:
        raise SpeciesFileError(line, f"{what} is missing")
    return text


def _taxon_id(value: str | None, *, what: str, line: int) -> int:
    text = _clean(value)
    if not text:
        raise SpeciesFileError(line, f"{what} is missing")
    if not text.isascii() or not text.isdigit():
        raise SpeciesFileError(line, f"{what} is not a whole number: {text[:40]!r}")
    number = int(text)
    if not 0 < number <= MAX_CD_NOM:
        raise SpeciesFileError(line, f"{what} is out of range: {text[:40]}")
    return number


def _vernacular(value: str | None, *, line: int) -> str | None:
    """Several names fit if cut at a comma; one name longer than the column is an error."""
    text = _clean(value)
    if not text:
        return None
    if len(text) <= MAX_VERNACULAR:
        return text
    cut = text.rfind(",", 0, MAX_VERNACULAR + 1)
    if cut <= 0:
        raise SpeciesFileError(line, f"vernacular name is longer than {MAX_VERNACULAR} characters")
    return text[:cut].rstrip()


def _flag(value: str | None, *, line: int) -> bool | None:
    text = _clean(value).lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SpeciesFileError(line, f"sensitive must be 0 or 1, not {text[:20]!r}")


class RowParser:
    """Reads the rows of one file, given its header: ``parse(fields, line)`` per row.

    ``parse`` returns None for a row the rank filter leaves out (TAXREF only: an extract in our
    CSV format lists exactly what the ecologist chose), a ``SpeciesRow`` otherwise, and raises
    ``SpeciesFileError`` for anything it cannot read.
    """

    def __init__(
        self,
        file_format: FileFormat,
        columns: Mapping[str, int],
        *,
        ranks: Collection[str] | None = DEFAULT_RANKS,
    ) -> None:
        self.format: FileFormat = file_format
        self.columns = dict(columns)
        self.ranks = None if ranks is None else frozenset(r.upper() for r in ranks)
        self.delimiter = "," if file_format == "csv" else "\t"

    def _get(self, fields: Sequence[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(fields):
            return ""
        return fields[index]

    def parse(self, fields: Sequence[str], line: int) -> SpeciesRow | None:
        if self.format == "csv":
            return self._parse_csv(fields, line)
        return self._parse_taxref(fields, line)

    def parse_line(self, text: str, line: int) -> SpeciesRow | None:
        """One physical line (no embedded newline), as the hypothesis tests feed it."""
        try:
            rows = list(
                csv.reader([text], delimiter=self.delimiter, strict=True)
                if self.format == "csv"
                else [text.rstrip("\r\n").split("\t")]
            )
        except csv.Error as exc:
            raise SpeciesFileError(line, "the line is not valid CSV") from exc
        return self.parse(rows[0] if rows else [], line)

    def _parse_csv(self, fields: Sequence[str], line: int) -> SpeciesRow:
        cd_nom = _taxon_id(self._get(fields, "cd_nom"), what="cd_nom", line=line)
        cd_ref_text = _clean(self._get(fields, "cd_ref"))
        cd_ref = _taxon_id(cd_ref_text, what="cd_ref", line=line) if cd_ref_text else cd_nom
        scientific = _required(
            self._get(fields, "scientific_name"),
            limit=MAX_SCIENTIFIC_NAME,
            what="scientific_name",
            line=line,
        )
        group_text = _clean(self._get(fields, "group")).lower() or SpeciesGroup.other.value
        if group_text not in SpeciesGroup.__members__:
            raise SpeciesFileError(
                line, f"group must be one of {', '.join(SpeciesGroup)}, not {group_text[:32]!r}"
            )
        vernacular = _vernacular(self._get(fields, "vernacular_fr"), line=line)
        rank = _optional(self._get(fields, "rank"), limit=MAX_RANK, what="rank", line=line)
        return SpeciesRow(
            cd_nom=cd_nom,
            cd_ref=cd_ref,
            scientific_name=scientific,
            authority=_optional(
                self._get(fields, "authority"), limit=MAX_AUTHORITY, what="authority", line=line
            ),
            vernacular_name=vernacular,
            vernacular_en=_vernacular(self._get(fields, "vernacular_en"), line=line),
            group=group_text,
            rank=rank.upper() if rank else None,
            kingdom=None,
            family=None,
            sensitive=_flag(self._get(fields, "sensitive"), line=line),
            search_text=make_search_text(
                scientific_name=scientific, vernacular_name=vernacular, cd_nom=cd_nom
            ),
        )

    def _parse_taxref(self, fields: Sequence[str], line: int) -> SpeciesRow | None:
        rank = _clean(self._get(fields, "RANG")).upper()
        if self.ranks is not None and rank not in self.ranks:
            return None
        if len(rank) > MAX_RANK:
            raise SpeciesFileError(line, f"RANG is longer than {MAX_RANK} characters")
        cd_nom = _taxon_id(self._get(fields, "CD_NOM"), what="CD_NOM", line=line)
        cd_ref = _taxon_id(self._get(fields, "CD_REF"), what="CD_REF", line=line)
        scientific = _required(
            self._get(fields, "LB_NOM"), limit=MAX_SCIENTIFIC_NAME, what="LB_NOM", line=line
        )
        vernacular = _vernacular(self._get(fields, "NOM_VERN"), line=line)
        kingdom = _clean(self._get(fields, "REGNE"))
        family = _clean(self._get(fields, "FAMILLE"))
        return SpeciesRow(
            cd_nom=cd_nom,
            cd_ref=cd_ref,
            scientific_name=scientific,
            authority=_optional(
                self._get(fields, "LB_AUTEUR"), limit=MAX_AUTHORITY, what="LB_AUTEUR", line=line
            ),
            vernacular_name=vernacular,
            vernacular_en=_vernacular(self._get(fields, "NOM_VERN_ENG"), line=line),
            group=taxref_group(
                kingdom=kingdom,
                class_=self._get(fields, "CLASSE"),
                order=self._get(fields, "ORDRE"),
                family=family,
                group1=self._get(fields, "GROUP1_INPN"),
                group2=self._get(fields, "GROUP2_INPN"),
            ),
            rank=rank or None,
            kingdom=kingdom[:MAX_KINGDOM] or None,
            family=family[:MAX_FAMILY] or None,
            sensitive=None,
            search_text=make_search_text(
                scientific_name=scientific, vernacular_name=vernacular, cd_nom=cd_nom
            ),
        )


def parse_header(text: str, *, ranks: Collection[str] | None = DEFAULT_RANKS) -> RowParser:
    """The parser for a file whose first line is ``text``; a BOM is tolerated."""
    header = text.lstrip("\ufeff").rstrip("\r\n")
    if "\t" in header:
        names = [h.strip().upper() for h in header.split("\t")]
        missing = [c for c in TAXREF_REQUIRED if c not in names]
        if missing:
            raise SpeciesFileError(1, f"a TAXREF file needs the columns {', '.join(missing)}")
        return RowParser("taxref", {n: i for i, n in reversed(list(enumerate(names)))}, ranks=ranks)
    try:
        names = [h.strip().lower() for h in next(csv.reader([header]), [])]
    except csv.Error as exc:
        raise SpeciesFileError(1, "the header is not valid CSV") from exc
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        raise SpeciesFileError(
            1,
            "unknown format: expected a TAXREF file (tab-separated, CD_NOM, CD_REF, RANG, "
            f"LB_NOM...) or a CSV with the columns {', '.join(CSV_COLUMNS)}",
        )
    return RowParser("csv", {n: i for i, n in reversed(list(enumerate(names)))}, ranks=ranks)


def decode_line(raw: bytes) -> str:
    """UTF-8 (TAXREF's encoding); a line that is not UTF-8 is read as Latin-1, which older
    extracts saved by spreadsheets use, rather than rejected."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def iter_records(
    parser: RowParser, lines: Iterable[str], *, first_line: int = 2
) -> Iterator[tuple[int, list[str] | SpeciesFileError]]:
    """``(line number, fields)`` per record after the header, or the error of a broken record.

    CSV quoting may span lines, so records are read with the csv module and numbered by the line
    they start on; TAXREF is one record per line with no quoting.
    """
    if parser.format == "taxref":
        for offset, text in enumerate(lines):
            body = text.rstrip("\r\n")
            if body.strip():
                yield first_line + offset, body.split("\t")
        return
    numbered = _LineCounter(lines)
    reader = csv.reader(numbered, strict=True)
    while True:
        start = first_line + numbered.count
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield start, SpeciesFileError(start, "the line is not valid CSV")
            continue
        if any(f.strip() for f in fields):
            yield start, fields


class _LineCounter:
    """Counts the lines the csv module has pulled, to number records by their first line."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.count = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line
