"""The TRIM CSV reader: files come from users, so anything either parses or names its line."""

from __future__ import annotations

import csv
import io
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.stats.trim import TrimCsvError, TrimData, TrimError, read_trim_csv

DATA = Path(__file__).parents[1] / "data" / "trim"


def check_never_crashes(text: str) -> None:
    try:
        data = read_trim_csv(text)
    except TrimCsvError as exc:
        assert exc.code == "trim.bad_csv"
        assert exc.line >= 1
        assert str(exc).startswith(f"line {exc.line}: ")
        assert exc.line <= text.count("\n") + text.count("\r") + 1
    else:
        assert isinstance(data, TrimData)
        assert data.counts.shape == (len(data.sites), len(data.years))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_parses_or_names_a_line(text: str) -> None:
    check_never_crashes(text)


CSVISH = st.text(alphabet=list("site,yarcoun;\t\n\r\"'0123456789.-+eE NAna_"), max_size=200)


@settings(max_examples=500, deadline=None)
@given(body=CSVISH, header=st.sampled_from(["site,year,count", "site;time;count", "", "count"]))
def test_csv_like_text_parses_or_names_a_line(header: str, body: str) -> None:
    check_never_crashes(f"{header}\n{body}")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_in_a_file_parse_or_name_a_line(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "counts.csv"
        path.write_bytes(b"site,year,count\n" + raw)
        try:
            read_trim_csv(path)
        except TrimCsvError as exc:
            assert exc.line >= 1


records = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "site 3", "Étang, nord", 'the "old" pond']),
        st.integers(1990, 2010),
        st.one_of(st.none(), st.integers(0, 500), st.floats(0, 1e4, allow_nan=False)),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=records,
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_written_records_read_back_to_the_same_matrix(
    rows: list[tuple[str, int, float | None]], delimiter: str, newline: str
) -> None:
    weights = {"a": 1.0, "b": 2.5, "site 3": 10.0, "Étang, nord": 0.1, 'the "old" pond': 3.0}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["Count", "site", "YEAR", "habitat", "w"])
    for site, year, count in rows:
        writer.writerow(["" if count is None else repr(count), site, year, site[:1], weights[site]])
    data = read_trim_csv(out.getvalue(), weights="w", covariate="Habitat")

    assert data.years == tuple(range(min(r[1] for r in rows), max(r[1] for r in rows) + 1))
    assert data.sites == tuple(dict.fromkeys(r[0] for r in rows))
    expected = np.full((len(data.sites), len(data.years)), np.nan)
    for site, year, count in rows:
        if count is not None:
            expected[data.sites.index(site), year - data.years[0]] = count
    np.testing.assert_array_equal(data.counts, expected)
    assert data.weights is not None and data.covariate is not None
    assert list(data.weights) == [weights[s] for s in data.sites]
    assert data.covariate == tuple(s[:1] for s in data.sites)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "the file is empty"),
        ("\n\n", 1, "the file is empty"),
        ("site,year,count\n", 1, "no counts below it"),
        ("site,year\na,2001\n", 1, "no count column"),
        ("site,year,count\na,2001\n", 2, "2 fields where the header has 3"),
        ("site,year,count\na,2001,3,extra\n", 2, "4 fields"),
        ("site,year,count\n,2001,3\n", 2, "the site is empty"),
        ("site,year,count\na,2001.5,3\n", 2, "the year '2001.5' is not a whole number"),
        ("site,year,count\na,2001,3\n\na,2002,many\n", 4, "the count 'many' is not a number"),
        ("site,year,count\na,2001,inf\n", 2, "not zero or a positive number"),
        ("site,year,count\na,2001,-1\n", 2, "not zero or a positive number"),
        ("site,year,count\na,2001,3\nb,3001,4\n", 3, "far from the others"),
        ('site,year,count\na,2001,"3\n', 2, "not valid CSV"),
    ],
)
def test_refusals_name_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(TrimCsvError) as caught:
        read_trim_csv(text)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_a_second_count_for_a_site_and_year_points_to_both_lines() -> None:
    with pytest.raises(TrimCsvError) as caught:
        read_trim_csv("site,year,count\na,2001,3\nb,2001,1\na,2001,4\n")
    assert caught.value.line == 4
    assert "the first is on line 2" in str(caught.value)


