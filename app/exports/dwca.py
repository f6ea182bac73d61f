"""Darwin Core Archive writer: the survey as GBIF's IPT would publish it, streamed.

The archive is a sampling-event dataset:

- ``event.txt``, the Event core. Each survey visit is an event (protocol, effort, the site as
  ``locationID``, the same every year so that a time series shows) whose parent is its yearly
  campaign, one event per year and protocol. A casual observation has no protocol and no effort:
  it is an event of its own, "opportunistic observation", at the position the viewer may see.
- ``occurrence.txt``, the Occurrence extension: a visit's counts (nests on façades as
  ``organismQuantity`` in ``nests``), the species a complete visit did not find as ``absent``
  with a count of 0, and one occurrence per casual observation.
- ``meta.xml``, which says which column holds which term, and ``eml.xml``, who publishes what
  under which licence, written last because its bounding box and dates come from the rows.

Text files are tab-separated without quotes (the IPT habit), so no value may hold a tab or a
line break: every string is cleaned of them, the users' ones above all (pseudonyms, site names).

Nothing is held in memory but the current rows: the zip is written to a sink that is emptied
every :data:`PIECE_ROWS` rows. Observations are read once, their occurrence and photo lines
spooled (to disk beyond a megabyte) while their events are written; visits are read twice
(events, then occurrences), and a visit changed in between must not give an occurrence whose
event was never written (GBIF drops such orphans). Observations changed after
``generated_at`` are therefore left out of both files (the next export has them, and so does
one asked with ``updated_since`` set to this one's time), and the
occurrences of a visit are written only when its event was: the visits' ids are kept, which
the survey's scale allows (a few visits per site and year, where observations are counted in
hundreds of thousands).
"""

from __future__ import annotations

import functools
import json
import math
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import IO, cast
from xml.etree import ElementTree as ET

import shapely
from shapely.geometry import shape

from app.core.settings import Settings
from app.exports.rows import ObservationRow, Photo, Taxon, VisitRow, decimals_for

PIECE_ROWS = 250

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
GBIF_MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
EML_NS = "eml://ecoinformatics.org/eml-2.1.1"
EML_SCHEMA = "http://rs.gbif.org/schema/eml-gbif-profile/1.1/eml.xsd"
DATASET_TYPES = (
    "GBIF Dataset Type Vocabulary: http://rs.gbif.org/vocabulary/gbif/dataset_type_2015-07-10.xml"
)

# A site is recorded as one point standing for a façade, a garden or a route: the point holds
# the site within this distance, or within the farthest vertex of its geometry when it has one.
SITE_UNCERTAINTY_M = 30
# A casual observation sent without its GPS accuracy: a phone's fix in town, generously.
OBSERVATION_UNCERTAINTY_M = 100

PROTOCOLS = {
    "nest_site": "Nest count on building façades (occupied nests of swallows, martins, swifts)",
    "garden": "Garden butterfly count (timed count of individuals)",
    "transect": "Transect count (individuals counted along a fixed route)",
}
OPPORTUNISTIC = "Opportunistic observation"

LICENCES = {
    "CC0-1.0": (
        "https://creativecommons.org/publicdomain/zero/1.0/legalcode",
        "Public Domain (CC0 1.0)",
    ),
    "CC-BY-4.0": (
        "https://creativecommons.org/licenses/by/4.0/legalcode",
        "Creative Commons Attribution (CC-BY 4.0) License",
    ),
    "CC-BY-NC-4.0": (
        "https://creativecommons.org/licenses/by-nc/4.0/legalcode",
        "Creative Commons Attribution Non Commercial (CC-BY-NC 4.0) License",
    ),
}
RANKS = {
    "ES": "species",
    "SSES": "subspecies",
    "VAR": "variety",
    "FO": "form",
    "GN": "genus",
    "FM": "family",
    "OR": "order",
    "CL": "class",
}
# Our groups, for a species whose reference row has no kingdom (GBIF's name matching uses it
# to tell homonyms apart).
GROUP_KINGDOMS = {
    "bird": "Animalia",
    "butterfly": "Animalia",
    "moth": "Animalia",
    "insect": "Animalia",
    "amphibian": "Animalia",
    "reptile": "Animalia",
    "mammal": "Animalia",
    "plant": "Plantae",
    "fungus": "Fungi",
}
GENERALISATIONS = {
    "grid_10km": "Coordinates generalised to the 10 km Lambert-93 grid cell",
    "grid_1km": "Coordinates generalised to the 1 km Lambert-93 grid cell",
    "commune": "Coordinates generalised to the centre of the commune",
}
WITHHELD = "Precise coordinates withheld: sensitive species"
VERIFICATION = {"validated": "verified", "rejected": "rejected"}

