"""Signing in on the pages: the form, its French errors, the cookie, the CSRF token; the API's
documentation served without a CDN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.browser import axe_violations, screenshots


def test_wrong_password_says_so_in_french_and_keeps_the_address(
    page: Page, account: Callable[..., Any]
) -> None:
    account("sentinel", "martine@example.org")
    page.goto("/login")
    expect(page).to_have_title("Connexion · Sentinelles Loos-en-Gohelle")
    page.get_by_label("Adresse e-mail").fill("martine@example.org")
    page.get_by_label("Mot de passe").fill("pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Adresse e-mail ou mot de passe incorrect.")
    expect(page.get_by_label("Adresse e-mail")).to_have_value("martine@example.org")
    expect(page.get_by_label("Mot de passe")).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    screenshots(page, "login-error")


def test_signing_in_sets_an_httponly_cookie_and_out_clears_it(
    page: Page, account: Callable[..., Any], sign_in: Callable[..., None]
) -> None:
    account("sentinel", "paul@example.org", "Paul B.")
    sign_in(page, "paul@example.org")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["sentinelles_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert not session["secure"]  # plain HTTP here; HTTPS gets Secure
    expect(page.locator(".account .who")).to_have_text("Paul B.")
    expect(page.get_by_role("link", name="Paul B.")).to_have_attribute("href", "/me")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator(".account").get_by_role("link", name="Se connecter")).to_be_visible()
    assert "sentinelles_session" not in {c["name"] for c in page.context.cookies()}


def test_a_form_without_its_csrf_token_is_refused(page: Page, live_server: str) -> None:
    answer = page.request.post(
        "/login", form={"email": "a@example.org", "password": "x"}, headers={"accept": "text/html"}
    )
    assert answer.status == 403
    assert "Ce formulaire a expiré" in answer.text()


def test_an_unknown_page_is_a_french_404(page: Page) -> None:
    answer = page.goto("/nulle-part")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    assert axe_violations(page) == []


def test_the_api_documentation_works_without_internet(browser: Browser, live_server: str) -> None:
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto("/docs")
    # Swagger UI and ReDoc are 1.4 and 0.9 MB of script: parsing them is slow on a busy machine.
    expect(page.locator(".swagger-ui .title").first).to_contain_text(
        "Sentinelles API", timeout=30_000
    )
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("Sentinelles API", timeout=30_000)
    context.close()
    # ReDoc's own branding points at its CDN; the policy blocks it before any request leaves.
    outside = [
        url
        for url in asked
        if not url.startswith((live_server, "data:", "blob:")) and "cdn.redoc.ly" not in url
    ]
    assert outside == []
