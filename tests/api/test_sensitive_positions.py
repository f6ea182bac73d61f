"""The leak walker: no output of the API shows a sensitive species more precisely than its
generalisation allows, to anyone but its observer and staff.

Rather than a test per endpoint (which the next endpoint would escape), the walker reads the
app's own OpenAPI document and calls EVERY ``GET`` route, as an anonymous caller and as another
sentinel (the exports refuse both: they are staff's; the command line's public export is scanned
on its own), with the ids of the objects the setup created and with the query parameters that make
positions appear. It fails when a route has a path parameter it cannot fill (or a required query
parameter), so that a new endpoint must be taught to it rather than silently skipped. Every
response is scanned whatever its type: JSON recursively (latitude/longitude keys side by side,
GeoJSON ``coordinates`` and ``bbox``, number pairs in strings, opaque cursors that decode to
JSON), text and CSV line by line (decimal numbers with a point or a comma), images with Pillow
(no EXIF GPS block, no XMP carrying a position), ZIP archives member by member, and headers.
A response of any other type fails the walk until the walker learns to read it.

THE RULE. Let a secret be an exact position of the sensitive species that the viewer may not
see exactly (an observation, validated, pending or deleted; a survey site where it was counted),
``C`` its public centre (the centre of its 1 km or 10 km Lambert-93 cell, or of its commune)
and ``r`` its blur radius: what the public position's ``accuracy_m`` says, i.e. the cell's
half-diagonal (707 m, 7,071 m) or the commune's radius. The public may learn that the secret
lies within ``r`` of ``C``, and nothing narrower. So a coordinate found in a response is a leak
when it lies closer than ``r`` to a secret, unless it is one of the positions that say nothing
about the secret:

- a public centre (within 2 m, for outputs that round to 5 decimals), or a corner of a
  published grid cell (a cell drawn as a polygon);
- a vertex or bounding-box corner of a reference zone (the communes' boundaries are public
  data, whatever was observed in them);
- the position the public is given of an observation the setup did not make (tests on a
  committing engine leave some behind in the shared test database).

A fixed threshold would not do: 500 m catches an exact point but not one rounded to 0.01°
(up to ~700 m off), which is far more precise than a 10 km cell; any coordinate nearer than
``r`` that is not an allowed one localises the secret better than its generalisation does.
The setup checks that every secret lies more than 50 m from every allowed position, so that an
exact leak can never pass as an allowed one, and places the non-sensitive control observation
farther than every ``r`` from the secrets.

A narrow bounding box around a secret (not holding its centre) must also not return the secret's
observations at all: which rows a small box returns would locate them. The walker checks that no
such response names one of their ids.

A zone id is a place too: a commune says more than a 10 km cell, a slag heap more than any
blur. The walker records a secret's record named together with a zone finer than its blur (in
the same JSON object, or answering a filter on that zone) separately, and asserts it in its own
test.

What the walker cannot see: aggregates whose granularity is too fine without carrying a
coordinate or a record's id (a count per commune of a species blurred to 10 km); those need
tests of their own.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import shapely
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from pyproj import Geod
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import shape
from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.db import Database
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.exports import service as exports_service
from app.exports.rows import export_filters
from app.observations.models import Observation
from app.observations.schemas import ObservationFilters
from app.species.models import Species
from app.surveys.models import Visit
from app.zones.grid import CELL_1KM, CELL_10KM, cell_of, to_wgs84
from app.zones.models import Zone
from app.zones.service import commune_area, import_zones
from tests.conftest import in_savepoint
from tests.factories import auth_headers, create_user

PEREGRINE = 2938  # Faucon pèlerin: sensitive, 10 km, in the shipped reference
SWALLOW = 3696  # Hirondelle rustique: not sensitive
LOOS_CODE = "62528"
YEAR = 2025

# Exact positions in Loos-en-Gohelle, each in a 1 km cell of its own, away from its cells'
# centres and corners, from the commune's centre and from every zone vertex (checked below).
VALIDATED_AT = (50.4630, 2.7700)
PENDING_AT = (50.4500, 2.8050)
DELETED_AT = (50.4700, 2.7900)
SITE_AT = (50.4450, 2.7750)
# A swallow in Arras, about 19 km away: its exact position is public, and far from every secret.
CONTROL_AT = (50.2910, 2.7770)

# The changes an ecologist makes before each walk (as shipped: 10 km). Going from a finer blur
# to a coarser one is what a forgotten recomputation would betray: the finer centres left
# behind lie within the coarser blur of their secrets.
CHANGES: dict[str, list[dict[str, Any]]] = {
    "grid_10km as shipped": [],
    "grid_1km": [{"generalisation": "grid_1km"}],
    "commune": [{"generalisation": "commune"}],
    "grid_1km then commune": [{"generalisation": "grid_1km"}, {"generalisation": "commune"}],
    "commune then grid_10km": [{"generalisation": "commune"}, {"generalisation": "grid_10km"}],
    "not sensitive then grid_1km": [
        {"sensitive": False},
        {"sensitive": True, "generalisation": "grid_1km"},
    ],
}
# An allowed position as written: exports round a blurred centre to what its blur supports
# (4 decimals for a 1 km cell, 3 for a commune), which tells no more than the centre itself.
SAME_PLACE_M = 10.0
NARROW = 0.001  # degrees each side of a secret: a box about 220 m by 140 m
HEAP_HALF = 0.002  # degrees each side of the validated nest: a slag heap
WIDE_BBOX = "2.60,50.25,3.00,50.60"
MAX_PAGES = 20

_GEOD = Geod(ellps="WGS84")

Point = tuple[float, float]


def metres(a: Point, b: Point) -> float:
    return float(_GEOD.inv(a[1], a[0], b[1], b[0])[2])


# --- what a response holds --------------------------------------------------------------------

_LAT_TOKENS = frozenset({"lat", "latitude"})
_LON_TOKENS = frozenset({"lon", "lng", "long", "longitude"})
_DOT_NUMBER = re.compile(r"-?\d{1,3}\.\d+")
_COMMA_NUMBER = re.compile(r"-?\d{1,3},\d+")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]{8,}={0,2}$")
_GPS_IFD = 0x8825
PAIR_WINDOW = 6


@dataclass
class Found:
    """What scanning one response found: candidate positions and outright problems."""

    points: list[tuple[Point, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: int = 0

    def add(self, lat: float, lon: float, where: str) -> None:
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            self.points.append(((lat, lon), where))


def _key_tokens(key: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", key)
    return {t.lower() for t in re.split(r"[^A-Za-z]+", spaced) if t}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _pairs(numbers: Sequence[float]) -> Iterator[tuple[float, float]]:
    """Every ordered pair of nearby numbers: (lat, lon) or (lon, lat), whichever the format."""
    for i, a in enumerate(numbers):
        for b in numbers[i + 1 : i + PAIR_WINDOW]:
            yield a, b
            yield b, a


def scan_text(text: str, found: Found, where: str) -> None:
    for line in text.splitlines() or [text]:
        for pattern in (_DOT_NUMBER, _COMMA_NUMBER):
            numbers = [float(m.replace(",", ".")) for m in pattern.findall(line)]
            for a, b in _pairs(numbers):
                found.add(a, b, where)


def _decoded_json(text: str) -> Any:
    """An opaque token that is base64url JSON (our cursors are), else None."""
    if not _BASE64URL.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def scan_json(value: Any, found: Found, where: str) -> None:
    if isinstance(value, Mapping):
        lats = [k for k in value if isinstance(k, str) and _key_tokens(k) & _LAT_TOKENS]
        lons = [k for k in value if isinstance(k, str) and _key_tokens(k) & _LON_TOKENS]
        for lat_key in lats:
            for lon_key in lons:
                lat, lon = _number(value[lat_key]), _number(value[lon_key])
                if lat is not None and lon is not None:
                    found.add(lat, lon, f"{where}.{lat_key}/{lon_key}")
        for key, item in value.items():
            scan_json(item, found, f"{where}.{key}")
    elif isinstance(value, list):
        numbers = [_number(v) for v in value if not isinstance(v, str)]
        if value and len(numbers) == len(value) and all(n is not None for n in numbers):
            for a, b in _pairs([n for n in numbers if n is not None]):
                found.add(a, b, f"{where}[]")
        for i, item in enumerate(value):
            scan_json(item, found, f"{where}[{i}]")
    elif isinstance(value, str):
        scan_text(value, found, where)
        decoded = _decoded_json(value)
        if isinstance(decoded, list | dict):
            scan_json(decoded, found, f"{where}(decoded)")


def scan_image(data: bytes, found: Found, where: str) -> None:
    found.images += 1
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # an image type Pillow cannot read is itself a finding
        found.problems.append(f"{where}: not an image Pillow can read ({exc})")
        return
    exif = image.getexif()
    if _GPS_IFD in exif or exif.get_ifd(_GPS_IFD):
        found.problems.append(f"{where}: the served image carries an EXIF GPS block")
    xmp = image.info.get("xmp")
    if xmp:
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        if "GPS" in text:
            found.problems.append(f"{where}: the served image's XMP names a GPS position")
        scan_text(text, found, f"{where}(xmp)")
    for key in ("comment", "description"):
        value = image.info.get(key)
        if value:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            scan_text(text, found, f"{where}({key})")


def scan_body(content_type: str, body: bytes, found: Found, where: str) -> None:
    media = content_type.split(";")[0].strip().lower()
    if not body:
        return
    if media == "application/json" or media.endswith("+json"):
        scan_json(json.loads(body), found, where)
    elif media.startswith("text/") or media.endswith("+xml") or media.endswith("/xml"):
        # SVG charts and XML documents (Darwin Core's meta.xml, EML) are text: any coordinate
        # drawn or written in them is scanned like a CSV's.
        scan_text(body.decode("utf-8", "replace"), found, where)
    elif media.startswith("image/"):
        scan_image(body, found, where)
    elif media in ("application/zip", "application/x-zip-compressed"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                scan_body(_guess_type(name), archive.read(name), found, f"{where}!{name}")
    else:
        found.problems.append(f"{where}: a {media or 'untyped'} body the walker cannot read")


def _guess_type(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "json": "application/json",
        "geojson": "application/geo+json",
        "csv": "text/csv",
        "txt": "text/plain",
        "tsv": "text/tab-separated-values",
        "xml": "application/xml",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
    }.get(suffix, "application/octet-stream")


def scan_response(response: Any, where: str) -> Found:
    found = Found()
    for name, value in response.headers.items():
        if name.lower() not in ("etag", "date", "content-length"):
            scan_text(value, found, f"{where} header {name}")
    scan_body(response.headers.get("content-type", ""), response.content, found, where)
    return found


# --- the rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    """An exact position the viewers may not see, with what they may see of it instead."""

    name: str
    point: Point
    centre: Point
    radius_m: float
    # Ids that must not come back for a narrow box around the point.
    ids: tuple[str, ...] = ()
    # Zones holding the point that are smaller than its blur: naming one places the secret
    # more precisely than allowed.
    zones: tuple[str, ...] = ()


@dataclass
class Rule:
    secrets: list[Secret]
    allowed: list[Point]

    def leaks(self, found: Found) -> list[str]:
        """One line per coordinate found closer to a secret than its blur (naming the nearest
        such secret) that is not an allowed position."""
        out = []
        for point, where in found.points:
            near = [(metres(point, s.point), s) for s in self.secrets]
            near = [(d, s) for d, s in near if d < s.radius_m]
            if not near:
                continue
            distance, secret = min(near, key=lambda pair: pair[0])
            # Written rounded to what its blur supports (a twentieth of it at most).
            same_place = max(SAME_PLACE_M, secret.radius_m / 20)
            if any(metres(point, a) <= same_place for a in self.allowed):
                continue
            out.append(
                f"{where}: ({point[0]}, {point[1]}) is {distance:.0f} m from the "
                f"{secret.name} (blur {secret.radius_m:.0f} m)"
            )
        return out


def public_centre(
    session: Session, settings: Settings, point: Point, level: str
) -> tuple[Point, float, list[Point]]:
    """The centre, blur radius and cell corners a position generalised at ``level`` shows,
    computed from the grid and the zones (not from the code that stores it)."""
    if level == "commune":
        area = commune_area(session, settings, latitude=point[0], longitude=point[1])
        if area is not None:
            return (area.latitude, area.longitude), area.radius_m, []
        level = "grid_10km"
    size = CELL_1KM if level == "grid_1km" else CELL_10KM
    cell = cell_of(point[0], point[1], size)
    corners = []
    for dx in (0, size):
        for dy in (0, size):
            lon, lat = to_wgs84(cell.x0 + dx, cell.y0 + dy)
            corners.append((lat, lon))
    return (cell.latitude, cell.longitude), cell.half_diagonal_m, corners


def zone_reference_points(session: Session) -> list[Point]:
    points: list[Point] = []
    for zone in session.exec(select(Zone)):
        points += [
            (zone.min_lat, zone.min_lon),
            (zone.min_lat, zone.max_lon),
            (zone.max_lat, zone.min_lon),
            (zone.max_lat, zone.max_lon),
        ]
        geometry = json.loads(zone.geometry)
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        points += [(lat, lon) for polygon in polygons for ring in polygon for lon, lat in ring]
    return points


# --- filling the routes -----------------------------------------------------------------------


@dataclass
class Fill:
    """Values for parameters by name: path parameters must all be known; query parameters are
    tried one at a time and together."""

    path: dict[str, list[str]]
    query: dict[str, list[str]]


@dataclass
class Call:
    route: str
    url: str
    params: dict[str, str]
    follows_cursor: bool


def plan_calls(document: Mapping[str, Any], fill: Fill) -> tuple[list[Call], list[str]]:
    """The GET calls to make, and what the walker cannot fill (routes it would skip)."""
    calls: list[Call] = []
    unknown: list[str] = []
    for route, operations in document["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        parameters = operation.get("parameters", [])
        path_names = [p["name"] for p in parameters if p["in"] == "path"]
        missing = [n for n in path_names if n not in fill.path]
        if missing:
            unknown.append(f"GET {route}: path parameter(s) {', '.join(missing)}")
            continue
        query_values: dict[str, list[str]] = {}
        limit: str | None = None
        for p in (p for p in parameters if p["in"] == "query"):
            values = _query_values(p, fill, document)
            if p["name"] == "limit":
                maximum = p.get("schema", {}).get("maximum")
                limit = str(int(maximum)) if maximum is not None else None
            elif values:
                query_values[p["name"]] = values
            elif p.get("required"):
                unknown.append(f"GET {route}: required query parameter {p['name']}")
        follows = any(p["name"] == "cursor" and p["in"] == "query" for p in parameters)
        for url in _urls(route, path_names, fill):
            for params in _variants(query_values):
                if limit is not None:
                    params = {**params, "limit": limit}
                calls.append(Call(route, url, params, follows))
    return calls, unknown


def _query_values(
    parameter: Mapping[str, Any], fill: Fill, document: Mapping[str, Any]
) -> list[str]:
    """Known names first; then any enumeration (each value) or flag (true)."""
    name = parameter["name"]
    if name in fill.query:
        return fill.query[name]
    schema = parameter.get("schema", {})
    options = [schema, *schema.get("anyOf", [])]
    for option in options:
        ref = option.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            option = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        if "enum" in option:
            return [str(v) for v in option["enum"]]
        if option.get("type") == "boolean":
            return ["true"]
    return []


def _urls(route: str, names: Sequence[str], fill: Fill) -> Iterator[str]:
    if not names:
        yield route
        return
    first, rest = names[0], names[1:]
    for value in fill.path[first]:
        yield from _urls(route.replace("{" + first + "}", value), rest, fill)


def _variants(values: Mapping[str, list[str]]) -> list[dict[str, str]]:
    """No parameter; each value of each parameter alone; then all of them at once (first
    value each, the flags and enumerations left out), once per bbox."""
    variants: list[dict[str, str]] = [{}]
    for name, options in values.items():
        variants += [{name: option} for option in options]
    together = {
        name: options[0]
        for name, options in values.items()
        if name != "bbox" and options[0] != "true" and len(options) == 1
    }
    bboxes: list[str | None] = [*values.get("bbox", [])] or [None]
    for bbox in bboxes:
        combined = dict(together)
        if bbox is not None:
            combined["bbox"] = bbox
        variants.append(combined)
    unique: list[dict[str, str]] = []
    for variant in variants:
        if variant not in unique:
            unique.append(variant)
    return unique


# --- the world --------------------------------------------------------------------------------


def gps_exif(point: Point) -> Image.Exif:
    """EXIF as a phone writes it, GPS at ``point`` (degrees, minutes, seconds)."""

    def dms(value: float) -> tuple[float, float, float]:
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round((value - degrees - minutes / 60) * 3600, 4)
        return float(degrees), float(minutes), seconds

    exif = Image.Exif()
    gps = exif.get_ifd(_GPS_IFD)
    gps[1], gps[2] = "N", dms(point[0])
    gps[3], gps[4] = "E", dms(point[1])
    exif.get_ifd(0x8769)[0x9003] = f"{YEAR}:05:10 08:30:00"
    return exif


def jpeg_at(point: Point, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    xmp = (
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><exif:GPSLatitude>"
        f"{point[0]}</exif:GPSLatitude></x:xmpmeta>"
    )
    Image.new("RGB", (320, 240), colour).save(
        out, format="JPEG", exif=gps_exif(point), xmp=xmp.encode(), comment=b"exact"
    )
    return out.getvalue()


@dataclass
class World:
    observer: User
    other: User
    ecologist: User
    peregrine_id: str
    fill: Fill
    # Observations of the sensitive species, by what the setup did with them.
    observations: dict[str, tuple[str, Point]]
    photo_ids: dict[str, str]
    site_id: str
    visit_id: str


def _observe(
    client: TestClient, headers: dict[str, str], cd_nom: int, point: Point
) -> dict[str, Any]:
    answer = client.post(
        "/observations",
        json={
            "client_id": str(uuid.uuid4()),
            "cd_nom": cd_nom,
            "observed_at": f"{YEAR}-05-10T08:30:00+02:00",
            "latitude": point[0],
            "longitude": point[1],
            "accuracy_m": 5,
            "count": 1,
            "notes": "au nid",
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _photo(client: TestClient, headers: dict[str, str], observation_id: str, data: bytes) -> str:
    answer = client.post(
        f"/observations/{observation_id}/photos",
        files={"file": ("nid.jpg", data, "image/jpeg")},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    # The observer does get the photo's position back: no one else may.
    latitude, longitude = _exif_point(data)
    assert body["exif"]["latitude"] == pytest.approx(latitude, abs=1e-6)
    assert body["exif"]["longitude"] == pytest.approx(longitude, abs=1e-6)
    return str(body["id"])


def _exif_point(data: bytes) -> Point:
    gps = Image.open(io.BytesIO(data)).getexif().get_ifd(_GPS_IFD)

    def degrees(dms: Sequence[float]) -> float:
        return float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600

    return degrees(gps[2]), degrees(gps[4])


def _set_status(session: Session, model: Any, row_id: str, status: str) -> None:
    """What a review does, without the review endpoint."""
    session.execute(update(model).where(col(model.id) == uuid.UUID(row_id)).values(status=status))
    session.flush()


# --- one world per backend ---------------------------------------------------------------------
#
# Building the world and walking every route is the slowest work of the suite, so the world is
# built once per backend for the whole module (in the conftest's ``module_connection``, never
# committed) and each test runs in a savepoint of it, rolled back at its end: the species'
# generalisation one test changes is back as shipped for the next. A walk depends only on the
# world and on the changes made before it: one made for a set of changes serves every test that
# asks for the same set.


@pytest.fixture(scope="module")
def world(module_app: FastAPI, module_settings: Settings) -> World:
    db: Database = module_app.state.db
    with (
        TestClient(module_app, base_url="http://testserver/api/v1") as client,
        db.session() as session,
    ):
        built = build_world(client, session, module_settings)
        session.commit()  # into the module's transaction, which is never committed
    return built


@pytest.fixture(scope="module")
def document(module_app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, whose GET routes are walked (building it takes a second)."""
    return module_app.openapi()


