"""One import: files → staging rows → merged into the store → contract tables derived → ledger.

All files are read and checked before anything is written: a bad file stops the import with one
line naming file, line, column and value, and the store is left as it was.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.contracts import ABSENCE_CATEGORIES_KNOWN, RAW_SCHEMAS, SCHEMAS, first_breach, validate
from riskscore.errors import ConfigError, ContractError, DataError
from riskscore.ingest import ledger, profiles
from riskscore.ingest.duo import read_duo_file
from riskscore.ingest.formats import parse_bool, parse_dates, parse_decimal, read_text_table
from riskscore.ingest.pseudonym import (
    identifier_columns,
    name_words,
    pseudonymise,
    pseudonymise_record_ids,
    shown,
)
from riskscore.ingest.store import MergeStats, derive, merge, read_staging, tables_absence_keys, write_store

KINDS = ("duo", "absences", "tables")
SUFFIXES = {"duo": (".csv", ".txt"), "absences": (".csv", ".txt", ".json"), "tables": (".csv", ".parquet")}


@dataclass
class FileResult:
    """One file (one school of a board-wide export) read and merged. Every row read ends in exactly one
    bucket: added, replaced, duplicate (in the store or in the file), rejected (with its reason) or
    outside lesson days; :meth:`unaccounted` is 0 for every imported file."""

    file: str
    sha256: str
    status: str  # imported | unchanged
    table: str = ""
    rows: int = 0
    stats: MergeStats = field(default_factory=MergeStats)
    rejected: int = 0
    duplicate_in_file: int = 0
    blank_rows: int = 0
    encoding: str = ""
    dropped_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    volume: dict[str, Any] | None = None
    school_id: str | None = None
    outside_lesson_days: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    schools: list[str] = field(default_factory=list)  # the schools the file's rows belong to (freshness)

    @property
    def duplicate(self) -> int:
        return self.stats.duplicate + self.duplicate_in_file

    @property
    def rejected_total(self) -> int:
        return self.rejected + self.stats.kept_better

    def buckets(self) -> dict[str, int]:
        return {"added": self.stats.added, "replaced": self.stats.replaced, "duplicate": self.duplicate,
                "rejected": self.rejected_total, "outside_lesson_days": self.outside_lesson_days}

    def unaccounted(self) -> int:
        """Rows read that are in no bucket (0 unless the importer has a bug)."""
        return self.rows - sum(self.buckets().values()) if self.status == "imported" else 0

    def reasons(self) -> dict[str, int]:
        """Why rows were rejected, with counts: the file's own refusals and the provisional DUO rows a
        definitive file already holds (together they make the 'rejected' bucket)."""
        return _reasons(self)

    def reject(self, reason: str, n: int) -> None:
        if n:
            self.rejected += n
            self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + n


@dataclass
class ImportSummary:
    kind: str
    out: Path
    files: list[FileResult]
    tables: dict[str, int]
    notes: list[str]
    demo_key: bool = False
    #: per school: absence/sick records, how many belong to a pupil of the students table, the share
    join: dict[str, dict[str, Any]] = field(default_factory=dict)


def list_files(source: Path, kind: str) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DataError(f"source not found: {source}")
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES[kind]
                   and not p.name.startswith("."))
    if not files:
        raise DataError(f"no {'/'.join(SUFFIXES[kind])} files in {source}")
    return files


def run_import(source: str | Path, *, kind: str, out: str | Path, key: bytes, profile: str | None = None,
               school: str | Path | None = None, calendar_region: str = "midden", school_year: str | None = None,
               encoding: str | None = None, demo_key: bool = False, student_number: str = "national",
               progress: Callable[[str], None] | None = None) -> ImportSummary:
    """Import every file of ``source``; ``student_number`` (tables): ``national`` numbers (BSN,
    onderwijsnummer: join DUO) or the schools' own ``local`` numbers, pseudonymised per school (the
    row's ``school_id``) exactly as an absence export with ``student_number: local``, so they join."""
    if kind not in KINDS:
        raise DataError(f"--kind must be one of {', '.join(KINDS)}: {kind!r}")
    if student_number not in ("national", "local"):
        raise ConfigError(MSG_STUDENT_NUMBER.format(value=student_number))
    out = Path(out)
    files = list_files(Path(source), kind)
    with _store_lock(out):
        return _run(files, kind=kind, out=out, key=key, profile=profile, school=school,
                    calendar_region=calendar_region, school_year=school_year, encoding=encoding,
                    demo_key=demo_key, student_number=student_number, progress=progress)