EVENT_TERMS = (
    DWC + "eventID",
    DWC + "parentEventID",
    DWC + "eventType",
    DWC + "eventDate",
    DWC + "year",
    DWC + "month",
    DWC + "day",
    DWC + "samplingProtocol",
    DWC + "sampleSizeValue",
    DWC + "sampleSizeUnit",
    DWC + "samplingEffort",
    DWC + "locationID",
    DWC + "locality",
    DWC + "decimalLatitude",
    DWC + "decimalLongitude",
    DWC + "coordinateUncertaintyInMeters",
    DWC + "footprintWKT",
    DWC + "footprintSRS",
    DWC + "informationWithheld",
    DWC + "dataGeneralizations",
)
OCCURRENCE_TERMS = (
    DWC + "eventID",
    DWC + "occurrenceID",
    DWC + "scientificName",
    DWC + "scientificNameAuthorship",
    DWC + "taxonID",
    DWC + "nameAccordingTo",
    DWC + "taxonRank",
    DWC + "kingdom",
    DWC + "vernacularName",
    DWC + "eventDate",
    DWC + "decimalLatitude",
    DWC + "decimalLongitude",
    DWC + "coordinateUncertaintyInMeters",
    DWC + "individualCount",
    DWC + "organismQuantity",
    DWC + "organismQuantityType",
    DWC + "occurrenceStatus",
    DWC + "recordedBy",
    DWC + "identificationVerificationStatus",
    DWC + "associatedMedia",
    DWC + "informationWithheld",
    DWC + "dataGeneralizations",
)

# GBIF Simple Multimedia: one row per photo, with its own licence and creator.
MULTIMEDIA_TERMS = (
    DCTERMS + "type",
    DCTERMS + "format",
    DCTERMS + "identifier",
    DCTERMS + "references",
    DCTERMS + "title",
    DCTERMS + "created",
    DCTERMS + "creator",
    DCTERMS + "license",
    DCTERMS + "rightsHolder",
)
HOME_WITHHELD = "Precise location withheld: the site is a private home (a garden)"
HOME_GENERALISED = "Coordinates generalised to the 1 km Lambert-93 grid cell"

# Tabs and line breaks (Unicode's too: some readers split lines on them) end a column or a row.
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(value: object) -> str:
    """With ``fieldsEnclosedBy=""`` a tab would start a column and a line break a row: both
    become spaces, whoever typed them."""
    if value is None:
        return ""
    return _BREAKS.sub(" ", str(value))


def _xml_text(value: str) -> str:
    return _NOT_XML.sub(" ", value)


def _decimal(value: float, places: int = 7) -> str:
    """Fixed notation (never ``1e-05``), seven decimals at most: a centimetre."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# The event and the occurrence of an observation, written one after the other, format the same
# instant and the same coordinates: the second is a cache hit.
@functools.lru_cache(maxsize=16)
def _uncertainty(metres: float | None, default: float) -> str:
    if metres is None or not math.isfinite(metres) or metres <= 0:
        metres = default
    return _decimal(max(metres, 1.0), 1)


@functools.lru_cache(maxsize=16)
def _instant(at: datetime, tz: tzinfo = UTC) -> str:
    """ISO 8601 to the second: the territory's local time with its offset (``tz``), so that a
    sighting at 00:30 on 1 July is on 1 July here as in every other export; ``Z`` in UTC."""
    local = at.astimezone(tz)
    if local.utcoffset() == timedelta(0) and tz is UTC:
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


@functools.lru_cache(maxsize=16)
def _coordinate(value: float, uncertainty_m: float) -> str:
    """A coordinate to the decimals its uncertainty supports (a 10 km cell's centre to the
    hundred metres, a GPS fix to the metre)."""
    return _decimal(value, decimals_for(uncertainty_m))


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): plenty for the few hundred metres of a site."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def licence_url(settings: Settings) -> str:
    return LICENCES[settings.dataset_licence][0]


def scientific_name(taxon: Taxon) -> str:
    name = taxon.scientific_name.strip()
    if taxon.authority and taxon.authority.strip() not in name:
        name = f"{name} {taxon.authority.strip()}"
    return name


def taxon_id(taxon: Taxon) -> str:
    """TAXREF's ``cd_nom`` as the INPN's page of the name: a resolvable identifier that says
    which reference it comes from."""
    return f"https://inpn.mnhn.fr/espece/cd_nom/{taxon.cd_nom}"


def campaign_id(settings: Settings, year: int, kind: str) -> str:
    return f"sentinelles:{settings.dataset_uuid}:campaign:{year}:{kind}"


def visit_occurrence_id(visit_id: uuid.UUID, cd_nom: int) -> str:
    """A visit holds one figure per species: a name-based UUID of the pair stays the same from
    one export to the next and is a well-formed ``urn:uuid``."""
    return f"urn:uuid:{uuid.uuid5(visit_id, f'cd_nom:{cd_nom}')}"


# --- zip streaming ------------------------------------------------------------------------------


class _Sink:
    """Where the zip is written: the bytes wait here until the next piece takes them. It has no
    ``tell``/``seek``, so zipfile writes sizes after each member's data instead of going back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _member(name: str, at: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=at.astimezone(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


