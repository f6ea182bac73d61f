"""A live server on the test database and a headless Chromium, for the residents' app.

The server runs uvicorn in a thread of the test process, against the run's database for the
``backend`` (it commits for real: the suite's autouse wipe clears what each test leaves, as
the tests ask for ``committed``). One browser serves the whole session; each test has a fresh
context (its own IndexedDB, service worker and cache), at a phone's 375 px.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from app.core.db import Database
from app.main import create_app
from tests.conftest import app_settings

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"width": 375, "height": 740}
# A point in Loos-en-Gohelle, as the phone's GPS gives it.
POSITION = {"latitude": 50.4571, "longitude": 2.7852, "accuracy": 12}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def observe_server(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served over HTTP on the backend's database; its base URL."""
    settings = app_settings(tmp_path_factory.mktemp("observe") / "media")
    app = create_app(settings, database=Database(engine))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[playwright_sync.Browser]:
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--lang=fr-FR"]
        )
        yield b
        b.close()


@pytest.fixture
def phone(
    browser: playwright_sync.Browser, observe_server: str, committed: Engine
) -> Iterator[playwright_sync.BrowserContext]:
    """A fresh phone: 375 px, French, geolocation granted at Loos-en-Gohelle."""
    context = browser.new_context(
        base_url=observe_server,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        geolocation=POSITION,
        permissions=["geolocation"],
    )
    context.set_default_timeout(10_000)
    errors: list[str] = []
    context.on("weberror", lambda e: errors.append(str(e.error)))
    yield context
    context.close()
    assert not errors, errors


def shot(page: playwright_sync.Page, name: str) -> Path:
    """What the phone's screen shows (its viewport: the bars stay where the resident sees
    them), under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