@pytest.fixture
def settings(module_settings: Settings) -> Settings:
    return module_settings


@pytest.fixture
def connection(module_connection: Connection, world: World) -> Iterator[Connection]:
    yield from in_savepoint(module_connection)


@pytest.fixture(scope="module")
def walks(world: World) -> dict[str, tuple[Rule, Walk]]:
    """The walks made in this world (one per backend), by the changes made before them."""
    return {}


def build_world(client: TestClient, session: Session, settings: Settings) -> World:
    observer = create_user(session, settings, display_name="Sentinelle A")
    other = create_user(session, settings, display_name="Sentinelle B")
    ecologist = create_user(session, settings, role=Role.ecologist, display_name="Élise")
    mine = auth_headers(observer, settings)
    peregrine = session.exec(select(Species).where(col(Species.cd_nom) == PEREGRINE)).one()
    assert peregrine.sensitive, "the shipped reference makes the peregrine falcon sensitive"
    assert peregrine.generalisation == "grid_10km"
    swallow = session.exec(select(Species).where(col(Species.cd_nom) == SWALLOW)).one()
    loos = session.exec(select(Zone).where(col(Zone.code) == LOOS_CODE)).one()
    # A slag heap around the validated nest (the falcons' cliffs here): a zone much smaller
    # than any blur, which the capture records as the observation's zone.
    lat, lon = VALIDATED_AT
    ring = [
        [lon - HEAP_HALF, lat - HEAP_HALF],
        [lon + HEAP_HALF, lat - HEAP_HALF],
        [lon + HEAP_HALF, lat + HEAP_HALF],
        [lon - HEAP_HALF, lat + HEAP_HALF],
        [lon - HEAP_HALF, lat - HEAP_HALF],
    ]
    heap_feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": "terril-test", "name": "Terril d'essai", "kind": "slag_heap"},
    }
    import_zones(session, {"type": "FeatureCollection", "features": [heap_feature]})
    heap = session.exec(select(Zone).where(col(Zone.code) == "terril-test")).one()

    validated = _observe(client, mine, PEREGRINE, VALIDATED_AT)
    pending = _observe(client, mine, PEREGRINE, PENDING_AT)
    deleted = _observe(client, mine, PEREGRINE, DELETED_AT)
    control = _observe(client, mine, SWALLOW, CONTROL_AT)
    photo_ids = {
        "validated": _photo(client, mine, validated["id"], jpeg_at(VALIDATED_AT, (200, 30, 30))),
        "pending": _photo(client, mine, pending["id"], jpeg_at(PENDING_AT, (30, 30, 200))),
    }
    for observation in (validated, deleted, control):
        _set_status(session, Observation, observation["id"], "validated")
    gone = client.delete(f"/observations/{deleted['id']}", headers=mine)
    assert gone.status_code == 204, gone.text

    site = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": "nest_site",
            "name": "Église Saint-Vaast, clocher",
            "latitude": SITE_AT[0],
            "longitude": SITE_AT[1],
        },
        headers=mine,
    )
    assert site.status_code == 201, site.text
    visit = client.post(
        f"/sites/{site.json()['id']}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": f"{YEAR}-05-16T09:30:00+02:00",
            "duration_min": 30,
            "complete": True,
            "counts": [{"cd_nom": PEREGRINE, "occupied": 1, "unoccupied": 0, "destroyed": 0}],
        },
        headers=mine,
    )
    assert visit.status_code == 201, visit.text
    _set_status(session, Visit, visit.json()["id"], "validated")

    observations = {
        "validated": (validated["id"], VALIDATED_AT),
        "pending": (pending["id"], PENDING_AT),
        "deleted": (deleted["id"], DELETED_AT),
    }
    every_id = {
        "observation_id": [validated["id"], pending["id"], deleted["id"], control["id"]],
        "photo_id": list(photo_ids.values()),
        "site_id": [site.json()["id"]],
        "visit_id": [visit.json()["id"]],
        "species_id": [str(peregrine.id), str(swallow.id)],
        "zone_id": [str(loos.id), str(heap.id)],
        "user_id": [str(observer.id)],
        "observer_id": [str(observer.id)],
        # A class's pages answer its teacher and pupils only; the walker's callers are neither.
        "class_id": [str(uuid.uuid4())],
        # The open-data snapshot's files (``sentinelles publish``; none built in this world,
        # and ``tests/exports/test_open_data.py`` reads what a built one publishes).
        "name": ["dwca.zip", "observations.csv", "observations.geojson"],
    }
    narrow = [
        f"{p[1] - NARROW},{p[0] - NARROW},{p[1] + NARROW},{p[0] + NARROW}"
        for p in (VALIDATED_AT, PENDING_AT, DELETED_AT, SITE_AT)
    ]
    since = "2000-01-01T00:00:00Z"
    query = {
        **{name: values[:1] for name, values in every_id.items()},
        "zone_id": every_id["zone_id"],
        "cd_nom": [str(PEREGRINE)],
        "bbox": [*narrow, WIDE_BBOX],
        "updated_since": [since],
        "since": [since],
        "year": [str(YEAR)],
        "from_year": [str(YEAR)],
        "to_year": [str(YEAR)],
        "q": ["pelerin"],
        "kind": ["commune", "nest_site"],
    }
    return World(
        observer=observer,
        other=other,
        ecologist=ecologist,
        peregrine_id=str(peregrine.id),
        fill=Fill(path=every_id, query=query),
        observations=observations,
        photo_ids=photo_ids,
        site_id=site.json()["id"],
        visit_id=visit.json()["id"],
    )


