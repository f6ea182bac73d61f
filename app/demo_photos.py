"""Photos for the demo: small pictures drawn with Pillow, attached to some validated sightings
through the photo service (its decoding, variants, storage and licence), so that the review
pages, the residents' list and the open data's multimedia extension have something to show.

Each picture is a landscape of the species' habitat with the species' name written on it: it
says plainly that it is a demo, and weighs a few kilobytes. The licences vary as the residents'
do (CC-BY by default, some CC0, some CC-BY-NC), so that an archive shows each photo's own.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlmodel import Session, col

from app.core.settings import Settings
from app.core.vocabulary import PhotoLicence
from app.media.storage import storage_from_settings
from app.observations import photos as photos_service
from app.observations.models import Observation, ObservationStatus
from app.species.models import Species

SHARE = 0.04  # of the validated sightings, as with residents who attach a photo now and then
MAX_PHOTOS = 60
WIDTH, HEIGHT = 640, 427
LICENCES = (
    (PhotoLicence.cc_by.value, 0.7),
    (PhotoLicence.cc0.value, 0.15),
    (PhotoLicence.cc_by_nc.value, 0.15),
)


def _colour(name: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(name.encode()).digest()
    return 60 + digest[0] % 150, 60 + digest[1] % 150, 60 + digest[2] % 150


def demo_picture(label: str, rng: random.Random) -> bytes:
    """A JPEG of a few kilobytes: sky, a hedge, a coloured animal shape and ``label``."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    for y in range(HEIGHT):
        shade = int(150 + 80 * y / HEIGHT)
        draw.line([(0, y), (WIDTH, y)], fill=(shade - 60, shade - 20, 255))
    ground = int(HEIGHT * rng.uniform(0.55, 0.7))
    draw.rectangle([0, ground, WIDTH, HEIGHT], fill=(70, 120 + rng.randrange(40), 60))
    for _ in range(6):
        x = rng.randrange(WIDTH)
        r = rng.randrange(30, 70)
        draw.ellipse([x - r, ground - r, x + r, ground + r // 2], fill=(40, 95, 45))
    cx, cy = rng.randrange(150, WIDTH - 150), rng.randrange(90, ground - 40)
    body = _colour(label)
    draw.ellipse([cx - 60, cy - 25, cx + 60, cy + 25], fill=body)
    draw.ellipse([cx + 40, cy - 40, cx + 80, cy], fill=body)
    draw.polygon([(cx - 20, cy), (cx - 110, cy - 50), (cx - 40, cy + 10)], fill=body)
    draw.rectangle([0, HEIGHT - 34, WIDTH, HEIGHT], fill=(255, 255, 255))
    draw.text((12, HEIGHT - 26), f"{label} (photo de démonstration)", fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


def attach_demo_photos(
    session: Session,
    settings: Settings,
    rng: random.Random,
    *,
    observer_ids: Sequence[object],
) -> int:
    """Attaches a picture to some validated sightings of ``observer_ids``; returns how many."""
    rows = session.execute(
        select(Observation, Species)
        .join(Species, col(Species.id) == col(Observation.species_id))
        .where(
            col(Observation.observer_id).in_(observer_ids),
            col(Observation.status) == ObservationStatus.validated.value,
            col(Observation.deleted_at).is_(None),
        )
        .order_by(col(Observation.observed_at), col(Observation.id))
    ).all()
    if not rows:
        return 0
    chosen = rng.sample(rows, min(MAX_PHOTOS, max(1, round(len(rows) * SHARE))))
    # Sensitive species too: their photos go out with the record, its position generalised.
    sensitive = [r for r in rows if r[1].sensitive and r not in chosen]
    chosen += sensitive[:2]
    storage = storage_from_settings(settings)
    licences = [licence for licence, _ in LICENCES]
    weights = [weight for _, weight in LICENCES]
    for observation, species in chosen:
        picture = demo_picture(species.vernacular_name or species.scientific_name, rng)
        photos_service.add_photo(
            session,
            settings,
            storage,
            observation=observation,
            uploader_id=observation.observer_id,
            upload=io.BytesIO(picture),
            licence=rng.choices(licences, weights)[0],
        )
    return len(chosen)
