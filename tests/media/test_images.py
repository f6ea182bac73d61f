"""Photo validation and re-encoding (pure functions, no database): every image is built here."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageFile
from PIL.TiffImagePlugin import IFDRational

from app.core.errors import AppError, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.media.images import (
    JPEG_MAX_SIDE,
    SIZES,
    EmptyPhoto,
    NotAnImage,
    PhotoRejected,
    PhotoTooLarge,
    ProcessedPhoto,
    TooManyPixels,
    UndecodablePhoto,
    process_photo,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000
RED = (220, 20, 20)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECRET_MAKERNOTE = b"SECRET-MAKERNOTE-serial-0xC0FFEE"
SECRET_COMMENT = b"secret comment: shot from my garden"
SECRET_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
    b"<dc:creator>Jeanne Secret</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def process(data: bytes, **limits: int) -> ProcessedPhoto:
    limits.setdefault("max_bytes", MAX_BYTES)
    limits.setdefault("max_pixels", MAX_PIXELS)
    return process_photo(io.BytesIO(data), **limits)


def encode(image: Image.Image, image_format: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=image_format, **params)
    return buf.getvalue()


def rational(value: float) -> IFDRational:
    return IFDRational(round(value * 10_000), 10_000)


def dms(decimal: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(decimal)
    minutes = int((decimal - degrees) * 60)
    seconds = (decimal - degrees - minutes / 60) * 3600
    return rational(degrees), rational(minutes), rational(seconds)


def phone_exif(
    *,
    orientation: int = 1,
    gps: dict[int, Any] | None = None,
    taken: str | None = "2024:05:17 14:32:10",
    offset: str | None = "+02:00",
) -> Image.Exif:
    """EXIF as a phone writes it: camera, orientation, GPS, capture time and a maker note."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Acme"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.Orientation] = orientation
    if gps is None:
        gps = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(50.4571),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(2.7852),
        }
    exif[ExifTags.IFD.GPSInfo] = gps
    exif_ifd: dict[int, Any] = {ExifTags.Base.MakerNote: SECRET_MAKERNOTE}
    if taken is not None:
        exif_ifd[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        exif_ifd[ExifTags.Base.OffsetTimeOriginal] = offset
    exif[ExifTags.IFD.Exif] = exif_ifd
    return exif


def upright_scene(width: int, height: int) -> Image.Image:
    """A picture whose top eighth is red and the rest textured green-blue (like a real photo)."""
    noise = Image.effect_noise((width // 4, height // 4), 50).resize((width, height))
    gradient = Image.linear_gradient("L").resize((width, height))
    scene = Image.merge("RGB", (noise.point(lambda v: v // 4), gradient, noise))
    scene.paste(RED, (0, 0, width, height // 8))
    return scene


def png_bomb(width: int, height: int) -> bytes:
    """A complete 1-bit PNG of ``width``×``height`` black pixels: a few hundred KB at most."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    rows_per_feed = max(1, 4_000_000 // len(row))
    idat = b""
    for start in range(0, height, rows_per_feed):
        idat += compressor.compress(row * min(rows_per_feed, height - start))
    idat += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# What a bare JPEG holds before its entropy-coded data: no APPn but JFIF's APP0, no COM.
PIXEL_MARKERS = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xE0}


def jpeg_header(data: bytes) -> tuple[bytes, set[int]]:
    """The bytes before the first scan, and the markers of the segments found there."""
    assert data[:2] == b"\xff\xd8"
    markers: set[int] = set()
    position = 2
    while data[position] == 0xFF and data[position + 1] != 0xDA:
        markers.add(data[position + 1])
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    assert data[position : position + 2] == b"\xff\xda"
    return data[:position], markers


def assert_metadata_free(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    for key in ("exif", "comment", "xmp", "XML:com.adobe.xmp", "icc_profile", "photoshop"):
        assert key not in image.info
    assert len(image.getexif()) == 0
    header, markers = jpeg_header(data)
    assert markers <= PIXEL_MARKERS
    assert data.endswith(b"\xff\xd9")  # nothing hidden after the end of the image
    for leak in (b"Exif", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"Acme", b"Phone 12"):
        assert leak not in header
    for secret in (SECRET_MAKERNOTE, SECRET_COMMENT, b"Jeanne Secret"):
        assert secret not in data
    return image


def mean_rgb(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    region = image.crop(box)
    pixels = region.width * region.height
    return tuple(
        sum(i * n for i, n in enumerate(band.histogram())) / pixels for band in region.split()
    )


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    """A 12-megapixel phone JPEG stored sideways (Orientation 6), full of private metadata."""
    upright = upright_scene(3024, 4032)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote: 4032×3024
    return encode(
        stored,
        "JPEG",
        quality=90,
        exif=phone_exif(orientation=6),
        comment=SECRET_COMMENT,
        xmp=SECRET_XMP,
    )


@pytest.fixture(scope="module")
def processed_phone_jpeg(phone_jpeg: bytes) -> ProcessedPhoto:
    return process(phone_jpeg)


def test_the_phone_jpeg_fixture_really_carries_the_metadata(phone_jpeg: bytes) -> None:
    source = Image.open(io.BytesIO(phone_jpeg))
    exif = source.getexif()

    assert source.size == (4032, 3024)
    assert exif[ExifTags.Base.Orientation] == 6
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.MakerNote] == SECRET_MAKERNOTE
    assert source.info["comment"] == SECRET_COMMENT
    assert b"http://ns.adobe.com/xap" in phone_jpeg


def test_phone_jpeg_is_served_upright_at_full_size(processed_phone_jpeg: ProcessedPhoto) -> None:
    result = processed_phone_jpeg

    assert (result.width, result.height) == (3024, 4032)
    assert result.media_type == "image/jpeg"
    assert result.source_format == "JPEG"
    full = Image.open(io.BytesIO(result.full))
    assert full.size == (3024, 4032)


def test_phone_jpeg_gps_and_capture_time_are_read(processed_phone_jpeg: ProcessedPhoto) -> None:
    result = processed_phone_jpeg

    assert result.gps_latitude == pytest.approx(50.4571, abs=1e-6)
    assert result.gps_longitude == pytest.approx(2.7852, abs=1e-6)
    assert result.taken_at == datetime(2024, 5, 17, 14, 32, 10, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(("name", "long_side"), [("full", 4032), ("large", 1600), ("small", 400)])
def test_every_served_size_is_upright_and_metadata_free(
    processed_phone_jpeg: ProcessedPhoto, name: str, long_side: int
) -> None:
    data = getattr(processed_phone_jpeg, name)
    image = assert_metadata_free(data)

    assert max(image.size) == long_side
    assert image.height > image.width  # portrait, as the phone was held
    assert image.width == round(long_side * 3024 / 4032)
    band = image.height // 8
    red, green, blue = mean_rgb(image, (0, 0, image.width, band * 3 // 4))
    assert red > 180 and green < 70 and blue < 70
    bottom = mean_rgb(image, (0, image.height - band, image.width, image.height))
    assert bottom[0] < 100  # the red band is at the top, not the bottom or a side
    left = mean_rgb(image, (0, band * 2, image.width // 8, image.height))
    assert left[0] < 100


def test_twelve_megapixel_jpeg_is_processed_quickly(phone_jpeg: bytes) -> None:
    started = time.perf_counter()
    process(phone_jpeg)

    assert time.perf_counter() - started < 3.0  # ~0.25 s on one core; slack for busy CI


def test_png_with_alpha_is_accepted_whatever_its_name_and_flattened_on_white() -> None:
    image = Image.new("RGBA", (800, 600), (0, 0, 0, 0))  # fully transparent...
    image.paste((10, 120, 30, 255), (0, 0, 400, 600))  # ...but an opaque green left half
    data = encode(image, "PNG")  # would have been uploaded as "photo.jpg": names do not matter

    result = process(data)

    assert result.source_format == "PNG"
    assert (result.width, result.height) == (800, 600)
    full = assert_metadata_free(result.full)
    assert all(c > 245 for c in full.getpixel((700, 300)))  # transparent -> white, not black
    red, green, _ = full.getpixel((100, 300))
    assert green > 100 and red < 40


def test_webp_is_accepted() -> None:
    data = encode(upright_scene(1000, 750), "WEBP", quality=80)

    result = process(data)

    assert result.source_format == "WEBP"
    assert (result.width, result.height) == (1000, 750)
    assert max(Image.open(io.BytesIO(result.small)).size) == SIZES["small"]


def test_webp_with_alpha_and_exif_is_flattened_and_stripped() -> None:
    image = upright_scene(640, 480).convert("RGBA")
    image.putalpha(200)
    data = encode(image, "WEBP", exif=phone_exif(), lossless=True)

    result = process(data)

    assert result.source_format == "WEBP"
    assert result.gps_latitude == pytest.approx(50.4571, abs=1e-6)
    assert_metadata_free(result.full)


@pytest.mark.skipif(
    not pillow_heif.libheif_info().get("HEIF"),
    reason="this libheif build has no HEVC encoder, so no HEIC can be made for the test",
)
def test_heic_is_accepted_upright_with_its_gps_read() -> None:
    upright = upright_scene(1200, 1600)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    # As an iPhone does: the rotation goes in the HEIF "irot" box (pillow-heif derives it from
    # the EXIF bytes' Orientation), and readers then reset the EXIF tag so nobody rotates twice.
    data = encode(stored, "HEIF", quality=80, exif=phone_exif(orientation=6).tobytes())
    assert data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix")

    result = process(data)

    assert result.source_format == "HEIF"
    assert (result.width, result.height) == (1200, 1600)
    assert result.gps_latitude == pytest.approx(50.4571, abs=1e-6)
    assert result.gps_longitude == pytest.approx(2.7852, abs=1e-6)
    assert result.taken_at == datetime(2024, 5, 17, 14, 32, 10, tzinfo=timezone(timedelta(hours=2)))
    large = assert_metadata_free(result.large)
    assert max(large.size) == SIZES["large"]
    red, green, _ = mean_rgb(large, (0, 0, large.width, 150))
    assert red > 180 and green < 70


def test_mpo_from_a_phone_counts_as_jpeg() -> None:
    first, second = upright_scene(640, 480), upright_scene(320, 240)
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"

    result = process(data)

    assert result.source_format == "JPEG"
    assert (result.width, result.height) == (640, 480)


def test_small_photos_are_not_upscaled() -> None:
    result = process(encode(upright_scene(300, 200), "PNG"))

    assert (result.width, result.height) == (300, 200)
    for data in (result.full, result.large, result.small):
        assert Image.open(io.BytesIO(data)).size == (300, 200)


@pytest.mark.parametrize(
    ("mode", "image_format", "colour", "expected"),
    [
        ("L", "JPEG", 128, (128, 128, 128)),
        ("1", "PNG", 1, (255, 255, 255)),
        ("LA", "PNG", (0, 0), (255, 255, 255)),  # transparent black over white
        ("P", "GIF-as-PNG", 0, (255, 255, 255)),  # palette entry 0 is transparent
        ("I;16", "PNG", 65535, (255, 255, 255)),
        ("I;16", "PNG", 32896, (128, 128, 128)),
        ("CMYK", "JPEG", (0, 255, 255, 0), (255, 0, 0)),
        ("RGBA", "PNG", (0, 0, 255, 255), (0, 0, 255)),
    ],
)
def test_every_colour_mode_ends_as_rgb(
    mode: str, image_format: str, colour: Any, expected: tuple[int, int, int]
) -> None:
    image = Image.new(mode, (120, 90), colour)
    params: dict[str, Any] = {}
    if image_format == "GIF-as-PNG":
        image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        params["transparency"] = 0
        image_format = "PNG"
    if image_format == "JPEG":
        params["quality"] = 95

    result = process(encode(image, image_format, **params))

    full = assert_metadata_free(result.full)
    pixel = full.getpixel((60, 45))
    assert isinstance(pixel, tuple)
    assert all(abs(got - want) <= 6 for got, want in zip(pixel, expected, strict=True))


def test_truncated_jpeg_is_undecodable() -> None:
    data = encode(upright_scene(800, 600), "JPEG", quality=90)

    with pytest.raises(UndecodablePhoto) as caught:
        process(data[: len(data) // 2])

    assert (caught.value.status, caught.value.code) == (422, "photo.undecodable")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_is_undecodable() -> None:
    data = encode(upright_scene(800, 600), "PNG")

    with pytest.raises(UndecodablePhoto):
        process(data[: len(data) // 2])


def test_zip_file_is_not_an_image() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", encode(upright_scene(64, 48), "JPEG"))

    with pytest.raises(NotAnImage) as caught:
        process(buf.getvalue())

    assert (caught.value.status, caught.value.code) == (415, "photo.not_an_image")


@pytest.mark.parametrize(
    "data",
    [
        b"Bonjour, ceci est une observation de h\xc3\xa9risson.\n",
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
    ],
    ids=["text", "pdf", "svg"],
)
def test_other_files_are_not_images(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        process(data)


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF", "ICO"])
def test_image_formats_other_than_the_four_accepted_are_refused(image_format: str) -> None:
    data = encode(upright_scene(64, 48), image_format)

    with pytest.raises(NotAnImage):
        process(data)


def test_empty_file_is_refused() -> None:
    with pytest.raises(EmptyPhoto) as caught:
        process(b"")

    assert (caught.value.status, caught.value.code) == (415, "photo.empty")


def test_thin_strip_gets_valid_thumbnails() -> None:
    data = encode(Image.new("L", (1, 100_000), 90), "PNG")  # 0.1 megapixel: a small image

    result = process(data)

    # JPEG cannot be taller than 65,500 px: the full size is scaled to fit.
    assert (result.width, result.height) == (1, JPEG_MAX_SIDE)
    assert Image.open(io.BytesIO(result.full)).size == (1, JPEG_MAX_SIDE)
    for data_, long_side in ((result.large, SIZES["large"]), (result.small, SIZES["small"])):
        thumbnail = Image.open(io.BytesIO(data_))
        thumbnail.load()
        assert thumbnail.size == (1, long_side)


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (8_000, 8_000), (65_535, 1_000)])
def test_decompression_bombs_are_refused_without_being_decoded(width: int, height: int) -> None:
    data = png_bomb(width, height)
    assert len(data) < 2_000_000

    started = time.perf_counter()
    with pytest.raises(TooManyPixels) as caught:
        process(data)

    assert time.perf_counter() - started < 1.0
    assert (caught.value.status, caught.value.code) == (422, "photo.too_many_pixels")


def test_pixel_limit_is_the_callers() -> None:
    data = encode(upright_scene(200, 200), "JPEG")

    with pytest.raises(TooManyPixels):
        process(data, max_pixels=200 * 200 - 1)
    assert process(data, max_pixels=200 * 200).width == 200


def test_files_over_the_byte_limit_are_refused() -> None:
    data = encode(upright_scene(400, 300), "PNG")
    assert len(data) > 4096

    with pytest.raises(PhotoTooLarge) as caught:
        process(data, max_bytes=4096)

    assert (caught.value.status, caught.value.code) == (413, "photo.too_large")
    assert process(data, max_bytes=len(data)).width == 400


class EndlessUpload(io.RawIOBase):
    """A client that never stops sending; short reads, like a socket."""

    def __init__(self) -> None:
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 65_536)
        buffer[:size] = b"\xff" * size
        self.delivered += size
        return size


def test_an_endless_upload_is_read_no_further_than_the_limit() -> None:
    upload = EndlessUpload()

    with pytest.raises(PhotoTooLarge):
        process_photo(upload, max_bytes=1_000_000, max_pixels=MAX_PIXELS)

    assert upload.delivered == 1_000_001


@pytest.mark.parametrize(
    ("error", "base", "status", "code"),
    [
        (EmptyPhoto, UnsupportedMediaType, 415, "photo.empty"),
        (NotAnImage, UnsupportedMediaType, 415, "photo.not_an_image"),
        (UndecodablePhoto, Unprocessable, 422, "photo.undecodable"),
        (TooManyPixels, Unprocessable, 422, "photo.too_many_pixels"),
        (PhotoTooLarge, PayloadTooLarge, 413, "photo.too_large"),
    ],
)
def test_rejections_carry_their_status_and_code(
    error: type[PhotoRejected], base: type[AppError], status: int, code: str
) -> None:
    raised = error()

    assert isinstance(raised, PhotoRejected) and isinstance(raised, base)
    assert (raised.status, raised.code) == (status, code)
    assert raised.detail


# --- EXIF edge cases ------------------------------------------------------------------------


def jpeg_with(exif: Image.Exif | bytes) -> bytes:
    return encode(Image.new("RGB", (64, 48), "green"), "JPEG", exif=exif)


def gps_tags(lat: Any, lat_ref: Any, lon: Any, lon_ref: Any) -> dict[int, Any]:
    tags = {
        ExifTags.GPS.GPSLatitude: lat,
        ExifTags.GPS.GPSLatitudeRef: lat_ref,
        ExifTags.GPS.GPSLongitude: lon,
        ExifTags.GPS.GPSLongitudeRef: lon_ref,
    }
    return {tag: value for tag, value in tags.items() if value is not None}


def test_southern_and_western_hemispheres_are_negative() -> None:
    gps = gps_tags(dms(33.8688), "S", dms(70.6693), "W")

    result = process(jpeg_with(phone_exif(gps=gps)))

    assert result.gps_latitude == pytest.approx(-33.8688, abs=1e-6)
    assert result.gps_longitude == pytest.approx(-70.6693, abs=1e-6)


@pytest.mark.parametrize(
    "gps",
    [
        {},
        gps_tags(dms(95.0), "N", dms(2.0), "E"),  # beyond the pole
        gps_tags(dms(50.0), "N", dms(181.0), "E"),
        gps_tags(dms(50.0), None, dms(2.0), "E"),  # hemisphere unknown
        gps_tags(dms(50.0), "X", dms(2.0), "E"),
        gps_tags(dms(50.0), "N", None, None),
        gps_tags((IFDRational(50, 0), rational(1), rational(2)), "N", dms(2.0), "E"),
        gps_tags((rational(50), rational(75), rational(0)), "N", dms(2.0), "E"),  # 75 minutes
        gps_tags(dms(0.0), "N", dms(0.0), "E"),  # "no fix" written as Null Island
        {**gps_tags(dms(50.0), "N", dms(2.0), "E"), ExifTags.GPS.GPSStatus: "V"},
    ],
    ids=[
        "absent",
        "latitude-95",
        "longitude-181",
        "no-ref",
        "bad-ref",
        "no-longitude",
        "zero-denominator",
        "75-minutes",
        "null-island",
        "void-fix",
    ],
)
def test_nonsense_gps_reads_as_none(gps: dict[int, Any]) -> None:
    result = process(jpeg_with(phone_exif(gps=gps)))

    assert (result.gps_latitude, result.gps_longitude) == (None, None)


@pytest.mark.parametrize(
    ("taken", "offset", "expected"),
    [
        ("2024:05:17 14:32:10", None, datetime(2024, 5, 17, 14, 32, 10)),
        (
            "2024:01:02 03:04:05",
            "-05:30",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("2024:05:17 14:32:10", "garbage", datetime(2024, 5, 17, 14, 32, 10)),
        ("0000:00:00 00:00:00", "+02:00", None),
        ("    :  :     :  :  ", None, None),
        ("yesterday", None, None),
        (None, "+02:00", None),
    ],
)
def test_capture_time(taken: str | None, offset: str | None, expected: datetime | None) -> None:
    result = process(jpeg_with(phone_exif(taken=taken, offset=offset)))

    assert result.taken_at == expected
    if expected is not None:
        assert (result.taken_at is not None) and (
            (result.taken_at.tzinfo is None) == (expected.tzinfo is None)
        )


@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00" + bytes(range(256)) * 4,
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # first IFD far beyond the end
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03",  # cut inside an entry
        b"\x00" * 64,
    ],
    ids=["random", "ifd-beyond-end", "cut-entry", "zeros"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's warning, expected here
def test_garbage_exif_never_breaks_processing(exif: bytes) -> None:
    result = process(jpeg_with(exif))

    assert (result.width, result.height) == (64, 48)
    assert (result.gps_latitude, result.gps_longitude, result.taken_at) == (None, None, None)
    assert_metadata_free(result.full)


# --- Fuzzing --------------------------------------------------------------------------------


def small_samples() -> list[bytes]:
    scene = upright_scene(48, 32)
    return [
        encode(scene, "JPEG", exif=phone_exif(orientation=3)),
        encode(scene, "PNG"),
        encode(scene.convert("P"), "PNG", transparency=3),
        encode(scene, "WEBP"),
        encode(scene, "JPEG", progressive=True),
    ]


SAMPLES = small_samples()
MAGIC = [PNG_SIGNATURE, b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
MAGIC += [b"\x00\x00\x00\x18ftypheic", b"\x00\x00\x00\x18ftypmif1"]


def outcome(data: bytes) -> ProcessedPhoto | PhotoRejected:
    try:
        return process(data, max_bytes=1_000_000, max_pixels=4_000_000)
    except PhotoRejected as rejected:
        return rejected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=4096),
        st.tuples(st.sampled_from(MAGIC), st.binary(max_size=2048)).map(b"".join),
    )
)
def test_arbitrary_bytes_are_a_photo_or_a_clean_rejection(data: bytes) -> None:
    result = outcome(data)

    assert isinstance(result, ProcessedPhoto | PhotoRejected)


@st.composite
def damaged_photo(draw: Callable[..., Any]) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[position] = draw(st.integers(min_value=0, max_value=255))
    cut = draw(st.integers(min_value=1, max_value=len(data)))
    return bytes(data[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_photo())
def test_damaged_photos_are_a_photo_or_a_clean_rejection(data: bytes) -> None:
    result = outcome(data)

    assert isinstance(result, ProcessedPhoto | PhotoRejected)
    if isinstance(result, ProcessedPhoto):
        assert_metadata_free(result.full)
