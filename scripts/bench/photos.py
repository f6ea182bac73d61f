"""Photos benchmark: how fast 12-megapixel phone photos get in, next to Pillow doing the same work.

    .venv/bin/python scripts/bench/photos.py [--db sqlite|postgresql|both] [--uploads N]
        [--concurrency C] [--runs R] [--json PATH]

One phone-like JPEG is made at the start (4032×3024, a landscape with sky, texture and sensor
noise so that it compresses like a photo, 4.5 MB at quality 90; EXIF with GPS position,
DateTimeOriginal with its offset, Orientation 6 as a phone held upright writes it, a maker note;
an XMP packet and a JPEG comment). Then, for each database: a fresh database, migrated, with the
reference species and zones; ONE ``uvicorn`` process started as production starts it; a
registered, signed-in sentinel who creates one observation per upload beforehand (not timed), so
that neither the 5-photo limit nor the content-hash dedupe interferes and every upload does the
whole work: decode, orientation, the full-size re-encode and both thumbnails, stored.

* upload, C concurrent: N ``POST /observations/{id}/photos`` (multipart field ``file``, the same
  bytes each time) sent by C connections at once;
* upload, 20 concurrent: 20 uploads all at once, during which the server's memory is watched:
  its RSS before, its peak (``VmHWM``, reset just before) during, the growth;
* meanwhile, another sentinel posts an observation every 0.2 s: what uploads make other writers
  wait;
* floors, in this process on the same bytes: ``app.media.images.process_photo`` (the service's
  own Pillow work, called directly) and a bare-Pillow version of the same steps written here,
  each single-threaded and on threads (as many as the concurrency, at most one per core); and
  the memory ``process_photo`` takes, measured in a fresh Python process, for one photo and for
  ``photo_workers`` photos at once.

The aims (issue: photos): uploads at least 70% of the ``process_photo`` floor at the same
concurrency, and the server's memory bounded while 20 uploads run: its peak growth at most what
``photo_workers`` photos processed at once take (the floor's figure) plus the 20 files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_PG_ADMIN_URL,
    PROJECT_ROOT,
    Account,
    CpuMeter,
    CpuUse,
    PostgresProbe,
    RssSampler,
    Server,
    as_measure,
    databases,
    fresh_database,
    machine_cpu_jiffies,
    machine_info,
    own_cpu_seconds,
    peak_rss_mib,
    prepare_database,
    reset_peak_rss,
    rss_mib,
    run_server,
    sign_up,
)

PHOTO_SIZE = (4032, 3024)  # 12 megapixels, as the sensor stores it (landscape)
# The photo decoded: Pillow keeps an RGB pixel in 4 bytes (46.5 MiB for 12 megapixels).
DECODED_MIB = PHOTO_SIZE[0] * PHOTO_SIZE[1] * 4 / 2**20
SOURCE_QUALITY = 90
BARE_REDUCING_GAP = 2.0  # what Image.thumbnail() uses; the service passes 1.0 for 1600 px
BURST = 20  # uploads at once for the memory figure
WARMUP = 2  # uploads before anything is timed (libraries loaded, threads started)
RATE_AIM_RATIO = 0.70  # of the process_photo floor at the same concurrency
NOISY_CORES = 0.25
SIDE_PAUSE_S = 0.2  # between the observations another sentinel posts during the uploads
PHOTO_PATH = "/observations/{id}/photos"
# Where and when the photo was taken: Loos-en-Gohelle, a spring morning, Paris summer time.
PHOTO_LATITUDE, PHOTO_LONGITUDE = 50.4571, 2.7852
PHOTO_TAKEN = datetime(2026, 4, 12, 7, 45, 3)
PARIS_SUMMER = timezone(timedelta(hours=2))
SPECIES_CD_NOM = 3696  # Hirundo rustica, in the reference list

console = Console(width=None if sys.stdout.isatty() else 120)


# --- the photo -----------------------------------------------------------------------------------


def _spectral_field(rng: Any, shape: tuple[int, int], beta: float) -> Any:
    """Noise whose amplitude falls as 1/f**beta, as natural images' does; unit variance."""
    import numpy as np

    h, w = shape
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spectrum = rng.standard_normal(f.shape, dtype=np.float32) + 1j * rng.standard_normal(
        f.shape, dtype=np.float32
    )
    spectrum /= f**beta
    spectrum[0, 0] = 0
    out = np.fft.irfft2(spectrum, s=shape).astype(np.float32)
    return out / out.std()


def _dms(value: float) -> tuple[Any, Any, Any]:
    from PIL.TiffImagePlugin import IFDRational

    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return (
        IFDRational(degrees, 1),
        IFDRational(minutes, 1),
        IFDRational(round(seconds * 1e4), 10**4),
    )


def phone_exif() -> Any:
    """The EXIF a phone writes: make and model, Orientation 6 (the sensor's landscape pixels
    are to be turned 90° clockwise: the phone was held upright), capture time with its offset,
    a maker note, and the GPS position."""
    from PIL import ExifTags, Image

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Fairphone"
    exif[ExifTags.Base.Model] = "FP5"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Software] = "sentinelles-bench"
    stamp = PHOTO_TAKEN.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.DateTime] = stamp
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.DateTimeOriginal] = stamp
    ifd[ExifTags.Base.OffsetTimeOriginal] = "+02:00"
    ifd[ExifTags.Base.MakerNote] = b"SENTINELLES-BENCH\x00" + bytes(range(256)) * 16
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSVersionID] = b"\x02\x02\x00\x00"
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = _dms(PHOTO_LATITUDE)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = _dms(PHOTO_LONGITUDE)
    return exif