# The breaks but the tab: a line joined by tabs holds no other break if none of its values did.
_BREAKS_BUT_TAB = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _line(values: Sequence[object]) -> bytes:
    """The values as a line of a text file, each ``clean``: joined first, then cleaned value by
    value only if the line holds a break other than its own tabs (one search a line rather than
    one per value)."""
    text = "\t".join(["" if v is None else v if type(v) is str else str(v) for v in values])
    if text.count("\t") != len(values) - 1 or _BREAKS_BUT_TAB.search(text) is not None:
        text = "\t".join([clean(v) for v in values])
    return (text + "\n").encode("utf-8", "replace")


def _header(terms: Sequence[str], key: str = "") -> bytes:
    return _line(([key] if key else []) + [t.rsplit("/", 1)[-1] for t in terms])


# --- what the passes remember -------------------------------------------------------------------


@dataclass
class _Extent:
    south: float = math.inf
    north: float = -math.inf
    west: float = math.inf
    east: float = -math.inf

    def add(self, latitude: float, longitude: float) -> None:
        self.south, self.north = min(self.south, latitude), max(self.north, latitude)
        self.west, self.east = min(self.west, longitude), max(self.east, longitude)

    @property
    def empty(self) -> bool:
        return self.south > self.north


@dataclass
class _Campaign:
    year: int
    kind: str
    extent: _Extent = field(default_factory=_Extent)
    reach_m: float = 0.0  # the largest uncertainty of its sites


@dataclass
class _Seen:
    taxa: dict[int, Taxon] = field(default_factory=dict)
    extent: _Extent = field(default_factory=_Extent)
    first: datetime | None = None
    last: datetime | None = None
    campaigns: dict[tuple[int, str], _Campaign] = field(default_factory=dict)
    visits: set[uuid.UUID] = field(default_factory=set)
    events: int = 0
    occurrences: int = 0
    media: int = 0

    def when(self, start: datetime, end: datetime) -> None:
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)


# --- places and dates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    latitude: float
    longitude: float
    uncertainty_m: float
    footprint: str


def _site_place(visit: VisitRow) -> _Place:
    if visit.accuracy_m is not None and visit.accuracy_m > 0:
        # Generalised (a home, a sensitive species): the cell says it all, no footprint.
        return _Place(visit.latitude, visit.longitude, math.ceil(visit.accuracy_m), "")
    reach = float(SITE_UNCERTAINTY_M)
    footprint = ""
    if visit.geometry:
        try:
            geometry = shape(json.loads(visit.geometry))
            footprint = geometry.wkt
            for lon, lat in shapely.get_coordinates(geometry):
                reach = max(reach, _metres(visit.latitude, visit.longitude, lat, lon))
        except (ValueError, TypeError, KeyError, AttributeError):
            footprint = ""  # stored checked: a site's point and radius still stand without it
    return _Place(visit.latitude, visit.longitude, math.ceil(reach), footprint)


def _observation_place(row: ObservationRow) -> _Place:
    accuracy = row.accuracy_m
    if accuracy is None or not math.isfinite(accuracy) or accuracy <= 0:
        accuracy = OBSERVATION_UNCERTAINTY_M
    return _Place(row.latitude, row.longitude, accuracy, "")