@contextmanager
def _store_lock(out: Path) -> Iterator[None]:
    """One import at a time per store: a second one stops instead of interleaving read-merge-write."""
    lock = out / "ingest" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(f"another import into {out} is running; try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _run(files: list[Path], *, kind: str, out: Path, key: bytes, profile: str | None, school: str | Path | None,
         calendar_region: str, school_year: str | None, encoding: str | None, demo_key: bool, student_number: str,
         progress: Callable[[str], None] | None) -> ImportSummary:
    entries = ledger.read_ledger(out)
    staging = _upgrade_record_keys(read_staging(out), key)
    results: list[FileResult] = []
    new_entries: list[dict[str, Any]] = []
    prof = sch = None
    if kind == "absences":
        if profile is None or school is None:
            raise ConfigError("--kind absences needs --profile (somtoday-json, somtoday-csv, magister, eduarte or "
                              "your own YAML) and --school (the school's code table and timetable)")
        prof = profiles.load_profile(profile)
        sch = profiles.load_school(school)
    label = f"absences:{prof.name}" if prof else kind
    for path in files:
        if progress:
            progress(path.name)
        sha = ledger.file_sha256(path)
        if ledger.already_imported(entries + new_entries, sha, kind):
            results.append(FileResult(path.name, sha, "unchanged", notes=["already imported (same bytes): nothing changed"]))
            continue
        for parts, res in _read(path, kind=kind, key=key, prof=prof, sch=sch, calendar_region=calendar_region,
                                school_year=school_year, encoding=encoding, student_number=student_number):
            res.sha256 = sha
            for table, rows in parts.items():
                merged, stats = merge(staging.get(table), rows, table)
                staging[table] = merged
                res.stats += stats
            if kind == "absences" and sch is not None and res.school_id:
                res.volume = _volume(entries + new_entries, staging, parts.get("school_absences"), res.school_id,
                                     label=label, min_ratio=sch.volume_min_ratio)
            results.append(res)
            new_entries.append(_entry(res, kind=kind, label=label, school=sch))
    notes: list[str] = []
    changed = any(r.status == "imported" for r in results)
    tables = derive(staging, notes=notes) if changed or not (out / "students.parquet").exists() else {}
    join: dict[str, dict[str, Any]] = {}
    if tables:
        join = ledger.join_check(tables, min_share=ledger.join_thresholds(entries + new_entries))
        write_store(out, {k: v for k, v in staging.items()}, tables)
    if new_entries:
        for e in new_entries:  # the join check of the whole store after this import
            e["join"] = join
        ledger.append(out, new_entries)
    counts = {name: len(df) for name, df in tables.items()}
    return ImportSummary(kind, out, results, counts, notes, demo_key, join)


MSG_STUDENT_NUMBER = "--student-number must be national or local: {value!r}"


def _volume(entries: list[dict[str, Any]], staging: dict[str, pd.DataFrame], days: pd.DataFrame | None, school_id: str,
            *, label: str, min_ratio: float) -> dict[str, Any]:
    n_records = int(days["record_key"].nunique()) if days is not None and len(days) else 0
    in_file = int(days["student_id"].nunique()) if days is not None and len(days) else 0
    pupils = max(in_file, _school_pupils(staging, school_id))
    cats = (days.drop_duplicates("record_key")["category"].value_counts().astype(int).to_dict()
            if days is not None and len(days) else {})
    return ledger.volume_check(entries, school_id=school_id, profile=label, records=n_records, pupils=pupils,
                               categories=cats, min_ratio=min_ratio)


_HEX_KEY = re.compile(r"^[^:|]+:[0-9a-f]{32}$")
_OLD_DAY_KEY = re.compile(r"^([^|]+)\|(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}\|(.*)$")


