"""Plausibility flags: what makes a record worth a second look before it is validated.

Flags are computed when an observation arrives (and again when it is edited) and stored with it,
so that the review queue can filter on them without recomputing anything. They never refuse a
record: a swallow in February may be a real early bird, and the ecologist decides.

The rules, in an ecologist's words (see :data:`FLAGS`):

- ``out_of_season``: the species is not usually seen that month here. Once the species has
  ``flag_min_validated`` validated observations, its season is the months they fall in, widened
  by one month either side (phenology shifts from year to year); before that, the months its
  group is about (``season_months_by_group``), or all year for groups not listed.
- ``outside_territory``: the point lies outside the territory's communes.
- ``high_count``: the count is more than ``flag_high_count_factor`` times the species' 99th
  percentile of validated counts (once it has enough of them).
- ``poor_location``: the position is uncertain by more than ``flag_poor_accuracy_m`` metres.
- ``probable_duplicate``: the same observer already reported the same species within
  ``flag_duplicate_distance_m`` metres and ``flag_duplicate_minutes`` minutes.

A species' season and usual counts come from the database at most every
``flag_profile_seconds`` per process: they move slowly, and capture must stay fast.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from pyproj import Geod
from sqlalchemy import (
    CompoundSelect,
    Float,
    String,
    Uuid,
    bindparam,
    column,
    extract,
    func,
    text,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.core.cache import database_key
from app.core.db import UTCDateTime
from app.core.settings import Settings
from app.observations.models import Observation, ObservationStatus
from app.species.models import Species
from app.zones.index import get_zone_index


class Flag(StrEnum):
    out_of_season = "out_of_season"
    outside_territory = "outside_territory"
    high_count = "high_count"
    poor_location = "poor_location"
    probable_duplicate = "probable_duplicate"


@dataclass(frozen=True, slots=True)
class FlagInfo:
    label: str
    explanation: str


# French, as the CPIE's ecologists read them; the codes stay English and stable.
FLAGS: dict[str, FlagInfo] = {
    Flag.out_of_season: FlagInfo(
        "Hors saison",
        "L'espèce n'est habituellement pas observée ce mois-ci sur le territoire (d'après ses "
        "données validées, ou la saison de son groupe tant qu'elles sont trop peu nombreuses). "
        "Pour une visite de protocole : en dehors de la saison du protocole (nids d'avril à "
        "août, papillons de mars à octobre).",
    ),
    Flag.outside_territory: FlagInfo(
        "Hors territoire",
        "Le point est en dehors des communes du territoire suivi.",
    ),
    Flag.high_count: FlagInfo(
        "Effectif très élevé",
        "L'effectif dépasse de beaucoup ceux des observations validées de l'espèce (plus du "
        "double de la valeur que 99 % d'entre elles ne dépassent pas).",
    ),
    Flag.poor_location: FlagInfo(
        "Localisation imprécise",
        "La position est connue à plus d'un kilomètre près.",
    ),
    Flag.probable_duplicate: FlagInfo(
        "Doublon probable",
        "Le même observateur a déjà signalé la même espèce à moins de 50 m dans l'heure.",
    ),
}

_GEOD = Geod(ellps="WGS84")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    _, _, distance = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(distance)


# --- what a species' validated data say -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeciesProfile:
    """Enough validated data (``validated >= flag_min_validated``) or not; the months they fall
    in (local time, approximately: UTC months) and their 99th-percentile count."""

    validated: int
    months: frozenset[int]
    p99_count: int | None


_profiles: dict[tuple[str, uuid.UUID], tuple[float, SpeciesProfile]] = {}
_profiles_lock = threading.Lock()


def _read_profile(session: Session, species_id: uuid.UUID) -> SpeciesProfile:
    where = (
        col(Observation.species_id) == species_id,
        col(Observation.status) == ObservationStatus.validated.value,
        col(Observation.deleted_at).is_(None),
        col(Observation.count) > 0,
    )
    month = extract("month", col(Observation.observed_at))
    by_month = session.exec(select(month, func.count()).where(*where).group_by(month)).all()
    validated = sum(int(n) for _, n in by_month)
    p99 = None
    if validated:
        # The row below which 99 % of the counts lie: an ORDER BY on the species' rows only.
        offset = validated // 100
        p99 = session.exec(
            select(col(Observation.count))
            .where(*where)
            .order_by(col(Observation.count).desc())
            .offset(offset)
            .limit(1)
        ).first()
    return SpeciesProfile(
        validated=validated,
        months=frozenset(int(m) for m, _ in by_month if m is not None),
        p99_count=int(p99) if p99 is not None else None,
    )


def species_profile(session: Session, settings: Settings, species_id: uuid.UUID) -> SpeciesProfile:
    key = (database_key(session), species_id)
    now = time.monotonic()
    with _profiles_lock:
        cached = _profiles.get(key)
    if cached is not None and now - cached[0] < settings.flag_profile_seconds:
        return cached[1]
    profile = _read_profile(session, species_id)
    with _profiles_lock:
        if len(_profiles) > 10_000:
            _profiles.clear()
        _profiles[key] = (now, profile)
    return profile


# --- the rules -------------------------------------------------------------------------------


def season_months(profile: SpeciesProfile, group: str, settings: Settings) -> frozenset[int]:
    """The months the species is expected in: its own (widened by a month), or its group's."""
    if profile.validated >= settings.flag_min_validated:
        widened = {((m - 1 + d) % 12) + 1 for m in profile.months for d in (-1, 0, 1)}
        return frozenset(widened)
    months = settings.season_months_by_group.get(group)
    return frozenset(months) if months else frozenset(range(1, 13))


