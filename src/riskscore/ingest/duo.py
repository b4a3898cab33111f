"""DUO's RMC/VSV files as DUO sends them → pseudonymised staging tables.

File types (name as DUO sends it; the header decides when a file was renamed):

==================  ======================================  ===========================
``YYYYMMA04I<BRIN>``  monthly list of possible early leavers   → ``duo_monthly``
``YYYYMMA14I<BRIN>``  the same list, A14 layout                → ``duo_monthly``
``YYYYMMA05I<BRIN>``  monthly start population                 → ``duo_population``
``NRSP<YYYY>[DV]I…``  annual start population (D/V)            → ``duo_population``
``NenR<YYYY>[DV]I…``  the pupils DUO counts as new VSV'ers      → ``duo_vsv`` (outcomes)
==================  ======================================  ===========================

Mapping decisions (column names from DUO's files; see docs/INTERFACES.md):

* person: BURGERSERVICENUMMER, else ONDERWIJSNUMMER (``0`` means "none", never a person),
  PERSOONSGEBONDENNUMMER, BSN_ONDERWIJSNR — all national numbers, pseudonymised with the same key
  so a pupil joins across every file and with the schools' exports. A row without any number is
  rejected and counted, never given a shared pseudonym.
* school_id: the BRIN alone (``27GZ``), upper case; BRIN_VOLGNR/BRIN_VOLGNUMMER (which some files
  fill with the BRIN itself) is kept apart as ``branch`` so all file types join.
* rmc_region: ``REGIO 28`` / ``28`` → ``RMC28``; municipality: GEMCODE/GEMEENTECODE → ``GM0344``.
* months: RAPPORTAGEMAAND / VANAF_WANNEER are ``YYYYMM`` → the first of that month.
* level: NIVEAU (+ ONDERWIJSSOORT): ``Mbo4 opleidingen`` / ``Mbo niveau 4`` → mbo-4;
  ``HAVO/VWO bovenbouw`` and ``VMBO bovenbouw`` in these mbo-institution files are vavo → vavo.
  An unknown level text stops the import with the list of unknown texts.
* NRSP/NenR year: ``NRSP2023`` is the start population of school year 2023-24 (peildatum 1 October
  2023); a NenR2023 pupil counts as VSV'er on 1 October 2024.
* Definitive (D) files take precedence over provisional (V) ones, whatever the import order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskscore.calendar import school_year_name
from riskscore.errors import DataError
from riskscore.ingest.formats import TextTable, blank_to_na, parse_bool, parse_dates, read_text_table
from riskscore.ingest.pseudonym import name_words, pseudonymise, scan_kept_columns

MSG_UNKNOWN_FILE = ("{file}: not a DUO RMC/VSV file this importer knows (A04, A14, A05, NRSP, NenR); "
                    "expected a person-number column such as PERSOONSGEBONDENNUMMER or ONDERWIJSNUMMER")
MSG_UNKNOWN_LEVEL = "{file}: unknown DUO level text(s) in NIVEAU/ONDERWIJSSOORT: {values}; nothing imported"
MSG_NO_YEAR = "{file}: the school year is not in the file name (NRSP2023…); pass --school-year 2023-24"
MSG_NO_PERSON_COLUMN = ("{file}: column {columns} missing: a DUO {kind} file names each pupil by it; without it no row "
                        "can be imported (the file has: {present}); nothing imported")
MSG_IDENTIFIER_KEPT = ("{file}, line {line}, column '{column}': holds what looks like a {kind}; "
                       "{action}")
#: staging columns an import cannot do without: an identifier found in them stops the file
_REQUIRED = frozenset({"school_id", "school_year", "file_type"})

_NAME = re.compile(r"^(?P<month>\d{6})(?P<type>A04|A14|A05)I(?P<brin>\w{2,4})", re.IGNORECASE)
_ANNUAL = re.compile(r"^(?P<type>NRSP|NenR)(?P<year>\d{4})(?P<dv>[DV])?I?(?P<brin>\w{2,4})?", re.IGNORECASE)
_PRECEDENCE = {"A05": 0, "V": 1, "D": 2}


@dataclass
class DuoFile:
    """One DUO file read into staging rows."""

    kind: str  # A04 | A14 | A05 | NRSP | NenR
    table: str  # duo_monthly | duo_population | duo_vsv
    rows: pd.DataFrame
    read_rows: int
    rejected: int
    blank_rows: int
    encoding: str
    notes: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    duplicate_in_file: int = 0  # rows repeated exactly (after mapping): stored once, counted as duplicate


#: the DUO columns the mapping reads (an allow-list: every other column, names and addresses
#: included, never leaves read_duo_file); the person numbers are read only to be pseudonymised
USED_COLUMNS = frozenset({
    "BRIN", "BRIN_NR", "BRIN_VOLGNR", "BRIN_VOLGNUMMER", "RAPPORTAGEMAAND", "RAPPORTAGE_MAAND", "VANAF_WANNEER",
    "GEBOORTEDATUM", "GESLACHT", "NIVEAU", "ONDERWIJSSOORT", "LEERWEG", "CREBO", "ILT/CREBO", "ONDERWIJSCODE",
    "MELDING_VERZUIM_WETTELIJK", "MELDING_VERZUIM_NIET_WETTELIJK", "DATUM_UITSCHRIJVING", "REDEN_UITSTROOM", "REDEN",
    "RMC_REGIO", "GEMCODE", "GEMEENTECODE", "INSCHRIJVINGSVOLGNUMMER", "INDICATIE_STARTKWALIFICATIE",
})
PERSON_COLUMNS = frozenset({"BURGERSERVICENUMMER", "ONDERWIJSNUMMER", "PERSOONSGEBONDENNUMMER", "BSN_ONDERWIJSNR"})


def detect_kind(path: Path, columns: list[str]) -> str:
    m = _NAME.match(path.name)
    if m:
        return m.group("type").upper()
    a = _ANNUAL.match(path.name)
    if a:
        return "NRSP" if a.group("type").upper() == "NRSP" else "NenR"
    cols = set(columns)
    if "PERSOONSGEBONDENNUMMER" in cols:
        return "A04"
    if "BSN_ONDERWIJSNR" in cols:
        return "A05"
    if "ONDERWIJSNUMMER" in cols:
        return "NenR" if "EXAMEN" in cols else "NRSP"
    raise DataError(MSG_UNKNOWN_FILE.format(file=path.name))


def read_duo_file(path: str | Path, *, key: bytes, school_year: str | None = None,
                  encoding: str | None = None) -> DuoFile:
    path = Path(path)
    table = read_text_table(path, encoding=encoding, delimiter=";")
    df = table.frame
    kind = detect_kind(path, list(df.columns))
    need = {"A04": ("PERSOONSGEBONDENNUMMER",), "A14": ("PERSOONSGEBONDENNUMMER",), "A05": ("BSN_ONDERWIJSNR",)}.get(
        kind, ("BURGERSERVICENUMMER", "ONDERWIJSNUMMER"))
    if len(df) and not any(c in df.columns for c in need):
        raise DataError(MSG_NO_PERSON_COLUMN.format(file=path.name, columns=" or ".join(repr(c) for c in need), kind=kind,
                                                    present=", ".join(map(str, df.columns[:12])) + (" …" if len(df.columns) > 12 else "")))
    if kind in ("A04", "A14"):
        person = _col(df, "PERSOONSGEBONDENNUMMER")
    elif kind == "A05":
        person = _col(df, "BSN_ONDERWIJSNR")
    else:
        bsn = _col(df, "BURGERSERVICENUMMER")
        onr = _col(df, "ONDERWIJSNUMMER")
        person = bsn.where(_is_number(bsn), onr)
    person = person.where(_is_number(person))
    sid = pseudonymise(person, key)
    ok = sid.notna().to_numpy()
    rejected = int((~ok).sum())
    notes = [f"{rejected} row(s) without a person number rejected"] if rejected else []
    if kind in ("A04", "A14"):
        rows, name = _monthly(table, sid, kind), "duo_monthly"
    elif kind == "NenR":
        rows, name = _vsv(table, sid, path, school_year), "duo_vsv"
    else:
        rows, name = _population(table, sid, path, kind, school_year), "duo_population"
    rows = rows.assign(_line=table.lines)[ok]
    dup = rows.drop(columns="_line").duplicated().to_numpy()
    rows = rows[~dup].reset_index(drop=True)
    if dup.any():
        notes.append(f"{int(dup.sum())} row(s) repeated exactly in the file: stored once, counted as duplicate")
    dropped = [c for c in df.columns if c not in USED_COLUMNS]
    _scan(table, rows, notes, dropped)
    return DuoFile(kind, name, rows, len(df), rejected, table.blank_rows, table.encoding, notes, dropped, int(dup.sum()))


def _scan(table: TextTable, rows: pd.DataFrame, notes: list[str], dropped: list[str]) -> None:
    """The identifier scan over every text column the mapping keeps (branch, programme, reason, …): a
    column holding a BSN, e-mail address, phone number, postcode + house number or a name of the
    file's own name columns is emptied for this file (named in the summary), or stops the file when
    the import needs it."""
    found = scan_kept_columns(rows, skip=("student_id", "_line"), names=name_words(table.frame))
    for column, (what, pos) in found.items():
        line = int(rows["_line"].iloc[pos])
        if column in _REQUIRED:
            raise DataError(MSG_IDENTIFIER_KEPT.format(file=table.path.name, line=line, column=column, kind=what,
                                                       action="the import needs this column; nothing imported"))
        rows[column] = None
        notes.append(MSG_IDENTIFIER_KEPT.format(file=table.path.name, line=line, column=column, kind=what,
                                                action="the column was emptied for this file"))
        dropped.append(f"{column} (values)")


# --- mapping helpers -----------------------------------------------------------------------------
def _col(df: pd.DataFrame, *names: str) -> pd.Series:
    for name in names:
        if name in df.columns:
            return blank_to_na(df[name]).astype(object)
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def _is_number(values: pd.Series) -> pd.Series:
    """A usable person number: filled and not DUO's ``0`` placeholder."""
    text = values.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return (text.notna() & (text != "") & ~text.str.fullmatch(r"0+").fillna(False)).fillna(False).astype(bool)


