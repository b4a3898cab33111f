"""Reading and writing the raw tables as a folder of Parquet files, checked against their contracts."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from riskscore.contracts import IMPORTED_SCHEMAS, RAW_SCHEMAS, validate
from riskscore.errors import MSG_MISSING_TABLE, DataError, StorageFullError

REQUIRED_TABLES = ("students", "absences", "sick_reports", "applications", "enrolments", "diplomas")


def read_tables(directory: str | Path, *, validate_contracts: bool = True) -> dict[str, pd.DataFrame]:
    """Read every raw table in `directory` (`<table>.parquet`); outcomes and imported tables are optional."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data folder not found: {directory}")
    tables: dict[str, pd.DataFrame] = {}
    for name in (*RAW_SCHEMAS, *IMPORTED_SCHEMAS):
        path = directory / f"{name}.parquet"
        if not path.exists():
            if name in REQUIRED_TABLES:
                raise DataError(MSG_MISSING_TABLE.format(table=name, path=directory))
            continue
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"table '{name}' at {path} cannot be read: {exc}") from None
        tables[name] = validate(name, df) if validate_contracts else df
    return tables


def read_student_tables(directory: str | Path, student_id: str) -> dict[str, pd.DataFrame]:
    """One pupil's rows of every raw table in `directory` (Parquet filters: row groups without the
    pupil are skipped), validated like read_tables. For rescoring one stored pupil on request."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data folder not found: {directory}")
    tables: dict[str, pd.DataFrame] = {}
    for name in REQUIRED_TABLES:  # outcomes are never a scoring input
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise DataError(MSG_MISSING_TABLE.format(table=name, path=directory))
        try:
            df = pd.read_parquet(path, filters=[("student_id", "==", student_id)])
        except Exception as exc:  # pyarrow raises many kinds
            raise DataError(f"table '{name}' at {path} cannot be read: {exc}") from None
        tables[name] = validate(name, df.reset_index(drop=True))
    return tables


def write_tables(tables: dict[str, pd.DataFrame], directory: str | Path) -> list[Path]:
    """Write tables atomically (temp file + rename), so a crash never leaves half a file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        written.append(write_parquet_atomic(df, directory / f"{name}.parquet"))
    return written


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> Path:
    return write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_atomic(path: str | Path, write: Callable[[str], object], *, suffix: str = "") -> Path:
    """Have write(tmp) fill a temporary file beside path, then rename it into place: readers see the
    old file or the whole new one, never half. A full disk is StorageFullError naming the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageFullError(f"could not write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    """A stable hash of the data snapshot (logged with every model)."""
    h = hashlib.sha256()
    for name in sorted(tables):
        df = tables[name]
        h.update(name.encode())
        h.update(str(list(df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()[:16]