def zones_holding(session: Session, point: Point) -> list[tuple[str, float]]:
    """``(zone id, radius)`` of every zone holding ``point``; the radius from the zone's
    centroid to its farthest vertex, as a commune blur is measured."""
    found = []
    for zone in session.exec(select(Zone)):
        geometry = shape(json.loads(zone.geometry))
        if geometry.contains(ShapelyPoint(point[1], point[0])):
            centre = geometry.centroid
            radius = max(
                metres((centre.y, centre.x), (lat, lon))
                for lon, lat in shapely.get_coordinates(geometry.boundary)
            )
            found.append((str(zone.id), radius))
    return found


def other_records(session: Session, settings: Settings, world: World) -> list[Point]:
    """Where the public may see observations the setup did not make: tests on a committing
    engine leave some behind. Their exact position if their species is not sensitive, else the
    centre their species' generalisation gives."""
    rows = session.exec(
        select(
            Observation.latitude, Observation.longitude, Species.sensitive, Species.generalisation
        )
        .join(Species, col(Species.id) == col(Observation.species_id))
        .where(col(Observation.observer_id) != world.observer.id)
    ).all()
    points: list[Point] = []
    for latitude, longitude, sensitive, generalisation in rows:
        if not sensitive:
            points.append((latitude, longitude))
        else:
            points.append(
                public_centre(session, settings, (latitude, longitude), generalisation)[0]
            )
    return points


