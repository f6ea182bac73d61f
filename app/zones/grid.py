"""The Lambert-93 grid (EPSG:2154) French atlases and the SINP use to blur sensitive positions.

A position is generalised to the centre of the grid cell holding it; the cell is named by its
lower-left corner in units of the cell size (``10kmL93E068N704``). Pure functions: no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pyproj import Transformer

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

    @property
    def half_diagonal_m(self) -> float:
        return self.size_m * math.sqrt(2) / 2


def cell_of(latitude: float, longitude: float, size_m: int = CELL_10KM) -> Cell:
    """The grid cell of ``size_m`` metres holding a WGS 84 point."""
    return _cell_of(round(latitude, 7), round(longitude, 7), size_m)


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
    return Cell(code=code, size_m=size_m, x0=x0, y0=y0, latitude=lat_c, longitude=lon_c)


def generalise(
    latitude: float, longitude: float, size_m: int = CELL_10KM
) -> tuple[float, float, float]:
    """``(latitude, longitude, accuracy_m)`` of the cell's centre and its half-diagonal."""
    cell = cell_of(latitude, longitude, size_m)
    return cell.latitude, cell.longitude, round(cell.half_diagonal_m, 1)
