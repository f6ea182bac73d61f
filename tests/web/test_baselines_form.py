"""The inventory import form over plain HTTP: every bad file answers the form again with the
problem in French at the file field, and nothing is stored; a sentinel gets the French 403 on
each of the ecologists' reference and output pages."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.baselines.csvfile import MAX_FILE_BYTES
from app.baselines.models import Baseline
from app.core.settings import Settings
from app.core.vocabulary import Role
from tests.factories import DEFAULT_PASSWORD, create_user

HEADER = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"


def signed_in(app: FastAPI, email: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    client.get("/login", headers={"accept": "text/html"})
    answer = client.post(
        "/login",
        data={
            "email": email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": client.cookies["sentinelles_csrf"],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def ecologist_client(app: FastAPI, session: Session, settings: Settings) -> Iterator[TestClient]:
    create_user(session, settings, role=Role.ecologist, email="eve@example.org")
    with signed_in(app, "eve@example.org") as client:
        yield client


def upload(client: TestClient, content: bytes, name: str = "inventaire.csv") -> str:
    answer = client.post(
        "/baselines",
        data={"csrf_token": client.cookies["sentinelles_csrf"]},
        files={"file": (name, content, "text/csv")},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 422, answer.text[:500]
    assert 'aria-invalid="true"' in answer.text
    return html.unescape(answer.text)


def stored(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Baseline)).one()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "Le fichier est vide", id="empty"),
        pytest.param(b"\n \r\n", "Le fichier est vide", id="blank"),
        pytest.param(HEADER.encode(), "aucune ligne de données", id="header-only"),
        # Bytes that are neither UTF-8 nor Windows-1252 (0x81 is undefined there).
        pytest.param(
            HEADER.encode() + b"2010,3696,,,\x81\xff\x81,nests,,\n",
            "n'est pas un fichier texte lisible",
            id="wrong-encoding",
        ),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "octets nuls", id="an-image"),
        pytest.param(
            "nom;prénom\nDupont;Jean\n".encode(), "colonne(s) manquante(s)", id="not-an-inventory"
        ),
    ],
)
def test_a_bad_file_is_refused_in_french_and_nothing_is_stored(
    ecologist_client: TestClient, session: Session, content: bytes, message: str
) -> None:
    before = stored(session)
    page = upload(ecologist_client, content)
    assert message in page
    assert stored(session) == before


def test_a_file_over_4_mib_is_refused(ecologist_client: TestClient, session: Session) -> None:
    line = "2010,3696,,,12,nests,recensement,CPIE\n"
    content = (HEADER + line * (MAX_FILE_BYTES // len(line) + 2)).encode()
    assert len(content) > MAX_FILE_BYTES
    page = upload(ecologist_client, content)
    assert "Le fichier dépasse 4 Mo : découpez-le." in page
    assert stored(session) == 0


def test_no_file_chosen_says_so(ecologist_client: TestClient) -> None:
    answer = ecologist_client.post(
        "/baselines",
        data={"csrf_token": ecologist_client.cookies["sentinelles_csrf"]},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 422
    assert "Choisissez le fichier CSV de l'inventaire." in html.unescape(answer.text)


def test_a_windows_spreadsheet_file_imports(ecologist_client: TestClient, session: Session) -> None:
    content = (
        "year;cd_nom;zone_code;site_code;count;unit;method;source\r\n"
        "2010;3696;;;12,5;individuals;relevé des granges;CPIE\r\n"
    ).encode("cp1252")
    answer = ecologist_client.post(
        "/baselines",
        data={"csrf_token": ecologist_client.cookies["sentinelles_csrf"]},
        files={"file": ("inventaire.csv", content, "text/csv")},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 200
    assert "1 ligne importée" in answer.text
    assert "relevé des granges" in answer.text  # the accents read right
    assert "12,5" in answer.text
    assert stored(session) == 1


def test_the_form_without_its_csrf_token_is_refused(
    ecologist_client: TestClient, session: Session
) -> None:
    answer = ecologist_client.post(
        "/baselines",
        files={"file": ("inventaire.csv", (HEADER + "2010,3696,,,1,nests,,\n").encode())},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 403
    assert "Ce formulaire a expiré" in html.unescape(answer.text)
    assert stored(session) == 0


@pytest.mark.parametrize(
    "path", ["/species", "/baselines", "/stats", "/exports", "/exports/observations.csv"]
)
def test_a_sentinel_gets_the_french_403(
    app: FastAPI, session: Session, settings: Settings, path: str
) -> None:
    create_user(session, settings, email="sam@example.org")
    with signed_in(app, "sam@example.org") as client:
        answer = client.get(path, headers={"accept": "text/html"})
    assert answer.status_code == 403
    assert "Accès refusé" in answer.text
    assert "réservée aux administrateur·rices et aux écologues" in answer.text


def test_anonymous_visitors_are_sent_to_sign_in(app: FastAPI) -> None:
    with TestClient(app, base_url="http://testserver") as client:
        answer = client.get("/stats?year=2026", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/stats%3Fyear%3D2026"
