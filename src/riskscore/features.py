"""Point-in-time feature table: one row per student enrolled on each as-of date.

Nothing dated after as_of is read: every event table is cut at as_of before a feature sees it
(ongoing sick spells end at as_of, VVA statuses count only from their own date, an enrolment's
future end date is treated as unknown). The rules get the same cut tables.

Speed: student ids are mapped to integer codes once, dates to day numbers once; per as-of date each
feature is a boolean mask plus ``np.bincount`` over those arrays, and lesson weeks come from the
calendar's day-indexed lookup tables. No Python loop runs per student or per event.

Definitions where a choice was needed
-------------------------------------
* Enrolled on as_of: a students row for the school year containing as_of, and — if the student has
  enrolments that started on or before as_of — at least one of them not ended before as_of.
* Lesson-week windows (``_4w``, ``_12w``): the last n lesson weeks of the student's calendar (their
  school's own calendar if it has one, else their region's) up to and including the week of as_of;
  holiday weeks are spanned but not counted, absences dated in a holiday week are not counted.
* unauthorised_trend: hours per lesson week in the last 4 minus hours per lesson week in the 8 before.
* sick_reports_12w: reports starting within the 12-lesson-week window (start_date <= as_of).
* longest_sick_spell_days / sick_days_year: in *school days* (lesson days of the student's calendar,
  as MAZL counts them), school year to date, spells clipped to [1 Aug, as_of]; overlapping reports
  are summed, not merged.
* application_days_late / vva_status_code: only for final-year pupils expecting mbo (else NaN);
  applications submitted in this school year up to as_of. A status counts from its own date; an
  application with no status reached yet is "applied". With several applications the most advanced
  status (lowest code) counts: one enrolment is enough.
* switches: enrolments ended on or before as_of with dereg_reason "switch".
* retentions: school years (up to the current one) in which the student was in the same school type
  and the same grade as in their previous students row.
* over_age: age on 1 October of the school year minus the age of the oldest on-track pupil of that
  grade (vo/pro/vso: 12 + grade, mbo: 16 + grade), floored at 0 — constant within a school year.
* age: years (365.25 days) at as_of.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore.contracts import (
    FEATURES,
    LEVEL_CODE,
    RULE_COLUMNS,
    RULE_IDS,
    VVA_STATUS_CODE,
    VVA_STATUSES,
    validate,
)
from riskscore.errors import DataError

if TYPE_CHECKING:
    from riskscore.calendar import SchoolCalendar

MSG_NO_DATES = "no as-of dates given"
MSG_NO_STUDENTS = "the students table is missing or empty"
MSG_OUTSIDE_CALENDAR = "as-of date {date} is outside the school calendar ({first} .. {last})"

CONTEXT = ("school_id", "municipality", "rmc_region", "school_year", "level", "age")
_NAT = np.iinfo(np.int64).max  # day number standing for "no date" (never <= as_of)
#: VVA status precedence when two statuses share a date: the later stage wins
_STATUS_ORDER = ("applied", "agreement_offered", "no_enrolment", "withdrawn", "enrolled")


# --- public API ----------------------------------------------------------------------------------
def _cache_meta(fingerprint: str, dates: Iterable[Any], rules: str) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "as_of": [str(pd.Timestamp(d).date()) for d in dates], "rules": rules}


def save_table(table: pd.DataFrame, path: Path, *, fingerprint: str, dates: Iterable[Any], rules: str = "default") -> Path:
    """Write a feature table with a sidecar <path>.json naming what it was built from (the raw data's
    fingerprint, the as-of dates, the rule thresholds), so a later run can reuse it safely."""
    from riskscore import datasets

    datasets.write_parquet_atomic(table, path)
    meta = json.dumps(_cache_meta(fingerprint, dates, rules))
    datasets.write_atomic(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(meta))
    return path


def load_if_current(path: Path | None, *, fingerprint: str, dates: Iterable[Any], rules: str = "default") -> pd.DataFrame | None:
    """The table saved by save_table if it was built from exactly this data, these dates and rules."""
    if path is None or not path.exists() or not path.with_suffix(".json").exists():
        return None
    try:
        info = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    if info != _cache_meta(fingerprint, dates, rules):
        return None
    return pd.read_parquet(path)


def default_as_of_dates(school_years: Iterable[str]) -> list[pd.Timestamp]:
    """1 October, 1 February and 1 May of each school year: start, middle and the VVA deadline's wake."""
    dates = []
    for sy in sorted(set(school_years)):
        y0 = int(str(sy)[:4])
        dates += [pd.Timestamp(y0, 10, 1), pd.Timestamp(y0 + 1, 2, 1), pd.Timestamp(y0 + 1, 5, 1)]
    return dates


