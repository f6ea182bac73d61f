"""Species: search through the API, look-ups for other domains, and loading species files."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.core.errors import NotFound, Unprocessable
from app.core.settings import Settings
from app.species.models import Species
from app.species.service import (
    DEFAULT_SPECIES_FILE,
    get_species,
    import_species,
    resolve_species,
    species_by_keys,
)
from app.species.taxref import fold

with DEFAULT_SPECIES_FILE.open(encoding="utf-8") as _f:
    REFERENCE = list(csv.DictReader(_f))

TAXREF_COLUMNS = [
    "REGNE", "PHYLUM", "CLASSE", "ORDRE", "FAMILLE", "SOUS_FAMILLE", "TRIBU", "GROUP1_INPN",
    "GROUP2_INPN", "GROUP3_INPN", "CD_NOM", "CD_TAXSUP", "CD_SUP", "CD_REF", "CD_BA", "RANG",
    "LB_NOM", "LB_AUTEUR", "NOMENCLATURAL_COMMENT", "NOM_COMPLET", "NOM_COMPLET_HTML",
    "NOM_VALIDE", "NOM_VERN", "NOM_VERN_ENG", "HABITAT", "FR", "GF", "MAR", "URL",
]  # fmt: skip


def taxref_line(**values: str) -> str:
    return "\t".join(values.get(c, "") for c in TAXREF_COLUMNS) + "\n"


def taxref_file(path: Path, *rows: dict[str, str], bom: bool = False) -> Path:
    text = "\t".join(TAXREF_COLUMNS) + "\n" + "".join(taxref_line(**r) for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def bird(
    cd_nom: str, name: str, vern: str = "", cd_ref: str = "", rank: str = "ES"
) -> dict[str, str]:
    return {
        "REGNE": "Animalia", "PHYLUM": "Chordata", "CLASSE": "Aves", "ORDRE": "Passeriformes",
        "FAMILLE": "Hirundinidae", "GROUP1_INPN": "Chordés", "GROUP2_INPN": "Oiseaux",
        "CD_NOM": cd_nom, "CD_REF": cd_ref or cd_nom, "RANG": rank, "LB_NOM": name,
        "LB_AUTEUR": "Linnaeus, 1758", "NOM_VERN": vern, "FR": "P",
    }  # fmt: skip


def lepidoptera(cd_nom: str, name: str, family: str, vern: str = "") -> dict[str, str]:
    return {
        "REGNE": "Animalia", "CLASSE": "Insecta", "ORDRE": "Lepidoptera", "FAMILLE": family,
        "GROUP1_INPN": "Arthropodes", "GROUP2_INPN": "Insectes", "CD_NOM": cd_nom,
        "CD_REF": cd_nom, "RANG": "ES", "LB_NOM": name, "NOM_VERN": vern,
    }  # fmt: skip


def species_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Species)).one())


def by_cd_nom(session: Session, cd_nom: int) -> Species | None:
    return session.exec(select(Species).where(Species.cd_nom == cd_nom)).first()


def search(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/species", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- the list and search ----------------------------------------------------------------------


def test_list_has_the_reference_species_alphabetically(client: TestClient) -> None:
    response = client.get("/species")

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert len(items) == 32
    assert {i["cd_nom"] for i in items} == {int(r["cd_nom"]) for r in REFERENCE}
    names = [fold(i["vernacular_name"] or i["scientific_name"]) for i in items]
    assert names == sorted(names)
    assert names[0] == "alyte accoucheur"


def test_species_fields(client: TestClient) -> None:
    (swallow,) = search(client, q="Hirundo rustica")

    assert swallow == {
        "id": swallow["id"],
        "cd_nom": 3696,
        "cd_ref": 3696,
        "scientific_name": "Hirundo rustica",
        "authority": "Linnaeus, 1758",
        "vernacular_name": "Hirondelle rustique",
        "vernacular_en": None,
        "group": "bird",
        "rank": "ES",
        "sensitive": False,
        "generalisation": "grid_10km",
    }
    uuid.UUID(swallow["id"])


@pytest.mark.parametrize("q", ["hirondelle", "HIRONDELLE", "Hirondelle ", "hirond"])
def test_search_french_names_ignoring_case(client: TestClient, q: str) -> None:
    names = {i["vernacular_name"] for i in search(client, q=q)}

    assert names == {"Hirondelle rustique", "Hirondelle de fenêtre", "Hirondelle de rivage"}


@pytest.mark.parametrize("q", ["pieride", "piéride", "PIÉRIDE", "Piéride du"])
def test_search_ignores_accents(client: TestClient, q: str) -> None:
    names = {i["vernacular_name"] for i in search(client, q=q)}

    assert "Piéride du Chou" in names
    assert names <= {"Piéride du Chou", "Piéride de la Rave", "Piéride du Navet"}


def test_search_accent_in_the_data_not_in_the_query(client: TestClient) -> None:
    assert [i["cd_nom"] for i in search(client, q="lezard des souches")] == [77600]
    assert [i["cd_nom"] for i in search(client, q="FAUCON PELERIN")] == [2938]


def test_search_scientific_name_and_cd_nom(client: TestClient) -> None:
    assert [i["vernacular_name"] for i in search(client, q="pieris brassicae")] == [
        "Piéride du Chou"
    ]
    assert [i["scientific_name"] for i in search(client, q="54342")] == ["Pieris brassicae"]


@pytest.mark.parametrize("q", ["%", "_", "hirondelle%", "\\", "'; drop table species; --"])
def test_search_wildcards_are_literal(client: TestClient, q: str) -> None:
    assert search(client, q=q) == []


def test_search_too_long_is_422(client: TestClient) -> None:
    response = client.get("/species", params={"q": "a" * 101})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "q"


def test_filter_by_group(client: TestClient) -> None:
    amphibians = search(client, group="amphibian")

    assert {i["scientific_name"] for i in amphibians} == {
        "Epidalea calamita",
        "Bufo bufo",
        "Alytes obstetricans",
    }
    assert {i["group"] for i in search(client, group="butterfly", q="azure")} == {"butterfly"}
    assert search(client, group="plant") == []


def test_unknown_group_is_422(client: TestClient) -> None:
    response = client.get("/species", params={"group": "dragons"})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_sensitive_flag_is_listed(client: TestClient) -> None:
    sensitive = {i["cd_nom"] for i in search(client, limit=500) if i["sensitive"]}

    assert sensitive == {2938, 459628, 197, 77600}


def test_pages_walk_the_whole_list_without_gaps(client: TestClient) -> None:
    everything = [i["id"] for i in search(client, limit=500)]
    walked: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/species", params=params).json()
        walked += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert walked == everything
    assert pages == 7


def test_pages_with_a_query(client: TestClient) -> None:
    first = client.get("/species", params={"q": "piéride", "limit": 2}).json()
    second = client.get(
        "/species", params={"q": "piéride", "limit": 2, "cursor": first["next_cursor"]}
    ).json()

    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    names = [i["vernacular_name"] for i in first["items"] + second["items"]]
    assert names == ["Piéride de la Rave", "Piéride du Chou", "Piéride du Navet"]


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJhIiwibm90LWEtdXVpZCJd", "!!"])
def test_damaged_cursor_is_422(client: TestClient, cursor: str) -> None:
    response = client.get("/species", params={"cursor": cursor})

    assert response.status_code == 422
    assert response.json()["code"] == "request.invalid_cursor"


@pytest.mark.parametrize("limit", [0, 501, -1, "x"])
def test_bad_limit_is_422(client: TestClient, limit: Any) -> None:
    assert client.get("/species", params={"limit": limit}).status_code == 422


# --- one species ------------------------------------------------------------------------------


def test_get_one_species(client: TestClient) -> None:
    (toad,) = search(client, q="bufo bufo")

    response = client.get(f"/species/{toad['id']}")

    assert response.status_code == 200
    assert response.json() == toad
    assert toad["vernacular_en"] == "Common Toad"


def test_unknown_species_is_404(client: TestClient) -> None:
    response = client.get(f"/species/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "species.not_found"


@pytest.mark.parametrize("bad", ["42", "not-a-uuid", "3696", "%00"])
def test_species_id_that_is_not_a_uuid_is_a_problem_not_a_500(client: TestClient, bad: str) -> None:
    response = client.get(f"/species/{bad}")

    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


# --- look-ups for other domains ---------------------------------------------------------------


def test_get_species_and_its_404(session: Session) -> None:
    swallow = by_cd_nom(session, 3696)
    assert swallow is not None

    assert get_species(session, swallow.id).cd_nom == 3696
    with pytest.raises(NotFound) as caught:
        get_species(session, uuid.uuid4())
    assert caught.value.code == "species.not_found"


def test_resolve_species(session: Session, settings: Settings) -> None:
    swallow = by_cd_nom(session, 3696)
    toad = by_cd_nom(session, 259)
    assert swallow is not None and toad is not None

    assert resolve_species(session, settings, species_id=swallow.id, cd_nom=None).id == swallow.id
    assert resolve_species(session, settings, species_id=None, cd_nom=259).id == toad.id
    # The id wins when both are given; an unknown id falls back on the cd_nom.
    assert resolve_species(session, settings, species_id=swallow.id, cd_nom=259).id == swallow.id
    assert resolve_species(session, settings, species_id=uuid.uuid4(), cd_nom=259).id == toad.id
    assert resolve_species(session, settings, species_id=uuid.uuid4(), cd_nom=None) is None
    assert resolve_species(session, settings, species_id=None, cd_nom=999_999_999) is None
    assert resolve_species(session, settings, species_id=None, cd_nom=None) is None


def test_resolve_species_sees_species_added_in_the_transaction(
    session: Session, settings: Settings
) -> None:
    added = Species(cd_nom=990_001, cd_ref=990_001, scientific_name="Testus addedus")
    session.add(added)
    session.flush()

    assert resolve_species(session, settings, species_id=None, cd_nom=990_001).id == added.id
    assert resolve_species(session, settings, species_id=added.id, cd_nom=None).id == added.id


def test_species_by_keys(session: Session, settings: Settings) -> None:
    swallow = by_cd_nom(session, 3696)
    assert swallow is not None
    unknown = uuid.uuid4()

    by_id, by_cd = species_by_keys(
        session, settings, ids=[swallow.id, unknown, swallow.id], cd_noms=[259, 197, 123_456_789]
    )

    assert {key: s.cd_nom for key, s in by_id.items()} == {swallow.id: 3696}
    assert set(by_cd) == {259, 197}
    assert by_cd[259].scientific_name == "Bufo bufo"
    assert species_by_keys(session, settings) == ({}, {})


def test_species_by_keys_for_a_batch_of_500(session: Session, settings: Settings) -> None:
    everything = list(session.exec(select(Species)))
    ids = [s.id for s in everything] + [uuid.uuid4() for _ in range(500 - len(everything))]
    cd_noms = [s.cd_nom for s in everything] + list(range(900_000, 900_000 + 468))

    by_id, by_cd = species_by_keys(session, settings, ids=ids, cd_noms=cd_noms)

    assert len(by_id) == len(by_cd) == 32


def test_species_cache_notices_a_species_changed_by_an_import(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Looked-up species are kept per process; a change to the table (here a new French name
    from an import) is seen at the next look-up, not served stale."""
    before = resolve_species(session, settings, species_id=None, cd_nom=3696)
    assert before is not None and before.vernacular_name == "Hirondelle rustique"
    path = tmp_path / "extract.csv"
    path.write_text(
        "cd_nom,cd_ref,scientific_name,authority,vernacular_fr,vernacular_en,group,rank,"
        "sensitive,source\n"
        '3696,3696,Hirundo rustica,"Linnaeus, 1758",Hirondelle des granges,,bird,ES,0,test\n',
        encoding="utf-8",
    )
    import_species(session, path)

    after = resolve_species(session, settings, species_id=None, cd_nom=3696)

    assert after is not None and after.vernacular_name == "Hirondelle des granges"