@dataclass(frozen=True, slots=True)
class Sighting:
    """What the rules look at in an observation. ``zone_codes``: the codes of every zone
    holding the point when the caller already placed it (``app.zones.service.places``), so
    that the point-in-polygon tests are not made twice; None to have them made here."""

    observer_id: uuid.UUID
    species: Species
    observed_at: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None
    count: int
    id: uuid.UUID | None = None
    zone_codes: frozenset[str] | None = None


def flags_of(
    session: Session, settings: Settings, sightings: Sequence[Sighting]
) -> list[list[str]]:
    """The flags of each sighting (of one observer), in order. A sighting sent earlier in the
    same batch counts as a duplicate's original like a stored one.

    The cost is O(n log n) in the batch (plus the candidates that do fall inside a window),
    whatever the observer stored: the stored candidates for duplicates come from a fixed few
    statements over the sightings' own time windows (:func:`_stored_neighbours`), and each
    sighting is compared only with the candidates of its species inside its window, found by
    bisection (:func:`_duplicates`)."""
    if not sightings:
        return []
    codes = _zone_codes(session, settings, sightings)
    territory = frozenset(settings.territory_codes)
    duplicates = _duplicates(settings, sightings, _stored_neighbours(session, settings, sightings))
    # Once per species and batch, even when profiles are not cached across requests.
    profiles = {
        species_id: species_profile(session, settings, species_id)
        for species_id in dict.fromkeys(s.species.id for s in sightings)
    }
    answers: list[list[str]] = []
    for sighting, sighting_codes, duplicate in zip(sightings, codes, duplicates, strict=True):
        flags: list[str] = []
        species = sighting.species
        profile = profiles[species.id]
        local_month = sighting.observed_at.astimezone(settings.tz).month
        if local_month not in season_months(profile, species.group, settings):
            flags.append(Flag.out_of_season.value)
        if territory and not sighting_codes & territory:
            flags.append(Flag.outside_territory.value)
        if (
            profile.validated >= settings.flag_min_validated
            and profile.p99_count is not None
            and sighting.count > settings.flag_high_count_factor * profile.p99_count
        ):
            flags.append(Flag.high_count.value)
        if sighting.accuracy_m is not None and sighting.accuracy_m > settings.flag_poor_accuracy_m:
            flags.append(Flag.poor_location.value)
        if duplicate:
            flags.append(Flag.probable_duplicate.value)
        answers.append(flags)
    return answers


