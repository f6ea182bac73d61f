"""The Lambert-93 grid used to blur sensitive positions (pure functions, no database)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from app.zones.grid import CELL_1KM, CELL_10KM, cell_of, generalise, to_lambert93, to_wgs84

WGS84 = Geod(ellps="WGS84")
HALF_DIAGONAL_10KM = 10_000 * math.sqrt(2) / 2

metropolitan_lat = st.floats(min_value=41.3, max_value=51.1, allow_nan=False)
metropolitan_lon = st.floats(min_value=-5.2, max_value=9.6, allow_nan=False)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    _, _, metres = WGS84.inv(lon1, lat1, lon2, lat2)
    return float(metres)


@pytest.mark.parametrize(
    ("latitude", "longitude", "code"),
    [
        (50.47, 2.79, "10kmL93E068N704"),
        (50.44, 2.79, "10kmL93E068N703"),
    ],
)
def test_loos_points_fall_in_their_10km_cells(latitude: float, longitude: float, code: str) -> None:
    assert cell_of(latitude, longitude).code == code


def test_1km_cells_are_named_in_kilometres() -> None:
    cell = cell_of(50.47, 2.79, CELL_1KM)

    assert cell.code.startswith("1kmL93E0")
    assert cell.size_m == CELL_1KM
    # The 1 km cell lies inside its 10 km cell.
    big = cell_of(50.47, 2.79)
    assert big.x0 <= cell.x0 < big.x0 + CELL_10KM
    assert big.y0 <= cell.y0 < big.y0 + CELL_10KM


def test_generalise_returns_the_cell_centre_and_half_diagonal() -> None:
    latitude, longitude, accuracy = generalise(50.47, 2.79)
    cell = cell_of(50.47, 2.79)

    assert (latitude, longitude) == (cell.latitude, cell.longitude)
    assert accuracy == 7071.1
    x, y = to_lambert93(longitude, latitude)
    assert x == pytest.approx(cell.x0 + CELL_10KM / 2, abs=0.01)
    assert y == pytest.approx(cell.y0 + CELL_10KM / 2, abs=0.01)
    # Round trip: the centre's cell is the same cell.
    assert cell_of(latitude, longitude).code == cell.code == "10kmL93E068N704"


def test_lambert93_round_trip() -> None:
    x, y = to_lambert93(2.79, 50.47)

    lon, lat = to_wgs84(x, y)

    assert (lat, lon) == pytest.approx((50.47, 2.79), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(latitude=metropolitan_lat, longitude=metropolitan_lon)
def test_generalised_point_stays_in_its_cell_within_the_half_diagonal(
    latitude: float, longitude: float
) -> None:
    cell = cell_of(latitude, longitude)

    centre_lat, centre_lon, accuracy = generalise(latitude, longitude)

    assert accuracy == pytest.approx(HALF_DIAGONAL_10KM, abs=0.05)
    # The bound holds exactly in grid metres (checked next); on the ground, Lambert-93's scale
    # factor (at least 0.999 between its standard parallels) can stretch it by about 7 m.
    assert distance_m(latitude, longitude, centre_lat, centre_lon) <= accuracy + 1.0 + (
        accuracy * 0.0015
    )
    x, y = to_lambert93(longitude, latitude)
    cx, cy = to_lambert93(centre_lon, centre_lat)
    assert math.hypot(x - cx, y - cy) <= HALF_DIAGONAL_10KM + 1.0
    assert cell_of(centre_lat, centre_lon).code == cell.code


@settings(max_examples=300, deadline=None)
@given(
    latitude=st.floats(min_value=-90, max_value=90, allow_nan=False),
    longitude=st.floats(min_value=-180, max_value=180, allow_nan=False),
)
def test_any_point_on_earth_is_blurred_to_a_nearby_cell_centre(
    latitude: float, longitude: float
) -> None:
    """Outside Lambert-93's domain (a sensitive record from abroad, or the poles) the point is
    still generalised, to a degree cell of about the same size, never refused or left exact."""
    centre_lat, centre_lon, accuracy = generalise(latitude, longitude)

    assert math.isfinite(centre_lat) and math.isfinite(centre_lon)
    assert -90 <= centre_lat <= 90 and -180 <= centre_lon <= 180
    assert 0 < accuracy <= 8_000
    assert distance_m(latitude, longitude, centre_lat, centre_lon) <= accuracy * 1.01 + 1.0


def test_a_point_abroad_falls_in_a_degree_cell() -> None:
    cell = cell_of(-33.9, 151.2)

    assert cell.code.startswith("10kmWGS84")
    assert (cell.latitude, cell.longitude) == pytest.approx((-33.85, 151.15))
