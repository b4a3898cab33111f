"""Request bodies -> the import contract's raw tables (contracts.RAW_SCHEMAS), for the scoring core.

The request models in api/schemas.py carry the same checks as the contract (types, ranges,
vocabularies, end >= start), so the frames are built directly with the contract's dtypes instead of
running pandera on every request (tests/test_api_events.py checks that every accepted body passes
``contracts.validate``). Protected and proxy attributes are not accepted at all: the audit columns
stay empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore.contracts import AUDIT_COLUMNS, VVA_STATUS_DATE_COLUMNS

if TYPE_CHECKING:
    from riskscore.api.schemas import StudentEvents


#: date.toordinal() of 1970-01-01: ordinals minus this are numpy's day numbers
_EPOCH_ORDINAL = 719163
#: ordinal standing for a missing date (None): becomes NaT
_NO_DATE = -(2**62)


def _dates(ordinals: list[int]) -> np.ndarray:
    """Dates given as ``date.toordinal()`` (``_NO_DATE`` for None) -> datetime64[ns], NaT for None.
    Ordinals are plain ints: numpy converts them in one C pass, where a list of date objects costs
    about a microsecond per date (0.2 s for a thousand pupils' years of absences)."""
    days = np.array(ordinals, dtype=np.int64)
    missing = days == _NO_DATE
    out = (days - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[ns]")
    if missing.any():
        out[missing] = np.datetime64("NaT")
    return out


def _ordinals(values: list[Any]) -> list[int]:
    return [_NO_DATE if d is None else d.toordinal() for d in values]


def _array(values: list[Any], kind: str) -> np.ndarray:
    """One column as a numpy array of the contract's dtype: the frames are built from plain arrays
    (a pandas Series per column, aligned on its index, costs more than the whole column)."""
    if kind == "date":
        return _dates(_ordinals(values))
    if kind == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=kind)


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    # the arrays are new and owned by the frame: no copy needed
    return pd.DataFrame(columns, copy=False)


def _ids(sids: list[str], counts: list[int]) -> np.ndarray:
    """Each pupil's id repeated once per event row of that pupil (object array)."""
    return np.repeat(_array(sids, "object"), counts)


def to_tables(students: Sequence[StudentEvents]) -> dict[str, pd.DataFrame]:
    """One set of raw tables for the given pupils (all scored as of the same date). Built column by
    column (one list comprehension per field over all pupils), so a thousand pupils' years of events
    cost tens of milliseconds, not half a second."""
    from riskscore.calendar import school_year_of

    st: dict[str, list[Any]] = {k: [] for k in (
        "student_id", "school_year", "school_id", "municipality", "rmc_region", "calendar_region", "birth_date",
        "school_type", "level", "pathway", "grade", "final_year", "expects_mbo", "has_sk")}
    for s in students:
        sid, rec = s.student_id, s.student
        current = school_year_of(s.reference_date())
        rows = [(current, rec.school_id, rec.school_type, rec.level, rec.grade, rec.final_year, rec.expects_mbo,
                 rec.has_sk, rec.pathway)]
        rows += [(y.school_year, y.school_id or rec.school_id, y.school_type, y.level, y.grade, y.final_year,
                  y.expects_mbo, y.has_sk, None)
                 for y in dict((y.school_year, y) for y in s.earlier_years).values() if y.school_year < current]
        for year, school, stype, level, grade, final, expects, sk, pathway in rows:
            for k, v in (("student_id", sid), ("school_year", year), ("school_id", school),
                         ("municipality", rec.municipality), ("rmc_region", rec.rmc_region),
                         ("calendar_region", rec.calendar_region), ("birth_date", rec.birth_date),
                         ("school_type", stype), ("level", level), ("pathway", pathway), ("grade", grade),
                         ("final_year", final), ("expects_mbo", expects), ("has_sk", sk)):
                st[k].append(v)
    kinds = {"birth_date": "date", "grade": "float64", "final_year": "bool", "expects_mbo": "bool", "has_sk": "bool"}
    students_df = _frame({
        **{k: _array(v, kinds.get(k, "object")) for k, v in st.items()},
        # never accepted from a caller: audit-only, and never a scoring input
        **{col: _array([None] * len(st["student_id"]), "object") for col in AUDIT_COLUMNS},
    })
    sids = [s.student_id for s in students]

    def events(attr: str) -> tuple[list[Any], np.ndarray]:
        """All pupils' rows of one event list, in pupil order, and the student_id column for them."""
        lists = [getattr(s, attr) for s in students]
        return [e for rows in lists for e in rows], _ids(sids, [len(rows) for rows in lists])

    ab, ab_ids = events("absences")
    sr, sr_ids = events("sick_reports")
    ap, ap_ids = events("applications")
    en, en_ids = events("enrolments")
    di, di_ids = events("diplomas")
    return {
        "students": students_df,
        "absences": _frame({"student_id": ab_ids, "date": _dates([a.date.toordinal() for a in ab]),
                            "hours": np.array([a.hours for a in ab], dtype="float64"),
                            "category": _array([a.category for a in ab], "object")}),
        "sick_reports": _frame({"student_id": sr_ids, "start_date": _array([r.start_date for r in sr], "date"),
                                "end_date": _array([r.end_date for r in sr], "date")}),
        "applications": _frame({"student_id": ap_ids,
                                "application_id": _array([p.application_id for p in ap], "object"),
                                "programme": _array([p.programme for p in ap], "object"),
                                "level": _array([p.level for p in ap], "object"),
                                "submitted_on": _array([p.submitted_on for p in ap], "date"),
                                **{c: _array([getattr(p, c) for p in ap], "date") for c in VVA_STATUS_DATE_COLUMNS}}),
        "enrolments": _frame({"student_id": en_ids, "school_id": _array([e.school_id for e in en], "object"),
                              "level": _array([e.level for e in en], "object"),
                              "start_date": _array([e.start_date for e in en], "date"),
                              "end_date": _array([e.end_date for e in en], "date"),
                              "dereg_reason": _array([e.dereg_reason for e in en], "object")}),
        "diplomas": _frame({"student_id": di_ids, "date": _array([d.date for d in di], "date"),
                            "level": _array([d.level for d in di], "object"),
                            "is_sk": np.array([d.is_sk for d in di], dtype="bool")}),
    }