# --- importing TAXREF -------------------------------------------------------------------------


def test_import_taxref_file(session: Session, client: TestClient, tmp_path: Path) -> None:
    before = species_count(session)
    path = taxref_file(
        tmp_path / "TAXREFv18.txt",
        bird("990010", "Testhirundo alba", "Hirondelle blanche d'essai, Hirondelle neigeuse"),
        # A synonym: its own cd_nom, the accepted taxon's cd_ref.
        bird("990011", "Testhirundo nivea", cd_ref="990010"),
        # A genus: left out by the default rank filter.
        bird("990012", "Testhirundo", rank="GN"),
        lepidoptera("990020", "Testpieris alba", "Pieridae", "Piéride d'essai"),
        lepidoptera("990021", "Testnoctua alba", "Noctuidae", "Noctuelle d'essai"),
        {"REGNE": "Plantae", "GROUP1_INPN": "Trachéophytes", "GROUP2_INPN": "Angiospermes",
         "CD_NOM": "990030", "CD_REF": "990030", "RANG": "SSES", "LB_NOM": "Testplanta a b",
         "NOM_VERN": "Plante d'essai"},
        {"REGNE": "Fungi", "CD_NOM": "990031", "CD_REF": "990031", "RANG": "ES",
         "LB_NOM": "Testfungus albus"},
        {"REGNE": "Animalia", "CLASSE": "Mammalia", "GROUP2_INPN": "Mammifères",
         "CD_NOM": "990032", "CD_REF": "990032", "RANG": "ES", "LB_NOM": "Testmus albus"},
        {"REGNE": "Animalia", "CLASSE": "Insecta", "ORDRE": "Coleoptera",
         "GROUP2_INPN": "Insectes", "CD_NOM": "990033", "CD_REF": "990033", "RANG": "ES",
         "LB_NOM": "Testcarabus albus"},
        {"REGNE": "Animalia", "CLASSE": "Actinopterygii", "GROUP2_INPN": "Poissons",
         "CD_NOM": "990034", "CD_REF": "990034", "RANG": "ES", "LB_NOM": "Testpiscis albus"},
    )  # fmt: skip
    progress: list[tuple[int, int]] = []

    report = import_species(
        session, path, on_progress=lambda done, total: progress.append((done, total))
    )

    assert (report.created, report.updated, report.skipped, report.total) == (9, 0, 1, 10)
    assert report.format == "taxref"
    assert report.taxref_version == "18"
    assert species_count(session) == before + 9
    assert progress[-1] == (path.stat().st_size, path.stat().st_size)
    session.flush()

    accepted = by_cd_nom(session, 990010)
    synonym = by_cd_nom(session, 990011)
    assert accepted is not None and synonym is not None
    assert (synonym.cd_nom, synonym.cd_ref) == (990011, 990010)
    assert accepted.vernacular_name == "Hirondelle blanche d'essai, Hirondelle neigeuse"
    assert accepted.taxref_version == "18"
    assert accepted.kingdom == "Animalia"
    assert accepted.family == "Hirundinidae"
    assert accepted.sensitive is False
    assert by_cd_nom(session, 990012) is None
    groups = {
        cd: s.group for cd in range(990010, 990035) if (s := by_cd_nom(session, cd)) is not None
    }
    assert groups == {
        990010: "bird", 990011: "bird", 990020: "butterfly", 990021: "moth", 990030: "plant",
        990031: "fungus", 990032: "mammal", 990033: "insect", 990034: "other",
    }  # fmt: skip

    # Every French name is searchable, through the API.
    assert [i["cd_nom"] for i in search(client, q="neigeuse")] == [990010]
    assert [i["cd_nom"] for i in search(client, q="piéride d'essai")] == [990020]
    assert [i["cd_nom"] for i in search(client, q="TESTHIRUNDO NIVEA")] == [990011]