def make_phone_jpeg(seed: int) -> bytes:
    """A 4032×3024 JPEG that decodes, compresses and carries metadata as a phone photo does: a
    smooth sky over a textured ground (1/f noise for luminance, smoother colour), sensor noise,
    4:2:0 chroma, quality 90 (about 4.4 MB)."""
    import numpy as np
    from PIL import Image

    width, height = PHOTO_SIZE
    rng = np.random.default_rng(seed)
    rows = np.arange(height, dtype=np.float32)[:, None]
    texture = _spectral_field(rng, (height, width), 1.0)
    horizon = height * 0.38 + _spectral_field(rng, (height, width), 1.8)[height // 2] * 90
    ground = (rows > horizon[None, :]).astype(np.float32)
    sky_luma = 200 - rows / height * 60 + texture * 4
    ground_luma = 95 + texture * 42
    luma = ground * ground_luma + (1 - ground) * sky_luma
    luma += rng.standard_normal((height, width), dtype=np.float32) * 2.0
    cb = np.where(
        ground > 0, -12 + _spectral_field(rng, (height, width), 1.6) * 10, 28 - rows / height * 20
    )
    cr = np.where(ground > 0, -6 + _spectral_field(rng, (height, width), 1.6) * 8, -10)
    rgb = np.stack([luma + 1.402 * cr, luma - 0.344 * cb - 0.714 * cr, luma + 1.772 * cb], axis=2)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    del texture, ground, luma, cb, cr, rgb
    out = io.BytesIO()
    image.save(
        out, "JPEG", quality=SOURCE_QUALITY, subsampling="4:2:0", exif=phone_exif(),
        comment=b"sentinelles bench: a comment the server must not serve",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>',
    )  # fmt: skip
    return out.getvalue()


def multipart_body(data: bytes) -> tuple[bytes, str]:
    """The ``file`` part as a phone's HTTP client sends it, and its Content-Type."""
    boundary = "sentinelles-bench-" + uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="IMG_20260412_074503.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode("ascii")
    return head + data + f"\r\n--{boundary}--\r\n".encode("ascii"), (
        f"multipart/form-data; boundary={boundary}"
    )


# --- the floors ----------------------------------------------------------------------------------


def _settings_default(name: str) -> Any:
    from app.core.settings import Settings

    return Settings.model_fields[name].default


def service_work(data: bytes) -> Callable[[], object]:
    """The service's own Pillow work on ``data``: ``process_photo``, called directly."""
    from app.media.images import process_photo

    max_bytes = _settings_default("max_photo_bytes")
    max_pixels = _settings_default("max_photo_pixels")

    def work() -> object:
        return process_photo(io.BytesIO(data), max_bytes=max_bytes, max_pixels=max_pixels)

    return work


def bare_pillow_work(data: bytes) -> Callable[[], object]:
    """The same steps with nothing around them, as a reader would write them with Pillow: open,
    decode, apply the EXIF orientation, RGB, then the full size, 1600 and 400 px (Lanczos, from
    the next larger one, with Pillow's usual ``reducing_gap`` of 2.0, that of ``thumbnail()``),
    encoded at the service's qualities. No validation, no metadata read."""
    from PIL import Image, ImageOps

    from app.media import images

    qualities = (
        getattr(images, "FULL_QUALITY", 85),
        getattr(images, "LARGE_QUALITY", 85),
        getattr(images, "SMALL_QUALITY", 80),
    )

    def fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
        scale = long_side / max(size)
        return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))

    def encode(image: Image.Image, quality: int) -> bytes:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        return out.getvalue()

    def work() -> object:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
        rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
        rgb.info = {}
        lanczos = Image.Resampling.LANCZOS
        large = rgb.resize(fit(rgb.size, 1600), lanczos, reducing_gap=BARE_REDUCING_GAP)
        small = large.resize(fit(large.size, 400), lanczos, reducing_gap=BARE_REDUCING_GAP)
        return [encode(img, q) for img, q in zip((rgb, large, small), qualities, strict=True)]

    return work


@dataclass
class FloorFigure:
    db: str
    variant: str  # "process_photo" | "bare Pillow"
    threads: int
    photos: int
    seconds: float
    rate: float
    cpu_ms_per_photo: float
    others_cores: float  # what the rest of the machine kept busy meanwhile


def measure_floor(
    db: str, variant: str, work: Callable[[], object], *, photos: int, threads: int
) -> FloorFigure:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: work(), range(threads)))  # warm: plugins, threads, arenas
        busy0, total0 = machine_cpu_jiffies()
        cpu0 = own_cpu_seconds()
        t0 = time.perf_counter()
        if threads == 1:
            for _ in range(photos):
                work()
        else:
            list(pool.map(lambda _: work(), range(photos)))
        seconds = time.perf_counter() - t0
        cpu = own_cpu_seconds() - cpu0
        busy1, total1 = machine_cpu_jiffies()
    all_cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    return FloorFigure(
        db=db, variant=variant, threads=threads, photos=photos, seconds=seconds,
        rate=photos / seconds, cpu_ms_per_photo=1000 * cpu / photos,
        others_cores=max(0.0, all_cores - cpu / seconds),
    )  # fmt: skip


