"""Importers: CSV/Parquet exports of the raw tables, and DUO's monthly RMC files.

Privacy at the door: direct identifiers (contracts.DIRECT_IDENTIFIERS — BSN, names, addresses,
postcodes) never leave this module. DUO files are read through a *whitelist* of mapped columns, so
an identifier column DUO adds tomorrow is dropped too; the person number is replaced by a keyed
HMAC-SHA256 pseudonym before any frame is returned. The key is passed in (the CLI reads it from
settings) and is never written next to the data.

DUO mapping (column names from ../shared/data/nl/duo_rmc_file_headers.txt)
-------------------------------------------------------------------------
Person number: DUO's *persoonsgebonden nummer* is the BSN, or the onderwijsnummer for people
without one. Start-population files (NRSP/NenR) carry both columns, monthly files only
PERSOONSGEBONDENNUMMER, so the pseudonym input is BURGERSERVICENUMMER if filled, else
ONDERWIJSNUMMER (start population) and PERSOONSGEBONDENNUMMER (monthly): the same person then gets
the same student_id in both kinds of file. Digit-only numbers are zero-padded to 9 digits (Excel
drops leading zeros).

Start population (NRSP*/NenR*) → ``duo_students`` (students vocabulary, partial):
  student_id ← pseudonym; school_year ← the year in the file name (NRSP2023… → 2023-24) or the
  ``school_year`` argument; birth_date ← GEBOORTEDATUM; gender (audit only) ← GESLACHT;
  rmc_region ← "RMC" + RMC_REGIO; municipality ← "GM" + GEMCODE (4 digits);
  school_id ← BRIN (+ BRIN_VOLGNR as "BRIN-NN"); school_type/level ← ONDERWIJSSOORT + NIVEAU;
  programme ← CREBO.
Monthly files (YYYYMM…csv) → ``duo_enrolments`` (rows with DATUM_UITSCHRIJVING) and
``duo_absence_reports`` (rows with MELDING_VERZUIM_WETTELIJK / _NIET_WETTELIJK):
  enrolments: student_id, school_id ← BRIN (or BRIN_NR), level ← "mbo-" + NIVEAU (1–4),
  pathway ← LEERWEG, programme ← ONDERWIJSCODE, start_date ← NaT (not in the file),
  end_date ← DATUM_UITSCHRIJVING, dereg_reason ← REDEN_UITSTROOM (else REDEN), raw code kept;
  absence reports: student_id, school_id, report_month ← RAPPORTAGEMAAND, statutory (bool: the
  wettelijk/niet-wettelijk flag), since ← VANAF_WANNEER, reason ← REDEN, municipality ← GEMEENTECODE.
The DUO tables are *staging* tables in the project's vocabulary: DUO does not know grade,
final_year or hours, so they are written as ``duo_<table>.parquet`` and checked against the columns
of the project contract they do carry, not passed off as complete raw tables.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from riskscore.calendar import school_year_name
from riskscore.contracts import DIRECT_IDENTIFIERS, LEVELS, RAW_SCHEMAS, SCHEMAS, validate
from riskscore.errors import ContractError, DataError

MSG_NO_TABLES = "no raw tables (<table>.csv or <table>.parquet) found in {path}"
MSG_BAD_DATES = "table '{table}' column '{column}': unparseable dates in rows {rows}"
MSG_BAD_BOOL = "table '{table}' column '{column}': not a yes/no value in rows {rows}"
MSG_UNKNOWN_DUO = "{path}: not a known DUO RMC file (needs ONDERWIJSNUMMER or PERSOONSGEBONDENNUMMER)"
MSG_EMPTY_KEY = "the pseudonym key is empty"

#: lower-case spellings of direct identifiers as they appear in school exports
_IDENTIFIER_NAMES = frozenset(
    {c.lower() for c in DIRECT_IDENTIFIERS}
    | {"bsn", "name", "first_name", "last_name", "surname", "address", "street", "house_number", "email", "phone"}
)
_TRUE = frozenset({"true", "1", "j", "ja", "y", "yes", "t", "waar"})
_FALSE = frozenset({"false", "0", "n", "nee", "no", "f", "onwaar"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m")


# --- pseudonymisation ----------------------------------------------------------------------------
def pseudonymise(values: pd.Series | Iterable[object], key: bytes) -> pd.Series:
    """Keyed HMAC-SHA256 of each (normalised) number, hex; empty stays missing.

    Keyed, not a plain hash: BSNs are 9 digits, so an unkeyed hash is reversed by trying them all.
    Hashes each distinct value once (a monthly file repeats people).
    """
    if not key:
        raise DataError(MSG_EMPTY_KEY)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    normalised = _normalise_numbers(series)
    uniques = normalised.dropna().unique()
    table = {v: hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest() for v in uniques}
    return normalised.map(table).astype(object).where(normalised.notna(), None).rename("student_id")


def _normalise_numbers(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    text = text.mask(text == "")
    digits = text.str.fullmatch(r"\d{1,9}").fillna(False).astype(bool)
    text = text.where(~digits, text.str.zfill(9))
    return text.astype(object).where(text.notna(), None)


# --- CSV / Parquet exports of the raw tables -----------------------------------------------------
def import_tables(source: str | Path, *, validate_contracts: bool = True) -> dict[str, pd.DataFrame]:
    """Read raw tables from a folder (or one file named <table>.csv|.parquet), typed and validated.

    CSV exports arrive as text: ids stay strings ("007" is not 7), dates and yes/no columns are
    parsed here with errors naming the rows, and identifier columns a school left in are dropped.
    """
    source = Path(source)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
    else:
        raise DataError(f"source not found: {source}")
    tables: dict[str, pd.DataFrame] = {}
    for path in files:
        name = path.stem
        if name not in RAW_SCHEMAS:
            continue
        if name in tables:
            raise DataError(f"table '{name}' found twice in {source} (csv and parquet)")
        df = _read_export(path, name)
        df = df.drop(columns=[c for c in df.columns if str(c).strip().lower() in _IDENTIFIER_NAMES])
        tables[name] = validate(name, df) if validate_contracts else df
    if not tables:
        raise DataError(MSG_NO_TABLES.format(path=source))
    return tables


def _read_export(path: Path, table: str) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"table '{table}' at {path} cannot be read: {exc}") from None
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], sep=None, engine="python")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"table '{table}' at {path} cannot be read: {exc}") from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    schema = SCHEMAS[table]
    for name, column in schema.columns.items():
        if name not in df.columns:
            continue
        dtype = str(column.dtype)
        if dtype.startswith("datetime64"):
            df[name] = parse_dates(df[name], table=table, column=name)
        elif dtype == "bool":
            df[name] = _parse_bool(df[name], table=table, column=name)
    return df


def parse_dates(values: pd.Series, *, table: str, column: str) -> pd.Series:
    """Parse a text date column with the first format that fits every value; else name the rows."""
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    present = text.notna()
    if not present.any():
        return pd.to_datetime(text, errors="coerce")
    best: pd.Series | None = None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed[present].notna().all():
            return parsed
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    assert best is not None
    bad = list(np.flatnonzero((present & best.isna()).to_numpy())[:5])
    raise ContractError(MSG_BAD_DATES.format(table=table, column=column, rows=[int(i) for i in bad]))


def _parse_bool(values: pd.Series, *, table: str, column: str) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    truthy = text.isin(_TRUE).fillna(False).astype(bool)
    falsy = text.isin(_FALSE).fillna(False).astype(bool)
    bad = ~(truthy | falsy) & text.notna()
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad.to_numpy())[:5]]
        raise ContractError(MSG_BAD_BOOL.format(table=table, column=column, rows=rows))
    return truthy.where(truthy | falsy, None) if text.isna().any() else truthy


# --- DUO RMC files -------------------------------------------------------------------------------
def import_duo(source: str | Path, *, key: bytes, school_year: str | None = None) -> dict[str, pd.DataFrame]:
    """Import one DUO RMC file or a folder of them into pseudonymised staging tables.

    Returns ``duo_students``, ``duo_enrolments`` and ``duo_absence_reports`` (those the files fill).
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() == ".csv")
    elif source.is_file():
        files = [source]
    else:
        raise DataError(f"source not found: {source}")
    if not files:
        raise DataError(f"no DUO .csv files in {source}")
    parts: dict[str, list[pd.DataFrame]] = {}
    for path in files:
        for name, df in _import_duo_file(path, key=key, school_year=school_year).items():
            parts.setdefault(name, []).append(df)
    out = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    if "duo_students" in out:
        out["duo_students"] = out["duo_students"].drop_duplicates(["student_id", "school_year"], keep="last")
    for name, df in out.items():
        _assert_no_identifiers(name, df)
        _validate_partial(name, df)
    return out