def test_taxref_keeps_sensitive_and_updates_names(session: Session, tmp_path: Path) -> None:
    falcon = by_cd_nom(session, 2938)
    assert falcon is not None and falcon.sensitive is True
    path = taxref_file(
        tmp_path / "TAXREF_v17.txt",
        {"REGNE": "Animalia", "CLASSE": "Aves", "GROUP2_INPN": "Oiseaux", "CD_NOM": "2938",
         "CD_REF": "2938", "RANG": "ES", "LB_NOM": "Falco peregrinus",
         "LB_AUTEUR": "Tunstall, 1771", "NOM_VERN": "Faucon pèlerin, Pèlerin",
         "NOM_VERN_ENG": "Peregrine Falcon"},
    )  # fmt: skip

    report = import_species(session, path)

    assert (report.created, report.updated) == (0, 1)
    assert report.taxref_version == "17"
    falcon = by_cd_nom(session, 2938)
    assert falcon is not None
    assert falcon.sensitive is True
    assert falcon.vernacular_name == "Faucon pèlerin, Pèlerin"
    assert falcon.vernacular_en == "Peregrine Falcon"
    assert species_count(session) == 32


def test_taxref_all_ranks_and_explicit_version(session: Session, tmp_path: Path) -> None:
    path = taxref_file(
        tmp_path / "extract.txt",
        bird("990040", "Testgenus", rank="GN"),
        bird("990041", "Testgenus albus"),
        bom=True,
    )

    report = import_species(session, path, ranks=None, taxref_version="18.0")

    assert (report.created, report.skipped) == (2, 0)
    genus = by_cd_nom(session, 990040)
    assert genus is not None
    assert (genus.rank, genus.taxref_version) == ("GN", "18.0")


