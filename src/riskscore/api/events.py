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


def _array(values: list[Any], kind: str) -> np.ndarray:
    """One column as a numpy array of the contract's dtype: the frames are built from plain arrays
    (a pandas Series per column, aligned on its index, costs more than the whole column)."""
    if kind == "date":  # date objects (None = NaT) straight into numpy: pd.to_datetime on objects costs ms per column
        return np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")
    if kind == "object":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.array(values, dtype=kind)


def _frame(columns: dict[str, tuple[list[Any], str]]) -> pd.DataFrame:
    # the arrays are new and owned by the frame: no copy needed
    return pd.DataFrame({name: _array(values, kind) for name, (values, kind) in columns.items()}, copy=False)


def to_tables(students: Sequence[StudentEvents]) -> dict[str, pd.DataFrame]:
    """One set of raw tables for the given pupils (all scored as of the same date)."""
    from riskscore.calendar import school_year_of

    st: dict[str, list[Any]] = {k: [] for k in (
        "student_id", "school_year", "school_id", "municipality", "rmc_region", "calendar_region", "birth_date",
        "school_type", "level", "pathway", "grade", "final_year", "expects_mbo", "has_sk")}
    ab: dict[str, list[Any]] = {"student_id": [], "date": [], "hours": [], "category": []}
    sr: dict[str, list[Any]] = {"student_id": [], "start_date": [], "end_date": []}
    ap: dict[str, list[Any]] = {k: [] for k in ("student_id", "application_id", "programme", "level", "submitted_on",
                                                *VVA_STATUS_DATE_COLUMNS)}
    en: dict[str, list[Any]] = {k: [] for k in ("student_id", "school_id", "level", "start_date", "end_date",
                                                "dereg_reason")}
    di: dict[str, list[Any]] = {"student_id": [], "date": [], "level": [], "is_sk": []}
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
        for a in s.absences:
            ab["student_id"].append(sid)
            ab["date"].append(a.date)
            ab["hours"].append(a.hours)
            ab["category"].append(a.category)
        for r in s.sick_reports:
            sr["student_id"].append(sid)
            sr["start_date"].append(r.start_date)
            sr["end_date"].append(r.end_date)
        for p in s.applications:
            ap["student_id"].append(sid)
            for k in ("application_id", "programme", "level", "submitted_on", *VVA_STATUS_DATE_COLUMNS):
                ap[k].append(getattr(p, k))
        for e in s.enrolments:
            en["student_id"].append(sid)
            for k in ("school_id", "level", "start_date", "end_date", "dereg_reason"):
                en[k].append(getattr(e, k))
        for d in s.diplomas:
            di["student_id"].append(sid)
            di["date"].append(d.date)
            di["level"].append(d.level)
            di["is_sk"].append(d.is_sk)
    students_df = _frame({
        "student_id": (st["student_id"], "object"), "school_year": (st["school_year"], "object"),
        "school_id": (st["school_id"], "object"), "municipality": (st["municipality"], "object"),
        "rmc_region": (st["rmc_region"], "object"), "calendar_region": (st["calendar_region"], "object"),
        "birth_date": (st["birth_date"], "date"), "school_type": (st["school_type"], "object"),
        "level": (st["level"], "object"), "pathway": (st["pathway"], "object"), "grade": (st["grade"], "float64"),
        "final_year": (st["final_year"], "bool"), "expects_mbo": (st["expects_mbo"], "bool"),
        "has_sk": (st["has_sk"], "bool"),
        # never accepted from a caller: audit-only, and never a scoring input
        **{col: ([None] * len(st["student_id"]), "object") for col in AUDIT_COLUMNS},
    })
    return {
        "students": students_df,
        "absences": _frame({"student_id": (ab["student_id"], "object"), "date": (ab["date"], "date"),
                            "hours": (ab["hours"], "float64"), "category": (ab["category"], "object")}),
        "sick_reports": _frame({"student_id": (sr["student_id"], "object"), "start_date": (sr["start_date"], "date"),
                                "end_date": (sr["end_date"], "date")}),
        "applications": _frame({"student_id": (ap["student_id"], "object"),
                                "application_id": (ap["application_id"], "object"),
                                "programme": (ap["programme"], "object"), "level": (ap["level"], "object"),
                                "submitted_on": (ap["submitted_on"], "date"),
                                **{c: (ap[c], "date") for c in VVA_STATUS_DATE_COLUMNS}}),
        "enrolments": _frame({"student_id": (en["student_id"], "object"), "school_id": (en["school_id"], "object"),
                              "level": (en["level"], "object"), "start_date": (en["start_date"], "date"),
                              "end_date": (en["end_date"], "date"), "dereg_reason": (en["dereg_reason"], "object")}),
        "diplomas": _frame({"student_id": (di["student_id"], "object"), "date": (di["date"], "date"),
                            "level": (di["level"], "object"), "is_sk": (di["is_sk"], "bool")}),
    }
