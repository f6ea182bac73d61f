"""The species file parsers: a value or their own error, on any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.species.taxref import (
    MAX_SEARCH_TEXT,
    MAX_VERNACULAR,
    SEARCH_SEPARATOR,
    RowParser,
    SpeciesFileError,
    SpeciesGroup,
    SpeciesRow,
    fold,
    iter_records,
    make_search_text,
    parse_header,
    split_vernacular,
    taxref_group,
    taxref_version_from_name,
)

TAXREF_HEADER = (
    "REGNE\tCLASSE\tORDRE\tFAMILLE\tGROUP1_INPN\tGROUP2_INPN\tCD_NOM\tCD_SUP\tCD_REF\tRANG\t"
    "LB_NOM\tLB_AUTEUR\tNOM_COMPLET\tNOM_VALIDE\tNOM_VERN\tNOM_VERN_ENG\tHABITAT\tFR"
)
CSV_HEADER = (
    "cd_nom,cd_ref,scientific_name,authority,vernacular_fr,vernacular_en,group,rank,sensitive,"
    "source"
)


def taxref(**values: str) -> str:
    return "\t".join(values.get(c, "") for c in TAXREF_HEADER.split("\t"))


def taxref_parser(ranks: frozenset[str] | None = frozenset({"ES", "SSES"})) -> RowParser:
    return parse_header(TAXREF_HEADER, ranks=ranks)


def csv_parser() -> RowParser:
    return parse_header(CSV_HEADER)


# --- any text ---------------------------------------------------------------------------------

fields = st.lists(st.text(max_size=30), max_size=25)
digits = st.integers(min_value=-5, max_value=2**40).map(str)
taxref_fields = st.fixed_dictionaries(
    {
        "CD_NOM": st.one_of(digits, st.text(max_size=12)),
        "CD_REF": st.one_of(digits, st.text(max_size=12)),
        "RANG": st.sampled_from(["ES", "SSES", "GN", "", "es", "VAR"]),
        "LB_NOM": st.text(max_size=300),
        "NOM_VERN": st.text(max_size=600),
        "REGNE": st.sampled_from(["Animalia", "Plantae", "Fungi", ""]),
        "ORDRE": st.sampled_from(["Lepidoptera", "Coleoptera", ""]),
        "FAMILLE": st.text(max_size=120),
    }
)


def parses_or_own_error(parser: RowParser, text: str) -> SpeciesRow | None:
    try:
        return parser.parse_line(text, 7)
    except SpeciesFileError as exc:
        assert exc.line == 7
        assert exc.message
        return None


@settings(deadline=None)
@given(st.text())
def test_taxref_line_parser_on_any_text(text: str) -> None:
    row = parses_or_own_error(taxref_parser(), text)
    assert row is None or isinstance(row, SpeciesRow)


@settings(deadline=None)
@given(st.text())
def test_csv_line_parser_on_any_text(text: str) -> None:
    row = parses_or_own_error(csv_parser(), text)
    assert row is None or isinstance(row, SpeciesRow)


@settings(deadline=None)
@given(fields)
def test_row_parsers_on_any_fields(values: list[str]) -> None:
    for parser in (taxref_parser(), taxref_parser(ranks=None), csv_parser()):
        try:
            row = parser.parse(values, 3)
        except SpeciesFileError as exc:
            assert exc.line == 3
        else:
            assert row is None or isinstance(row, SpeciesRow)


@settings(max_examples=300, deadline=None)
@given(taxref_fields)
def test_taxref_rows_that_parse_fit_the_columns(values: dict[str, str]) -> None:
    try:
        row = taxref_parser(ranks=None).parse_line(taxref(**values), 2)
    except SpeciesFileError:
        return
    assert row is not None
    assert 0 < row.cd_nom < 2**31 and 0 < row.cd_ref < 2**31
    assert row.scientific_name == row.scientific_name.strip() and row.scientific_name
    assert len(row.scientific_name) <= 255
    assert row.vernacular_name is None or len(row.vernacular_name) <= MAX_VERNACULAR
    assert len(row.search_text) <= MAX_SEARCH_TEXT
    assert row.group in SpeciesGroup.__members__
    assert row.sensitive is None


@settings(deadline=None)
@given(st.text())
def test_header_parser_on_any_text(text: str) -> None:
    try:
        parser = parse_header(text)
    except SpeciesFileError as exc:
        assert exc.line == 1
    else:
        assert parser.format in ("csv", "taxref")


@settings(deadline=None)
@given(st.lists(st.text(max_size=40), max_size=15))
def test_record_reader_on_any_lines(lines: list[str]) -> None:
    for parser in (taxref_parser(), csv_parser()):
        numbers = []
        for number, record in iter_records(parser, [line + "\n" for line in lines]):
            numbers.append(number)
            if isinstance(record, SpeciesFileError):
                assert record.line == number
                continue
            try:
                parser.parse(record, number)
            except SpeciesFileError as exc:
                assert exc.line == number
        assert numbers == sorted(numbers)
        assert all(2 <= n <= len(lines) + 1 for n in numbers)


@settings(deadline=None)
@given(st.text())
def test_fold_is_lower_case_accent_free_and_idempotent(text: str) -> None:
    folded = fold(text)

    assert fold(folded) == folded
    assert folded == folded.strip()
    assert SEARCH_SEPARATOR not in folded


@settings(deadline=None)
@given(
    st.text(max_size=50),
    st.one_of(st.none(), st.text(max_size=600)),
    st.integers(min_value=1, max_value=2**31 - 1),
)
def test_search_text_starts_with_the_displayed_name(
    scientific: str, vernacular: str | None, cd_nom: int
) -> None:
    text = make_search_text(scientific_name=scientific, vernacular_name=vernacular, cd_nom=cd_nom)

    assert len(text) <= MAX_SEARCH_TEXT
    assert text.startswith(fold(vernacular or scientific))


@settings(deadline=None)
@given(
    st.fixed_dictionaries(
        {
            name: st.text(max_size=20)
            for name in ("kingdom", "class_", "order", "family", "group1", "group2")
        }
    )
)
def test_taxref_group_is_always_one_of_ours(values: dict[str, str]) -> None:
    assert taxref_group(**values) in SpeciesGroup.__members__


# --- examples ---------------------------------------------------------------------------------


def test_taxref_row_with_several_french_names() -> None:
    row = taxref_parser().parse_line(
        taxref(
            REGNE="Animalia", CLASSE="Insecta", ORDRE="Lepidoptera", FAMILLE="Pieridae",
            GROUP2_INPN="Insectes", CD_NOM="54342", CD_REF="54342", RANG="ES",
            LB_NOM="Pieris brassicae", LB_AUTEUR="(Linnaeus, 1758)",
            NOM_VERN="Piéride du Chou, Grande Piéride du Chou", NOM_VERN_ENG="Large White",
        ),
        2,
    )  # fmt: skip

    assert row is not None
    assert row.vernacular_name == "Piéride du Chou, Grande Piéride du Chou"
    assert row.group == "butterfly"
    assert row.family == "Pieridae"
    assert row.search_text.split(SEARCH_SEPARATOR) == [
        "pieride du chou, grande pieride du chou",
        "pieris brassicae",
        "pieride du chou",
        "grande pieride du chou",
        "54342",
    ]


def test_taxref_rank_filter() -> None:
    genus = taxref(CD_NOM="1", CD_REF="1", RANG="GN", LB_NOM="Pieris")

    assert taxref_parser().parse_line(genus, 2) is None
    row = taxref_parser(ranks=None).parse_line(genus, 2)
    assert row is not None and row.rank == "GN"
    # A row left out is not checked: a bad genus line does not stop a species import.
    assert taxref_parser().parse_line(taxref(CD_NOM="x", RANG="GN"), 2) is None


@pytest.mark.parametrize(
    ("cd_nom", "message"),
    [
        ("", "missing"),
        ("abc", "not a whole number"),
        ("١٢٣", "not a whole number"),  # Arabic-Indic digits, which int() would accept
        ("+12", "not a whole number"),
        ("1.5", "not a whole number"),
        ("0", "out of range"),
        ("99999999999", "out of range"),
    ],
)
def test_bad_cd_nom(cd_nom: str, message: str) -> None:
    with pytest.raises(SpeciesFileError) as caught:
        taxref_parser().parse_line(taxref(CD_NOM=cd_nom, CD_REF="1", RANG="ES", LB_NOM="X y"), 12)

    assert caught.value.line == 12
    assert "CD_NOM" in caught.value.message
    assert message in caught.value.message
    assert str(caught.value).startswith("line 12:")


def test_long_vernacular_list_is_cut_at_a_comma() -> None:
    names = ", ".join(f"Nom vernaculaire numéro {i}" for i in range(40))
    row = taxref_parser().parse_line(
        taxref(CD_NOM="5", CD_REF="5", RANG="ES", LB_NOM="X y", NOM_VERN=names), 2
    )

    assert row is not None and row.vernacular_name is not None
    assert len(row.vernacular_name) <= MAX_VERNACULAR
    assert names.startswith(row.vernacular_name)
    assert not row.vernacular_name.endswith(",")
    with pytest.raises(SpeciesFileError):
        taxref_parser().parse_line(
            taxref(CD_NOM="5", CD_REF="5", RANG="ES", LB_NOM="X y", NOM_VERN="x" * 600), 2
        )


def test_scientific_name_too_long() -> None:
    with pytest.raises(SpeciesFileError, match="LB_NOM"):
        taxref_parser().parse_line(taxref(CD_NOM="5", CD_REF="5", RANG="ES", LB_NOM="x" * 256), 2)


@pytest.mark.parametrize(
    ("classification", "group"),
    [
        ({"group2": "Oiseaux"}, "bird"),
        ({"group2": "Amphibiens"}, "amphibian"),
        ({"group2": "Reptiles"}, "reptile"),
        ({"group2": "Mammifères"}, "mammal"),
        ({"group2": "Mammiferes"}, "mammal"),
        ({"order": "Lepidoptera", "family": "Nymphalidae"}, "butterfly"),
        ({"order": "Lepidoptera", "family": "Hesperiidae"}, "butterfly"),
        ({"order": "Lepidoptera", "family": "Sphingidae"}, "moth"),
        ({"class_": "Insecta", "order": "Odonata"}, "insect"),
        ({"group2": "Insectes"}, "insect"),
        ({"kingdom": "Plantae", "group2": "Angiospermes"}, "plant"),
        ({"kingdom": "Fungi"}, "fungus"),
        ({"kingdom": "Animalia", "group2": "Poissons"}, "other"),
        ({}, "other"),
    ],
)
def test_taxref_groups(classification: dict[str, str], group: str) -> None:
    values = {"kingdom": "", "class_": "", "order": "", "family": "", "group1": "", "group2": ""}
    values.update(classification)

    assert taxref_group(**values) == group


def test_csv_row() -> None:
    row = csv_parser().parse_line(
        '3696,3696,Hirundo rustica,"Linnaeus, 1758",Hirondelle rustique,Barn Swallow,bird,ES,1,x',
        2,
    )

    assert row == SpeciesRow(
        cd_nom=3696,
        cd_ref=3696,
        scientific_name="Hirundo rustica",
        authority="Linnaeus, 1758",
        vernacular_name="Hirondelle rustique",
        vernacular_en="Barn Swallow",
        group="bird",
        rank="ES",
        kingdom=None,
        family=None,
        sensitive=True,
        search_text="hirondelle rustique\thirundo rustica\t3696",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,1,X y,,,,bird,ES,maybe,", "sensitive"),
        ("1,1,X y,,,,dragons,ES,0,", "group"),
        ("1,1,,,,,bird,ES,0,", "scientific_name"),
        ('1,1,"X y,,,', "CSV"),
    ],
)
def test_bad_csv_rows(line: str, message: str) -> None:
    with pytest.raises(SpeciesFileError, match=message):
        csv_parser().parse_line(line, 4)


def test_headers() -> None:
    assert parse_header("\ufeff" + TAXREF_HEADER + "\r\n").format == "taxref"
    assert parse_header(CSV_HEADER).format == "csv"
    assert parse_header("scientific_name,cd_nom").format == "csv"
    with pytest.raises(SpeciesFileError, match="RANG"):
        parse_header("CD_NOM\tCD_REF\tLB_NOM")
    with pytest.raises(SpeciesFileError, match="unknown format"):
        parse_header("name;id")


def test_split_vernacular() -> None:
    assert split_vernacular("Piéride du Chou, Grande Piéride,, ") == [
        "Piéride du Chou",
        "Grande Piéride",
    ]
    assert split_vernacular(None) == []


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("TAXREFv18.txt", "18"),
        ("TAXREF_v17.txt", "17"),
        ("taxref-v16.0.txt", "16.0"),
        ("TAXREF18.txt", "18"),
        ("species.csv", None),
    ],
)
def test_taxref_version_from_name(name: str, version: str | None) -> None:
    assert taxref_version_from_name(name) == version


def test_fold_examples() -> None:
    assert fold("PIÉRIDE du  Chou") == "pieride du chou"
    assert fold("Œdicnème criard") == "oedicneme criard"
    assert fold("STRAẞE") == fold("straße") == "strasse"
    assert fold(" Lézard\tdes souches ") == "lezard des souches"