def school_id(brin: pd.Series) -> pd.Series:
    text = brin.astype("string").str.strip().str.upper()
    return text.astype(object).where(text.notna() & (text != ""), None)


def prefixed(values: pd.Series, prefix: str, width: int) -> pd.Series:
    text = values.astype("string").str.upper().str.replace(r"[^0-9]", "", regex=True)
    text = text.str.lstrip("0").str.zfill(width)
    out = (prefix + text).where(values.notna() & (text.str.len() > 0))
    return out.astype(object).where(out.notna(), None)


def school_year_of(month_start: pd.Series) -> pd.Series:
    y = month_start.dt.year
    y0 = y.where(month_start.dt.month >= 8, y - 1)
    out = y0.astype("Int64").astype("string") + "-" + ((y0 + 1) % 100).astype("Int64").astype("string").str.zfill(2)
    return out.astype(object)


_MBO = re.compile(r"MBO\s*(?:NIVEAU\s*)?([1-4])", re.IGNORECASE)
_PATHWAY = re.compile(r"^(BOL|BBL)", re.IGNORECASE)


def map_level(path: Path, niveau: pd.Series, soort: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(school_type, level, pathway) from DUO's level texts; unknown texts stop the import."""
    text = niveau.astype("string").str.strip().fillna("")
    uniq = pd.unique(text)
    table: dict[str, tuple[str | None, str | None]] = {}
    unknown = []
    for t in uniq:
        up = str(t).upper()
        m = _MBO.search(up)
        if m:
            table[t] = ("mbo", f"mbo-{m.group(1)}")
        elif "HAVO" in up or "VWO" in up or "VMBO" in up or "VAVO" in up:
            table[t] = ("vavo", "vavo")
        elif up in ("ENTREE", "ENTREEOPLEIDING"):
            table[t] = ("mbo", "mbo-1")
        elif up == "":
            table[t] = (None, None)
        else:
            unknown.append(str(t))
    if unknown:
        raise DataError(MSG_UNKNOWN_LEVEL.format(file=path.name, values=", ".join(repr(u) for u in sorted(unknown))))
    school_type = text.map({k: v[0] for k, v in table.items()}).astype(object)
    level = text.map({k: v[1] for k, v in table.items()}).astype(object)
    src = soort if soort is not None else pd.Series([None] * len(text), index=text.index, dtype=object)
    pathway = src.astype("string").str.extract(_PATHWAY, expand=False).str.upper()
    pathway = pathway.astype(object).where(pathway.notna(), None)
    return school_type, level, pathway


def _month(table: TextTable, column: str) -> pd.Series:
    values = _col(table.frame, column)
    return parse_dates(values, table=table, column=column)


def _birth(table: TextTable) -> pd.Series:
    return parse_dates(_col(table.frame, "GEBOORTEDATUM"), table=table, column="GEBOORTEDATUM")


def _file_year(path: Path, school_year: str | None) -> tuple[str, int, str]:
    a = _ANNUAL.match(path.name)
    dv = (a.group("dv") or "D").upper() if a else "D"
    if a:
        y0 = int(a.group("year"))
    elif school_year and re.fullmatch(r"\d{4}-\d{2}", school_year):
        y0 = int(school_year[:4])
    else:
        raise DataError(MSG_NO_YEAR.format(file=path.name))
    return school_year_name(y0), y0, dv


def _monthly(table: TextTable, sid: pd.Series, kind: str) -> pd.DataFrame:
    df = table.frame
    st, lv, _ = map_level(table.path, _col(df, "NIVEAU"))
    month = _month(table, "RAPPORTAGEMAAND")
    leerweg = _col(df, "LEERWEG").astype("string").str.upper()
    pathway = leerweg.where(leerweg.isin(["BOL", "BBL"])).astype(object)
    statutory = parse_bool(_col(df, "MELDING_VERZUIM_WETTELIJK").fillna("N"), table=table, column="MELDING_VERZUIM_WETTELIJK")
    other = parse_bool(_col(df, "MELDING_VERZUIM_NIET_WETTELIJK").fillna("N"), table=table, column="MELDING_VERZUIM_NIET_WETTELIJK")
    return pd.DataFrame({
        "student_id": sid,
        "school_id": school_id(_col(df, "BRIN", "BRIN_NR")),
        "branch": _col(df, "BRIN_VOLGNUMMER", "BRIN_VOLGNR"),
        "report_month": month,
        "school_year": school_year_of(month),
        "since": _month(table, "VANAF_WANNEER"),
        "birth_date": _birth(table),
        "school_type": st,
        "level": lv,
        "pathway": pathway,
        "programme": _col(df, "ONDERWIJSCODE"),
        "statutory": statutory.to_numpy(),
        "other_report": other.to_numpy(),
        "dereg_date": parse_dates(_col(df, "DATUM_UITSCHRIJVING"), table=table, column="DATUM_UITSCHRIJVING"),
        "dereg_code": _col(df, "REDEN_UITSTROOM"),
        "reason": _col(df, "REDEN"),
        "rmc_region": prefixed(_col(df, "RMC_REGIO"), "RMC", 2),
        "municipality": prefixed(_col(df, "GEMEENTECODE"), "GM", 4),
        "enrolment_seq": _col(df, "INSCHRIJVINGSVOLGNUMMER"),
        "file_type": kind,
    })


def _population(table: TextTable, sid: pd.Series, path: Path, kind: str, school_year: str | None) -> pd.DataFrame:
    df = table.frame
    if kind == "A05":
        month = _month(table, "RAPPORTAGE_MAAND")
        years = school_year_of(month)
        precedence = _PRECEDENCE["A05"]
        st, lv, pw = map_level(path, _col(df, "NIVEAU"), _col(df, "LEERWEG"))
        sk = _col(df, "INDICATIE_STARTKWALIFICATIE")
        has_sk = parse_bool(sk.fillna("N"), table=table, column="INDICATIE_STARTKWALIFICATIE").astype(object).where(sk.notna(), None)
        programme = _col(df, "ILT/CREBO", "CREBO")
        municipality = prefixed(_col(df, "GEMCODE"), "GM", 4)
    else:
        sy, _y0, dv = _file_year(path, school_year)
        years = pd.Series([sy] * len(df), index=df.index, dtype=object)
        month = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
        precedence = _PRECEDENCE[dv]
        st, lv, pw = map_level(path, _col(df, "NIVEAU"), _col(df, "ONDERWIJSSOORT"))
        has_sk = pd.Series([None] * len(df), index=df.index, dtype=object)
        programme = _col(df, "CREBO")
        municipality = prefixed(_col(df, "GEMCODE"), "GM", 4)
    return pd.DataFrame({
        "student_id": sid,
        "school_year": years,
        "school_id": school_id(_col(df, "BRIN", "BRIN_NR")),
        "branch": _col(df, "BRIN_VOLGNR"),
        "report_month": month,
        "rmc_region": prefixed(_col(df, "RMC_REGIO"), "RMC", 2),
        "municipality": municipality,
        "birth_date": _birth(table),
        "school_type": st,
        "level": lv,
        "pathway": pw,
        "programme": programme,
        "has_sk": has_sk,
        "gender": _col(df, "GESLACHT"),  # audit column only, never a feature
        "precedence": np.full(len(df), precedence, dtype=np.int64),
        "file_type": kind,
    })


def _vsv(table: TextTable, sid: pd.Series, path: Path, school_year: str | None) -> pd.DataFrame:
    df = table.frame
    sy, y0, dv = _file_year(path, school_year)
    st, lv, _ = map_level(path, _col(df, "NIVEAU"), _col(df, "ONDERWIJSSOORT"))
    return pd.DataFrame({
        "student_id": sid,
        "school_year": sy,
        "school_id": school_id(_col(df, "BRIN", "BRIN_NR")),
        "vsv_date": pd.Timestamp(y0 + 1, 10, 1),
        "school_type": st,
        "level": lv,
        "precedence": np.full(len(df), _PRECEDENCE[dv], dtype=np.int64),
        "file_type": "NenR",
    })