def build_rule(session: Session, settings: Settings, world: World, level: str) -> Rule:
    secrets: list[Secret] = []
    allowed = zone_reference_points(session) + other_records(session, settings, world)
    named = {**world.observations, "site": (world.site_id, SITE_AT)}
    for name, (row_id, point) in named.items():
        centre, radius, corners = public_centre(session, settings, point, level)
        ids = (row_id,) + ((world.photo_ids[name],) if name in world.photo_ids else ())
        if name == "site":
            ids = (world.site_id, world.visit_id)
        # (A metre's margin: the commune a point is blurred to is not finer than itself.)
        zones = tuple(z for z, r in zones_holding(session, point) if r < radius - 1)
        secrets.append(Secret(f"{name} {PEREGRINE}", point, centre, radius, ids, zones))
        allowed += [centre, *corners]
    # The setup itself must not let a leak pass as an allowed position.
    for secret in secrets:
        nearest = min(metres(secret.point, a) for a in allowed)
        assert nearest > 50, f"{secret.name} is {nearest:.0f} m from an allowed position"
        assert metres(secret.point, CONTROL_AT) > secret.radius_m
        for other in secrets:
            lat, lon = other.centre
            inside = abs(lat - secret.point[0]) <= NARROW and abs(lon - secret.point[1]) <= NARROW
            assert not inside, f"the narrow box around the {secret.name} holds a public centre"
    return Rule(secrets=secrets, allowed=allowed)