def _visit_dates(visit: VisitRow, tz: tzinfo = UTC) -> tuple[datetime, datetime, str]:
    """The visit's start and end in the territory's time, and its ``eventDate``."""
    start = visit.started_at.astimezone(tz)
    if visit.duration_min <= 0:
        return start, start, _instant(start, tz)
    end = start + timedelta(minutes=visit.duration_min)
    return start, end, f"{_instant(start, tz)}/{_instant(end, tz)}"


def _effort(visit: VisitRow) -> str:
    minutes = f"{visit.duration_min} minute{'' if visit.duration_min == 1 else 's'}"
    if visit.observers < 1:
        return minutes
    return f"{visit.observers} observer{'' if visit.observers == 1 else 's'} x {minutes}"


def _protocol(kind: str) -> str:
    return PROTOCOLS.get(kind, f"Survey count ({kind})")


def _changed_since(row: ObservationRow, at: datetime) -> bool:
    updated = row.updated_at
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return updated > at


# --- event.txt ----------------------------------------------------------------------------------


def _visit_event(visit: VisitRow, settings: Settings, seen: _Seen) -> list[object]:
    place = _site_place(visit)
    start, end, event_date = _visit_dates(visit, settings.tz)
    seen.visits.add(visit.id)
    seen.when(start, end)
    seen.extent.add(place.latitude, place.longitude)
    key = (start.year, visit.site_kind)
    campaign = seen.campaigns.get(key)
    if campaign is None:
        campaign = seen.campaigns[key] = _Campaign(start.year, visit.site_kind)
    campaign.extent.add(place.latitude, place.longitude)
    campaign.reach_m = max(campaign.reach_m, place.uncertainty_m)
    # A garden is a home: its name may be its household's, the point says enough.
    locality = (
        f"Garden, {settings.territory_name}"
        if visit.site_kind == "garden"
        else (settings.territory_name if visit.withheld else visit.site_name)
    )
    return [
        f"urn:uuid:{visit.id}",
        campaign_id(settings, start.year, visit.site_kind),
        "SiteVisit",
        event_date,
        start.year,
        start.month,
        start.day,
        _protocol(visit.site_kind),
        visit.duration_min,
        "minute",
        _effort(visit),
        f"urn:uuid:{visit.site_id}",
        locality,
        _coordinate(place.latitude, place.uncertainty_m),
        _coordinate(place.longitude, place.uncertainty_m),
        _uncertainty(place.uncertainty_m, SITE_UNCERTAINTY_M),
        place.footprint,
        "EPSG:4326" if place.footprint else "",
        visit.withheld,
        visit.generalisations,
    ]


def _campaign_event(campaign: _Campaign, settings: Settings) -> list[object]:
    box = campaign.extent
    latitude, longitude = (box.south + box.north) / 2, (box.west + box.east) / 2
    reach = _metres(latitude, longitude, box.north, box.east) + campaign.reach_m
    return [
        campaign_id(settings, campaign.year, campaign.kind),
        "",
        "Survey",
        str(campaign.year),
        campaign.year,
        "",
        "",
        _protocol(campaign.kind),
        "",
        "",
        "",
        "",
        settings.territory_name,
        _coordinate(latitude, reach),
        _coordinate(longitude, reach),
        _uncertainty(math.ceil(reach), SITE_UNCERTAINTY_M),
        "",
        "",
        "",
        "",
    ]


def _observation_event(row: ObservationRow, seen: _Seen, tz: tzinfo = UTC) -> list[object]:
    place = _observation_place(row)
    at = row.observed_at.astimezone(tz)
    seen.when(at, at)
    seen.extent.add(place.latitude, place.longitude)
    return [
        f"urn:uuid:{row.id}",
        "",
        "Observation",
        _instant(at, tz),
        at.year,
        at.month,
        at.day,
        OPPORTUNISTIC,
        "",
        "",
        "",
        "",
        row.zone_name or "",
        _coordinate(place.latitude, place.uncertainty_m),
        _coordinate(place.longitude, place.uncertainty_m),
        _uncertainty(place.uncertainty_m, OBSERVATION_UNCERTAINTY_M),
        "",
        "",
        WITHHELD if row.generalised else "",
        _generalisation(row.taxon) if row.generalised else "",
    ]


def _generalisation(taxon: Taxon) -> str:
    return GENERALISATIONS.get(taxon.generalisation, "Coordinates generalised")


# --- occurrence.txt -----------------------------------------------------------------------------