def test_bad_cd_nom_names_its_line_and_stores_nothing(session: Session, tmp_path: Path) -> None:
    before = species_count(session)
    path = taxref_file(
        tmp_path / "TAXREFv18.txt",
        bird("990050", "Testgood albus"),
        bird("990051", "Testgood niger"),
        bird("99O052", "Testbad albus"),  # a letter O: line 4
        bird("990053", "Testgood ruber"),
    )

    with pytest.raises(Unprocessable) as caught:
        import_species(session, path)

    assert caught.value.code == "species.invalid_file"
    assert caught.value.detail == "The species file has 1 bad row(s); nothing was stored."
    assert [e.field for e in caught.value.errors or []] == ["line 4"]
    assert "CD_NOM" in (caught.value.errors or [])[0].message
    assert species_count(session) == before
    assert by_cd_nom(session, 990050) is None


def test_every_bad_row_is_reported_past_the_first_chunk(session: Session, tmp_path: Path) -> None:
    from app.species import service

    rows = [bird(str(991_000 + i), f"Testchunk n{i}") for i in range(service.CHUNK_ROWS + 10)]
    rows[5]["LB_NOM"] = ""
    rows[service.CHUNK_ROWS + 3]["CD_REF"] = "-1"
    path = taxref_file(tmp_path / "TAXREFv18.txt", *rows)

    with pytest.raises(Unprocessable) as caught:
        import_species(session, path)

    assert [e.field for e in caught.value.errors or []] == [
        "line 7",
        f"line {service.CHUNK_ROWS + 5}",
    ]
    assert by_cd_nom(session, 991_000) is None