def label(features: pd.DataFrame, outcomes: pd.DataFrame, *, horizon_days: int = 365) -> pd.Series:
    """True when the student became a VSV'er in (as_of, as_of + horizon]: the model's target."""
    first = outcomes.groupby("student_id", sort=False)["vsv_date"].min() if len(outcomes) else pd.Series(dtype="datetime64[ns]")
    vsv = pd.to_datetime(features["student_id"].map(first))
    as_of = pd.to_datetime(features["as_of"])
    hit = (vsv > as_of) & (vsv <= as_of + pd.Timedelta(days=horizon_days))
    return hit.fillna(False).astype(bool).rename("label")


def point_in_time(tables: dict[str, pd.DataFrame], as_of: Any) -> dict[str, pd.DataFrame]:
    """The tables as they were known on as_of: later rows dropped, later end/status dates blanked."""
    t = pd.Timestamp(as_of)
    out: dict[str, pd.DataFrame] = {}
    if "students" in tables:
        st = tables["students"]
        out["students"] = st[st["school_year"] <= _school_year_of(t)]
    if "absences" in tables:
        out["absences"] = _rows_upto(tables["absences"], "date", t)
    if "sick_reports" in tables:
        sr = _rows_upto(tables["sick_reports"], "start_date", t)
        out["sick_reports"] = _blank_after(sr, ["end_date"], t)
    if "applications" in tables:
        ap = _rows_upto(tables["applications"], "submitted_on", t)
        out["applications"] = _blank_after(ap, [f"{s}_on" for s in VVA_STATUSES if f"{s}_on" in ap.columns], t)
    if "enrolments" in tables:
        en = _rows_upto(tables["enrolments"], "start_date", t)
        later = en["end_date"] > t
        if later.any():
            en = en.copy()
            en.loc[later, "end_date"] = pd.NaT
            if "dereg_reason" in en.columns:
                en.loc[later, "dereg_reason"] = None
        out["enrolments"] = en
    if "diplomas" in tables:
        out["diplomas"] = _rows_upto(tables["diplomas"], "date", t)
    return out  # outcomes are never passed on: they are the future by definition


def _rows_upto(df: pd.DataFrame, column: str, t: pd.Timestamp) -> pd.DataFrame:
    """Rows dated on or before t; the frame itself when nothing is later (no 30M-row copy)."""
    keep = (df[column] <= t).to_numpy()
    return df if keep.all() else df[keep]


def _blank_after(df: pd.DataFrame, columns: list[str], t: pd.Timestamp) -> pd.DataFrame:
    """Dates after t were not known on t: blank them (copying only when one is)."""
    later = {c: df[c] > t for c in columns}
    if not any(m.any() for m in later.values()):
        return df
    df = df.copy()
    for c, m in later.items():
        df.loc[m, c] = pd.NaT
    return df