def _occurrence(
    *,
    event_id: str,
    occurrence_id: str,
    taxon: Taxon,
    event_date: str,
    place: _Place,
    default_uncertainty: float,
    count: int,
    nests: bool,
    observer: str,
    status: str,
    media: str = "",
    generalised: bool = False,
    withheld: str = "",
    generalisations: str = "",
    settings: Settings,
) -> list[object]:
    count = max(count, 0)
    present = count > 0
    individuals: int | str
    quantity: int | str
    if nests:
        # Nests say nothing of the individuals, except that none was found with none.
        individuals, quantity, quantity_type = ("" if present else 0), count, "nests"
    else:
        individuals, quantity, quantity_type = count, "", ""
    return [
        event_id,
        occurrence_id,
        scientific_name(taxon),
        taxon.authority or "",
        taxon_id(taxon),
        f"TAXREF v{taxon.taxref_version or settings.taxref_version}",
        RANKS.get((taxon.rank or "").upper(), ""),
        taxon.kingdom or GROUP_KINGDOMS.get(taxon.group, ""),
        taxon.vernacular_name or "",
        event_date,
        _coordinate(place.latitude, place.uncertainty_m),
        _coordinate(place.longitude, place.uncertainty_m),
        _uncertainty(place.uncertainty_m, default_uncertainty),
        individuals,
        quantity,
        quantity_type,
        "present" if present else "absent",
        observer,
        VERIFICATION.get(status, "unverified"),
        media,
        WITHHELD if generalised else withheld,
        _generalisation(taxon) if generalised else generalisations,
    ]


def _visit_occurrences(visit: VisitRow, settings: Settings) -> Iterator[list[object]]:
    place = _site_place(visit)
    _, _, event_date = _visit_dates(visit, settings.tz)
    nests = visit.site_kind == "nest_site"
    figures = [(c.taxon, c.count) for c in visit.counts]
    figures += [(taxon, 0) for taxon in visit.absent] if visit.complete else []
    for taxon, count in figures:
        yield _occurrence(
            event_id=f"urn:uuid:{visit.id}",
            occurrence_id=visit_occurrence_id(visit.id, taxon.cd_nom),
            taxon=taxon,
            event_date=event_date,
            place=place,
            default_uncertainty=SITE_UNCERTAINTY_M,
            count=count,
            nests=nests,
            observer=visit.observer,
            status=visit.status,
            withheld=visit.withheld,
            generalisations=visit.generalisations,
            settings=settings,
        )


def _observation_occurrence(row: ObservationRow, settings: Settings) -> list[object]:
    return _occurrence(
        event_id=f"urn:uuid:{row.id}",
        occurrence_id=f"urn:uuid:{row.id}",
        taxon=row.taxon,
        event_date=_instant(row.observed_at, settings.tz),
        place=_observation_place(row),
        default_uncertainty=OBSERVATION_UNCERTAINTY_M,
        count=row.count,
        nests=row.count_unit == "nests",
        observer=row.observer,
        status=row.status,
        media=" | ".join(clean(p.url) for p in row.photos),
        generalised=row.generalised,
        settings=settings,
    )


# --- multimedia.txt -----------------------------------------------------------------------------


def _photo_row(row: ObservationRow, photo: Photo, tz: tzinfo) -> list[object]:
    """A photo under its own licence and by its own creator, which need not be the record's."""
    licence = LICENCES.get(photo.licence, ("", ""))[0] or photo.licence
    title = row.taxon.vernacular_name or row.taxon.scientific_name
    return [
        f"urn:uuid:{row.id}",
        "StillImage",
        photo.media_type,
        photo.url,
        "",
        f"{title} ({row.taxon.scientific_name})",
        _instant(photo.created, tz) if photo.created else "",
        photo.creator or row.observer,
        licence,
        photo.creator or row.observer,
    ]


# --- meta.xml and eml.xml -----------------------------------------------------------------------


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return cast(bytes, ET.tostring(root, encoding="UTF-8", xml_declaration=True)) + b"\n"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml_text(text)
    return element


def _file_section(
    parent: ET.Element,
    tag: str,
    row_type: str,
    location: str,
    key: str,
    terms: Sequence[str],
    constants: Sequence[tuple[str, str]],
    first_term: int = 0,
) -> None:
    """A file's section of ``meta.xml``: its key in column 0, its terms from ``first_term`` on
    (0 when the key column is a term too, as ``eventID``)."""
    section = _sub(
        parent,
        tag,
        encoding="UTF-8",
        fieldsTerminatedBy="\\t",
        linesTerminatedBy="\\n",
        fieldsEnclosedBy="",
        ignoreHeaderLines="1",
        rowType=row_type,
    )
    _sub(_sub(section, "files"), "location", location)
    _sub(section, key, index="0")
    for index, term in enumerate(terms, first_term):
        _sub(section, "field", index=str(index), term=term)
    for term, value in constants:
        _sub(section, "field", term=term, default=clean(value))