def test_errors_are_capped_at_100(session: Session, tmp_path: Path) -> None:
    rows = [bird("x", f"Testbad n{i}") for i in range(150)]
    path = taxref_file(tmp_path / "TAXREFv18.txt", *rows)

    with pytest.raises(Unprocessable) as caught:
        import_species(session, path)

    assert len(caught.value.errors or []) == 100
    assert "more than 100" in caught.value.detail


def test_a_large_taxref_file_is_loaded_in_chunks(session: Session, tmp_path: Path) -> None:
    rows = [bird(str(992_000 + i), f"Testbulk n{i}", f"Oiseau {i}") for i in range(4500)]
    path = taxref_file(tmp_path / "TAXREFv18.txt", *rows)
    before = species_count(session)

    first = import_species(session, path)
    second = import_species(session, path)

    assert (first.created, first.updated) == (4500, 0)
    assert (second.created, second.updated) == (0, 4500)
    assert species_count(session) == before + 4500


# --- importing our CSV ------------------------------------------------------------------------

CSV_HEADER = (
    "cd_nom,cd_ref,scientific_name,authority,vernacular_fr,vernacular_en,group,rank,sensitive,"
    "source\n"
)


def test_reference_csv_reimport_updates(session: Session) -> None:
    report = import_species(session, DEFAULT_SPECIES_FILE)

    assert (report.created, report.updated, report.skipped, report.total) == (0, 32, 0, 32)
    assert report.format == "csv"
    assert species_count(session) == 32