# --- the walk ---------------------------------------------------------------------------------


@dataclass
class Walk:
    leaks: list[str] = field(default_factory=list)
    # A secret placed by a zone finer than its blur (see test_no_route_places_...).
    zone_leaks: list[str] = field(default_factory=list)
    requests: int = 0
    points_seen: list[Point] = field(default_factory=list)
    images: int = 0
    routes: set[str] = field(default_factory=set)
    # (viewer, route) -> the status of its last answer
    statuses: dict[tuple[str, str], int] = field(default_factory=dict)


def _narrow_secret(params: Mapping[str, str], rule: Rule) -> Secret | None:
    bbox = params.get("bbox")
    if bbox is None:
        return None
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox.split(","))
    for secret in rule.secrets:
        lat, lon = secret.point
        if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon and max_lat - min_lat < 0.01:
            return secret
    return None


def walk(
    client: TestClient,
    document: Mapping[str, Any],
    fill: Fill,
    rule: Rule,
    viewers: Mapping[str, dict[str, str]],
) -> Walk:
    calls, unknown = plan_calls(document, fill)
    assert unknown == [], (
        "The leak walker cannot call these routes: teach it the parameters (World.fill) so "
        "that they are scanned too:\n" + "\n".join(unknown)
    )
    result = Walk()
    for viewer, headers in viewers.items():
        for call in calls:
            params = dict(call.params)
            for _page in range(MAX_PAGES):
                response = client.get(
                    "http://testserver" + call.url, params=params, headers=headers
                )
                result.requests += 1
                result.routes.add(call.route)
                result.statuses[(viewer, call.route)] = response.status_code
                where = f"{viewer}: GET {call.url}{_query(params)} -> {response.status_code}"
                assert response.status_code < 500, f"{where}: {response.text[:300]}"
                found = scan_response(response, where)
                result.leaks += found.problems + rule.leaks(found)
                result.points_seen += [p for p, _ in found.points]
                result.images += found.images
                text = response.content.decode("utf-8", "replace")
                secret = _narrow_secret(params, rule)
                if secret is not None:
                    named = [i for i in secret.ids if i in text and i not in call.url]
                    if named:
                        result.leaks.append(f"{where}: a narrow box names the {secret.name}")
                result.zone_leaks += _zone_leaks(response, text, params, call.url, rule, where)
                cursor = _next_cursor(response) if call.follows_cursor else None
                if cursor is None:
                    break
                params = {**params, "cursor": cursor}
            else:
                result.leaks.append(f"{viewer}: GET {call.url}: more than {MAX_PAGES} pages")
    return result