def _upgrade_record_keys(staging: dict[str, pd.DataFrame], key: bytes) -> dict[str, pd.DataFrame]:
    """A store written before record ids were pseudonymised (``magister:5001``) or keyed by the start
    minute (``<pupil>|2023-09-04T08:30|1``) gets today's keys, so next week's export of the same
    records replaces or repeats them instead of adding them again."""
    days = staging.get("school_absences")
    if days is None or days.empty:
        return staging
    keys = days["record_key"].astype(str)
    old = ~keys.str.match(_HEX_KEY) & ~keys.str.contains("|", regex=False)
    new = keys.copy()
    if old.any():
        for prof in pd.unique(keys[old].str.partition(":")[0]):
            mine = old & (keys.str.partition(":")[0] == prof)
            ids = keys[mine].str.partition(":")[2]
            new[mine] = prof + ":" + pseudonymise_record_ids(ids, key, namespace=str(prof))
    timed = keys.str.match(_OLD_DAY_KEY)
    if timed.any():
        new[timed] = keys[timed].str.replace(_OLD_DAY_KEY, r"\1|\2|\3", regex=True)
    if old.any() or timed.any():
        staging = {**staging, "school_absences": days.assign(record_key=new.to_numpy())}
    return staging


def _school_pupils(staging: dict[str, pd.DataFrame], school_id: str) -> int:
    """Pupils the store knows at this school in its latest school year (DUO's start population or the
    project's students table): the denominator of records per pupil, so an export that dropped pupils
    cannot hide behind the few it kept."""
    best = 0
    for name in ("duo_population", "tables_students"):
        t = staging.get(name)
        if t is None or t.empty or "school_id" not in t.columns:
            continue
        mine = t[t["school_id"].astype(str).str.upper() == school_id]
        if len(mine):
            latest = mine["school_year"].astype(str).max()
            best = max(best, int(mine.loc[mine["school_year"].astype(str) == latest, "student_id"].nunique()))
    return best


def _entry(res: FileResult, *, kind: str, label: str, school: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "at": ledger.now(), "file": res.file, "sha256": res.sha256, "kind": kind, "profile": label,
        "status": res.status, "table": res.table, "rows": res.rows, "added": res.stats.added,
        "replaced": res.stats.replaced, "duplicate": res.duplicate, "rejected": res.rejected_total,
        "rejected_reasons": _reasons(res), "outside_lesson_days": res.outside_lesson_days,
        "blank_rows": res.blank_rows, "encoding": res.encoding,
        "dropped_columns": res.dropped_columns, "notes": res.notes, "schools": res.schools,
    }
    if res.school_id:
        e["school_id"] = res.school_id
    if school is not None:  # the school file's own thresholds, read back by the join and freshness checks
        e["join_min_share"] = school.join_min_share
        e["max_age_days"] = school.max_age_days
    if res.volume is not None:
        e["volume"] = res.volume
        e["incomplete"] = bool(res.volume["incomplete"])
    return e


def _reasons(res: FileResult) -> dict[str, int]:
    out = dict(res.rejected_reasons)
    if res.stats.kept_better:
        out[MSG_KEPT_BETTER] = out.get(MSG_KEPT_BETTER, 0) + res.stats.kept_better
    return out


MSG_KEPT_BETTER = "a definitive DUO file already holds this pupil (a provisional row never replaces it)"
MSG_NO_PERSON = "no person number"


def _read(path: Path, *, kind: str, key: bytes, prof: Any, sch: Any, calendar_region: str, school_year: str | None,
          encoding: str | None, student_number: str) -> list[tuple[dict[str, pd.DataFrame], FileResult]]:
    """A file → (staging rows by table, its result); a board-wide absence export → one per school."""
    if kind == "duo":
        f = read_duo_file(path, key=key, school_year=school_year, encoding=encoding)
        rows = f.rows
        if f.table in ("duo_population", "duo_monthly"):
            rows = rows.assign(calendar_region=calendar_region)
            f.notes.append(f"holiday region of these pupils: {calendar_region} (--calendar-region; a school file's "
                           "calendar_region overrides it for that school)")
        res = FileResult(path.name, "", "imported", table=f.table, rows=f.read_rows, blank_rows=f.blank_rows,
                         encoding=f.encoding, notes=f.notes, dropped_columns=f.dropped_columns,
                         duplicate_in_file=f.duplicate_in_file,
                         schools=sorted(str(s) for s in pd.unique(rows["school_id"].dropna())) if "school_id" in rows else [])
        res.reject(MSG_NO_PERSON, f.rejected)
        if f.read_rows == 0:
            res.notes.append("warning: 0 rows in the file")
        return [({f.table: rows}, res)]
    if kind == "absences":
        return _read_absences(path, key=key, prof=prof, sch=sch, calendar_region=calendar_region, encoding=encoding)
    return [_read_table_export(path, key=key, encoding=encoding, student_number=student_number)]


