"""Will the single-machine (pandas) engine fit? Estimated from the Parquet row counts before anything
is read, so a run that would not fit stops at once with a clear error naming ``--engine spark``
instead of being killed by the kernel an hour later.

The per-row costs are measured (benchmarks/bench_scale.py prints measured peak / estimate for every
size it runs) and deliberately on the safe side; ``--max-memory`` overrides the budget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from riskscore.errors import DataError

#: bytes of peak memory per raw row while building features (measured: benchmarks/RESULTS.md "Scale")
BYTES_PER_EVENT = 150  # absences, sick reports, applications, enrolments, diplomas (events)
BYTES_PER_STUDENT_ROW = 900  # students rows (one per student per school year)
BYTES_PER_FEATURE_ROW = 1_200  # one output row: a student enrolled on one as-of date (features + rules)
BASE_BYTES = 400 * 2**20  # the interpreter, pandas, pyarrow, numpy

EVENT_TABLES = ("absences", "sick_reports", "applications", "enrolments", "diplomas")

MSG_TOO_BIG = ("the pandas engine would need about {need:.1f} GiB for {students:,} student rows and {events:,} events "
               "({dates} as-of date(s)), more than the {budget:.1f} GiB available on this machine; "
               "run with --engine spark (or raise --max-memory if you know better)")


@dataclass(frozen=True)
class Estimate:
    student_rows: int
    events: int
    dates: int
    bytes: int

    @property
    def gib(self) -> float:
        return self.bytes / 2**30


def parquet_rows(path: Path) -> int:
    """Row count of a Parquet file or folder of files, from the footers only (nothing is read)."""
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.parquet") if p.is_file())
    total = 0
    for f in files:
        try:
            total += pq.ParquetFile(f).metadata.num_rows
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"table at {f} cannot be read: {exc}") from None
    return total


def _table(data: Path, name: str) -> Path | None:
    for candidate in (data / f"{name}.parquet", data / name):
        if candidate.exists():
            return candidate
    return None


def estimate(data: Path, n_dates: int) -> Estimate:
    """Peak memory of reading the raw tables and building features for n_dates as-of dates."""
    student_path = _table(data, "students")
    students = parquet_rows(student_path) if student_path is not None else 0
    events = sum(parquet_rows(p) for name in EVENT_TABLES if (p := _table(data, name)) is not None)
    years = _school_years(student_path) if student_path is not None else 1
    per_date = students / max(years, 1)  # about one enrolled student per students row of a year
    need = BASE_BYTES + BYTES_PER_EVENT * events + BYTES_PER_STUDENT_ROW * students + BYTES_PER_FEATURE_ROW * per_date * max(n_dates, 1)
    return Estimate(student_rows=students, events=events, dates=n_dates, bytes=int(need))


def _school_years(path: Path) -> int:
    """Distinct school years of the students table (read from one column only)."""
    import pyarrow.parquet as pq

    try:
        if path.is_dir():
            years = {p.name.split("=", 1)[1] for p in path.glob("school_year=*")}
            if years:
                return len(years)
            import pyarrow.dataset as ds

            column = ds.dataset(path, format="parquet").to_table(columns=["school_year"]).column(0)
        else:
            column = pq.read_table(path, columns=["school_year"]).column(0)
        return max(1, len(column.unique()))
    except Exception:  # unreadable here: the reader names the problem properly later
        return 1


def available_bytes() -> int:
    """Memory this process may use: MemAvailable, capped by a cgroup (container) limit."""
    avail = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if not avail:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 2**62  # unknown: do not refuse
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            avail = min(avail, int(text))
    return avail


def check_pandas_fits(data: Path, n_dates: int, *, max_memory_gib: float | None = None) -> Estimate:
    """Raise DataError naming ``--engine spark`` when the pandas engine would not fit."""
    est = estimate(data, n_dates)
    budget = max_memory_gib * 2**30 if max_memory_gib is not None else available_bytes()
    if est.bytes > budget:
        raise DataError(MSG_TOO_BIG.format(need=est.gib, students=est.student_rows, events=est.events, dates=n_dates,
                                           budget=budget / 2**30))
    return est


__all__ = ["MSG_TOO_BIG", "Estimate", "available_bytes", "check_pandas_fits", "estimate", "parquet_rows"]
