"""Reading the files Dutch schools and DUO actually send: encodings, delimiters, dates, decimal commas.

Every file is read as text (ids stay strings: "007" is not 7). Errors name the file, the line number
as the user sees it in an editor (header = line 1), the column and the value, so a data team can fix
the export and try again; nothing is written when a file fails.

Encodings: a UTF-8 BOM is honoured; otherwise UTF-8 is tried and, if the bytes are not UTF-8,
Windows-1252 (what Excel on Dutch Windows saves). A file that is neither is refused with the
``--encoding`` flag named. Line ends may be CRLF, LF or bare CR (DUO's A05 files).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskscore.errors import DataError
from riskscore.ingest.pseudonym import shown

MSG_ENCODING = "{file}: the file is not {tried}; give its encoding with --encoding (e.g. --encoding cp1252)"
MSG_VALUE = "{file}, line {line}, column '{column}': {problem}: {value}"
MSG_MISSING_COLUMNS = "{file}: column(s) {columns} missing (the file has: {present})"
MSG_UNREADABLE = "{file}: cannot be read as a {delimiter!r}-separated file: {detail}"

ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252",
             "windows-1252": "cp1252", "latin-1": "latin-1", "iso-8859-1": "latin-1", "utf-16": "utf-16"}

#: date shapes: (regex the *whole* column must match, strptime format or "ISO8601"). Ordered: the first
#: shape every value fits wins, so 202312 is a month (never 2023-01-02) and 20231201 a day.
DATE_SHAPES: tuple[tuple[str, str], ...] = (
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
    (r"\d{8}", "%Y%m%d"),
    (r"\d{6}", "%Y%m"),
    (r"\d{4}-\d{2}", "%Y-%m"),
    (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"),
    (r"\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"),
    (r"\d{1,2}-\d{1,2}-\d{4} \d{1,2}:\d{2}", "%d-%m-%Y %H:%M"),
    (r"\d{1,2}-\d{1,2}-\d{4} \d{1,2}:\d{2}:\d{2}", "%d-%m-%Y %H:%M:%S"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", "ISO8601"),
    (r"\d{1,2}/\d{1,2}/\d{2}", "%m/%d/%y"),  # an Excel-US re-save of a DUO file (A05)
)


@dataclass(frozen=True)
class TextTable:
    """A file read as text: the rows, the file line of each row, and how it was read."""

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str
    delimiter: str
    blank_rows: int

    def line_of(self, position: int) -> int:
        return int(self.lines[position])

    def fail(self, position: int, column: str, problem: str, value: object) -> DataError:
        return DataError(MSG_VALUE.format(file=self.path.name, line=self.line_of(position), column=column,
                                          problem=problem, value=shown(value)))


def decode(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding used: the given one, else BOM / UTF-8 / Windows-1252."""
    raw = path.read_bytes()
    if encoding is not None:
        codec = ENCODINGS.get(encoding.lower().replace("_", "-"), encoding)
        try:
            return raw.decode(codec).lstrip("\ufeff"), codec
        except (UnicodeDecodeError, LookupError):
            raise DataError(MSG_ENCODING.format(file=path.name, tried=encoding)) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise DataError(MSG_ENCODING.format(file=path.name, tried="UTF-8 or Windows-1252")) from None


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def read_text_table(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None) -> TextTable:
    """Read a delimited file as text; drop empty rows (Excel's ``;;;;``) and keep each row's file line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    text, used = decode(path, encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    sep = delimiter or sniff_delimiter(first)
    if not text.strip():
        return TextTable(path, pd.DataFrame(), np.zeros(0, dtype=np.int64), used, sep, 0)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False, quoting=csv.QUOTE_MINIMAL, engine="c")
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(MSG_UNREADABLE.format(file=path.name, delimiter=sep, detail=str(exc).splitlines()[0])) from None
    df.columns = [str(c).strip().lstrip("\ufeff").lstrip("#").strip() for c in df.columns]
    if '"' in text and re.search(r'"[^"\n]*\n', text):  # quoted fields spanning lines: count them
        lines = _lines_with_quotes(text, sep, len(df))
    else:
        lines = np.arange(len(df), dtype=np.int64) + 2
    df = df.fillna("")
    empty = np.ones(len(df), dtype=bool)
    for column in df.columns:
        col = df[column]
        blank = col.eq("").to_numpy(dtype=bool)
        spaced = ~blank & empty  # only rows still possibly empty need the (slower) strip
        if spaced.any():
            blank[spaced] = col[spaced].str.strip().eq("").to_numpy(dtype=bool)
        empty &= blank
    keep = ~empty
    blank = int(empty.sum())
    df = df.loc[keep].reset_index(drop=True)
    return TextTable(path, df, lines[keep], used, sep, blank)


def _lines_with_quotes(text: str, sep: str, n_rows: int) -> np.ndarray:
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    next(reader, None)
    out = []
    for _row in reader:
        out.append(reader.line_num)
    start = []  # line where each record starts: the previous record's end + 1
    prev = 1
    for end in out:
        start.append(prev + 1)
        prev = end
    arr = np.array(start[:n_rows], dtype=np.int64)
    if len(arr) < n_rows:
        arr = np.concatenate([arr, np.arange(len(arr), n_rows, dtype=np.int64) + 2])
    return arr


def require_columns(table: TextTable, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.frame.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(file=table.path.name, columns=", ".join(repr(c) for c in missing),
                                                   present=", ".join(map(str, table.frame.columns))))


def blank_to_na(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def parse_dates(values: pd.Series, *, table: TextTable | None = None, column: str = "", label: str = "") -> pd.Series:
    """Parse a text date column by the first shape every value fits; else name the first bad value.

    Months (``YYYYMM``, ``YYYY-MM``) become the first day of the month. Time zones are dropped after
    conversion to Dutch local time (school systems export local times).
    """
    text = blank_to_na(values)
    present = text.notna().to_numpy()
    if not present.any():
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    # dates repeat (a school year has ~200 days): test and parse each distinct text once
    codes, uniques = pd.factorize(text[present])
    filled = pd.Series(uniques, dtype="string")
    best_bad: np.ndarray | None = None
    for shape, fmt in DATE_SHAPES:
        fits = filled.str.fullmatch(shape).fillna(False).to_numpy(dtype=bool)
        if not fits.all():
            if best_bad is None or (~fits).sum() < best_bad.sum():
                best_bad = ~fits
            continue
        if fmt == "ISO8601":
            parsed = pd.to_datetime(filled, format="ISO8601", errors="coerce", utc=True)
            parsed = parsed.dt.tz_convert("Europe/Amsterdam").dt.tz_localize(None)
        else:
            parsed = pd.to_datetime(filled, format=fmt, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():  # right shape, impossible date (31-02-2024)
            best_bad = bad
            break
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        out[present] = parsed.to_numpy(dtype="datetime64[ns]")[codes]
        return out
    assert best_bad is not None
    first_bad = int(np.flatnonzero(np.isin(codes, np.flatnonzero(best_bad)))[0])
    pos = int(np.flatnonzero(present)[first_bad])
    problem = "not a date (dd-mm-jjjj, jjjjmmdd, jjjjmm or jjjj-mm-dd[Tuu:mm])"
    if table is not None:
        raise table.fail(pos, column, problem, values.iloc[pos])
    raise DataError(f"{label or 'column'} '{column}': {problem}: {values.iloc[pos]!r}")


def parse_decimal(values: pd.Series, *, table: TextTable | None = None, column: str = "") -> pd.Series:
    """Numbers with a decimal comma (``1,5``) or point; ``1.234,5`` is read as 1234.5."""
    text = blank_to_na(values)
    both = text.str.contains(",", regex=False).fillna(False) & text.str.contains(".", regex=False).fillna(False)
    text = text.where(~both, text.str.replace(".", "", regex=False))
    text = text.str.replace(",", ".", regex=False)
    out = pd.to_numeric(text, errors="coerce")
    bad = (out.isna() & text.notna()).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        if table is not None:
            raise table.fail(pos, column, "not a number (e.g. 1,5 or 1.5)", values.iloc[pos])
        raise DataError(f"column '{column}': not a number: {values.iloc[pos]!r}")
    return out.astype(float)


TRUE_WORDS = frozenset({"true", "1", "j", "ja", "y", "yes", "t", "waar", "x"})
FALSE_WORDS = frozenset({"false", "0", "n", "nee", "no", "f", "onwaar"})


def parse_bool(values: pd.Series, *, table: TextTable | None = None, column: str = "") -> pd.Series:
    text = blank_to_na(values).str.lower()
    truthy = text.isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
    falsy = text.isin(FALSE_WORDS).fillna(False).to_numpy(dtype=bool)
    bad = ~(truthy | falsy) & text.notna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        if table is not None:
            raise table.fail(pos, column, "not a yes/no value (ja/nee, j/n, true/false)", values.iloc[pos])
        raise DataError(f"column '{column}': not a yes/no value: {values.iloc[pos]!r}")
    return pd.Series(truthy, index=values.index)
