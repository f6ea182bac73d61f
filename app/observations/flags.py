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

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pyproj import Geod
from sqlalchemy import extract, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.core.cache import database_key
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


def forget_profiles() -> None:
    with _profiles_lock:
        _profiles.clear()


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
    """What the rules look at in an observation."""

    observer_id: uuid.UUID
    species: Species
    observed_at: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None
    count: int
    id: uuid.UUID | None = None


def flags_of(
    session: Session, settings: Settings, sightings: Sequence[Sighting]
) -> list[list[str]]:
    """The flags of each sighting (of one observer), in order. A sighting sent earlier in the
    same batch counts as a duplicate's original like a stored one. The stored candidates for
    duplicates come in one query for the whole batch."""
    if not sightings:
        return []
    index = get_zone_index(session, settings)
    territory = set(settings.territory_codes)
    stored = _stored_neighbours(session, settings, sightings)
    answers: list[list[str]] = []
    for i, sighting in enumerate(sightings):
        flags: list[str] = []
        species = sighting.species
        profile = species_profile(session, settings, species.id)
        local_month = sighting.observed_at.astimezone(settings.tz).month
        if local_month not in season_months(profile, species.group, settings):
            flags.append(Flag.out_of_season.value)
        if territory and not index.codes_at(sighting.longitude, sighting.latitude) & territory:
            flags.append(Flag.outside_territory.value)
        if (
            profile.validated >= settings.flag_min_validated
            and profile.p99_count is not None
            and sighting.count > settings.flag_high_count_factor * profile.p99_count
        ):
            flags.append(Flag.high_count.value)
        if sighting.accuracy_m is not None and sighting.accuracy_m > settings.flag_poor_accuracy_m:
            flags.append(Flag.poor_location.value)
        earlier = [(o.species.id, o.latitude, o.longitude, o.observed_at) for o in sightings[:i]]
        others = [(sp, lat, lon, at) for sp, lat, lon, at, id_ in stored if id_ != sighting.id]
        if any(
            species_id == species.id and _near(settings, sighting, lat, lon, at)
            for species_id, lat, lon, at in earlier + others
        ):
            flags.append(Flag.probable_duplicate.value)
        answers.append(flags)
    return answers


def _near(settings: Settings, a: Sighting, b_lat: float, b_lon: float, b_at: datetime) -> bool:
    window = timedelta(minutes=settings.flag_duplicate_minutes)
    return abs(a.observed_at - b_at) <= window and (
        distance_m(a.latitude, a.longitude, b_lat, b_lon) <= settings.flag_duplicate_distance_m
    )


def _stored_neighbours(
    session: Session, settings: Settings, sightings: Sequence[Sighting]
) -> list[tuple[uuid.UUID, float, float, datetime, uuid.UUID]]:
    """The observer's stored observations of the batch's species around the batch's times:
    ``(species_id, latitude, longitude, observed_at, id)``."""
    window = timedelta(minutes=settings.flag_duplicate_minutes)
    times = [s.observed_at for s in sightings]
    statement = sa_select(
        col(Observation.species_id),
        col(Observation.latitude),
        col(Observation.longitude),
        col(Observation.observed_at),
        col(Observation.id),
    ).where(
        col(Observation.observer_id) == sightings[0].observer_id,
        col(Observation.observed_at) >= min(times) - window,
        col(Observation.observed_at) <= max(times) + window,
        col(Observation.species_id).in_({s.species.id for s in sightings}),
        col(Observation.deleted_at).is_(None),
    )
    return [(sp, lat, lon, at, id_) for sp, lat, lon, at, id_ in session.execute(statement)]
