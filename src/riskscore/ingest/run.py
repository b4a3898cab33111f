"""One import: files → staging rows → merged into the store → contract tables derived → ledger.

All files are read and checked before anything is written: a bad file stops the import with one
line naming file, line, column and value, and the store is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from riskscore.contracts import RAW_SCHEMAS, SCHEMAS
from riskscore.errors import DataError
from riskscore.ingest import ledger
from riskscore.ingest.formats import parse_bool, parse_dates, parse_decimal, read_text_table
from riskscore.ingest.pseudonym import identifier_columns, pseudonymise
from riskscore.ingest.store import MergeStats, derive, merge, read_staging, write_store

KINDS = ("duo", "absences", "tables")
SUFFIXES = {"duo": (".csv", ".txt"), "absences": (".csv", ".txt", ".json"), "tables": (".csv", ".parquet")}


@dataclass
class FileResult:
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


@dataclass
class ImportSummary:
    kind: str
    out: Path
    files: list[FileResult]
    tables: dict[str, int]
    notes: list[str]
    demo_key: bool = False


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
               encoding: str | None = None, demo_key: bool = False,
               progress: Callable[[str], None] | None = None) -> ImportSummary:
    if kind not in KINDS:
        raise DataError(f"--kind must be one of {', '.join(KINDS)}: {kind!r}")
    out = Path(out)
    files = list_files(Path(source), kind)
    with _store_lock(out):
        return _run(files, kind=kind, out=out, key=key, profile=profile, school=school,
                    calendar_region=calendar_region, school_year=school_year, encoding=encoding,
                    demo_key=demo_key, progress=progress)


@contextmanager
def _store_lock(out: Path) -> Iterator[None]:
    """One import at a time per store: a second one stops instead of interleaving read-merge-write."""
    import fcntl

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
         calendar_region: str, school_year: str | None, encoding: str | None, demo_key: bool,
         progress: Callable[[str], None] | None) -> ImportSummary:
    entries = ledger.read_ledger(out)
    staging = read_staging(out)
    results: list[FileResult] = []
    new_entries: list[dict[str, Any]] = []
    prof = sch = None
    if kind == "absences":
        from riskscore.ingest import profiles

        if profile is None or school is None:
            from riskscore.errors import ConfigError

            raise ConfigError("--kind absences needs --profile (somtoday-json, somtoday-csv, magister, eduarte or "
                              "your own YAML) and --school (the school's code table and timetable)")
        prof = profiles.load_profile(profile)
        sch = profiles.load_school(school)
    for path in files:
        if progress:
            progress(path.name)
        sha = ledger.file_sha256(path)
        label = f"absences:{prof.name}" if prof else kind
        if ledger.already_imported(entries + new_entries, sha, kind):
            results.append(FileResult(path.name, sha, "unchanged", notes=["already imported (same bytes): nothing changed"]))
            continue
        parts, res = _read(path, kind=kind, key=key, prof=prof, sch=sch, calendar_region=calendar_region,
                           school_year=school_year, encoding=encoding)
        res.sha256 = sha
        for table, rows in parts.items():
            merged, stats = merge(staging.get(table), rows, table)
            staging[table] = merged
            res.stats += stats
        if kind == "absences" and sch is not None:
            days = parts.get("school_absences")
            n_records = int(days["record_key"].nunique()) if days is not None and len(days) else 0
            in_file = int(days["student_id"].nunique()) if days is not None and len(days) else 0
            pupils = max(in_file, _school_pupils(staging, sch.school_id.upper()))
            cats = (days.drop_duplicates("record_key")["category"].value_counts().astype(int).to_dict()
                    if days is not None and len(days) else {})
            res.volume = ledger.volume_check(entries + new_entries, school_id=sch.school_id.upper(), profile=label,
                                             records=n_records, pupils=pupils, categories=cats,
                                             min_ratio=sch.volume_min_ratio)
        results.append(res)
        new_entries.append(_entry(res, kind=kind, label=label, school_id=sch.school_id.upper() if sch else None))
    notes: list[str] = []
    tables = derive(staging, notes=notes) if any(r.status == "imported" for r in results) or not (out / "students.parquet").exists() else {}
    if tables:
        write_store(out, {k: v for k, v in staging.items()}, tables)
    if new_entries:
        ledger.append(out, new_entries)
    counts = {name: len(df) for name, df in tables.items()}
    return ImportSummary(kind, out, results, counts, notes, demo_key)


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


def _entry(res: FileResult, *, kind: str, label: str, school_id: str | None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "at": ledger.now(), "file": res.file, "sha256": res.sha256, "kind": kind, "profile": label,
        "status": res.status, "table": res.table, "rows": res.rows, "added": res.stats.added,
        "replaced": res.stats.replaced, "duplicate": res.stats.duplicate + res.duplicate_in_file,
        "rejected": res.rejected, "blank_rows": res.blank_rows, "encoding": res.encoding,
        "dropped_columns": res.dropped_columns, "notes": res.notes,
    }
    if school_id:
        e["school_id"] = school_id
    if res.volume is not None:
        e["volume"] = res.volume
        e["incomplete"] = bool(res.volume["incomplete"])
    return e


def _read(path: Path, *, kind: str, key: bytes, prof: Any, sch: Any, calendar_region: str,
          school_year: str | None, encoding: str | None) -> tuple[dict[str, pd.DataFrame], FileResult]:
    if kind == "duo":
        from riskscore.ingest.duo import read_duo_file

        f = read_duo_file(path, key=key, school_year=school_year, encoding=encoding)
        rows = f.rows
        if f.table in ("duo_population", "duo_monthly"):
            rows = rows.assign(calendar_region=calendar_region)
            f.notes.append(f"holiday region of these pupils: {calendar_region} (--calendar-region; a school file's "
                           "calendar_region overrides it for that school)")
        res = FileResult(path.name, "", "imported", table=f.table, rows=f.read_rows, rejected=f.rejected,
                         blank_rows=f.blank_rows, encoding=f.encoding, notes=f.notes,
                         dropped_columns=f.dropped_columns)
        if f.read_rows == 0:
            res.notes.append("warning: 0 rows in the file")
        return {f.table: rows}, res
    if kind == "absences":
        from riskscore.ingest.profiles import expand_days, read_absences

        a = read_absences(path, profile=prof, school=sch, key=key, encoding=encoding)
        days = expand_days(a.rows, sch)
        days["profile"] = prof.name
        days["calendar_region"] = sch.calendar_region  # the school's own holiday region wins over DUO's default
        res = FileResult(path.name, "", "imported", table="school_absences", rows=a.read_rows,
                         duplicate_in_file=a.duplicate_in_file, blank_rows=a.blank_rows, encoding=a.encoding,
                         dropped_columns=a.dropped_columns, notes=a.notes)
        if a.read_rows == 0:
            res.notes.append("warning: 0 rows in the file")
        return {"school_absences": days}, res
    return _read_table_export(path, key=key, encoding=encoding)


def _read_table_export(path: Path, *, key: bytes, encoding: str | None) -> tuple[dict[str, pd.DataFrame], FileResult]:
    """A CSV/Parquet export of one of the project's own raw tables (<table>.csv): typed, allow-listed."""
    name = path.stem
    if name not in RAW_SCHEMAS:
        raise DataError(f"{path.name}: not a raw table name ({', '.join(RAW_SCHEMAS)})")
    schema = SCHEMAS[name]
    allowed = list(schema.columns) + (["school_id"] if name == "absences" else [])
    notes: list[str] = []
    if path.suffix.lower() == ".parquet":
        try:
            df = pd.read_parquet(path).astype(object)
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"{path.name}: cannot be read: {exc}") from None
        table = None
        blank, used = 0, "parquet"
    else:
        table = read_text_table(path, encoding=encoding)
        df, blank, used = table.frame, table.blank_rows, table.encoding
    n = len(df)
    ids = identifier_columns(df, keep=["student_id"])
    dropped = sorted({*ids, *[c for c in df.columns if c not in allowed]}, key=str)
    df = df[[c for c in df.columns if c in allowed and c not in ids]].copy()
    if "student_id" not in df.columns:
        raise DataError(f"{path.name}: column 'student_id' missing")
    df["student_id"] = pseudonymise(df["student_id"], key)
    for col, spec in schema.columns.items():
        if col not in df.columns or table is None:
            continue
        dtype = str(spec.dtype)
        if dtype.startswith("datetime64"):
            df[col] = parse_dates(df[col], table=table, column=col)
        elif dtype == "bool":
            df[col] = parse_bool(df[col], table=table, column=col)
        elif dtype.startswith(("float", "int")):
            df[col] = parse_decimal(df[col], table=table, column=col)
    if table is not None:  # rows carry their file line, so a contract breach names lines, not row numbers
        df.index = table.lines
        missing = [c for c in schema.columns if c not in df.columns and not schema.columns[c].nullable]
        if missing:
            raise DataError(f"{path.name}: column(s) {', '.join(repr(c) for c in missing)} missing "
                            f"(table '{name}' needs them)")
    for c, spec in schema.columns.items():  # optional (nullable) columns a school does not export
        if c not in df.columns and spec.nullable:
            df[c] = None
    df = df.drop_duplicates()
    from riskscore.contracts import validate
    from riskscore.errors import ContractError

    try:
        df = validate(name, df).reset_index(drop=True)
    except ContractError as exc:
        where = "file lines" if table is not None else "rows"
        raise ContractError(f"{path.name}: " + str(exc).replace(" rows [", f" {where} [")) from None
    res = FileResult(path.name, "", "imported", table=f"tables_{name}", rows=n, duplicate_in_file=n - len(df),
                     blank_rows=blank, encoding=used, dropped_columns=[str(c) for c in dropped], notes=notes)
    if n == 0:
        res.notes.append("warning: 0 rows in the file")
    return {f"tables_{name}": df}, res