def walk_after(
    client: TestClient,
    document: Mapping[str, Any],
    session: Session,
    settings: Settings,
    world: World,
    changes: list[dict[str, Any]],
    walks: dict[str, tuple[Rule, Walk]],
) -> tuple[Rule, Walk]:
    """The ecologist's ``changes`` made, the rule they give and the walk under it: walked
    once per set of changes, the rule rebuilt by every test and checked to be the walked one."""
    level = "grid_10km"
    for change in changes:
        moved = client.patch(
            f"/species/{world.peregrine_id}",
            json=change,
            headers=auth_headers(world.ecologist, settings),
        )
        assert moved.status_code == 200, moved.text
        level = moved.json()["generalisation"]
    rule = build_rule(session, settings, world, level)
    key = json.dumps(changes, sort_keys=True)
    if key not in walks:
        viewers = {"anonymous": {}, "sentinel B": auth_headers(world.other, settings)}
        walks[key] = (rule, walk(client, document, world.fill, rule, viewers))
    walked_rule, result = walks[key]
    assert walked_rule == rule, "the same changes must give the same rule"
    return rule, result


def _zone_leaks(
    response: Any, text: str, params: Mapping[str, str], url: str, rule: Rule, where: str
) -> list[str]:
    """A secret's record together with a zone finer than its blur: in the same JSON object
    (an observation's ``zone_id``), or answering a request filtered on that zone."""
    out = []
    for secret in rule.secrets:
        if not secret.zones or not any(i in text for i in secret.ids):
            continue
        found_by_filter = any(i in text for i in secret.ids if i not in url)
        if found_by_filter and set(params.values()) & set(secret.zones):
            out.append(f"{where}: filtering on a zone finer than its blur finds the {secret.name}")
        if "json" in response.headers.get("content-type", ""):
            for obj in _objects(response.json()):
                values = {str(v) for v in obj.values() if isinstance(v, str)}
                if values & set(secret.ids) and values & set(secret.zones):
                    out.append(
                        f"{where}: the {secret.name} is named with a zone finer than its blur"
                    )
    return out