def build(
    tables: dict[str, pd.DataFrame],
    as_of_dates: Iterable[Any] | Any,
    *,
    calendar: SchoolCalendar | None = None,
    rule_config: Any = None,
    progress: Any = None,
) -> pd.DataFrame:
    """The feature table for every student enrolled on each as-of date (validated by its contract).

    ``progress``, if given, is called with each as-of date once it is done (the CLI's progress bar).
    """
    from riskscore import rules
    from riskscore.calendar import SchoolCalendar

    if isinstance(as_of_dates, str | pd.Timestamp | dt.date | np.datetime64):
        as_of_dates = [as_of_dates]
    dates = sorted({pd.Timestamp(d).normalize() for d in as_of_dates})
    if not dates:
        raise DataError(MSG_NO_DATES)
    cal = calendar if calendar is not None else SchoolCalendar.default()
    for d in dates:
        if not cal.covers(d):
            raise DataError(MSG_OUTSIDE_CALENDAR.format(date=d.date(), first=cal.first, last=cal.last))
    prep = _Prepared.from_tables(tables)
    frames = []
    for d in dates:
        frame = _features_at(prep, d, cal)
        fired = rules.evaluate(point_in_time(tables, d), d, config=rule_config, calendar=cal)
        for rule_id, column in zip(RULE_IDS, RULE_COLUMNS, strict=True):
            ids = fired.loc[fired["rule_id"] == rule_id, "student_id"] if len(fired) else []
            frame[column] = frame["student_id"].isin(ids)
        frames.append(frame)
        if progress is not None:
            progress(d)
    table = pd.concat(frames, ignore_index=True)
    table = imported_data_features(table, tables)  # ingest: unknown absence where no school data; DUO signals
    return validate("features", table)


# --- preparation: integer codes and day numbers, once per build ----------------------------------
def _days(values: pd.Series) -> np.ndarray:
    """Day numbers since 1970 (int64); missing dates become _NAT."""
    arr = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
    out = arr.astype(np.int64)
    out[np.isnat(arr)] = _NAT
    return out


def _day(ts: pd.Timestamp) -> int:
    return (ts.date() - dt.date(1970, 1, 1)).days


def _school_year_of(t: pd.Timestamp) -> str:
    y0 = t.year if t.month >= 8 else t.year - 1
    return f"{y0}-{(y0 + 1) % 100:02d}"


@dataclass
class _Prepared:
    """Raw tables reduced to numpy arrays keyed by an integer student code."""

    ids: pd.Index
    students: pd.DataFrame  # with 'code', 'year0', 'retained'
    absences: dict[str, np.ndarray]
    sick: dict[str, np.ndarray]
    applications: dict[str, np.ndarray]
    enrolments: dict[str, np.ndarray]

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame]) -> _Prepared:
        st = tables.get("students")
        if st is None or st.empty:
            raise DataError(MSG_NO_STUDENTS)
        ids = pd.Index(pd.unique(st["student_id"]))
        cols = ["student_id", "school_year", "school_id", "municipality", "rmc_region", "calendar_region",
                "birth_date", "school_type", "level", "grade", "final_year", "expects_mbo"]
        st = st[cols].copy()
        st["code"] = ids.get_indexer(st["student_id"])
        st["year0"] = st["school_year"].str[:4].astype(int)
        st = st.sort_values(["code", "year0"], kind="stable").reset_index(drop=True)
        same = st["code"].eq(st["code"].shift()) & st["grade"].eq(st["grade"].shift()) & st["school_type"].eq(
            st["school_type"].shift()
        )
        st["retained"] = same.to_numpy()
        return cls(ids, st, _prep_absences(tables.get("absences"), ids), _prep_sick(tables.get("sick_reports"), ids),
                   _prep_applications(tables.get("applications"), ids), _prep_enrolments(tables.get("enrolments"), ids))


def _codes(ids: pd.Index, values: pd.Series) -> np.ndarray:
    return ids.get_indexer(values).astype(np.int64)


