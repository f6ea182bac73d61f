"""The browser kit: the app served by a real uvicorn on the test database, and Debian's Chromium
driven by Playwright, for tests that use the pages as a person does.

- ``live_server``: the base URL of the app on a free port, committing for real (what a test
  commits is wiped after it, as for ``committing_app``);
- ``browser``: one Chromium per test process (``SENTINELLES_TEST_CHROMIUM``, default
  ``/usr/bin/chromium``; never a downloaded browser). Missing, the browser tests are skipped,
  unless ``SENTINELLES_TEST_REQUIRE_BROWSER=1`` (CI) makes that a failure;
- ``page``: a fresh French context at 1280 × 800 on ``live_server``;
- ``sign_in``, ``axe_violations`` and ``screenshots``: what most page tests do.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path(os.environ.get("SENTINELLES_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("SENTINELLES_TEST_REQUIRE_BROWSER", "") not in ("", "0", "false")
ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = Path(__file__).parent / "web" / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (375, 1280)


class LiveServer:
    """uvicorn in a thread, serving ``app`` on 127.0.0.1 at a free port."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(committing_app: FastAPI) -> Iterator[str]:
    with LiveServer(committing_app) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield page
    context.close()
    # A script error or a CSP refusal is a defect of the page, whatever the test checked.
    assert not errors, f"the page reported errors: {errors}"


@pytest.fixture
def sign_in() -> Callable[[Page, str, str], None]:
    from tests.factories import DEFAULT_PASSWORD

    def go(page: Page, email: str, password: str = DEFAULT_PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label("Adresse e-mail").fill(email)
        page.get_by_label("Mot de passe").fill(password)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.locator(".error-summary").all_inner_texts()

    return go


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, of the given impacts."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def screenshots(page: Page, name: str) -> list[Path]:
    """The page at a phone's and a projector's width under ``tests/artifacts/``; asserts that
    neither scrolls sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    original = page.viewport_size or {"width": 1280, "height": 800}
    made = []
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at {width} px"
        path = ARTIFACTS / f"{slug}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        made.append(path)
    page.set_viewport_size(original)
    return made


@pytest.fixture
def account(committed: Any, settings: Any) -> Callable[..., Any]:
    """Makes a committed account (``account("ecologist", "eve@example.org")``) that a browser
    can sign in with, password ``DEFAULT_PASSWORD``."""
    from sqlmodel import Session

    from tests.factories import create_user

    def make(
        role: str = "sentinel", email: str | None = None, display_name: str = "Camille"
    ) -> Any:
        with Session(committed) as session:
            user = create_user(session, settings, role=role, email=email, display_name=display_name)
            session.commit()
            session.refresh(user)
            session.expunge(user)
            return user

    return make
