"""The residents' app on a phone: the suite's browser kit (tests/browser.py: ``live_server``,
``browser``, axe, screenshots) with a phone's context: 375 px, touch, French, the GPS granted.
Each test has a fresh context, so its own IndexedDB, service worker and caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

PHONE = {"width": 375, "height": 740}
# A point in Loos-en-Gohelle, as the phone's GPS gives it.
POSITION = {"latitude": 50.4571, "longitude": 2.7852, "accuracy": 12}


@pytest.fixture
def phone(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=live_server,
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
    context.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield context
    context.close()
    # A script error or a CSP refusal is a defect of the app, whatever the test checked.
    assert not errors, errors


def shot(page: Page, name: str) -> Path:
    """What the phone's screen shows (its viewport: the bars stay where the resident sees
    them), under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