def _objects(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _query(params: Mapping[str, str]) -> str:
    return "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""


def _next_cursor(response: Any) -> str | None:
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    body = response.json()
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def _seen(points: Sequence[Point], target: Point) -> bool:
    return any(metres(p, target) <= SAME_PLACE_M for p in points)


@pytest.mark.parametrize("changes", list(CHANGES.values()), ids=list(CHANGES))
def test_no_route_shows_a_sensitive_position_more_precisely_than_allowed(
    client: TestClient,
    document: dict[str, Any],
    session: Session,
    settings: Settings,
    world: World,
    changes: list[dict[str, Any]],
    walks: dict[str, tuple[Rule, Walk]],
) -> None:
    viewers = ("anonymous", "sentinel B")

    rule, result = walk_after(client, document, session, settings, world, changes, walks)

    assert result.leaks == [], "\n".join(result.leaks[:50])
    # The walk did look where positions are: the validated observation at its public centre,
    # the non-sensitive control at its exact point, the photos' bytes.
    (validated,) = [s for s in rule.secrets if s.name.startswith("validated")]
    assert _seen(result.points_seen, validated.centre)
    assert _seen(result.points_seen, CONTROL_AT)
    assert result.images >= 3 * len(viewers)  # full, large, small of the validated photo
    assert "/api/v1/observations" in result.routes
    assert result.requests > 100
    # The exports are staff's: the walker's callers are refused them outright...
    exports = sorted(r for r in result.routes if r.startswith("/api/v1/exports/"))
    assert len(exports) == 4
    assert {result.statuses[("anonymous", r)] for r in exports} == {401}
    assert {result.statuses[("sentinel B", r)] for r in exports} == {403}
    # ...and the one export for anyone, the command line's ``--public``, keeps the rule.
    assert public_export_leaks(client, rule) == []


def public_export_leaks(client: TestClient, rule: Rule) -> list[str]:
    """What ``sentinelles export --public`` writes in each format, scanned as a response."""
    app: Any = client.app
    leaks: list[str] = []
    for kind in exports_service.ExportFormat:
        export = exports_service.export(
            kind,
            app.state.db,
            app.state.settings,
            viewer=None,
            filters=export_filters(ObservationFilters()),
            base_url="http://testserver",
        )
        body = b"".join(export.pieces)
        found = scan_response(_Response(export.media_type, body), f"public {kind} export")
        leaks += found.problems + rule.leaks(found)
    return leaks


@pytest.mark.parametrize("changes", [[], [{"generalisation": "commune"}]], ids=["10km", "commune"])
def test_no_route_places_a_sensitive_observation_in_a_zone_finer_than_its_blur(
    client: TestClient,
    document: dict[str, Any],
    session: Session,
    settings: Settings,
    world: World,
    changes: list[dict[str, Any]],
    walks: dict[str, tuple[Rule, Walk]],
) -> None:
    """A zone id is a place: a commune says more than a 10 km cell, a slag heap more than any
    blur. Neither may come with a generalised observation, nor find it as a filter."""
    rule, result = walk_after(client, document, session, settings, world, changes, walks)

    assert all(secret.zones for secret in rule.secrets if secret.name.startswith("validated"))

    assert result.leaks == [], "\n".join(result.leaks[:50])
    assert result.zone_leaks == [], "\n".join(result.zone_leaks[:20])


def test_the_observer_and_staff_do_see_the_exact_points(
    client: TestClient, settings: Settings, world: World
) -> None:
    """The other side of the rule, so that the walk is known to pass for the right reason."""
    observation_id, point = world.observations["validated"]
    for user in (world.observer, world.ecologist):
        body = client.get(
            f"/observations/{observation_id}", headers=auth_headers(user, settings)
        ).json()
        assert (body["latitude"], body["longitude"]) == point


# --- the walker's own checks ------------------------------------------------------------------


def _rule_around(point: Point, radius: float, allowed: Sequence[Point] = ()) -> Rule:
    return Rule([Secret("nest", point, (0.0, 0.0), radius)], list(allowed))


class _Response:
    def __init__(self, content_type: str, body: bytes) -> None:
        self.headers = {"content-type": content_type}
        self.content = body


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"items": [{"latitude": 50.463, "longitude": 2.77}]})),
        ("application/json", json.dumps({"position": {"lat": "50.4630", "lng": "2.7700"}})),
        ("application/json", json.dumps({"exif_latitude": 50.46301, "exif_longitude": 2.77})),
        (
            "application/geo+json",
            json.dumps({"type": "Point", "coordinates": [2.7700, 50.4630]}),
        ),
        ("application/json", json.dumps({"where": "POINT(2.77 50.463)"})),
        ("application/json", json.dumps({"bbox": [2.769, 50.462, 2.771, 50.464]})),
        (
            "application/json",
            json.dumps(
                {"next_cursor": base64.urlsafe_b64encode(b"[50.463,2.77]").decode().rstrip("=")}
            ),
        ),
        ("text/csv", "id,latitude,longitude\nabc,50.463,2.770\n"),
        ("text/csv; charset=utf-8", "id;lat;lon\nabc;50,46;2,77\n"),  # rounded, French
        ("text/plain", "le nid est à 50.4630 N 2.7700 E"),
    ],
)
def test_the_scanner_finds_a_leaked_position(content_type: str, body: str) -> None:
    found = scan_response(_Response(content_type, body.encode()), "test")

    assert _rule_around(VALIDATED_AT, 707.1).leaks(found), found.points