def _zone_codes(
    session: Session, settings: Settings, sightings: Sequence[Sighting]
) -> list[frozenset[str]]:
    """Each sighting's zone codes: those its caller found, the others in one tree query."""
    missing = [i for i, s in enumerate(sightings) if s.zone_codes is None]
    found: dict[int, frozenset[str]] = {}
    if missing:
        index = get_zone_index(session, settings)
        points = [(sightings[i].longitude, sightings[i].latitude) for i in missing]
        found = dict(zip(missing, (p.codes for p in index.places_many(points)), strict=True))
    return [s.zone_codes if s.zone_codes is not None else found[i] for i, s in enumerate(sightings)]


# --- probable duplicates -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored observation that may be a duplicate's original."""

    species_id: uuid.UUID
    latitude: float
    longitude: float
    observed_at: datetime
    id: uuid.UUID


def _duplicates(
    settings: Settings, sightings: Sequence[Sighting], stored: Sequence[_Stored]
) -> list[bool]:
    """Whether each sighting has an original: a stored observation (other than itself) or a
    sighting earlier in the batch, of the same species, within the duplicate window in time
    and distance. Candidates are grouped by species and sorted by time; each sighting looks
    only at those inside its window, and measures a distance only for them."""
    window = timedelta(minutes=settings.flag_duplicate_minutes)
    # (time, position in the batch or -1 for a stored row, latitude, longitude, stored id)
    by_species: dict[uuid.UUID, list[tuple[datetime, int, float, float, uuid.UUID | None]]] = {}
    for row in stored:
        by_species.setdefault(row.species_id, []).append(
            (row.observed_at, -1, row.latitude, row.longitude, row.id)
        )
    for i, s in enumerate(sightings):
        by_species.setdefault(s.species.id, []).append(
            (s.observed_at, i, s.latitude, s.longitude, None)
        )
    times: dict[uuid.UUID, list[datetime]] = {}
    for species_id, candidates in by_species.items():
        candidates.sort(key=lambda c: c[0])
        times[species_id] = [c[0] for c in candidates]
    answers: list[bool] = []
    for i, s in enumerate(sightings):
        candidates = by_species[s.species.id]
        at = times[s.species.id]
        low = bisect_left(at, s.observed_at - window)
        high = bisect_right(at, s.observed_at + window)
        answers.append(
            any(
                (position < i if position >= 0 else stored_id != s.id)
                and distance_m(s.latitude, s.longitude, lat, lon)
                <= settings.flag_duplicate_distance_m
                for _, position, lat, lon, stored_id in candidates[low:high]
            )
        )
    return answers


def _windows(
    settings: Settings, sightings: Sequence[Sighting]
) -> list[tuple[uuid.UUID, datetime, datetime]]:
    """The time windows in which a stored observation may be an original, per species:
    each sighting's time ± the duplicate window, overlapping ones merged."""
    window = timedelta(minutes=settings.flag_duplicate_minutes)
    by_species: dict[uuid.UUID, list[datetime]] = {}
    for s in sightings:
        by_species.setdefault(s.species.id, []).append(s.observed_at)
    windows: list[tuple[uuid.UUID, datetime, datetime]] = []
    for species_id, instants in by_species.items():
        instants.sort()
        low, high = instants[0] - window, instants[0] + window
        for at in instants[1:]:
            if at - window <= high:
                high = at + window
            else:
                windows.append((species_id, low, high))
                low, high = at - window, at + window
        windows.append((species_id, low, high))
    return windows


_NEIGHBOUR_COLUMNS = (
    col(Observation.species_id),
    col(Observation.latitude),
    col(Observation.longitude),
    col(Observation.observed_at),
    col(Observation.id),
)