def meta_xml(settings: Settings) -> bytes:
    licence = licence_url(settings)
    dataset_id = str(settings.dataset_uuid)
    root = ET.Element("archive", {"xmlns": TEXT_NS, "metadata": "eml.xml"})
    _file_section(
        root,
        "core",
        DWC + "Event",
        "event.txt",
        "id",
        EVENT_TERMS,
        [
            (DWC + "geodeticDatum", "EPSG:4326"),
            (DWC + "countryCode", "FR"),
            (DWC + "datasetID", dataset_id),
            (DWC + "datasetName", settings.dataset_title),
            (DCTERMS + "license", licence),
            (DCTERMS + "rightsHolder", settings.dataset_publisher),
        ],
    )
    _file_section(
        root,
        "extension",
        DWC + "Occurrence",
        "occurrence.txt",
        "coreid",
        OCCURRENCE_TERMS,
        [
            (DWC + "basisOfRecord", "HumanObservation"),
            (DWC + "geodeticDatum", "EPSG:4326"),
            (DWC + "countryCode", "FR"),
            (DWC + "datasetID", dataset_id),
            (DCTERMS + "license", licence),
        ],
    )
    _file_section(
        root,
        "extension",
        GBIF_MULTIMEDIA,
        "multimedia.txt",
        "coreid",
        MULTIMEDIA_TERMS,
        [(DCTERMS + "publisher", settings.dataset_publisher)],
        first_term=1,
    )
    return _xml(root)


METHODS = (
    "Residents record what they see with the Sentinelles phone application: the species "
    "(TAXREF), the date and time, the GPS position and its accuracy, the number of individuals "
    "or of nests.",
    "Survey protocols, each visit an event whose parent is the protocol's yearly campaign: "
    + "; ".join(f"{name} ({kind.replace('_', ' ')} sites)" for kind, name in PROTOCOLS.items())
    + ". A visit records its duration and number of observers; a complete visit counted every "
    "species of its protocol, so that a species counted at the site at another visit but not "
    "at this one is recorded as absent. Sightings outside the protocols are opportunistic "
    "observations, each an event of its own.",
)
QUALITY = (
    "Every record is reviewed by the ecologists of {publisher}, helped by automatic "
    "plausibility flags (season, usual counts, position accuracy, duplicates); records "
    "validated by them are marked verified. Sensitive species are published at a generalised "
    "position (a Lambert-93 grid cell or the commune), as the informationWithheld and "
    "dataGeneralizations terms of their records say. Observers appear by a pseudonym, unless "
    "they chose to be credited by name."
)


def _party(parent: ET.Element, tag: str, settings: Settings, *, person: bool = False) -> None:
    party = _sub(parent, tag)
    name = settings.dataset_contact_name.strip()
    if person and name and name != settings.dataset_publisher.strip():
        _sub(_sub(party, "individualName"), "surName", name)
    _sub(party, "organizationName", settings.dataset_publisher)
    _sub(party, "electronicMailAddress", settings.dataset_contact_email)


