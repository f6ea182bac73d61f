from pathlib import Path

from sqlmodel import Session

DEFAULT_ZONES_FILE = Path(__file__).parent / "data" / "communes-loos-en-gohelle-and-neighbours.geojson"


def import_zones(session: Session, path: Path) -> None:
    return None
