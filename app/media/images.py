"""Turn an uploaded photo into the JPEG files we serve, and refuse what is not a photo.

Every served file is rebuilt from decoded pixels, so nothing of the upload's metadata (EXIF,
GPS, maker notes, XMP, comments, ICC profile) can leak into it. The ICC profile is dropped
rather than converted: phone photos are sRGB or close to it (Display P3 pictures look slightly
less saturated), and colour management is not worth a second full-size pass over the pixels.

The format is recognised by decoding, never by file name or declared type. The pixel count is
checked from the header before anything is decoded, so a decompression bomb costs nothing.
The photo is decoded once, at full size; the thumbnails are reduced from it (JPEG draft mode
cannot help here since the full size is re-encoded at its own resolution anyway).

GPS position and capture time are read from EXIF before it is discarded: the observer's app
may propose them, nobody else sees them.

This module is pure (no database, no web framework): ``process_photo`` is safe to call from
several threads at once; Pillow releases the GIL while it decodes, resizes and encodes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO
from typing import Any, BinaryIO, cast

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from PIL.TiffImagePlugin import IFDRational

from app.core.errors import AppError, PayloadTooLarge, Unprocessable, UnsupportedMediaType

# Load every Pillow plugin now rather than on the first concurrent upload, then add HEIF.
Image.init()
pillow_heif.register_heif_opener()

SIZES = {"large": 1600, "small": 400}

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
# Phone JPEGs carrying a second picture (depth map, preview) open as Pillow's "MPO".
_SOURCE_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "HEIF"}

FULL_QUALITY = 85
LARGE_QUALITY = 85
SMALL_QUALITY = 80
# libjpeg refuses wider or taller images; a longer panorama is scaled down to fit.
JPEG_MAX_SIDE = 65_500
WHITE = (255, 255, 255)
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ProcessedPhoto:
    width: int  # of the upright full-size image served
    height: int
    full: bytes  # re-encoded JPEG, no metadata at all
    large: bytes  # long side 1600 (not upscaled: same as full size if smaller)
    small: bytes  # long side 400
    media_type: str  # "image/jpeg"
    source_format: str  # "JPEG" | "PNG" | "WEBP" | "HEIF"
    gps_latitude: float | None  # from EXIF GPS, decimal degrees, None when absent/invalid
    gps_longitude: float | None
    taken_at: datetime | None  # EXIF DateTimeOriginal: aware with OffsetTimeOriginal, else naive


class PhotoRejected(AppError):
    """An upload that is not a photo we can serve; each subclass carries its HTTP status."""

    default_detail = "The file is not a photo we can use."

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail or self.default_detail, **kw)


class EmptyPhoto(PhotoRejected, UnsupportedMediaType):
    status, code, title = 415, "photo.empty", "Unsupported media type"
    default_detail = "The file is empty."


class NotAnImage(PhotoRejected, UnsupportedMediaType):
    status, code, title = 415, "photo.not_an_image", "Unsupported media type"
    default_detail = "The file is not a JPEG, PNG, WebP or HEIC/HEIF image."


class UndecodablePhoto(PhotoRejected, Unprocessable):
    status, code, title = 422, "photo.undecodable", "Unprocessable content"
    default_detail = "The image is damaged or truncated and cannot be decoded."


class TooManyPixels(PhotoRejected, Unprocessable):
    status, code, title = 422, "photo.too_many_pixels", "Unprocessable content"
    default_detail = "The image has too many pixels."


class PhotoTooLarge(PhotoRejected, PayloadTooLarge):
    status, code, title = 413, "photo.too_large", "Payload too large"
    default_detail = "The file is too large."


def process_photo(source: BinaryIO, *, max_bytes: int, max_pixels: int) -> ProcessedPhoto:
    """Validate, decode once, and re-encode a photo as full-size, large and small JPEGs.

    Reads at most ``max_bytes + 1`` bytes from ``source``, so an oversized upload is refused
    without being held in memory whole. Raises a ``PhotoRejected`` subclass for anything that
    is not a usable photo, and nothing else for bad input.
    """
    data = _read_at_most(source, max_bytes + 1)
    if len(data) > max_bytes:
        raise PhotoTooLarge(f"The file is larger than {_human_bytes(max_bytes)}.")
    if not data:
        raise EmptyPhoto()

    image = _open(data, max_pixels=max_pixels)
    try:
        return _process(image)
    finally:
        image.close()


def _read_at_most(source: BinaryIO, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes: a raw stream may return less than asked per read."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = source.read(min(_READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _human_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    if size >= 1024:
        return f"{size / 1024:g} KB"
    return f"{size} bytes"


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    """Identify the image from its header (lazy: no pixel is decoded) and vet its size."""
    try:
        image = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels(f"The image has more than {max_pixels:,} pixels.") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImage() from exc
    except MemoryError:
        raise
    except Exception as exc:
        # A plugin recognised the signature, then choked on what follows it.
        raise UndecodablePhoto() from exc

    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise UndecodablePhoto()
    if width * height > max_pixels:
        image.close()
        raise TooManyPixels(
            f"The image has {width * height:,} pixels ({width}×{height}); "
            f"the limit is {max_pixels:,}."
        )
    return image


def _process(image: Image.Image) -> ProcessedPhoto:
    source_format = _SOURCE_FORMATS.get(image.format or "", image.format or "")
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels() from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise UndecodablePhoto() from exc

    latitude, longitude, taken_at = _read_metadata(image)

    try:
        ImageOps.exif_transpose(image, in_place=True)
    except MemoryError:
        raise
    except Exception:
        # Unreadable EXIF: keep the pixels as stored rather than refusing the photo.
        pass

    try:
        full = _to_rgb(image)
    except MemoryError:
        raise
    except Exception as exc:
        raise UndecodablePhoto() from exc
    # resize(), convert() and transpose() copy .info; the JPEG encoder would write its comment.
    full.info = {}

    if max(full.size) > JPEG_MAX_SIDE:
        full = _shrink(full, JPEG_MAX_SIDE)
    large = _shrink(full, SIZES["large"], reducing_gap=1.0)
    small = _shrink(large, SIZES["small"])

    full_bytes = _encode(full, FULL_QUALITY)
    large_bytes = full_bytes if large is full else _encode(large, LARGE_QUALITY)
    return ProcessedPhoto(
        width=full.width,
        height=full.height,
        full=full_bytes,
        large=large_bytes,
        small=_encode(small, SMALL_QUALITY),
        media_type="image/jpeg",
        source_format=source_format,
        gps_latitude=latitude,
        gps_longitude=longitude,
        taken_at=taken_at,
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB, transparency flattened onto white (JPEG has no alpha)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        # convert("L") would clip 16-bit values at 255 instead of scaling them.
        image = image.convert("I").point(lambda v: v / 257).convert("L")
    elif mode in ("I", "F"):
        low, high = cast(tuple[float, float], image.getextrema())
        if low < 0 or high > 255:
            scale = 255 / (high - low) if high > low else 0
            image = image.point(lambda v: v * scale - low * scale)
        image = image.convert("L")

    has_alpha = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _shrink(image: Image.Image, long_side: int, *, reducing_gap: float = 2.0) -> Image.Image:
    """Scale down so the long side is ``long_side``; never up, never below 1 px.

    ``reducing_gap`` lets Pillow first average whole blocks of pixels (cheap) and run the
    Lanczos filter on what is left; 1.0 halves the time of the 12 MP -> 1600 px step and
    differs from a plain Lanczos by less than one level in 255 on average.
    """
    width, height = image.size
    if max(width, height) <= long_side:
        return image
    scale = long_side / max(width, height)
    size = (
        long_side if width >= height else max(1, round(width * scale)),
        long_side if height > width else max(1, round(height * scale)),
    )
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)


def _encode(image: Image.Image, quality: int) -> bytes:
    """JPEG with nothing but pixels: no exif, icc_profile, xmp or comment is passed or kept."""
    out = BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False, progressive=False)
    return out.getvalue()


# --- EXIF -----------------------------------------------------------------------------------

_DATETIME = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_GPS_STATUS = 0x0009
_OFFSET_TIME_ORIGINAL = 0x9011
_SUBSEC_TIME_ORIGINAL = 0x9291


def _read_metadata(image: Image.Image) -> tuple[float | None, float | None, datetime | None]:
    """GPS position and capture time, or None for whatever is missing or does not make sense."""
    try:
        exif = image.getexif()
    except MemoryError:
        raise
    except Exception:
        return None, None, None
    try:
        latitude, longitude = _gps(exif.get_ifd(ExifTags.IFD.GPSInfo))
    except MemoryError:
        raise
    except Exception:
        latitude = longitude = None
    try:
        taken_at = _taken_at(exif.get_ifd(ExifTags.IFD.Exif))
    except MemoryError:
        raise
    except Exception:
        taken_at = None
    return latitude, longitude, taken_at


def _gps(gps: Mapping[int, Any]) -> tuple[float | None, float | None]:
    if _text(gps.get(_GPS_STATUS)) == "V":  # "measurement void": the receiver had no fix
        return None, None
    latitude = _coordinate(
        gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "N", "S", 90
    )
    longitude = _coordinate(
        gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "E", "W", 180
    )
    if latitude is None or longitude is None:
        return None, None
    if latitude == 0 and longitude == 0:  # what cameras write when they have no position
        return None, None
    return latitude, longitude


def _coordinate(value: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    hemisphere = _text(ref)
    if hemisphere not in (positive, negative):
        return None
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [_number(part) for part in parts]
    if any(n is None or n < 0 for n in numbers):
        return None
    degrees, minutes, seconds = ([n for n in numbers if n is not None] + [0.0, 0.0])[:3]
    if minutes >= 60 or seconds >= 60:
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(decimal) or decimal > limit:
        return None
    return round(-decimal if hemisphere == negative else decimal, 7)


def _number(value: Any) -> float | None:
    if isinstance(value, IFDRational):
        if value.denominator == 0:
            return None
        result = float(value)
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int | float):
        result = float(value)
    elif (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        if value[1] == 0:
            return None
        result = value[0] / value[1]
    else:
        return None
    return result if math.isfinite(result) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 \t\r\n").upper()


def _taken_at(exif_ifd: Mapping[int, Any]) -> datetime | None:
    raw = _text(exif_ifd.get(ExifTags.Base.DateTimeOriginal))
    if raw is None:
        return None
    match = _DATETIME.match(raw)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None

    subsec = _text(exif_ifd.get(_SUBSEC_TIME_ORIGINAL))
    if subsec and subsec.isdigit():
        moment = moment.replace(microsecond=int(subsec[:6].ljust(6, "0")))

    offset = _text(exif_ifd.get(_OFFSET_TIME_ORIGINAL))
    match = _OFFSET.fullmatch(offset) if offset else None
    if match is not None:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta <= timedelta(hours=18) and int(minutes) < 60:
            moment = moment.replace(tzinfo=timezone(-delta if sign == "-" else delta))
    return moment
