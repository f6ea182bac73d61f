"""The Lambert-93 grid (EPSG:2154) French atlases and the SINP use to blur sensitive positions.

A position is generalised to the centre of the grid cell holding it; the cell is named by its
lower-left corner in units of the cell size (``10kmL93E068N704``). Pure functions: no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pyproj import Geod, Transformer

CELL_10KM = 10_000
CELL_1KM = 1_000


@lru_cache(maxsize=1)
def _to_l93() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


@lru_cache(maxsize=1)
def _to_wgs84() -> Transformer:
    return Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)


def to_lambert93(lon: float, lat: float) -> tuple[float, float]:
    x, y = _to_l93().transform(lon, lat)
    return float(x), float(y)


def to_wgs84(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs84().transform(x, y)
    return float(lon), float(lat)


@dataclass(frozen=True)
class Cell:
    code: str
    size_m: int
    x0: float
    y0: float
    # The centre, in WGS 84.
    latitude: float
    longitude: float
    # From the centre to a corner: the accuracy a generalised position is given.
    half_diagonal_m: float


# EPSG:2154's area of use; outside it the projection is meaningless (infinite at the poles).
L93_BOUNDS = (-9.86, 41.15, 10.38, 51.56)


def in_lambert93_domain(latitude: float, longitude: float) -> bool:
    min_lon, min_lat, max_lon, max_lat = L93_BOUNDS
    return min_lon <= longitude <= max_lon and min_lat <= latitude <= max_lat


def cell_of(latitude: float, longitude: float, size_m: int = CELL_10KM) -> Cell:
    """The grid cell of ``size_m`` metres holding a WGS 84 point.

    Outside metropolitan France (where Lambert-93 does not apply) the cell is one of a degree
    grid of about the same size (0.1° for 10 km), so a sensitive record from abroad is still
    blurred rather than refused.
    """
    latitude, longitude = round(latitude, 7), round(longitude, 7)
    if not in_lambert93_domain(latitude, longitude):
        return _degree_cell_of(latitude, longitude, size_m)
    return _cell_of(latitude, longitude, size_m)


_GEOD = Geod(ellps="WGS84")


def _degree_cell_of(latitude: float, longitude: float, size_m: int) -> Cell:
    step = size_m / 100_000
    rows, cols = round(180 / step), round(360 / step)
    # The poles and the antimeridian belong to the last row and column.
    j = min(math.floor((latitude + 90) / step), rows - 1)
    i = min(math.floor((longitude + 180) / step), cols - 1)
    lat0, lon0 = -90 + j * step, -180 + i * step
    lat_c, lon_c = lat0 + step / 2, lon0 + step / 2
    _, _, half_diagonal = _GEOD.inv(lon_c, lat_c, lon0, lat0)
    label = f"{size_m // 1000}km" if size_m >= 1000 else f"{size_m}m"
    return Cell(
        code=f"{label}WGS84C{i}R{j}",
        size_m=size_m,
        x0=lon0,
        y0=lat0,
        latitude=round(lat_c, 7),
        longitude=round(lon_c, 7),
        half_diagonal_m=float(half_diagonal),
    )


@lru_cache(maxsize=65536)
def _cell_of(latitude: float, longitude: float, size_m: int) -> Cell:
    x, y = to_lambert93(longitude, latitude)
    i, j = math.floor(x / size_m), math.floor(y / size_m)
    x0, y0 = i * size_m, j * size_m
    lon_c, lat_c = to_wgs84(x0 + size_m / 2, y0 + size_m / 2)
    label = f"{size_m // 1000}km" if size_m >= 1000 else f"{size_m}m"
    digits = 3 if size_m >= CELL_10KM else 4
    code = (
        f"{label}L93E{i * size_m // 10_000 if digits == 3 else i:0{digits}d}"
        f"N{j * size_m // 10_000 if digits == 3 else j:0{digits}d}"
    )
    return Cell(
        code=code,
        size_m=size_m,
        x0=x0,
        y0=y0,
        latitude=lat_c,
        longitude=lon_c,
        half_diagonal_m=size_m * math.sqrt(2) / 2,
    )


def generalise(
    latitude: float, longitude: float, size_m: int = CELL_10KM
) -> tuple[float, float, float]:
    """``(latitude, longitude, accuracy_m)`` of the cell's centre and its half-diagonal."""
    cell = cell_of(latitude, longitude, size_m)
    return cell.latitude, cell.longitude, round(cell.half_diagonal_m, 1)