def test_the_scanner_lets_allowed_and_distant_positions_pass() -> None:
    centre = (50.4601, 2.7689)
    body = json.dumps(
        {
            "centre": {"latitude": centre[0], "longitude": centre[1]},
            "control": {"latitude": CONTROL_AT[0], "longitude": CONTROL_AT[1]},
            "count": [3, 4],
            "accuracy_m": 7071.1,
        }
    ).encode()

    found = scan_response(_Response("application/json", body), "test")

    assert _rule_around(VALIDATED_AT, 7071.1, [centre]).leaks(found) == []
    assert _seen([p for p, _ in found.points], centre)


def test_the_scanner_finds_gps_in_an_image_and_unreadable_bodies() -> None:
    leaky = scan_response(_Response("image/jpeg", jpeg_at(VALIDATED_AT, (1, 2, 3))), "photo")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="JPEG")
    clean = scan_response(_Response("image/jpeg", out.getvalue()), "photo")
    binary = scan_response(_Response("application/octet-stream", b"\x00\x01"), "blob")

    assert any("EXIF GPS" in p for p in leaky.problems)
    assert any("XMP" in p for p in leaky.problems)
    assert clean.problems == [] and clean.images == 1
    assert binary.problems


def test_the_scanner_reads_zip_archives() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("observations.csv", "id,lat,lon\nx,50.4630,2.7700\n")
    found = scan_response(_Response("application/zip", out.getvalue()), "export")

    assert _rule_around(VALIDATED_AT, 707.1).leaks(found)


def test_a_route_the_walker_cannot_fill_fails_the_walk() -> None:
    document = {
        "paths": {
            "/api/v1/observations/{observation_id}": {
                "get": {"parameters": [{"name": "observation_id", "in": "path"}]}
            },
            "/api/v1/nests/{nest_id}": {"get": {"parameters": [{"name": "nest_id", "in": "path"}]}},
            "/api/v1/stats/by-cell": {
                "get": {
                    "parameters": [
                        {"name": "cell", "in": "query", "required": True, "schema": {}},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "anyOf": [{"$ref": "#/components/schemas/S"}, {"type": "null"}]
                            },
                        },
                        {"name": "mine", "in": "query", "schema": {"type": "boolean"}},
                    ]
                }
            },
        },
        "components": {"schemas": {"S": {"enum": ["a", "b"]}}},
    }
    fill = Fill(path={"observation_id": ["o1", "o2"]}, query={})

    calls, unknown = plan_calls(document, fill)

    assert unknown == [
        "GET /api/v1/nests/{nest_id}: path parameter(s) nest_id",
        "GET /api/v1/stats/by-cell: required query parameter cell",
    ]
    assert [c.url for c in calls if "observations" in c.url] == [
        "/api/v1/observations/o1",
        "/api/v1/observations/o2",
    ]
    assert [c.params for c in calls if "by-cell" in c.url] == [
        {},
        {"status": "a"},
        {"status": "b"},
        {"mine": "true"},
    ]