def _read_absences(path: Path, *, key: bytes, prof: Any, sch: Any, calendar_region: str,
                   encoding: str | None) -> list[tuple[dict[str, pd.DataFrame], FileResult]]:
    a = profiles.read_absences(path, profile=prof, school=sch, key=key, encoding=encoding)
    lines_of = a.rows.groupby("school_id")["_line"].nunique().to_dict() if len(a.rows) else {}
    brins = [b for b in sch.brins() if b in lines_of] or [sch.school_id]
    out = []
    for brin in brins:
        mine = a.rows[a.rows["school_id"] == brin]
        split = profiles.split_days(mine, sch, region=calendar_region)
        days = split.days.assign(profile=prof.name, calendar_region=sch.calendar_region or calendar_region)
        board = len(brins) > 1
        share = a.duplicate_by_school.get(brin, 0)
        read = int(lines_of.get(brin, 0)) + share
        res = FileResult(path.name if not board else f"{path.name} [{brin}]", "", "imported", table="school_absences",
                         rows=read, duplicate_in_file=share, blank_rows=a.blank_rows if brin == brins[0] else 0,
                         encoding=a.encoding, dropped_columns=a.dropped_columns, notes=list(a.notes), school_id=brin,
                         outside_lesson_days=len(split.outside), schools=[brin])
        res.reject(profiles.MSG_OUT_OF_CALENDAR.format(first=profiles.default_calendar().first,
                                                       last=profiles.default_calendar().last), len(split.out_of_calendar))
        if len(split.outside):
            res.notes.append(f"{len(split.outside)} record(s) fall on no lesson day (weekend, school holiday or public "
                             "holiday) and are not counted as absence")
        if a.read_rows == 0:
            res.notes.append("warning: 0 rows in the file")
        out.append(({"school_absences": days}, res))
    return out