def _prep_absences(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        z = np.zeros(0, dtype=np.int64)
        return {"code": z, "day": z, "hours": np.zeros(0), "late": np.zeros(0, dtype=bool)}
    category = df["category"]
    keep = (category == "unauthorised") | (category == "late")
    keep = keep.to_numpy()
    sub = df.loc[keep, ["student_id", "date", "hours"]]
    code = _codes(ids, sub["student_id"])
    known = code >= 0
    return {
        "code": code[known],
        "day": _days(sub["date"])[known],
        "hours": sub["hours"].to_numpy(dtype=np.float64)[known],
        "late": (category.to_numpy()[keep] == "late")[known],
    }


def _prep_sick(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        z = np.zeros(0, dtype=np.int64)
        return {"code": z, "start": z, "end": z}
    code = _codes(ids, df["student_id"])
    known = code >= 0
    return {"code": code[known], "start": _days(df["start_date"])[known], "end": _days(df["end_date"])[known]}


def _prep_applications(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        z = np.zeros(0, dtype=np.int64)
        return {"code": z, "submitted": z, **{s: z for s in VVA_STATUSES}}
    code = _codes(ids, df["student_id"])
    known = code >= 0
    out = {"code": code[known], "submitted": _days(df["submitted_on"])[known]}
    for s in VVA_STATUSES:
        col = f"{s}_on"
        out[s] = _days(df[col])[known] if col in df.columns else np.full(int(known.sum()), _NAT)
    return out


def _prep_enrolments(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        z = np.zeros(0, dtype=np.int64)
        return {"code": z, "start": z, "end": z, "switch": np.zeros(0, dtype=bool)}
    code = _codes(ids, df["student_id"])
    known = code >= 0
    reason = df["dereg_reason"] if "dereg_reason" in df.columns else pd.Series(None, index=df.index)
    return {"code": code[known], "start": _days(df["start_date"])[known], "end": _days(df["end_date"])[known],
            "switch": (reason == "switch").to_numpy()[known]}


# --- one as-of date ------------------------------------------------------------------------------
def _features_at(prep: _Prepared, as_of: pd.Timestamp, cal: SchoolCalendar) -> pd.DataFrame:
    n_ids = len(prep.ids)
    t = _day(as_of)
    sy = _school_year_of(as_of)
    y0 = int(sy[:4])
    sy_start = _day(pd.Timestamp(y0, 8, 1))

    st = prep.students
    history = st[st["year0"] <= y0]
    retentions = np.bincount(history["code"].to_numpy()[history["retained"].to_numpy()], minlength=n_ids)
    pop = st[st["year0"] == y0]
    pop = pop[_enrolled(prep.enrolments, pop["code"].to_numpy(), t, n_ids)].reset_index(drop=True)
    codes = pop["code"].to_numpy()

    # calendar per student: the school's own when it has one, else the region's
    calendars = set(cal.calendars)
    key = pop["school_id"].where(pop["school_id"].isin(calendars), pop["calendar_region"]).to_numpy()
    keys, key_idx = np.unique(key.astype(str), return_inverse=True)
    key_of_code = np.full(n_ids, -1, dtype=np.int64)
    key_of_code[codes] = key_idx
    last_week = np.array([cal.last_lesson_week_id(as_of, k) for k in keys], dtype=np.int64)
    win12_start = np.array([_day(pd.Timestamp(cal.lesson_week_window(as_of, 12, k)[0])) for k in keys], dtype=np.int64)

    out = pd.DataFrame(
        {
            "student_id": pop["student_id"].to_numpy(),
            "as_of": as_of,
            "school_id": pop["school_id"].to_numpy(),
            "municipality": pop["municipality"].to_numpy(),
            "rmc_region": pop["rmc_region"].to_numpy(),
            "school_year": sy,
            "level": pop["level"].to_numpy(),
        }
    )
    birth = pd.to_datetime(pop["birth_date"])
    out["age"] = ((as_of - birth).dt.days / 365.25).to_numpy()
    first_day = _day(pd.Timestamp(cal.first))
    lookback = max(int(min(win12_start.min(initial=sy_start), sy_start)), first_day)
    out = out.assign(**_absence_features(prep.absences, codes, key_of_code, keys, last_week, t, lookback, sy_start, cal, n_ids))
    out = out.assign(**_sick_features(prep.sick, codes, key_of_code, keys, win12_start, t, max(sy_start, first_day + 1), cal, n_ids))
    applicable = (pop["final_year"].astype(bool) & pop["expects_mbo"].astype(bool)).to_numpy()
    out = out.assign(**_application_features(prep.applications, codes, applicable, t, sy_start, _day(pd.Timestamp(y0 + 1, 4, 1)), n_ids))
    en = prep.enrolments
    done = (en["end"] <= t) & en["switch"]
    out["switches"] = np.bincount(en["code"][done], minlength=n_ids)[codes].astype(float)
    out["retentions"] = retentions[codes].astype(float)
    oct1 = pd.Timestamp(y0, 10, 1)
    age_oct1 = ((oct1 - birth).dt.days / 365.25).to_numpy()
    typical = np.where(pop["school_type"].to_numpy() == "mbo", 16.0, 12.0) + pop["grade"].to_numpy(dtype=float)
    out["over_age"] = np.maximum(age_oct1 - typical, 0.0)
    out["level_code"] = pop["level"].map(LEVEL_CODE).to_numpy(dtype=float)
    return out[["student_id", "as_of", *CONTEXT, *FEATURES]]


def _enrolled(en: dict[str, np.ndarray], codes: np.ndarray, t: int, n_ids: int) -> np.ndarray:
    """Students row present (given) and not deregistered before t by what was known on t."""
    started = en["start"] <= t
    active = started & ((en["end"] == _NAT) | (en["end"] >= t))
    n_started = np.bincount(en["code"][started], minlength=n_ids)[codes]
    n_active = np.bincount(en["code"][active], minlength=n_ids)[codes]
    return (n_started == 0) | (n_active > 0)


def _per_key(values: np.ndarray, key: np.ndarray, keys: np.ndarray, fn: Any) -> np.ndarray:
    """Apply a calendar lookup per calendar key (a handful of regions and schools)."""
    out = np.empty(len(values), dtype=np.int64)
    for i, k in enumerate(keys):
        m = key == i
        if m.any():
            out[m] = fn(values[m].astype("datetime64[D]"), str(k))
    return out


def _absence_features(ab: dict[str, np.ndarray], codes: np.ndarray, key_of_code: np.ndarray, keys: np.ndarray,
                      last_week: np.ndarray, t: int, lookback: int, sy_start: int, cal: SchoolCalendar,
                      n_ids: int) -> dict[str, np.ndarray]:
    sel = (ab["day"] <= t) & (ab["day"] >= lookback)
    code = ab["code"][sel]
    key = key_of_code[code]
    inpop = key >= 0
    code, key = code[inpop], key[inpop]
    day, hours, late = ab["day"][sel][inpop], ab["hours"][sel][inpop], ab["late"][sel][inpop]
    week = _per_key(day, key, keys, cal.lesson_week_ids)
    ago = np.where(week >= 0, last_week[key] - week, -1)  # lesson weeks before the current one
    unauth = ~late

    def hours_sum(mask: np.ndarray) -> np.ndarray:
        return np.bincount(code[mask], weights=hours[mask], minlength=n_ids)[codes]

    in4 = (ago >= 0) & (ago < 4)
    in12 = (ago >= 0) & (ago < 12)
    h4 = hours_sum(unauth & in4)
    h12 = hours_sum(unauth & in12)
    return {
        "unauthorised_hours_4w": h4,
        "unauthorised_hours_12w": h12,
        "unauthorised_hours_year": hours_sum(unauth & (day >= sy_start)),
        "unauthorised_trend": h4 / 4.0 - (h12 - h4) / 8.0,
        "late_count_12w": np.bincount(code[late & in12], minlength=n_ids)[codes].astype(float),
    }


def _sick_features(sr: dict[str, np.ndarray], codes: np.ndarray, key_of_code: np.ndarray, keys: np.ndarray,
                   win12_start: np.ndarray, t: int, sy_start: int, cal: SchoolCalendar,
                   n_ids: int) -> dict[str, np.ndarray]:
    started = sr["start"] <= t
    code = sr["code"][started]
    key = key_of_code[code]
    inpop = key >= 0
    code, key = code[inpop], key[inpop]
    start, end = sr["start"][started][inpop], sr["end"][started][inpop]
    recent = start >= win12_start[key]
    n12 = np.bincount(code[recent], minlength=n_ids)[codes].astype(float)
    # school days of each spell within [1 Aug, as_of]; ongoing spells end at as_of
    s = np.maximum(start, sy_start)
    e = np.minimum(end, t)
    valid = e >= s
    code, key, s, e = code[valid], key[valid], s[valid], e[valid]
    days = _per_key(e, key, keys, cal.lesson_day_ordinals) - _per_key(s - 1, key, keys, cal.lesson_day_ordinals)
    longest = np.zeros(n_ids)
    np.maximum.at(longest, code, days.astype(float))
    total = np.bincount(code, weights=days.astype(float), minlength=n_ids)
    return {"sick_reports_12w": n12, "longest_sick_spell_days": longest[codes], "sick_days_year": total[codes]}


def _application_features(ap: dict[str, np.ndarray], codes: np.ndarray, applicable: np.ndarray, t: int,
                          sy_start: int, april1: int, n_ids: int) -> dict[str, np.ndarray]:
    sel = (ap["submitted"] <= t) & (ap["submitted"] >= sy_start)
    code = ap["code"][sel]
    first = np.full(n_ids, _NAT, dtype=np.int64)
    np.minimum.at(first, code, ap["submitted"][sel])
    # per application: the status with the latest date <= t (later stage wins a tie); none yet → applied
    best_day = np.full(len(code), -1, dtype=np.int64)
    status_code = np.full(len(code), VVA_STATUS_CODE["applied"], dtype=np.int64)
    for status in _STATUS_ORDER:
        day = ap[status][sel]
        hit = (day <= t) & (day >= best_day)
        best_day = np.where(hit, day, best_day)
        status_code = np.where(hit, VVA_STATUS_CODE[status], status_code)
    student_status = np.full(n_ids, VVA_STATUS_CODE["none"], dtype=np.int64)
    np.minimum.at(student_status, code, status_code)
    f = first[codes]
    late = np.where(f != _NAT, np.maximum(f - april1, 0), max(t - april1, 0)).astype(float)
    return {
        "application_days_late": np.where(applicable, late, np.nan),
        "vva_status_code": np.where(applicable, student_status[codes].astype(float), np.nan),
    }


# --- imported data (ingest): what is unknown stays unknown; DUO's monthly signals ----------------
#: absence/sick features that only a school's own export can fill
SCHOOL_RECORD_FEATURES = ("unauthorised_hours_4w", "unauthorised_hours_12w", "unauthorised_hours_year",
                          "unauthorised_trend", "late_count_12w", "sick_reports_12w", "longest_sick_spell_days",
                          "sick_days_year")
#: context columns (not model features) from DUO's monthly files, counted over the 365 days up to as_of
DUO_SIGNAL_COLUMNS = {"duo_possible_vsv_12m": "possible_vsv", "duo_statutory_reports_12m": "statutory_absence_report",
                      "duo_deregistered_12m": "deregistered"}


def imported_data_features(table: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Absence features are NaN (unknown, not 0) for pupils of a school that delivered no absence
    records at all (e.g. DUO data only); DUO's dated signals are added as context columns.

    Only tables written by ``riskscore import`` carry ``school_id`` on absences/sick_reports; for
    other tables (synthetic, tests) no row still means no absence, as before."""
    if table.empty:
        return table
    st = tables.get("students")
    covered: set[str] | None = None
    for events in (tables.get("absences"), tables.get("sick_reports")):
        if events is None or "school_id" not in events.columns:
            continue
        covered = covered if covered is not None else set()
        known = events["school_id"].notna()
        covered |= set(events.loc[known, "school_id"].astype(str))
        if (~known).any() and st is not None:  # rows of the project's own tables: their students' schools
            covered |= set(st.loc[st["student_id"].isin(events.loc[~known, "student_id"]), "school_id"].astype(str))
    unknown = np.zeros(len(table), dtype=bool)
    if covered is not None:
        unknown = ~table["school_id"].astype(str).isin(covered).to_numpy()
    if unknown.any():
        table = table.copy()
        table.loc[unknown, list(SCHOOL_RECORD_FEATURES)] = np.nan
    signals = tables.get("duo_signals")
    if signals is None or signals.empty:
        return table
    table = table.copy() if not unknown.any() else table
    sig_day = signals["date"].to_numpy(dtype="datetime64[D]")
    for column in DUO_SIGNAL_COLUMNS:
        table[column] = 0.0
    for as_of, rows in table.groupby("as_of", sort=False).groups.items():
        t = np.datetime64(pd.Timestamp(as_of).date())
        window = (sig_day <= t) & (sig_day > t - np.timedelta64(365, "D"))
        for column, kind in DUO_SIGNAL_COLUMNS.items():
            hit = signals.loc[window & (signals["signal"] == kind).to_numpy(), "student_id"]
            counts = hit.value_counts()
            table.loc[rows, column] = table.loc[rows, "student_id"].map(counts).fillna(0.0).to_numpy(dtype=float)
    return table
