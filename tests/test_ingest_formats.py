"""Formats at the door: encodings, delimiters, Excel's empty rows, dates, decimal commas, line numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.errors import DataError
from riskscore.ingest.formats import parse_dates, parse_decimal, read_text_table, require_columns

days = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2035, 12, 31))


@settings(max_examples=60, deadline=None)
@given(days)
def test_every_dutch_date_shape_reads_the_same_day(day: dt.date) -> None:
    for text in (day.strftime("%d-%m-%Y"), day.strftime("%Y%m%d"), day.isoformat(), f"{day.day}-{day.month}-{day.year}"):
        assert parse_dates(pd.Series([text])).iloc[0] == pd.Timestamp(day), text


@settings(max_examples=40, deadline=None)
@given(days)
def test_a_yyyymm_month_is_a_month_never_a_day(day: dt.date) -> None:
    """The issue's bug: %Y%m%d applied to 202312 gave 2023-01-02."""
    got = parse_dates(pd.Series([day.strftime("%Y%m"), "202312"])).tolist()
    assert got == [pd.Timestamp(day.year, day.month, 1), pd.Timestamp(2023, 12, 1)]


def test_date_times_local_and_with_offset() -> None:
    got = parse_dates(pd.Series(["04-09-2023 8:30", "04-09-2023 14:05"])).tolist()
    assert got == [pd.Timestamp(2023, 9, 4, 8, 30), pd.Timestamp(2023, 9, 4, 14, 5)]
    iso = parse_dates(pd.Series(["2023-11-06T08:30:00.000+01:00", "2023-06-06T08:30:00+02:00"])).tolist()
    assert iso == [pd.Timestamp(2023, 11, 6, 8, 30), pd.Timestamp(2023, 6, 6, 8, 30)]  # Dutch local time


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False))
def test_decimal_comma_and_point_are_the_same_number(value: object) -> None:
    text = f"{value:.2f}"
    assert parse_decimal(pd.Series([text.replace(".", ",")])).iloc[0] == pytest.approx(float(text))
    assert parse_decimal(pd.Series([text])).iloc[0] == pytest.approx(float(text))


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_encodings_are_detected(tmp_path: Path) -> None:
    text = "Code;Naam\r\nO;Piët Dé Vries\r\n"
    for enc, expect in (("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")):
        t = read_text_table(_write(tmp_path / f"{enc}.csv", text, enc))
        assert t.encoding == expect and t.frame.columns.tolist() == ["Code", "Naam"]
        assert t.frame["Naam"].iloc[0] == "Piët Dé Vries"


def test_an_undecodable_file_names_the_encoding_flag(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a;b\n\x81\x8d;\xff\xfe\x90\n")
    with pytest.raises(DataError, match=r"bad.csv: .*--encoding"):
        read_text_table(bad)


def test_excel_empty_rows_are_skipped_and_lines_are_file_lines(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.csv", "Code;Uren;Datum\n;;\nO;1,5;01-10-2023\n;;\n\nO;twee;02-10-2023\n")
    t = read_text_table(f)
    assert len(t.frame) == 2 and t.blank_rows == 3
    assert t.lines.tolist() == [3, 6]
    with pytest.raises(DataError) as err:
        parse_decimal(t.frame["Uren"], table=t, column="Uren")
    assert str(err.value) == "x.csv, line 6, column 'Uren': not a number (e.g. 1,5 or 1.5): 'twee'"


def test_comma_files_with_quoted_fields_and_cr_line_ends(tmp_path: Path) -> None:
    f = _write(tmp_path / "c.csv", 'id,omschrijving,uren\r"1","Ziek, naar huis","2"\r"2","x","1"\r')
    t = read_text_table(f)
    assert t.delimiter == "," and t.frame["omschrijving"].tolist() == ["Ziek, naar huis", "x"]


def test_a_bad_date_names_file_line_column_value(tmp_path: Path) -> None:
    f = _write(tmp_path / "d.csv", "Datum\n01-10-2023\n31-02-2023\n")
    t = read_text_table(f)
    with pytest.raises(DataError, match=r"^d.csv, line 3, column 'Datum': not a date .*'31-02-2023'$"):
        parse_dates(t.frame["Datum"], table=t, column="Datum")


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    t = read_text_table(_write(tmp_path / "m.csv", "Start;Code\n01-10-2023;O\n"))
    with pytest.raises(DataError, match=r"m.csv: column\(s\) 'Lesuur' missing \(the file has: Start, Code\)"):
        require_columns(t, ["Start", "Lesuur", "Code"])