def _read_table_export(path: Path, *, key: bytes, encoding: str | None,
                       student_number: str = "national") -> tuple[dict[str, pd.DataFrame], FileResult]:
    """A CSV/Parquet export of one of the project's own raw tables (<table>.csv): typed, allow-listed."""
    name = path.stem
    if name not in RAW_SCHEMAS:
        raise DataError(f"{path.name}: not a raw table name ({', '.join(RAW_SCHEMAS)})")
    schema = SCHEMAS[name]
    extra = TABLE_EXTRA_COLUMNS.get(name, ())
    allowed = [*schema.columns, *extra, "school_id"]
    notes: list[str] = []
    if path.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(path).astype(object)
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"{path.name}: cannot be read: {exc}") from None
        table = None
        blank, used = 0, "parquet"
        lines = np.arange(len(df), dtype=np.int64) + 1
    else:
        table = read_text_table(path, encoding=encoding)
        df, blank, used = table.frame, table.blank_rows, table.encoding
        lines = table.lines
    n = len(df)
    text_columns = [c for c, spec in schema.columns.items() if str(spec.dtype) in ("str", "object")]
    names = name_words(df)
    ids = identifier_columns(df, keep=["student_id", "record_id"], by_value=[*text_columns, *extra, "school_id"],
                             names=names)
    dropped = sorted({*ids, *[c for c in df.columns if c not in allowed]}, key=str)
    df = df[[c for c in df.columns if c in allowed and c not in ids]].copy()
    if "student_id" not in df.columns:
        raise DataError(f"{path.name}: column 'student_id' missing")
    person = df["student_id"].astype("string").str.strip()
    if person.isna().any() or (person == "").any():
        pos = int(np.flatnonzero((person.isna() | (person == "")).to_numpy())[0])
        raise DataError(MSG_AT.format(file=path.name, line=int(lines[pos]), column="student_id",
                                      value="''", allowed="a pupil number (it may not be empty)"))
    if student_number == "local":
        if "school_id" not in df.columns:
            raise DataError(MSG_LOCAL_NEEDS_SCHOOL.format(file=path.name))
        df["student_id"] = profiles.pupil_ids(df["student_id"], df["school_id"].astype(str), key, local=True)
    else:
        df["student_id"] = pseudonymise(df["student_id"], key)
    if "record_id" in df.columns:
        df["record_id"] = pseudonymise_record_ids(df["record_id"], key, namespace=f"tables:{name}")
    for col, spec in schema.columns.items():
        if col not in df.columns or table is None:
            continue
        dtype = str(spec.dtype)
        if dtype.startswith("datetime64"):
            df[col] = parse_dates(df[col], table=table, column=col).dt.normalize()  # a date-time is that date
        elif dtype == "bool":
            df[col] = parse_bool(df[col], table=table, column=col)
        elif dtype.startswith(("float", "int")):
            df[col] = parse_decimal(df[col], table=table, column=col)
    if table is None:
        for col, spec in schema.columns.items():
            if col in df.columns and str(spec.dtype).startswith("datetime64"):
                df[col] = pd.to_datetime(df[col]).dt.normalize()
    if table is not None:
        missing = [c for c in schema.columns if c not in df.columns and not schema.columns[c].nullable]
        if missing:
            raise DataError(f"{path.name}: column(s) {', '.join(repr(c) for c in missing)} missing "
                            f"(table '{name}' needs them)")
    for c, spec in schema.columns.items():  # optional (nullable) columns a school does not export
        if c not in df.columns and spec.nullable:
            df[c] = None
    if name == "absences":
        _check_categories(df, path=path, lines=lines, raw=table.frame if table is not None else None)
    df = df.reset_index(drop=True)
    breach = first_breach(name, df)
    if breach is not None:
        raw_value = table.frame[breach.column].iloc[breach.position] if table is not None and breach.column in table.frame \
            else df[breach.column].iloc[breach.position]
        raise ContractError(MSG_AT.format(file=path.name, line=int(lines[breach.position]), column=breach.column,
                                          value=shown(raw_value), allowed=breach.allowed))
    if name == "absences":
        df["record_key"] = tables_absence_keys(df, df["record_id"] if "record_id" in df.columns else None)
    dup = df.duplicated().to_numpy()
    df = df[~dup].assign(_line=lines[~dup])
    try:
        df = validate(name, df).reset_index(drop=True)
    except ContractError as exc:
        raise ContractError(f"{path.name}: " + str(exc)) from None
    schools = sorted(str(s).upper() for s in pd.unique(df["school_id"].dropna())) if "school_id" in df.columns else []
    res = FileResult(path.name, "", "imported", table=f"tables_{name}", rows=n, duplicate_in_file=int(dup.sum()),
                     blank_rows=blank, encoding=used, dropped_columns=[str(c) for c in dropped], notes=notes,
                     schools=schools)
    if n == 0:
        res.notes.append("warning: 0 rows in the file")
    return {f"tables_{name}": df}, res


#: optional columns the project's own tables may carry when imported: the system's record id and the
#: lesson hour of an absence (natural key), kept in staging only
TABLE_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {"absences": ("record_id", "lesson")}
MSG_AT = "{file}, line {line}, column '{column}': {value} is not allowed; allowed: {allowed}"
MSG_LOCAL_NEEDS_SCHOOL = ("{file}: --student-number local needs a column 'school_id' (the BRIN): a school's own "
                          "pupil numbers are only unique within that school")
MSG_UNKNOWN_CATEGORIES = ("{file}: absence categor(y/ies) not in the vocabulary: {values} (first on line {line}); "
                          "allowed: {allowed}; map a school's own codes with an absence export's school file; "
                          "nothing imported")


def _check_categories(df: pd.DataFrame, *, path: Path, lines: np.ndarray, raw: pd.DataFrame | None) -> None:
    """Categories of the project's own absence table: the closed vocabulary only (case and spaces aside),
    so 'Unauthorised' counts and 'unauthorised; spijbelen' stops the import instead of counting 0 hours."""
    if "category" not in df.columns:
        return
    text = df["category"].astype("string").str.strip().str.lower()
    df["category"] = text.astype(object).where(text.notna(), None)
    bad = ~text.isin(ABSENCE_CATEGORIES_KNOWN).fillna(False).to_numpy(dtype=bool) & text.notna().to_numpy()
    if bad.any():
        values = pd.unique(df["category"].to_numpy()[bad] if raw is None else raw["category"].to_numpy()[bad])
        raise DataError(MSG_UNKNOWN_CATEGORIES.format(
            file=path.name, values=", ".join(shown(v) for v in sorted(map(str, values))[:30]),
            line=int(lines[int(np.flatnonzero(bad)[0])]), allowed=", ".join(ABSENCE_CATEGORIES_KNOWN)))
