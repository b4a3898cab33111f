"""THE registry of stores that may hold a pupil (AVG art. 17), and how each one deletes one pupil by key.

Erasure never searches text: a pupil is a key (``student_id``), and each store deletes what that key
names in the structures it holds — never a string wherever it happens to occur (issue 21: erasing
``0`` once rewrote every "0" in 36 files and broke both registry bundles). A file that is not one of
its store's kinds is never opened for writing, so bundles, model cards, images and reports without
pupil rows stay byte-identical.

The stores, in the order erasure visits them (``registry(settings.erasure_roots())``):

- ``database``        every table with a ``student_id`` column, found by reflecting the live schema (a
                      table added later — registrations, case plans — is covered without a code change),
                      and the rows that reference those rows by foreign key or ``case_id``; audit entries
                      lose their content through ``store.audit.erase_in`` (done by ``store.privacy``).
- ``raw-tables``      ``<home>/data`` (and ``data_dir`` when set elsewhere): the imported raw tables, the
                      feature table, the import staging tables under ``ingest/`` and the ledger.
- ``runs``            ``<home>/runs``: the scored frames of each batch run (monitoring input).
- ``reports``         the reports folder: monitoring and impact reports hold counts and estimates only;
                      a report table or record that names pupils is handled by key like any other.
- ``cache``           ``<home>/cache``: cached feature tables and downloaded bundles.
- ``models``          ``<home>/models``: `riskscore train` output (an older bundle's reference named pupils).
- ``mlflow-artifacts`` the local MLflow artifact root (same reason; a remote one is out of reach).
- ``scratch:<name>``  a scratch home the demo uses: ``impact-demo`` (the past run for the impact report) and
                      ``data-cycle`` (scripts/cycle.sh: the retrain loop's other cohort, its runs and models),
                      each with its own SQLite store and files — a second cohort never shares the live store.
- ``home-tables``     every other table file under ``<home>`` that has a ``student_id`` column: a store
                      someone adds later without registering it is still reached by key.

Kinds and what "delete by key" means for each:

- ``parquet``  rows where ``student_id`` equals the id are removed; schema and metadata are kept.
- ``csv``      a header with a ``student_id`` column: the pupil's records are removed, every other line
               is kept byte for byte.
- ``jsonl``    lines whose object has ``"student_id"`` equal to the id are removed, others kept byte for byte.
- ``json``     objects with ``"student_id"`` equal to the id are removed from their lists; a document
               that is itself about the pupil (top-level ``student_id``) is removed whole.

A file of a store's kind that cannot be read (or written back) is left as it was and reported
(``failed``) so a person can look. Ids that are not pseudonyms are refused before any store is touched.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskscore.datasets import write_atomic
from riskscore.errors import RiskscoreError
from riskscore.ingest.pseudonym import check_pseudonym
from riskscore.settings import ErasureRoots

KEY = "student_id"
#: scratch homes the demo creates inside the home, each a home of its own (database, data, runs, models):
#: scripts/demo.sh's past run for the impact report, and scripts/cycle.sh's retrain loop on another cohort
SCRATCH_HOMES = ("impact-demo", "data-cycle")
#: tables never deleted from by key: the audit chain is erased in place by store.audit.erase_in
NOT_BY_KEY = frozenset({"audit_log", "audit_head", "alembic_version"})
TABLES = frozenset({"parquet", "csv"})
RECORDS = frozenset({"jsonl", "json"})
_SUFFIX_KIND = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "json"}
_CSV_DELIMITERS = (",", ";", "\t", "|")


class Unreadable(Exception):
    """A file of a store's kind that could not be parsed: left as it is and reported."""


# --- file kinds: find (and delete) one pupil by key ---------------------------------------------------
def _rewrite(path: Path, write: Callable[[str], object], suffix: str) -> None:
    """Atomic replace that keeps the file's permission bits (write_atomic's temp file is 0600)."""
    mode = path.stat().st_mode & 0o7777
    write_atomic(path, write, suffix=suffix)
    os.chmod(path, mode)


