"""Raw tables as integer student codes and day numbers, prepared once for the rules and the features."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskscore.calendar import (
    school_year_start,
    to_date,
)
from riskscore.errors import DataError
from riskscore.rules.catalogue import (
    _NAT,
    _NS_PER_DAY,
    MSG_MISSING_COLUMNS,
    MSG_NO_STUDENTS,
    MSG_NOT_DATES,
    RuleConfig,
)

# --- events: raw tables as integer codes and day numbers, once --------------------------------------
STUDENT_COLUMNS = ("student_id", "school_year", "calendar_region", "birth_date", "has_sk", "final_year", "expects_mbo")
#: absences older than this before an as-of date can change nothing: the rules scan from the school year
#: of (as_of - lookback_days, at most 366), the features look back 12 lesson weeks or to 1 August
HISTORY_DAYS = 800
_CONTEXT_COLUMNS = ("school_id", "municipality", "rmc_region", "school_type", "level", "grade")  # kept for the features
_EMPTY_I = np.zeros(0, dtype=np.int64)


def day_numbers(values: Any) -> np.ndarray:
    """Days since 1970 (int64) of a date column; missing dates become a sentinel later than any date."""
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.dtype.kind != "M":
        try:
            arr = pd.to_datetime(pd.Series(arr)).to_numpy()
        except (ValueError, TypeError) as exc:
            raise DataError(MSG_NOT_DATES.format(details=f"{getattr(values, 'name', None) or 'date'}: {exc}")) from None
    if arr.dtype != np.dtype("datetime64[ns]"):
        arr = arr.astype("datetime64[ns]")
    raw = arr.view(np.int64)
    missing = np.isnat(arr)
    out = np.floor_divide(raw, _NS_PER_DAY)
    out[missing] = _NAT
    return out


def flag_values(values: Any, *, fill: bool | None = None) -> np.ndarray:
    """A yes/no column (Series or array) as a bool array: pandas' ``astype(bool)`` (after
    ``fillna(fill)`` if given), without a pandas pass when it is bool already (the contract's dtype)."""
    if values.dtype == bool:
        return np.asarray(values)
    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    if fill is not None:
        series = series.fillna(fill)
    return series.astype(bool).to_numpy()  # type: ignore[no-any-return]


def codes_of(ids: pd.Index, values: Any) -> np.ndarray:
    """Integer code of each student id (-1 when unknown).

    Exports come sorted by pupil, so only the first row of each run of equal ids is looked up (a
    hash lookup per row costs seconds at 30M rows; comparing neighbours costs a tenth of that).
    """
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    n = len(arr)
    if n == 0:
        return _EMPTY_I.copy()
    if arr.dtype == object or arr.dtype.kind in "US":
        heads = np.flatnonzero(np.r_[True, arr[1:] != arr[:-1]])
        if len(heads) < n // 2:
            looked = ids.get_indexer(arr[heads]).astype(np.int64)
            return np.repeat(looked, np.diff(np.r_[heads, n]))
    return ids.get_indexer(arr).astype(np.int64)


def _need(tables: dict[str, pd.DataFrame], name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    df = tables.get(name)
    if df is None:
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(table=name, columns=missing))
    return df


@dataclass
class Events:
    """The raw tables reduced to numpy arrays keyed by an integer student code (``ids[code]``).

    Built once per call of ``features.build`` or ``evaluate``; every as-of date then only masks and
    counts. Columns not needed by the rules stay in ``students`` for the features.

    ``students`` holds the students rows as arrays by column name (numpy, or pandas' own array for an
    extension dtype), sorted by code and year, with 'code' and 'year0': a frame would cost more to
    build and read back than the rules take for one pupil. When the rows come sorted the arrays are
    the caller's own columns (no copy): the rules and the features only read them.
    """

    ids: pd.Index
    students: dict[str, Any]  # column -> array; sorted by code, year0; with 'code' and 'year0'
    absences: dict[str, np.ndarray]  # code, day, hours, unauthorised (bool), late (bool)
    sick: dict[str, np.ndarray]  # code, start, end
    applications: dict[str, np.ndarray]  # code, submitted, one day array per status
    enrolments: dict[str, np.ndarray]  # code, start, end, switch (bool), reason (object)
    diplomas: dict[str, np.ndarray]  # code, day of each sk diploma

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], config: RuleConfig | None = None, *,
                    as_of: tuple[Any, Any] | None = None) -> Events:
        """``as_of=(first, last)``: only absences that can matter for as-of dates in that range are kept
        (from ``HISTORY_DAYS`` before the first to the last), so years of history cost no time."""
        from riskscore.contracts import VVA_STATUSES

        cfg = config or RuleConfig()
        st = _need(tables, "students", STUDENT_COLUMNS)
        if st is None or st.empty:
            raise DataError(MSG_NO_STUDENTS)
        code, uniques = pd.factorize(st["student_id"].to_numpy())
        ids = pd.Index(uniques)
        year_idx, years = pd.factorize(st["school_year"].to_numpy())
        year0_of = np.array([school_year_start(str(y)).year for y in years], dtype=np.int64)  # a malformed year fails here
        year0 = year0_of[year_idx]
        order = np.lexsort((year0, code))
        in_order = bool((order[1:] > order[:-1]).all())
        columns: dict[str, Any] = {}
        for c in st.columns:
            if c in STUDENT_COLUMNS or c in _CONTEXT_COLUMNS:
                values = _plain(st[c].array)
                columns[c] = values if in_order else values.take(order)
        columns["code"] = code[order].astype(np.int64)
        columns["year0"] = year0[order]
        st = columns

        absences = _need(tables, "absences", ("student_id", "date", "hours", "category"))
        sick = _need(tables, "sick_reports", ("student_id", "start_date", "end_date"))
        apps = _need(tables, "applications", ("student_id", "submitted_on"))
        enrol = _need(tables, "enrolments", ("student_id", "start_date", "end_date"))
        diplomas = _need(tables, "diplomas", ("student_id", "date", "is_sk"))
        window = None if as_of is None else (to_date(as_of[0]) - dt.timedelta(days=HISTORY_DAYS), to_date(as_of[1]))
        return cls(ids, st, _prep_absences(absences, ids, cfg, window), _prep_sick(sick, ids), _prep_apps(apps, ids, VVA_STATUSES),
                   _prep_enrolments(enrol, ids), _prep_diplomas(diplomas, ids))