def test_monthly_counts_get_a_hint_to_aggregate_them() -> None:
    with pytest.raises(TrimCsvError, match="month column") as caught:
        read_trim_csv(DATA / "oystercatcher.csv")
    assert caught.value.line == 3


def test_weights_and_covariates_must_stay_with_their_site() -> None:
    text = "site,year,count,w,h\na,2001,3,1,dune\na,2002,4,2,dune\n"
    with pytest.raises(
        TrimCsvError, match=re.escape("site a has weight 2.0 here but 1.0 on line 2")
    ):
        read_trim_csv(text, weights="w")
    text = "site,year,count,w,h\na,2001,3,1,dune\na,2002,4,1,heath\n"
    with pytest.raises(TrimCsvError, match="covariate") as caught:
        read_trim_csv(text, covariate="h")
    assert caught.value.line == 3
    with pytest.raises(TrimCsvError, match="weight '0' is not positive"):
        read_trim_csv("site,year,count,w\na,2001,3,0\n", weights="w")
    with pytest.raises(TrimCsvError, match="no column 'weight'"):
        read_trim_csv("site,year,count\na,2001,3\n", weights="weight")


def test_missing_counts_gaps_aliases_and_byte_order_mark() -> None:
    text = "\ufeffSite;Time;Count\nx;3;NA\nx;5;2\ny;3;;\ny;4;1.5\n"
    data = read_trim_csv(text)
    assert data.sites == ("x", "y") and data.years == (3, 4, 5)
    assert np.isnan(data.counts[0, 0]) and np.isnan(data.counts[0, 1])  # NA, and no line at all
    assert data.counts[0, 2] == 2 and data.counts[1, 1] == 1.5
    assert data.weights is None and data.covariate is None


def test_the_reference_files_read() -> None:
    skylark = read_trim_csv(DATA / "skylark.csv", covariate="habitat")
    assert skylark.counts.shape == (55, 8)
    assert int(np.isfinite(skylark.counts).sum()) == 202
    assert math.isclose(float(np.nansum(skylark.counts)), 2536.0)
    weighted = read_trim_csv(DATA / "skylark2.csv", weights="weight", covariate="habitat")
    assert weighted.years == tuple(range(1984, 1992))
    assert weighted.weights is not None and set(weighted.weights) == {1.0, 10.0}
    assert set(weighted.covariate or ()) == {"dunes", "heath"}
    awkward = read_trim_csv(DATA / "rtrim_testdata_131183.csv")
    assert awkward.counts.shape == (11, 25)


def test_an_unreadable_path_is_a_trim_error(tmp_path: Path) -> None:
    with pytest.raises(TrimError, match="cannot read") as caught:
        read_trim_csv(tmp_path / "absent.csv")
    assert not isinstance(caught.value, TrimCsvError)
    with pytest.raises(TrimError, match="cannot read"):
        read_trim_csv(tmp_path)  # a folder


def test_records_api_refuses_what_the_matrix_cannot_hold() -> None:
    with pytest.raises(TrimError, match="more than one count"):
        TrimData.from_records([("a", 2001, 3), ("a", 2001, 4)])
    with pytest.raises(TrimError, match="not a whole number"):
        TrimData.from_records([("a", 2001.5, 3)])
    with pytest.raises(TrimError, match="zero or more"):
        TrimData.from_records([("a", 2001, -3)])
    with pytest.raises(TrimError, match="on every record or on none"):
        TrimData.from_records([("a", 2001, 3, 2.0), ("b", 2001, 3)])
    with pytest.raises(TrimError, match="more than 500 years"):
        TrimData.from_records([("a", 1, 3), ("a", 2001, 3)])
    with pytest.raises(TrimError, match="no counts at all"):
        TrimData.from_records([])