def _para(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = _sub(parent, tag)
    _sub(element, "para", text)
    return element


def eml_xml(settings: Settings, generated_at: datetime, seen: _Seen) -> bytes:
    dataset_id = str(settings.dataset_uuid)
    root = ET.Element(
        "eml:eml",
        {
            "xmlns:eml": EML_NS,
            "xmlns:dc": DCTERMS,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": f"{EML_NS} {EML_SCHEMA}",
            "packageId": dataset_id,
            "system": "http://gbif.org",
            "scope": "system",
            "xml:lang": "fr",
        },
    )
    dataset = _sub(root, "dataset")
    _sub(dataset, "alternateIdentifier", dataset_id)
    _sub(dataset, "title", settings.dataset_title, **{"xml:lang": "fr"})
    _party(dataset, "creator", settings)
    _party(dataset, "metadataProvider", settings)
    published = generated_at.astimezone(settings.tz).date()
    _sub(dataset, "pubDate", published.isoformat())
    _sub(dataset, "language", "fr")
    _para(dataset, "abstract", settings.dataset_abstract)
    keywords = _sub(dataset, "keywordSet")
    _sub(keywords, "keyword", "Samplingevent")
    _sub(keywords, "keywordThesaurus", DATASET_TYPES)
    url, title = LICENCES[settings.dataset_licence]
    rights = _sub(dataset, "intellectualRights")
    para = _sub(rights, "para")
    if settings.dataset_licence == "CC0-1.0":
        para.text = (
            "To the extent possible under law, the publisher has waived all rights to these "
            "data and has dedicated them to the "
        )
        tail = (
            ". Users may copy, modify, distribute and use the work, including for commercial "
            "purposes, without restriction."
        )
    else:
        para.text = "This work is licensed under a "
        tail = "."
    link = _sub(para, "ulink", url=url)
    _sub(link, "citetitle", title)
    link.tail = tail
    coverage = _coverage(settings, seen)
    if coverage is not None:
        dataset.append(coverage)
    _party(dataset, "contact", settings, person=True)
    methods = _sub(dataset, "methods")
    for text in METHODS:
        _para(_sub(methods, "methodStep"), "description", text)
    sampling = _sub(methods, "sampling")
    _para(
        _sub(sampling, "studyExtent"),
        "description",
        f"The commune of {settings.territory_name} (France) and its surroundings.",
    )
    _para(sampling, "samplingDescription", " ".join(METHODS))
    _para(
        _sub(methods, "qualityControl"),
        "description",
        QUALITY.format(publisher=settings.dataset_publisher),
    )
    gbif = _sub(_sub(_sub(root, "additionalMetadata"), "metadata"), "gbif")
    _sub(gbif, "dateStamp", generated_at.astimezone(settings.tz).isoformat(timespec="seconds"))
    _sub(gbif, "hierarchyLevel", "dataset")
    return _xml(root)


def _coverage(settings: Settings, seen: _Seen) -> ET.Element | None:
    """The box and the dates the records span (nothing when there is no record: GBIF's
    profile wants a box in every geographic coverage)."""
    box = seen.extent
    if box.empty or seen.first is None or seen.last is None:
        return None
    coverage = ET.Element("coverage")
    geographic = _sub(coverage, "geographicCoverage")
    _sub(
        geographic,
        "geographicDescription",
        f"{settings.territory_name} (France): the bounding box of the published positions.",
    )
    bounds = _sub(geographic, "boundingCoordinates")
    _sub(bounds, "westBoundingCoordinate", _decimal(box.west))
    _sub(bounds, "eastBoundingCoordinate", _decimal(box.east))
    _sub(bounds, "northBoundingCoordinate", _decimal(box.north))
    _sub(bounds, "southBoundingCoordinate", _decimal(box.south))
    dates = _sub(_sub(coverage, "temporalCoverage"), "rangeOfDates")
    first: date = seen.first.astimezone(settings.tz).date()
    last: date = seen.last.astimezone(settings.tz).date()
    _sub(_sub(dates, "beginDate"), "calendarDate", first.isoformat())
    _sub(_sub(dates, "endDate"), "calendarDate", last.isoformat())
    if seen.taxa:
        taxonomic = _sub(coverage, "taxonomicCoverage")
        kingdoms = sorted(
            {t.kingdom or GROUP_KINGDOMS.get(t.group, "") for t in seen.taxa.values()} - {""}
        )
        _sub(
            taxonomic,
            "generalTaxonomicCoverage",
            f"{len(seen.taxa)} taxa (TAXREF) of the kingdoms {', '.join(kingdoms)}: birds of "
            "the nest counts, butterflies of the garden counts and the species residents report.",
        )
        for taxon in sorted(seen.taxa.values(), key=lambda t: t.scientific_name):
            classification = _sub(taxonomic, "taxonomicClassification")
            _sub(
                classification,
                "taxonRankName",
                RANKS.get((taxon.rank or "").upper(), "species"),
            )
            _sub(classification, "taxonRankValue", taxon.scientific_name)
            if taxon.vernacular_name:
                _sub(classification, "commonName", taxon.vernacular_name)
    return coverage


# --- the archive --------------------------------------------------------------------------------


def _members(
    archive: zipfile.ZipFile,
    take: Callable[[], bytes],
    observations: Callable[[], Iterable[ObservationRow]],
    visits: Callable[[], Iterable[VisitRow]],
    settings: Settings,
    generated_at: datetime,
    seen: _Seen,
) -> Iterator[bytes]:
    """Write every member of the archive into ``archive``, yielding what ``take`` hands over
    every :data:`PIECE_ROWS` rows.

    No member is forced to ZIP64: written to an unseekable sink, zipfile then follows each
    member with a 32-bit data descriptor, which every streaming reader accepts (Java's
    ``ZipInputStream``, GBIF's tools, refuses a ZIP64 local header whose sizes come after the
    data). Written to a file, zipfile goes back and puts the sizes in the local headers."""
    tz = settings.tz

    def rows_out(out: IO[bytes], lines: Iterable[Sequence[object]]) -> Iterator[bytes]:
        # Handed to the member (and its compressor) a piece's lines at a time, not line by line.
        batch: list[bytes] = []
        for n, values in enumerate(lines, 1):
            batch.append(_line(values))
            if n % PIECE_ROWS == 0:
                out.write(b"".join(batch))
                batch.clear()
                piece = take()
                if piece:
                    yield piece
        if batch:
            out.write(b"".join(batch))

    # The observations are read once: their occurrence lines (and their photos' lines) are
    # written as their events are, into spooled files (in memory up to a megabyte, on disk
    # beyond), which follow the visits' occurrences and the multimedia header.
    held = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed below)
    photos = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed below)
    taxa: dict[int, Taxon] = {}

    def events() -> Iterator[Sequence[object]]:
        for visit in visits():
            seen.events += 1
            yield _visit_event(visit, settings, seen)
        for key in sorted(seen.campaigns):
            seen.events += 1
            yield _campaign_event(seen.campaigns[key], settings)
        for row in observations():
            if not _changed_since(row, generated_at):
                seen.events += 1
                seen.occurrences += 1
                taxa.setdefault(row.taxon.cd_nom, row.taxon)
                for photo in row.photos:
                    seen.media += 1
                    photos.write(_line(_photo_row(row, photo, tz)))
                held.write(_line(_observation_occurrence(row, settings)))
                yield _observation_event(row, seen, tz)

    def visit_occurrences() -> Iterator[Sequence[object]]:
        for visit in visits():
            if visit.id in seen.visits:
                for line in _visit_occurrences(visit, settings):
                    seen.occurrences += 1
                    yield line
                for count in visit.counts:
                    seen.taxa.setdefault(count.taxon.cd_nom, count.taxon)
        for cd_nom, taxon in taxa.items():
            seen.taxa.setdefault(cd_nom, taxon)

    def copied(out: IO[bytes], spool: IO[bytes]) -> Iterator[bytes]:
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            out.write(chunk)
            piece = take()
            if piece:
                yield piece

    with archive.open(_member("meta.xml", generated_at), "w") as out:
        out.write(meta_xml(settings))
    with held, photos:
        with archive.open(_member("event.txt", generated_at), "w") as out:
            out.write(_header(EVENT_TERMS))
            yield from rows_out(out, events())
        with archive.open(_member("occurrence.txt", generated_at), "w") as out:
            out.write(_header(OCCURRENCE_TERMS))
            yield from rows_out(out, visit_occurrences())
            yield from copied(out, held)
        with archive.open(_member("multimedia.txt", generated_at), "w") as out:
            out.write(_header(MULTIMEDIA_TERMS, key="coreid"))
            yield from copied(out, photos)
    with archive.open(_member("eml.xml", generated_at), "w") as out:
        out.write(eml_xml(settings, generated_at, seen))


def dwca_pieces(
    observations: Callable[[], Iterable[ObservationRow]],
    visits: Callable[[], Iterable[VisitRow]],
    *,
    settings: Settings,
    generated_at: datetime,
) -> Iterator[bytes]:
    """The archive's bytes, a piece every :data:`PIECE_ROWS` rows; joined, a valid zip."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        yield from _members(
            archive, sink.take, observations, visits, settings, generated_at, _Seen()
        )
    yield sink.take()


@dataclass(frozen=True)
class ArchiveCounts:
    events: int
    occurrences: int
    media: int


def write_dwca(
    file: IO[bytes],
    observations: Callable[[], Iterable[ObservationRow]],
    visits: Callable[[], Iterable[VisitRow]],
    *,
    settings: Settings,
    generated_at: datetime,
) -> ArchiveCounts:
    """The archive written to a seekable file: every local header then holds its member's sizes
    and CRC (no data descriptor), which the simplest streaming reader can follow."""
    seen = _Seen()
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for _ in _members(archive, lambda: b"", observations, visits, settings, generated_at, seen):
            pass
    return ArchiveCounts(seen.events, seen.occurrences, seen.media)
