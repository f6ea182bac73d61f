"""What the residents' app tests do as a resident, and what they read in the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from app.accounts.models import User
from app.core.vocabulary import Role
from app.media.models import ObservationPhoto
from app.observations.models import Observation
from tests.conftest import app_settings
from tests.factories import auth_headers, create_user
from tests.observe.conftest import shot

PASSWORD = "hirondelles-2026"


def register(base_url: str, name: str = "Camille") -> str:
    """A new resident's account, made through the API; their e-mail."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org"
    answer = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": name},
    )
    assert answer.status_code == 201, answer.text
    return email


def open_app(context: BrowserContext) -> Page:
    """The app opened, its worker active and its reference data loaded."""
    page = context.new_page()
    page.goto("/observe/")
    page.wait_for_selector("body[data-ready='oui']")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    return page


def sign_in(page: Page, email: str) -> None:
    page.get_by_role("link", name="Compte").click()
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Mes observations")).to_be_visible()
    expect(page.get_by_text("Vous êtes connecté·e.")).to_be_visible()


def record_sighting(
    page: Page,
    search: str,
    name: str,
    count: int = 1,
    *,
    photo: Path | None = None,
    when: datetime | None = None,
    notes: str = "",
) -> None:
    page.get_by_role("link", name="Noter", exact=True).click()
    expect(page.get_by_role("heading", name="Noter une observation")).to_be_visible()
    page.get_by_role("searchbox", name="Espèce").fill(search)
    page.get_by_role("button", name=name).click()
    expect(page.get_by_text(f"Espèce choisie : {name}")).to_be_visible()
    page.get_by_label("Nombre").fill(str(count))
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.get_by_text("précision ± 12 m")).to_be_visible()
    if when is not None:
        page.get_by_label("Date et heure").fill(when.strftime("%Y-%m-%dT%H:%M"))
    if photo is not None:
        with page.expect_file_chooser() as chooser:
            page.get_by_text("Choisir dans la galerie").click()
        chooser.value.set_files(str(photo))
        expect(page.get_by_text("1 photo jointe")).to_be_visible()
        page.get_by_role("heading", name="Noter une observation").scroll_into_view_if_needed()
        shot(page, "observe-sighting-form")
    if notes:
        page.get_by_label("Remarques").fill(notes)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Observation enregistrée sur le téléphone.")).to_be_visible()


def sync(page: Page) -> None:
    page.get_by_role("link", name="Mes observations", exact=True).click()
    page.get_by_role("button", name="Envoyer et mettre à jour").click()


def a_big_photo(folder: Path) -> Path:
    """A 3000 × 2000 JPEG, as a phone's camera makes."""
    path = folder / "hirondelles.jpg"
    image = Image.new("RGB", (3000, 2000), (40, 90, 160))
    for x in range(0, 3000, 100):
        image.paste((200, 180, 40), (x, 0, x + 50, 2000))
    image.save(path, quality=90)
    return path


def tomorrow() -> datetime:
    return datetime.now() + timedelta(days=1)


def observations_of(engine: Engine, email: str) -> list[Observation]:
    with Session(engine) as s:
        user = s.execute(select(User).where(User.email == email)).scalars().one()
        query = select(Observation).where(Observation.observer_id == user.id)
        return list(s.execute(query).scalars().all())


def photos_of(engine: Engine, observations: list[Observation]) -> list[ObservationPhoto]:
    with Session(engine) as s:
        ids = [o.id for o in observations]
        query = select(ObservationPhoto).where(ObservationPhoto.observation_id.in_(ids))  # type: ignore[attr-defined]
        return list(s.execute(query).scalars().all())


def count_rows(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def ecologist_reviewer(base_url: str, engine: Engine) -> Callable[[uuid.UUID, str, str], None]:
    """A CPIE ecologist's decisions, through the API."""
    settings = app_settings(Path("unused"))
    with Session(engine) as s:
        ecologist = create_user(s, settings, role=Role.ecologist, display_name="Claude")
        s.commit()
        headers = auth_headers(ecologist, settings)

    def review(observation_id: uuid.UUID, decision: str, comment: str) -> None:
        answer = httpx.post(
            f"{base_url}/api/v1/observations/{observation_id}/review",
            json={"decision": decision, "comment": comment},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text

    return review