# Run in a fresh interpreter, so that what earlier measures left in this process's allocator
# does not hide the memory the photos take.
_MEMORY_FLOOR = r"""
import io, json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from app.media.images import process_photo
data = Path(sys.argv[2]).read_bytes()
threads, max_bytes, max_pixels = (int(v) for v in sys.argv[3:6])
def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
def one(_):
    process_photo(io.BytesIO(data), max_bytes=max_bytes, max_pixels=max_pixels)
with ThreadPoolExecutor(max_workers=threads) as pool:
    list(pool.map(one, range(threads)))
    before = kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    list(pool.map(one, range(2 * threads)))
    peak = kib("VmHWM")
print(json.dumps({"before_mib": before / 1024, "peak_mib": peak / 1024}))
"""


def memory_floor(photo_file: Path, threads: int) -> float:
    """MiB that ``process_photo`` adds to a process's peak RSS with ``threads`` photos at once."""
    out = subprocess.run(
        [
            sys.executable, "-c", _MEMORY_FLOOR, str(PROJECT_ROOT), str(photo_file), str(threads),
            str(_settings_default("max_photo_bytes")), str(_settings_default("max_photo_pixels")),
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return float(doc["peak_mib"] - doc["before_mib"])


# --- the load ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int
    concurrency: int
    statuses: Counter[int]
    cpu: CpuUse
    latencies_ms: list[float]
    answers: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    side_latencies_ms: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.cpu.wall_s

    @property
    def created(self) -> int:
        return self.statuses.get(201, 0)


def observation_payload() -> dict[str, Any]:
    """A new observation where and when the photo was taken."""
    observed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return {
        "client_id": str(uuid.uuid4()),
        "cd_nom": SPECIES_CD_NOM,
        "observed_at": observed.astimezone(PARIS_SUMMER).isoformat(),
        "latitude": PHOTO_LATITUDE,
        "longitude": PHOTO_LONGITUDE,
        "accuracy_m": 8,
        "count": 2,
        "count_unit": "individuals",
    }


def create_observations(server: Server, account: Account, n: int) -> tuple[list[str], list[float]]:
    """``n`` new observations of the sentinel, one for each upload to come, and how long each
    POST took with nothing else running (not part of the measures)."""
    ids, latencies = [], []
    with httpx.Client(base_url=server.api, headers=account.headers, timeout=60.0) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.post("/observations", json=observation_payload())
            latencies.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 201:
                raise RuntimeError(f"POST /observations answered {r.status_code}: {r.text[:300]}")
            ids.append(str(r.json()["id"]))
    return ids, latencies


@dataclass
class _Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # A sentinel posting an observation every SIDE_PAUSE_S while the uploads run: what the
    # photos make other writers wait.
    side_latencies_ms: list[float] = field(default_factory=list)


async def _upload_all(
    api: str, token: str, observation_ids: list[str], body: bytes, content_type: str,
    concurrency: int,
) -> _Outcome:  # fmt: skip
    todo = iter(observation_ids)
    out = _Outcome()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=api, limits=limits, timeout=600.0) as client,
        httpx.AsyncClient(
            base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=600.0
        ) as side_client,
    ):

        async def worker() -> None:
            for obs_id in todo:
                t0 = time.perf_counter()
                try:
                    r = await client.post(
                        PHOTO_PATH.format(id=obs_id), content=body, headers=headers
                    )
                except httpx.TransportError as exc:
                    out.statuses[0] += 1
                    out.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                out.latencies_ms.append((time.perf_counter() - t0) * 1000)
                out.statuses[r.status_code] += 1
                if r.status_code == 201:
                    out.answers.append(r.json())
                elif len(out.errors) < 5:
                    out.errors.append(f"{r.status_code} {r.text[:300]}")

        async def side_writer() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                r = await side_client.post("/observations", json=observation_payload())
                if r.status_code == 201:
                    out.side_latencies_ms.append((time.perf_counter() - t0) * 1000)
                elif len(out.errors) < 5:
                    out.errors.append(f"side POST /observations: {r.status_code} {r.text[:200]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), SIDE_PAUSE_S)

        async def uploads() -> None:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            done.set()

        await asyncio.gather(uploads(), side_writer())
    return out


def upload(
    server: Server,
    account: Account,
    observation_ids: list[str],
    body: bytes,
    content_type: str,
    *,
    concurrency: int,
    probe: PostgresProbe | None = None,
) -> LoadResult:
    with CpuMeter(server.pid, probe.backend_pids if probe else None) as cpu:
        out = asyncio.run(
            _upload_all(server.api, account.token, observation_ids, body, content_type, concurrency)
        )
    return LoadResult(
        sent=len(observation_ids), concurrency=concurrency, statuses=out.statuses, cpu=cpu,
        latencies_ms=out.latencies_ms, answers=out.answers, errors=out.errors,
        side_latencies_ms=out.side_latencies_ms,
    )  # fmt: skip


# --- checks --------------------------------------------------------------------------------------


def _served_problems(name: str, content: bytes, content_type: str) -> tuple[list[str], Any]:
    from PIL import Image

    problems = []
    if not content_type.startswith("image/jpeg"):
        problems.append(f"{name}: served as {content_type!r}, not image/jpeg")
    try:
        image = Image.open(io.BytesIO(content))
        image.load()
    except Exception as exc:  # whatever Pillow raises, the file is not a usable JPEG
        return [*problems, f"{name}: not a decodable image ({type(exc).__name__})"], None
    leaked = sorted(k for k in ("exif", "xmp", "comment", "icc_profile") if image.info.get(k))
    if leaked or len(image.getexif()):
        problems.append(f"{name}: metadata left in the served file: {leaked or 'EXIF tags'}")
    if b"SENTINELLES-BENCH" in content or b"sentinelles bench" in content:
        problems.append(f"{name}: the maker note or the comment of the upload is in the file")
    return problems, image


def _check_exif(answer: dict[str, Any]) -> list[str]:
    """The observer is told where and when the photo was taken (and only the observer)."""
    exif = answer.get("exif") or {}
    want_time = PHOTO_TAKEN.replace(tzinfo=PARIS_SUMMER).astimezone(UTC)
    try:
        taken = datetime.fromisoformat(str(exif.get("taken_at")).replace("Z", "+00:00"))
        position = float(exif["latitude"]), float(exif["longitude"])
    except (KeyError, TypeError, ValueError):
        return [f"the observer's answer does not carry the photo's position and time: {exif}"]
    if taken != want_time or max(
        abs(position[0] - PHOTO_LATITUDE), abs(position[1] - PHOTO_LONGITUDE)
    ) > 1e-5:  # fmt: skip
        return [f"the answer's exif {exif} is not the photo's ({want_time.isoformat()}, "
                f"{PHOTO_LATITUDE}, {PHOTO_LONGITUDE})"]  # fmt: skip
    return []


def _check_served(
    server: Server, account: Account, answer: dict[str, Any], upright: tuple[int, int]
) -> list[str]:
    """The three files of one photo as a client gets them: JPEG, upright, the right sizes,
    no metadata."""
    problems = []
    long_sides = {"url": max(upright), "large_url": 1600, "thumbnail_url": 400}
    with httpx.Client(base_url=server.base_url, headers=account.headers, timeout=60) as client:
        for key, long_side in long_sides.items():
            url = str(answer.get(key) or "")
            if not url:
                problems.append(f"the answer has no {key}")
                continue
            r = client.get(url if url.startswith(("http", "/")) else "/" + url)
            if r.status_code != 200:
                problems.append(f"GET {key} {url} answered {r.status_code}")
                continue
            found, image = _served_problems(key, r.content, r.headers.get("content-type", ""))
            problems.extend(found)
            if image is None:
                continue
            portrait = image.height > image.width
            if max(image.size) != long_side or not portrait:
                problems.append(f"{key} served as {image.size}: not upright with long side "
                                f"{long_side}")  # fmt: skip
    return problems


def check_uploads(
    server: Server, account: Account, loads: list[LoadResult], media_dir: Path
) -> list[str]:
    """What a client and the disk see: upright size in every answer, one full size and two
    thumbnails stored per photo and nothing else, served files upright without any metadata,
    the photo's position and time told to its observer."""
    problems: list[str] = []
    answers = [a for load in loads for a in load.answers]
    upright = (PHOTO_SIZE[1], PHOTO_SIZE[0])  # Orientation 6: portrait once turned
    sizes = Counter((a.get("width"), a.get("height")) for a in answers)
    if set(sizes) != {upright}:
        problems.append(f"answers' width × height {dict(sizes)}, expected {upright} for all")
    missing = {k for a in answers for k in ("id", "url", "thumbnail_url") if not a.get(k)}
    if missing:
        problems.append(f"answers without {sorted(missing)}")
    if len({a.get("id") for a in answers}) != len(answers):
        problems.append("several answers carry the same photo id")

    stored = Counter(p.name for p in media_dir.rglob("*") if p.is_file())
    created = sum(load.created for load in loads)
    expected = {"full.jpg": created, "large.jpg": created, "small.jpg": created}
    if dict(stored) != expected:
        problems.append(f"files under the media directory {dict(stored)}, expected {expected}")

    if answers:
        problems.extend(_check_exif(answers[0]))
        problems.extend(_check_served(server, account, answers[0], upright))
    return problems


# --- one run -------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Figure:
    db: str
    measure: str
    concurrency: int
    photos: int
    seconds: float
    rate: float
    floor_threads: int
    floor_rate: float
    ratio: float
    aim: str
    met: bool
    client_cpu_s: float
    server_cpu_s: float
    database_cpu_s: float
    others_cores: float
    latency_p50_ms: float
    latency_max_ms: float
    side_posts: int
    side_p50_ms: float
    side_max_ms: float
    errors: list[str]


@dataclass
class MemoryFigure:
    db: str
    photo_workers: int
    rss_before_mib: float
    peak_mib: float
    growth_mib: float
    sampled_peak_mib: float | None
    peak_reset: bool
    rss_after_burst_mib: float
    rss_end_mib: float
    server_peak_mib: float  # since the server started, after the whole run
    nominal_bound_mib: float  # photo_workers × the decoded photo
    floor_one_mib: float  # process_photo, one photo, fresh process
    floor_workers_mib: float  # process_photo, photo_workers photos at once
    aim_mib: float
    met: bool


@dataclass
class RunResult:
    db: str
    figures: list[Figure]
    floors: list[FloorFigure]
    memory: MemoryFigure
    checks: list[str]
    idle_post_p50_ms: float  # POST /observations with no upload running
    server_log: str = ""


def floor_threads(concurrency: int) -> int:
    return max(1, min(concurrency, len(os.sched_getaffinity(0))))


def _figure(db: str, measure: str, load: LoadResult, floor: FloorFigure) -> Figure:
    rate = load.created / load.seconds if load.seconds else float("nan")
    ratio = rate / floor.rate
    errors = list(load.errors)
    met = ratio >= RATE_AIM_RATIO
    if load.created != load.sent:
        errors.insert(0, f"{load.sent - load.created} of {load.sent} not created: "
                      f"{dict(load.statuses)}")  # fmt: skip
        met = False
    return Figure(
        db=db, measure=measure, concurrency=load.concurrency, photos=load.created,
        seconds=load.seconds, rate=rate, floor_threads=floor.threads, floor_rate=floor.rate,
        ratio=ratio, aim=f"≥ {RATE_AIM_RATIO:.0%} of floor", met=met,
        client_cpu_s=load.cpu.client_s, server_cpu_s=load.cpu.server_s,
        database_cpu_s=load.cpu.database_s, others_cores=load.cpu.others_cores,
        latency_p50_ms=_percentile(load.latencies_ms, 0.5),
        latency_max_ms=max(load.latencies_ms, default=float("nan")),
        side_posts=len(load.side_latencies_ms),
        side_p50_ms=_percentile(load.side_latencies_ms, 0.5),
        side_max_ms=max(load.side_latencies_ms, default=float("nan")), errors=errors,
    )  # fmt: skip


def run_once(db: str, args: argparse.Namespace, photo: bytes) -> RunResult:
    body, content_type = multipart_body(photo)
    photo_workers = args.photo_workers or int(_settings_default("photo_workers"))
    extra_env = dict(args.server_env)
    if args.photo_workers:
        extra_env["SENTINELLES_PHOTO_WORKERS"] = str(args.photo_workers)
    with (
        tempfile.TemporaryDirectory(prefix="sentinelles-bench-") as tmp,
        fresh_database(db, Path(tmp), pg_admin_url=args.pg_admin_url) as url,
    ):
        workdir = Path(tmp)
        photo_file = workdir / "photo.jpg"
        photo_file.write_bytes(photo)
        prepare_database(url)
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(run_server(url, workdir=workdir, extra_env=extra_env))
            account = sign_up(server.api)
            obs, idle_posts = create_observations(
                server, account, WARMUP + args.burst + args.uploads
            )
            warm_ids, burst_ids, timed_ids = (
                obs[:WARMUP], obs[WARMUP : WARMUP + args.burst], obs[WARMUP + args.burst :]
            )  # fmt: skip
            console.log(f"{db}: server pid {server.pid} on {server.base_url}, warming up")
            warm = upload(server, account, warm_ids, body, content_type, concurrency=1)
            probe = None
            if db == "postgresql":
                probe = PostgresProbe(url)
                stack.callback(probe.close)

            console.log(f"{db}: {args.burst} uploads at once, memory watched")
            time.sleep(0.5)  # let the allocator settle after the warm-up
            peak_before = server.peak_rss_mib() or 0.0  # signing up (argon2) included
            rss_before = rss_mib(server.pid) or float("nan")
            reset = reset_peak_rss(server.pid)
            with RssSampler(server.pid) as sampler:
                burst = upload(
                    server,
                    account,
                    burst_ids,
                    body,
                    content_type,
                    concurrency=args.burst,
                    probe=probe,
                )
            peak = (peak_rss_mib(server.pid) if reset else sampler.peak_mib) or float("nan")
            rss_after_burst = rss_mib(server.pid) or float("nan")

            console.log(f"{db}: {args.uploads} uploads, concurrency {args.concurrency}")
            timed = upload(
                server, account, timed_ids, body, content_type,
                concurrency=args.concurrency, probe=probe,
            )  # fmt: skip
            rss_end = rss_mib(server.pid) or float("nan")
            checks = check_uploads(server, account, [warm, burst, timed], workdir / "media")
            if warm.created != warm.sent:
                checks.insert(0, f"warm-up uploads failed: {warm.errors[:2]}")
            server_peak = max(peak_before, server.peak_rss_mib() or 0.0)
            failed = bool(checks) or timed.created != timed.sent or burst.created != burst.sent
            server_log = server.log_tail(40) if failed else ""

        console.log(f"{db}: floors ({args.uploads} photos each, in this process)")
        floors: list[FloorFigure] = []
        for variant, work in (
            ("process_photo", service_work(photo)),
            ("bare Pillow", bare_pillow_work(photo)),
        ):
            for threads in sorted({1, floor_threads(args.concurrency), floor_threads(args.burst)}):
                floors.append(
                    measure_floor(db, variant, work, photos=args.uploads, threads=threads)
                )
        floor_one = memory_floor(photo_file, 1)
        floor_workers = memory_floor(photo_file, photo_workers)

    def service_floor(concurrency: int) -> FloorFigure:
        threads = floor_threads(concurrency)
        return next(f for f in floors if f.variant == "process_photo" and f.threads == threads)

    aim_mib = floor_workers + args.burst * len(photo) / 2**20
    growth = peak - rss_before
    memory = MemoryFigure(
        db=db, photo_workers=photo_workers, rss_before_mib=rss_before, peak_mib=peak,
        growth_mib=growth, sampled_peak_mib=sampler.peak_mib, peak_reset=reset,
        rss_after_burst_mib=rss_after_burst, rss_end_mib=rss_end, server_peak_mib=server_peak,
        nominal_bound_mib=photo_workers * DECODED_MIB, floor_one_mib=floor_one,
        floor_workers_mib=floor_workers, aim_mib=aim_mib, met=growth <= aim_mib,
    )  # fmt: skip
    return RunResult(
        db=db,
        figures=[
            _figure(
                db, f"upload, {args.concurrency} concurrent", timed, service_floor(args.concurrency)
            ),
            _figure(db, f"upload, {args.burst} concurrent", burst, service_floor(args.burst)),
        ],
        floors=floors,
        memory=memory,
        checks=checks,
        idle_post_p50_ms=_percentile(idle_posts, 0.5),
        server_log=server_log,
    )


# --- output --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[RunResult]) -> dict[str, Any]:
    """Per database and measure, the median of the runs, and each run's figures."""
    rates: dict[tuple[str, str], list[Figure]] = {}
    floors: dict[tuple[str, str, int], list[FloorFigure]] = {}
    memory: dict[str, list[MemoryFigure]] = {}
    for run in runs:
        for fig in run.figures:
            rates.setdefault((fig.db, fig.measure), []).append(fig)
        for fl in run.floors:
            floors.setdefault((fl.db, fl.variant, fl.threads), []).append(fl)
        memory.setdefault(run.db, []).append(run.memory)
    out: dict[str, Any] = {"uploads": [], "floors": [], "memory": [], "idle_post_p50_ms": {}}
    for db in {run.db for run in runs}:
        out["idle_post_p50_ms"][db] = _median([r.idle_post_p50_ms for r in runs if r.db == db])
    for (db, measure), figs in rates.items():
        out["uploads"].append(
            {
                "db": db,
                "measure": measure,
                "rate": _median([f.rate for f in figs]),
                "floor_threads": figs[0].floor_threads,
                "floor_rate": _median([f.floor_rate for f in figs]),
                "ratio": _median([f.ratio for f in figs]),
                "aim": figs[0].aim,
                # On the median ratio (every upload must have succeeded); runs_met tells how
                # many runs met it on their own.
                "met": _median([f.ratio for f in figs]) >= RATE_AIM_RATIO
                and not any(f.errors for f in figs),
                "runs_met": sum(f.met for f in figs),
                "client_cpu_pct": _median([100 * f.client_cpu_s / f.seconds for f in figs]),
                "server_cpu_pct": _median([100 * f.server_cpu_s / f.seconds for f in figs]),
                "server_cpu_ms_per_photo": _median(
                    [1000 * f.server_cpu_s / max(1, f.photos) for f in figs]
                ),
                "database_cpu_pct": _median([100 * f.database_cpu_s / f.seconds for f in figs]),
                "others_cores": max(f.others_cores for f in figs),
                "latency_p50_ms": _median([f.latency_p50_ms for f in figs]),
                "latency_max_ms": _median([f.latency_max_ms for f in figs]),
                "side_p50_ms": _median([f.side_p50_ms for f in figs]),
                "side_max_ms": max(f.side_max_ms for f in figs),
                "runs": [asdict(f) for f in figs],
            }
        )
    for (db, variant, threads), fls in floors.items():
        out["floors"].append(
            {
                "db": db,
                "variant": variant,
                "threads": threads,
                "rate": _median([f.rate for f in fls]),
                "cpu_ms_per_photo": _median([f.cpu_ms_per_photo for f in fls]),
                "others_cores": max(f.others_cores for f in fls),
                "runs": [asdict(f) for f in fls],
            }
        )
    for db, mems in memory.items():
        keys = [
            "rss_before_mib", "peak_mib", "growth_mib", "rss_after_burst_mib", "rss_end_mib",
            "floor_one_mib", "floor_workers_mib", "aim_mib",
        ]  # fmt: skip
        row: dict[str, Any] = {k: _median([getattr(m, k) for m in mems]) for k in keys}
        row.update(
            db=db,
            photo_workers=mems[0].photo_workers,
            nominal_bound_mib=mems[0].nominal_bound_mib,
            growth_max_mib=max(m.growth_mib for m in mems),
            server_peak_mib=max(m.server_peak_mib for m in mems),
            peak_reset=all(m.peak_reset for m in mems),
            met=_median([m.growth_mib for m in mems]) <= _median([m.aim_mib for m in mems]),
            runs_met=sum(m.met for m in mems),
            runs=[asdict(m) for m in mems],
        )
        out["memory"].append(row)
    return out


def measures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures in the shape of ``scripts/bench/all``: each upload rate against
    ``process_photo`` on as many threads, and the memory growth against its bound."""
    out = []
    for s in summary["uploads"]:
        m = as_measure(
            f"photo {s['measure']}", s["db"], s["rate"], "photos/s",
            floor=s["floor_rate"], ratio=s["ratio"], aim=f"ratio ≥ {RATE_AIM_RATIO:g}",
        )  # fmt: skip
        m["met"] = bool(s["met"])
        out.append(m)
    for mem in summary["memory"]:
        m = as_measure(
            "photo upload, memory growth", mem["db"], mem["growth_mib"], "MiB",
            floor=mem["aim_mib"], aim="ratio ≤ 1",
        )  # fmt: skip
        out.append(m)
    return out


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}" if value == value else "—"


def _met(value: bool, runs_met: int, runs: int) -> str:
    text = "[green]yes[/]" if value else "[red]no[/]"
    if runs_met != (runs if value else 0):
        text += f" ({runs_met} of {runs} runs)"
    return text


def print_report(
    machine: dict[str, Any], args: argparse.Namespace, photo: bytes, summary: dict[str, Any]
) -> None:
    console.print(
        f"[bold]Machine[/]: {machine['cpu_model']} ({machine['cpu_mhz']} MHz), "
        f"{machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['ram_gib']} GiB RAM; Python {machine['python']}; {machine['date']}"
    )
    from PIL import __version__ as pillow_version
    from PIL import features

    turbo = features.check_feature("libjpeg_turbo")
    workers = summary["memory"][0]["photo_workers"] if summary["memory"] else "?"
    console.print(
        f"[bold]Photo[/]: {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG q{SOURCE_QUALITY}, "
        f"{len(photo) / 1e6:.2f} MB, EXIF Orientation 6 + GPS + DateTimeOriginal + maker note, "
        f"XMP, comment; Pillow {pillow_version} (libjpeg-turbo: {turbo})"
    )
    console.print(
        f"[bold]Settings[/]: {args.uploads} uploads at concurrency {args.concurrency} and "
        f"{args.burst} at once (after {WARMUP} for warm-up), each to its own observation; "
        f"photo_workers {workers}; {args.runs} run(s) per database"
        f"{' (medians)' if args.runs > 1 else ''}; floor = app.media.images.process_photo on "
        "the same bytes in this process, on as many threads as the concurrency (at most one "
        "per core)" + "".join(f"; server {name}={value}" for name, value in args.server_env)
    )
    table = Table(title="Photos: uploads/s (12 MP JPEG in, full size + 1600 + 400 px stored)")
    for col in ("DB", "measure", "rate (photos/s)", "floor (photos/s)", "ratio", "aim", "met?"):
        table.add_column(col, justify="right" if col not in ("DB", "measure", "aim") else "left")
    for s in summary["uploads"]:
        table.add_row(
            s["db"], s["measure"], _fmt(s["rate"]),
            f"{_fmt(s['floor_rate'])} ({s['floor_threads']} thr.)", f"{s['ratio']:.0%}",
            s["aim"], _met(s["met"], s["runs_met"], len(s["runs"])),
        )  # fmt: skip
    for m in summary["memory"]:
        table.add_row(
            m["db"], f"memory, {args.burst} concurrent", f"+{m['growth_mib']:.0f} MiB peak",
            f"+{m['floor_workers_mib']:.0f} MiB ({m['photo_workers']} at once)",
            f"{m['growth_mib'] / m['floor_workers_mib']:.1f}×" if m["floor_workers_mib"] else "—",
            f"≤ {m['aim_mib']:.0f} MiB", _met(m["met"], m["runs_met"], len(m["runs"])),
        )  # fmt: skip
    console.print(table)

    floors = Table(title="Floors: the same bytes in this process (photos/s; CPU per photo)")
    for col in (
        "DB", "variant", "threads", "rate (photos/s)", "each run", "CPU per photo", "other load",
    ):  # fmt: skip
        floors.add_column(col)
    for f in summary["floors"]:
        floors.add_row(
            f["db"], f["variant"], str(f["threads"]), _fmt(f["rate"]),
            " / ".join(_fmt(r["rate"]) for r in f["runs"]), f"{f['cpu_ms_per_photo']:.0f} ms",
            f"{f['others_cores']:.1f} cores",
        )  # fmt: skip
    console.print(floors)

    side = Table(title="Side figures (medians)")
    for col in (
        "DB", "measure", "runs (photos/s)", "upload p50 / max", "obs. POST p50 / max",
        "server CPU", "client", "PostgreSQL", "others",
    ):  # fmt: skip
        side.add_column(col)
    for s in summary["uploads"]:
        side.add_row(
            s["db"], s["measure"], " / ".join(_fmt(r["rate"]) for r in s["runs"]),
            f"{s['latency_p50_ms']:,.0f} / {s['latency_max_ms']:,.0f} ms",
            f"{s['side_p50_ms']:,.0f} / {s['side_max_ms']:,.0f} ms",
            f"{s['server_cpu_pct']:.0f}% · {s['server_cpu_ms_per_photo']:.0f} ms/photo",
            f"{s['client_cpu_pct']:.0f}%",
            f"{s['database_cpu_pct']:.0f}%" if s["db"] == "postgresql" else "—",
            f"{s['others_cores']:.1f} cores",
        )  # fmt: skip
    console.print(side)
    console.print(
        "CPU in % of one core over the measure (server: per photo too; others: the rest of the "
        "machine, in cores). Obs. POST: another sentinel's observation posted every "
        f"{SIDE_PAUSE_S:.1f} s while the uploads ran (p50 / max); with no upload running: "
        + ", ".join(f"{db} {v:.0f} ms" for db, v in sorted(summary["idle_post_p50_ms"].items()))
        + " (p50)."
    )

    mem = Table(title=f"Server memory around {args.burst} concurrent uploads (MiB, medians)")
    for col in (
        "DB", "RSS before", "peak during", "growth (max)", "after / at end",
        "run's peak", "nominal bound", "floor: 1 / workers at once",
    ):  # fmt: skip
        mem.add_column(col)
    for m in summary["memory"]:
        mem.add_row(
            m["db"], f"{m['rss_before_mib']:.0f}",
            f"{m['peak_mib']:.0f}" + ("" if m["peak_reset"] else " (sampled)"),
            f"+{m['growth_mib']:.0f} (+{m['growth_max_mib']:.0f})",
            f"{m['rss_after_burst_mib']:.0f} / {m['rss_end_mib']:.0f}",
            f"{m['server_peak_mib']:.0f}",
            f"{m['photo_workers']} × {DECODED_MIB:.1f} = {m['nominal_bound_mib']:.0f}",
            f"+{m['floor_one_mib']:.0f} / +{m['floor_workers_mib']:.0f}",
        )  # fmt: skip
    console.print(mem)
    noisy = [s for s in summary["uploads"] + summary["floors"] if s["others_cores"] >= NOISY_CORES]
    if noisy:
        console.print(
            f"[yellow]Other processes kept up to {max(s['others_cores'] for s in noisy):.1f} "
            "cores busy during some measures: those figures are pessimistic; run again on a "
            "quiet machine.[/]"
        )
    for s in summary["uploads"]:
        for run in s["runs"]:
            for error in run["errors"]:
                console.print(f"[red]{s['db']} {s['measure']}: {error}[/]")


def _env_pair(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    return name, setting


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--uploads", type=int, default=40, help="timed uploads (default 40)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="uploads at once for the rate (default 2)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per database; medians shown")
    parser.add_argument(
        "--photo-workers", type=int, default=None,
        help="the server's SENTINELLES_PHOTO_WORKERS (default: the setting's default)",
    )  # fmt: skip
    parser.add_argument(
        "--server-env", metavar="NAME=VALUE", action="append", default=[],
        type=_env_pair,
        help="an environment variable for the server process (repeatable), for experiments "
        "such as MALLOC_ARENA_MAX=2",
    )  # fmt: skip
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=20261126, help="seed of the photo's pixels")
    parser.add_argument("--save-photo", metavar="PATH", help="also write the test photo there")
    parser.add_argument(
        "--burst", type=int, default=BURST, help=f"uploads at once, memory watched ({BURST})"
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures as JSON ('-': stdout)"
    )
    args = parser.parse_args(argv)
    if min(args.uploads, args.concurrency, args.runs, args.burst, args.photo_workers or 1) < 1:
        parser.error(
            "--uploads, --concurrency, --runs, --burst and --photo-workers must be at least 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    t0 = time.perf_counter()
    photo = make_phone_jpeg(args.seed)
    console.log(f"photo made: {len(photo) / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s")
    if args.save_photo:
        Path(args.save_photo).write_bytes(photo)
    runs: list[RunResult] = []
    for db in databases(args.db, args.pg_admin_url, console):
        for i in range(args.runs):
            if args.runs > 1:
                console.rule(f"{db}: run {i + 1} of {args.runs}")
            runs.append(run_once(db, args, photo))
    if not runs:
        console.print("[red]nothing measured[/]")
        return 2
    summary = summarise(runs)
    print_report(machine, args, photo, summary)
    for run in runs:
        if run.server_log:
            console.rule(f"{run.db}: last lines of the server's log")
            console.print(run.server_log, markup=False, highlight=False)
    problems = [f"{r.db}: {c}" for r in runs for c in r.checks]
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if args.json:
        settings = {**vars(args), "pg_admin_url": make_url(args.pg_admin_url).render_as_string()}
        doc = {
            "machine": machine,
            "settings": settings,
            "photo": {"size": PHOTO_SIZE, "bytes": len(photo), "quality": SOURCE_QUALITY},
            "measures": measures(summary),
            "results": summary,
            "checks": problems,
        }
        text = json.dumps(doc, indent=2, default=str)
        write: Callable[[str], Any] = (
            sys.stdout.write if args.json == "-" else Path(args.json).write_text
        )
        write(text + "\n")
    errors = any(run["errors"] for s in summary["uploads"] for run in s["runs"])
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