# SQLite: at most this many (species, window) ranges per statement; fewer are padded with empty
# ones to the next power of two, so that only seven statement texts exist: SQLAlchemy compiles
# each once and sqlite3 keeps each prepared.
MAX_ARMS = 64
_EMPTY_FROM = datetime(9999, 12, 31, tzinfo=UTC)
_EMPTY_TO = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def _neighbours_statement(arms: int) -> CompoundSelect[Any]:
    """``arms`` index range scans of ``(observer_id, species_id, observed_at)``, one per
    (species, window), as one UNION ALL."""
    selects = [
        sa_select(*_NEIGHBOUR_COLUMNS).where(
            col(Observation.observer_id) == bindparam("observer_id"),
            col(Observation.species_id) == bindparam(f"species_{k}"),
            col(Observation.observed_at) >= bindparam(f"from_{k}"),
            col(Observation.observed_at) <= bindparam(f"to_{k}"),
            col(Observation.deleted_at).is_(None),
        )
        for k in range(arms)
    ]
    return union_all(*selects)


# PostgreSQL: every window in one short statement of two parameters, the windows as a JSON
# array. psycopg caches the conversion of, and prepares, only statements under 4 kB and 50
# parameters, which a UNION ALL of many arms is not; and JSON text is dumped by the C encoder,
# where array parameters are quoted element by element. The LATERAL subquery is one index
# range scan of (observer_id, species_id, observed_at) per window, whatever the table's
# statistics say: its OFFSET 0 keeps the planner from flattening it into a join, which may
# hash every row of the observer.
_NEIGHBOURS_PG = (
    text(
        "SELECT o.species_id, o.latitude, o.longitude, o.observed_at, o.id "
        "FROM json_to_recordset(CAST(:windows AS json)) "
        "AS w (s uuid, f timestamptz, t timestamptz) "
        "CROSS JOIN LATERAL (SELECT species_id, latitude, longitude, observed_at, id "
        "FROM observation WHERE observer_id = :observer_id AND species_id = w.s "
        "AND observed_at >= w.f AND observed_at <= w.t AND deleted_at IS NULL "
        "OFFSET 0) AS o"
    )
    .bindparams(bindparam("observer_id", type_=Uuid), bindparam("windows", type_=String))
    .columns(
        column("species_id", Uuid),
        column("latitude", Float),
        column("longitude", Float),
        column("observed_at", UTCDateTime),
        column("id", Uuid),
    )
)


def _stored_neighbours(
    session: Session, settings: Settings, sightings: Sequence[Sighting]
) -> list[_Stored]:
    """The observer's stored observations that may be an original of one of the sightings:
    of their species, inside their windows. A few statements whatever the observer stored:
    one on PostgreSQL, one per ``MAX_ARMS`` windows on SQLite."""
    windows = _windows(settings, sightings)
    observer_id = sightings[0].observer_id
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        text_windows = json.dumps(
            [{"s": str(s), "f": f.isoformat(), "t": t.isoformat()} for s, f, t in windows]
        )
        rows = connection.execute(
            _NEIGHBOURS_PG, {"observer_id": observer_id, "windows": text_windows}
        )
        return [_Stored(*row) for row in rows]
    found: list[_Stored] = []
    for start in range(0, len(windows), MAX_ARMS):
        chunk = windows[start : start + MAX_ARMS]
        arms = 1 << (len(chunk) - 1).bit_length()
        padding = [(chunk[0][0], _EMPTY_FROM, _EMPTY_TO)] * (arms - len(chunk))
        arm_params: dict[str, Any] = {"observer_id": observer_id}
        for k, (species_id, low, high) in enumerate(chunk + padding):
            arm_params[f"species_{k}"] = species_id
            arm_params[f"from_{k}"] = low
            arm_params[f"to_{k}"] = high
        rows = connection.execute(_neighbours_statement(arms), arm_params)
        found.extend(_Stored(*row) for row in rows)
    return found