def _plain(values: Any) -> Any:
    """A column's values: a numpy array for numpy dtypes, pandas' extension array otherwise (so
    ``flag_values`` keeps pandas' semantics for nullable and categorical columns)."""
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


def _known(code: np.ndarray, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    keep = code >= 0
    if keep.all():
        return {"code": code, **arrays}
    return {"code": code[keep], **{k: v[keep] for k, v in arrays.items()}}


def _prep_absences(df: pd.DataFrame | None, ids: pd.Index, cfg: RuleConfig,
                   window: tuple[dt.date, dt.date] | None = None) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "day": _EMPTY_I, "hours": np.zeros(0), "unauthorised": np.zeros(0, bool), "late": np.zeros(0, bool)}
    dates = df["date"].to_numpy()
    inside = None
    if window is not None and dates.dtype.kind == "M":
        inside = (dates >= np.datetime64(window[0])) & (dates <= np.datetime64(window[1]))
    category = df["category"]
    if isinstance(category.dtype, pd.CategoricalDtype):  # codes compare in microseconds
        cats = category.cat.categories
        unauth_of = np.append(cats.isin(cfg.unauthorised_categories), False)
        late_of = np.append(cats == cfg.late_category, False)
        c = category.cat.codes.to_numpy()
        unauth, late = unauth_of[c], late_of[c]
    else:  # string compares only inside the window: they are the expensive part
        cat = category.to_numpy()
        unauth = np.zeros(len(cat), dtype=bool)
        late = np.zeros(len(cat), dtype=bool)
        where = True if inside is None else inside
        for name in cfg.unauthorised_categories:
            np.logical_or(unauth, np.equal(cat, name, out=np.zeros(len(cat), dtype=bool), where=where), out=unauth)
        np.equal(cat, cfg.late_category, out=late, where=where)
        late &= ~unauth
    keep = unauth | late
    if inside is not None:
        keep &= inside
    rows = np.flatnonzero(keep)
    code = codes_of(ids, df["student_id"])  # on every row: runs of one pupil are longest there
    hours = df["hours"].to_numpy(dtype=np.float64)
    if len(rows) < len(df):
        code, hours, dates, unauth, late = code[rows], hours[rows], dates[rows], unauth[rows], late[rows]
    return _known(code, day=day_numbers(dates), hours=hours, unauthorised=unauth, late=late)


def _prep_sick(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "start": _EMPTY_I, "end": _EMPTY_I}
    return _known(codes_of(ids, df["student_id"]), start=day_numbers(df["start_date"]), end=day_numbers(df["end_date"]))


def _prep_apps(df: pd.DataFrame | None, ids: pd.Index, statuses: tuple[str, ...]) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "submitted": _EMPTY_I, **{s: _EMPTY_I for s in statuses}}
    cols = {s: (day_numbers(df[f"{s}_on"]) if f"{s}_on" in df.columns else np.full(len(df), _NAT)) for s in statuses}
    return _known(codes_of(ids, df["student_id"]), submitted=day_numbers(df["submitted_on"]), **cols)


def _prep_enrolments(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "start": _EMPTY_I, "end": _EMPTY_I, "switch": np.zeros(0, bool), "reason": np.zeros(0, object)}
    reason = df["dereg_reason"].to_numpy(dtype=object) if "dereg_reason" in df.columns else np.full(len(df), None, dtype=object)
    return _known(codes_of(ids, df["student_id"]), start=day_numbers(df["start_date"]), end=day_numbers(df["end_date"]),
                  switch=reason == "switch", reason=reason)


def _prep_diplomas(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "day": _EMPTY_I}
    sk = df.loc[flag_values(df["is_sk"], fill=False)]
    return _known(codes_of(ids, sk["student_id"]), day=day_numbers(sk["date"]))
