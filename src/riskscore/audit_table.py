"""Audit attributes: kept apart from the school's records, opened only by training, monitoring and the batch
job's monitoring frame (an import-linter contract keeps them out of scoring, the review core and the doors).

Schools do not hold migration background or income; such attributes come from elsewhere under an
agreement (EU AI Act art. 10(5): processed only to detect and correct bias). They live in their own
table — ``audit.parquet`` next to the raw tables, or a path in the config — with one row per pupil
keyed by the same pseudonym (``student_id``), and are joined here to the evaluated rows only. Without
that table fairness is *unmeasured*, and the gate says so (gates.py).

Never a feature, never a scoring input: the model code cannot see this module (the import-linter
contract puts training above model), and the one place audit attributes may act on training is
``mitigation.training_weights``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskscore.contracts import AUDIT_COLUMNS
from riskscore.errors import DataError

AUDIT_FILE = "audit.parquet"
KEY = "student_id"
MSG_AUDIT_UNREADABLE = "audit table {path} cannot be read: {details}"
MSG_AUDIT_NO_KEY = "audit table {path} has no '{key}' column to join on"
MSG_AUDIT_DUPLICATE = "audit table {path} has {n} duplicate pupil(s); one row per pupil (and school year) is expected"


def audit_path(data_dir: str | Path, configured: str | Path | None = None) -> Path:
    return Path(configured) if configured is not None else Path(data_dir) / AUDIT_FILE


def read_audit(data_dir: str | Path, configured: str | Path | None = None) -> pd.DataFrame | None:
    """The audit table, or None when there is none (fairness is then unmeasured, not passed)."""
    path = audit_path(data_dir, configured)
    if not path.is_file():
        if configured is not None:
            raise DataError(MSG_AUDIT_UNREADABLE.format(path=path, details="file not found"))
        return None
    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pyarrow and the csv parser raise many kinds
        raise DataError(MSG_AUDIT_UNREADABLE.format(path=path, details=exc)) from None
    if KEY not in frame.columns:
        raise DataError(MSG_AUDIT_NO_KEY.format(path=path, key=KEY))
    keys = [KEY, "school_year"] if "school_year" in frame.columns else [KEY]
    dup = int(frame.duplicated(keys).sum())
    if dup:
        raise DataError(MSG_AUDIT_DUPLICATE.format(path=path, n=dup))
    frame[KEY] = frame[KEY].astype(str)
    return frame


def audit_frame(table: pd.DataFrame, students: pd.DataFrame | None = None,
                audit: pd.DataFrame | None = None) -> pd.DataFrame:
    """Audit columns (and school level) aligned with `table`'s rows — for fairness, never for the model.

    `audit` is the separate audit table, joined by pseudonym (and school year when it has one).
    Without it, older data that still carry the audit columns on `students` are used as they are;
    otherwise only `level` is there and every audit grouping is reported unmeasured."""
    out = pd.DataFrame(index=table.index)
    if "level" in table.columns:
        out["level"] = table["level"].astype("string").fillna("unknown").to_numpy()
    if audit is not None:
        attrs = [c for c in audit.columns if c not in (KEY, "school_year")]
        keys = [KEY, "school_year"] if "school_year" in audit.columns and "school_year" in table.columns else [KEY]
        left = table[keys].copy()
        left[KEY] = left[KEY].astype(str)
        joined = left.merge(audit[[*keys, *attrs]], on=keys, how="left")
        for col in attrs:
            out[col] = joined[col].astype("string").fillna("unknown").to_numpy()
    elif students is not None and any(c in students.columns for c in AUDIT_COLUMNS):
        cols = [c for c in AUDIT_COLUMNS if c in students.columns]
        joined = table[["student_id", "school_year"]].merge(students[["student_id", "school_year", *cols]],
                                                             on=["student_id", "school_year"], how="left")
        for col in cols:
            out[col] = joined[col].astype("string").fillna("unknown").to_numpy()
    return out


__all__ = ["AUDIT_FILE", "audit_frame", "audit_path", "read_audit"]