def test_csv_sets_sensitive_when_given_and_keeps_it_otherwise(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "extract.csv"
    path.write_text(
        CSV_HEADER
        + '3696,3696,Hirundo rustica,"Linnaeus, 1758",Hirondelle rustique,Barn Swallow,bird,ES,1,\n'
        + "2938,2938,Falco peregrinus,,Faucon pèlerin,,bird,ES,,\n"
        + '990060,,Testcsv albus,,"Essai, Essai blanc",,moth,es,0,\n',
        encoding="utf-8",
    )

    report = import_species(session, path)

    assert (report.created, report.updated) == (1, 2)
    swallow, falcon, new = (by_cd_nom(session, c) for c in (3696, 2938, 990060))
    assert swallow is not None and falcon is not None and new is not None
    assert swallow.sensitive is True
    assert swallow.vernacular_en == "Barn Swallow"
    assert falcon.sensitive is True
    assert (new.cd_ref, new.group, new.rank, new.sensitive) == (990060, "moth", "ES", False)
    assert new.taxref_version is None


def test_csv_errors_name_their_lines(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_text(
        CSV_HEADER
        + "990070,990070,Testcsv one,,,,bird,ES,0,\n"
        + "990071,990071,Testcsv two,,,,dragon,ES,0,\n"
        + "990072,990072,,,,,bird,ES,0,\n"
        + "990073,990073,Testcsv four,,,,bird,ES,maybe,\n"
        + '990074,990074,Testcsv five,,"unclosed\n',
        encoding="utf-8",
    )

    with pytest.raises(Unprocessable) as caught:
        import_species(session, path)

    fields = [e.field for e in caught.value.errors or []]
    assert fields[:3] == ["line 3", "line 4", "line 5"]
    assert by_cd_nom(session, 990070) is None


def test_csv_with_bom_crlf_and_latin1_line(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "extract.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + CSV_HEADER.replace("\n", "\r\n").encode()
        + "990080,990080,Testcsv utf,,Pélican d'essai,,bird,ES,0,\r\n".encode()
        + "990081,990081,Testcsv latin,,Hérisson d'essai,,mammal,ES,0,\r\n".encode("latin-1")
    )

    report = import_species(session, path)

    assert report.created == 2
    latin = by_cd_nom(session, 990081)
    assert latin is not None and latin.vernacular_name == "Hérisson d'essai"
    utf = by_cd_nom(session, 990080)
    assert utf is not None and utf.vernacular_name == "Pélican d'essai"


@pytest.mark.parametrize(
    "content",
    [b"", b"what,is,this\n1,2,3\n", b"CD_NOM\tLB_NOM\n1\tx\n"],
)
def test_unknown_or_empty_file_is_refused(session: Session, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(content)

    with pytest.raises(Unprocessable) as caught:
        import_species(session, path)

    assert caught.value.code == "species.invalid_file"
    assert [e.field for e in caught.value.errors or []] == ["line 1"]