def _parquet(path: Path, sid: str, erase: bool) -> bool:
    try:
        with pq.ParquetFile(path) as pf:
            if KEY not in pf.schema_arrow.names:
                return False
            column = pf.read(columns=[KEY]).column(KEY)
            if not pc.any(_matches(column, sid)).as_py():
                return False
            if not erase:
                return True
            table = pf.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    kept = table.filter(pc.invert(_matches(table.column(KEY), sid)))

    def write(tmp: str) -> None:
        pq.write_table(kept, tmp)

    _rewrite(path, write, ".parquet")
    return True


def _matches(column: pa.ChunkedArray, sid: str) -> pa.ChunkedArray:
    as_text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    return pc.fill_null(pc.equal(as_text, pa.scalar(sid, pa.string())), False)


def _text(path: Path) -> tuple[str, str]:
    """The file's text and its byte-order mark (kept when the file is written back)."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise Unreadable(str(exc)) from None
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    return raw[len(bom):], bom


def _write_text(path: Path, body: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:  # no newline translation: lines stay byte for byte
            f.write(body)

    _rewrite(path, write, path.suffix)


def _delimiter(header: str) -> str | None:
    """The delimiter under which the header has a student_id column; None: not a pupil table."""
    for d in _CSV_DELIMITERS:
        try:
            names = next(csv.reader([header], delimiter=d), [])
        except csv.Error:
            continue
        if KEY in [c.strip() for c in names]:
            return d
    return None


def _csv(path: Path, sid: str, erase: bool) -> bool:
    text, bom = _text(path)
    lines = list(io.StringIO(text, newline=""))
    if not lines:
        return False
    delimiter = _delimiter(lines[0])
    if delimiter is None:
        return False
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    kept: list[str] = []
    found = False
    try:
        reader = csv.reader(feed(), delimiter=delimiter)
        index = [c.strip() for c in next(reader)].index(KEY)
        kept.append("".join(consumed))
        consumed.clear()
        for record in reader:
            raw = "".join(consumed)
            consumed.clear()
            if len(record) > index and record[index].strip() == sid:
                found = True
            else:
                kept.append(raw)
    except csv.Error as exc:
        raise Unreadable(str(exc)) from None
    if found and erase:
        _write_text(path, bom + "".join(kept))
    return found


def _is_record_of(value: Any, sid: str) -> bool:
    return isinstance(value, dict) and value.get(KEY) == sid


def _jsonl(path: Path, sid: str, erase: bool) -> bool:
    text, bom = _text(path)
    parts = text.split("\n")  # JSON escapes newlines inside strings; U+2028 is no line break here
    kept: list[str] = []
    found = False
    for number, part in enumerate(parts, start=1):
        if part.strip():
            try:
                record = json.loads(part)
            except json.JSONDecodeError as exc:
                raise Unreadable(f"line {number}: {exc.msg}") from None
            if _is_record_of(record, sid):
                found = True
                continue
        kept.append(part)
    if found and erase:
        _write_text(path, bom + "\n".join(kept))
    return found


def _prune(value: Any, sid: str) -> tuple[Any, int]:
    if isinstance(value, list):
        out, n = [], 0
        for item in value:
            if _is_record_of(item, sid):
                n += 1
                continue
            item, k = _prune(item, sid)
            out.append(item)
            n += k
        return out, n
    if isinstance(value, dict):
        pruned, n = {}, 0
        for key, item in value.items():
            pruned[key], k = _prune(item, sid)
            n += k
        return pruned, n
    return value, 0


def _json(path: Path, sid: str, erase: bool) -> bool:
    text, _ = _text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(exc.msg) from None
    if _is_record_of(document, sid):  # a document about the pupil (an export): it goes whole
        if erase:
            path.unlink()
        return True
    pruned, n = _prune(document, sid)
    if n and erase:
        _write_text(path, json.dumps(pruned, indent=2, ensure_ascii=False) + "\n")
    return n > 0


_HANDLERS: dict[str, Callable[[Path, str, bool], bool]] = {"parquet": _parquet, "csv": _csv, "jsonl": _jsonl,
                                                           "json": _json}


# --- the registry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileStore:
    """A folder of files that may hold pupils, and the kinds of file it holds them in."""

    name: str
    root: Path
    kinds: frozenset[str]
    holds: str  # what it holds, for people (docs, `riskscore privacy stores`)
    #: folders inside root that belong to another store (the catch-all leaves them to their own store)
    exclude: tuple[Path, ...] = ()

    def files(self) -> Iterator[tuple[Path, str]]:
        """(path, kind) of every file of this store's kinds, sorted; hidden files and folders and symlinks
        are not followed (a write_atomic temp file is hidden and short-lived)."""
        if not self.root.is_dir():
            return
        excluded = {_real(p) for p in self.exclude}
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _real(Path(folder) / d) not in excluded)
            for name in sorted(names):
                kind = _SUFFIX_KIND.get(Path(name).suffix.lower())
                path = Path(folder) / name
                if kind in self.kinds and not name.startswith(".") and not path.is_symlink():
                    yield path, kind


@dataclass(frozen=True)
class ScratchDatabase:
    """A scratch home's own SQLite store (erased with the same receipt as the main one)."""

    name: str
    path: Path