def _read_duo_csv(path: Path) -> pd.DataFrame:
    """Read a DUO file as text; identifier columns other than the person numbers are never kept."""
    try:
        header = pd.read_csv(path, sep=";", nrows=0, encoding="utf-8-sig").columns
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} cannot be read as a DUO file: {exc}") from None
    clean = {c: c.strip().lstrip("#").strip().upper() for c in header}
    keep_ids = {"BURGERSERVICENUMMER", "ONDERWIJSNUMMER", "PERSOONSGEBONDENNUMMER"}
    wanted = [c for c, n in clean.items() if n in _DUO_WANTED or n in keep_ids]
    df = pd.read_csv(path, sep=";", dtype=str, usecols=wanted, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    return df.rename(columns=clean)


#: every non-identifier DUO column the mapping uses (a whitelist: the rest is never read)
_DUO_WANTED = frozenset(
    {
        "GEBOORTEDATUM", "GESLACHT", "RMC_REGIO", "GEMCODE", "GEMEENTECODE", "BRIN", "BRIN_NR", "BRIN_VOLGNR",
        "NIVEAU", "ONDERWIJSSOORT", "CREBO", "ONDERWIJSCODE", "LEERWEG", "DATUM_UITSCHRIJVING", "REDEN",
        "REDEN_UITSTROOM", "MELDING_VERZUIM_WETTELIJK", "MELDING_VERZUIM_NIET_WETTELIJK", "RAPPORTAGEMAAND",
        "VANAF_WANNEER",
    }
)


def _import_duo_file(path: Path, *, key: bytes, school_year: str | None) -> dict[str, pd.DataFrame]:
    df = _read_duo_csv(path)
    if "PERSOONSGEBONDENNUMMER" in df.columns:
        person = df.pop("PERSOONSGEBONDENNUMMER")
        df["student_id"] = pseudonymise(person, key)
        del person
        return _monthly_tables(df, path)
    if "ONDERWIJSNUMMER" in df.columns:
        onr = df.pop("ONDERWIJSNUMMER")
        bsn = df.pop("BURGERSERVICENUMMER") if "BURGERSERVICENUMMER" in df.columns else pd.Series(None, index=df.index, dtype=object)
        bsn = bsn.astype("string").str.strip()
        person = bsn.where(bsn.notna() & (bsn != ""), onr)
        df["student_id"] = pseudonymise(person, key)
        del onr, bsn, person
        return {"duo_students": _start_population(df, path, school_year)}
    raise DataError(MSG_UNKNOWN_DUO.format(path=path))


def _start_population(df: pd.DataFrame, path: Path, school_year: str | None) -> pd.DataFrame:
    match = re.search(r"(?:NRSP|NenR)(\d{4})", path.name, flags=re.IGNORECASE)
    if school_year is None and match is None:
        raise DataError(f"{path}: school year not in the file name; pass school_year")
    if school_year is None:
        assert match is not None
        y0 = int(match.group(1))
        school_year = school_year_name(y0)
    school_type, level = _duo_level(df.get("ONDERWIJSSOORT"), df.get("NIVEAU"), len(df))
    out = pd.DataFrame(
        {
            "student_id": df["student_id"],
            "school_year": school_year,
            "school_id": _school_id(df.get("BRIN"), df.get("BRIN_VOLGNR")),
            "municipality": _prefixed(df.get("GEMCODE"), "GM", 4),
            "rmc_region": _prefixed(df.get("RMC_REGIO"), "RMC", 2),
            "birth_date": parse_dates(_col(df, "GEBOORTEDATUM"), table="duo_students", column="GEBOORTEDATUM"),
            "school_type": school_type,
            "level": level,
            "programme": _col(df, "CREBO"),
            "gender": _col(df, "GESLACHT"),
        }
    )
    return out[out["student_id"].notna()].reset_index(drop=True)


def _monthly_tables(df: pd.DataFrame, path: Path) -> dict[str, pd.DataFrame]:
    school = _school_id(df["BRIN"] if "BRIN" in df.columns else df.get("BRIN_NR"), df.get("BRIN_VOLGNR"))
    niveau = _col(df, "NIVEAU").astype("string").str.extract(r"([1-4])", expand=False)
    level = ("mbo-" + niveau).astype(object).where(niveau.notna(), None)
    reason = _col(df, "REDEN_UITSTROOM").fillna(_col(df, "REDEN"))
    end = parse_dates(_col(df, "DATUM_UITSCHRIJVING"), table="duo_enrolments", column="DATUM_UITSCHRIJVING")
    month = parse_dates(_col(df, "RAPPORTAGEMAAND").astype("string").str.replace(r"^(\d{4})(\d{2})$", r"\1-\2", regex=True),
                        table="duo_absence_reports", column="RAPPORTAGEMAAND")
    has_id = df["student_id"].notna()
    dereg = has_id & end.notna()
    enrolments = pd.DataFrame(
        {
            "student_id": df["student_id"],
            "school_id": school,
            "level": level,
            "pathway": _col(df, "LEERWEG").astype("string").str.upper().where(lambda s: s.isin(["BOL", "BBL"])).astype(object),
            "programme": _col(df, "ONDERWIJSCODE"),
            "start_date": pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"),
            "end_date": end,
            "dereg_reason": reason,
        }
    )[dereg].reset_index(drop=True)
    statutory = _flag(_col(df, "MELDING_VERZUIM_WETTELIJK"))
    other = _flag(_col(df, "MELDING_VERZUIM_NIET_WETTELIJK"))
    reported = has_id & (statutory | other)
    reports = pd.DataFrame(
        {
            "student_id": df["student_id"],
            "school_id": school,
            "report_month": month,
            "statutory": statutory,
            "since": parse_dates(_col(df, "VANAF_WANNEER"), table="duo_absence_reports", column="VANAF_WANNEER"),
            "reason": _col(df, "REDEN"),
            "municipality": _prefixed(df.get("GEMEENTECODE"), "GM", 4),
        }
    )[reported].reset_index(drop=True)
    return {"duo_enrolments": enrolments, "duo_absence_reports": reports}


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        s = df[name].astype("string").str.strip()
        return s.mask(s == "").astype(object).where(s.notna() & (s != ""), None)
    return pd.Series(None, index=df.index, dtype=object)


def _flag(values: pd.Series) -> pd.Series:
    """DUO flags: any filled value other than an explicit no counts as a report."""
    text = values.astype("string").str.strip().str.lower()
    return (text.notna() & ~text.isin(list(_FALSE))).fillna(False).astype(bool)


def _prefixed(values: pd.Series | None, prefix: str, width: int) -> pd.Series | None:
    if values is None:
        return None
    text = values.astype("string").str.strip().str.upper().str.removeprefix(prefix)
    digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
    out = (prefix + text.str.zfill(width)).where(digits)
    return out.astype(object).where(out.notna(), None)


def _school_id(brin: pd.Series | None, volgnr: pd.Series | None) -> pd.Series | None:
    if brin is None:
        return None
    b = brin.astype("string").str.strip().str.upper()
    if volgnr is not None:
        v = volgnr.astype("string").str.strip()
        b = b.where(v.isna() | (v == ""), b + "-" + v.str.zfill(2))
    return b.astype(object).where(b.notna() & (b != ""), None)


_VO_PATTERNS = (
    (r"PRO|PRAKTIJK", "pro", "pro"),
    (r"VSO", "vso", "vso"),
    (r"VWO|ATHENEUM|GYMNASIUM", "vo", "vwo"),
    (r"HAVO", "vo", "havo"),
    (r"\bBB\b|BASIS", "vo", "vmbo-b"),
    (r"\bKB\b|KADER", "vo", "vmbo-k"),
    (r"\bGL\b|\bTL\b|GT|GEMENGD|THEORET", "vo", "vmbo-gt"),
)


def _duo_level(soort: pd.Series | None, niveau: pd.Series | None, n: int) -> tuple[pd.Series, pd.Series]:
    """School type and level from ONDERWIJSSOORT/NIVEAU; unrecognised codes stay missing."""
    soort_t = (soort if soort is not None else pd.Series([None] * n, dtype=object)).astype("string").str.upper().fillna("")
    niveau_t = (niveau if niveau is not None else pd.Series([None] * n, dtype=object)).astype("string").str.upper().fillna("")
    both = (soort_t + " " + niveau_t).reset_index(drop=True)
    school_type = pd.Series([None] * n, dtype=object)
    level = pd.Series([None] * n, dtype=object)
    mbo_digit = niveau_t.reset_index(drop=True).str.extract(r"([1-4])", expand=False)
    is_mbo = both.str.contains("MBO") & ~both.str.contains("VMBO") | both.str.contains(r"\bMBO")
    level = level.mask(is_mbo & mbo_digit.notna(), "mbo-" + mbo_digit.fillna(""))
    school_type = school_type.mask(is_mbo, "mbo")
    for pattern, st, lv in reversed(_VO_PATTERNS):  # the first pattern in the list wins
        hit = both.str.contains(pattern, regex=True) & ~is_mbo
        school_type = school_type.mask(hit, st)
        level = level.mask(hit, lv)
    level = level.where(level.isin(LEVELS), None)
    if soort is not None:
        school_type.index = soort.index
        level.index = soort.index
    return school_type, level


def _assert_no_identifiers(name: str, df: pd.DataFrame) -> None:
    leaked = [c for c in df.columns if str(c).strip().lstrip("#").lower() in _IDENTIFIER_NAMES]
    if leaked:  # a programming error, never data: fail loudly rather than write it
        raise DataError(f"direct identifier columns {leaked} would reach table '{name}'")


def _validate_partial(name: str, df: pd.DataFrame) -> None:
    """Check the staging table's columns against the project contract of the same vocabulary."""
    base = {"duo_students": "students", "duo_enrolments": "enrolments"}.get(name)
    if base is None or df.empty:
        return
    schema = SCHEMAS[base]
    columns = {c: schema.columns[c] for c in df.columns if c in schema.columns}
    nullable = {c: pa.Column(col.dtype, col.checks, nullable=True, name=c) for c, col in columns.items()}
    partial = pa.DataFrameSchema(nullable, strict=False, coerce=True, name=name)
    try:
        partial.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        details = "; ".join(
            f"column '{c}' failed {k} rows {list(g['index'].dropna().astype(int).unique()[:5])}"
            for (c, k), g in cases.groupby(["column", "check"], dropna=False, sort=False)
        )
        raise ContractError(f"table '{name}' breaks its contract: {details}") from None


def write_imported(tables: dict[str, pd.DataFrame], directory: str | Path) -> list[Path]:
    """Write imported tables atomically as <name>.parquet (the key is never written)."""
    from riskscore.datasets import write_parquet_atomic

    directory = Path(directory)
    return [write_parquet_atomic(df, directory / f"{name}.parquet") for name, df in tables.items()]