@dataclass
class FileErasure:
    """What the file stores did: the files changed (or, when only looking, holding the pupil) per store,
    and the files of a store's kind that could not be read or written back (left as they were)."""

    files: dict[str, list[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def all_files(self) -> list[str]:
        return [f for files in self.files.values() for f in files]


@dataclass(frozen=True)
class StoreRegistry:
    stores: tuple[FileStore, ...]
    databases: tuple[ScratchDatabase, ...] = ()

    def erase(self, student_id: str) -> FileErasure:
        """Delete the pupil by key from every file store. Files without the pupil are not written."""
        return self._visit(check_pseudonym(student_id), erase=True)

    def holders(self, student_id: str) -> FileErasure:
        """Where the pupil still is, by key (the same walk, writing nothing)."""
        return self._visit(check_pseudonym(student_id), erase=False)

    def _visit(self, sid: str, *, erase: bool) -> FileErasure:
        out = FileErasure()
        seen: set[Path] = set()  # a folder registered twice (data_dir == <home>/data) is visited once
        for store in self.stores:
            hits = []
            for path, kind in store.files():
                real = _real(path)
                if real in seen:
                    continue
                seen.add(real)
                try:
                    if _HANDLERS[kind](path, sid, erase):
                        hits.append(str(path))
                except (Unreadable, RiskscoreError, OSError):  # unreadable, or a full / read-only disk
                    out.failed.append(str(path))
            if hits:
                out.files[store.name] = hits
        return out

    def describe(self) -> list[dict[str, str]]:
        rows = [{"store": "database", "where": "the service's database (RISKSCORE_DATABASE_URL)",
                 "kinds": "tables with student_id (found by reflection) and rows referencing them",
                 "holds": "scores, cases, notes, outcomes, objections, run signals, every later table with student_id; "
                          "audit entries lose their content"}]
        rows += [{"store": d.name, "where": str(d.path), "kinds": "SQLite tables with student_id",
                  "holds": "a scratch home's own database"} for d in self.databases]
        rows += [{"store": s.name, "where": str(s.root), "kinds": ", ".join(sorted(s.kinds)), "holds": s.holds}
                 for s in self.stores]
        return rows


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def registry(roots: ErasureRoots) -> StoreRegistry:
    """The stores under these roots (see the module docstring); built from settings.erasure_roots() by
    the doors (CLI, API, web), so all three erase exactly the same places."""
    home = roots.home
    stores: list[FileStore] = [
        FileStore(f"raw-tables:{d}" if i else "raw-tables", d, TABLES | {"jsonl"},
                  "imported raw tables, features, import staging tables (ingest/) and the ledger")
        for i, d in enumerate(roots.data)
    ]
    stores += [
        FileStore("runs", home / "runs", TABLES, "scored frames of batch runs"),
        FileStore("reports", roots.reports, TABLES | RECORDS,
                  "monitoring and impact reports (counts and estimates; pupil tables or records, if any)"),
        FileStore("cache", home / "cache", TABLES, "cached feature tables and downloaded bundles"),
        FileStore("models", home / "models", TABLES, "training output (older bundles' references named pupils)"),
    ]
    if roots.artifacts is not None:
        stores.append(FileStore("mlflow-artifacts", roots.artifacts, TABLES,
                                "local MLflow artifacts (older bundles' references named pupils)"))
    databases = []
    for name in SCRATCH_HOMES:
        stores.append(FileStore(f"scratch:{name}", home / name, TABLES | RECORDS, "a scratch home's files"))
        databases.append(ScratchDatabase(f"scratch:{name}:database", home / name / "riskscore.db"))
    stores.append(FileStore("home-tables", home, TABLES, "any other table with student_id under the home",
                            exclude=tuple(s.root for s in stores)))
    return StoreRegistry(tuple(stores), tuple(d for d in databases if d.path.is_file()))


# --- the database: every table with student_id, found in the live schema ----------------------------------
def _tables(conn: Connection) -> list[sa.Table]:
    meta = sa.MetaData()
    meta.reflect(bind=conn)
    return [t for t in meta.sorted_tables if t.name not in NOT_BY_KEY]


def erase_rows(conn: Connection, student_id: str) -> tuple[dict[str, int], list[int]]:
    """Inside the caller's transaction: delete the pupil's rows from every table with a student_id column,
    first the rows that point at them (by declared foreign key, or a case_id column pointing at a case),
    recursively. Returns rows deleted per table (every visited table, zeros included) and the pupil's case
    ids (their audit entries are erased by the caller)."""
    sid = check_pseudonym(student_id)
    tables = _tables(conn)
    by_name = {t.name: t for t in tables}
    rows: dict[str, int] = {}
    cases = by_name.get("review_cases")
    case_ids = ([int(i) for i in conn.execute(sa.select(cases.c.id).where(cases.c[KEY] == sid)).scalars()]
                if cases is not None and KEY in cases.c else [])

    def referrers(target: sa.Table) -> list[tuple[sa.Table, sa.Column[Any], sa.Column[Any]]]:
        """(table, its column, target's column) for every single-column reference to target."""
        out = []
        for t in tables:
            if t is target:
                continue
            refs = [(fk.parent, fk.column) for fk in t.foreign_keys if fk.column.table.name == target.name]
            if target.name == "review_cases" and "case_id" in t.c and not any(p.name == "case_id" for p, _ in refs):
                refs.append((t.c.case_id, target.c.id))  # a case table without a declared foreign key
            out += [(t, parent, column) for parent, column in refs]
        return out

    def delete(table: sa.Table, where: sa.ColumnElement[bool], path: tuple[str, ...]) -> None:
        for child, column, target_column in referrers(table):
            if child.name in path:  # a reference cycle: the rows go with the outer delete
                continue
            keys = [k for k in conn.execute(sa.select(target_column).where(where)).scalars() if k is not None]
            for i in range(0, len(keys), 500):
                delete(child, column.in_(keys[i:i + 500]), (*path, table.name))
            rows.setdefault(child.name, 0)
        result = conn.execute(table.delete().where(where))
        rows[table.name] = rows.get(table.name, 0) + int(getattr(result, "rowcount", 0) or 0)

    for table in reversed(tables):  # dependants first, as the schema orders them
        if KEY in table.c:
            delete(table, table.c[KEY] == sid, ())
    return rows, case_ids


def holds_rows(conn: Connection, student_id: str) -> dict[str, int]:
    """Rows per table that still carry the pupil's student_id (for the erasure's own checks and tests)."""
    sid = check_pseudonym(student_id)
    out = {}
    for t in _tables(conn):
        if KEY in t.c:
            n = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c[KEY] == sid)).scalar_one()
            if n:
                out[t.name] = int(n)
    return out
