"""Point-in-time feature table: one row per student enrolled on each as-of date.

Nothing dated after as_of is read: every event table is cut at as_of before a feature sees it
(ongoing sick spells end at as_of, VVA statuses count only from their own date, an enrolment's
future end date is treated as unknown). The rules get the same cut tables.

Speed: the raw tables become ``rules.Events`` once (student ids → integer codes, dates → day numbers),
shared by the features and the rules; per as-of date each feature is a boolean mask plus
``np.bincount`` over those arrays, and lesson weeks come from the calendar's stacked day tables
(``CalendarView``). No Python loop runs per student or per event.

Definitions where a choice was needed
-------------------------------------
* Enrolled on as_of: a students row for the school year containing as_of, and — if the student has
  enrolments that started on or before as_of — at least one of them not ended before as_of.
* Lesson-week windows (``_4w``, ``_12w``): the last n lesson weeks of the student's calendar (their
  school's own calendar if it has one, else their region's) up to and including the week of as_of;
  holiday weeks are spanned but not counted; only absence on lesson days counts (not on weekends,
  public holidays or school holidays), exactly as in the rules.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore import rules
from riskscore.calendar import CalendarView, school_year_of, school_year_start
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
from riskscore.rules import Events

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
        y0 = school_year_start(str(sy)).year
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
        out["students"] = st[st["school_year"] <= school_year_of(t)]
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
    A pupil's row depends only on that pupil's own rows, so any split of the pupils into calls (Spark's
    applyInPandas groups) gives the same table.
    """
    return _build(tables, as_of_dates, calendar=calendar, rule_config=rule_config, progress=progress)[0]


def build_with_triggers(
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    calendar: SchoolCalendar | None = None,
    rule_config: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``build`` for one as-of date, plus the triggers behind its ``rule_<id>`` columns: exactly what
    ``rules.evaluate(point_in_time(tables, as_of), as_of)`` returns, from the same one preparation of
    the events (the scoring core needs the dates and deadlines, not only the booleans)."""
    table, fired = _build(tables, as_of, calendar=calendar, rule_config=rule_config, triggers=True)
    if len(fired) != 1:
        raise DataError(MSG_NO_DATES if not fired else "build_with_triggers takes one as-of date")
    return table, fired[0]


def _build(
    tables: dict[str, pd.DataFrame],
    as_of_dates: Iterable[Any] | Any,
    *,
    calendar: SchoolCalendar | None = None,
    rule_config: Any = None,
    progress: Any = None,
    triggers: bool = False,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The validated feature table and, if asked, per as-of date the rules' triggers (rules.evaluate's
    frame)."""
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
    cfg = rule_config if rule_config is not None else rules.RuleConfig()
    st = tables.get("students")
    if st is None or st.empty:
        raise DataError(MSG_NO_STUDENTS)
    ev = rules.Events.from_tables(tables, cfg, as_of=(dates[0], dates[-1]))
    retained = _retained(ev.students)
    frames, fired = [], []
    for d in dates:
        frame, parts = _features_at(ev, retained, d, cal, cfg)
        frames.append(frame)
        if triggers:
            fired.append(rules.triggers_frame(ev, parts))
        if progress is not None:
            progress(d)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    table = imported_data_features(table, tables)  # ingest: unknown absence where no school data; DUO signals
    return validate("features", table), fired


def _day(ts: pd.Timestamp) -> int:
    return (ts.date() - dt.date(1970, 1, 1)).days


def _as_text(values: np.ndarray) -> np.ndarray:
    """Ids and codes (an object array) as str (an int id from a hand-made table becomes '123'); missing
    stays missing."""
    arr = values
    if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):
        return arr
    return np.where(pd.isna(arr), arr, arr.astype(str)).astype(object)


def _retained(st: dict[str, Any]) -> np.ndarray:
    """Per students row (sorted by code, year0; Events.students): same school type and grade as the
    pupil's previous row."""
    code, grade, kind = st["code"], np.asarray(st["grade"]), np.asarray(st["school_type"])
    out = np.zeros(len(code), dtype=bool)
    out[1:] = (code[1:] == code[:-1]) & (grade[1:] == grade[:-1]) & (kind[1:] == kind[:-1])
    return out


# --- one as-of date ------------------------------------------------------------------------------
def _features_at(ev: Events, retained: np.ndarray, as_of: pd.Timestamp, cal: SchoolCalendar,
                 cfg: Any) -> tuple[pd.DataFrame, list[dict[str, np.ndarray]]]:
    """The feature rows of one as-of date, and the rules' triggers on it (rules.evaluate_arrays)."""
    n_ids = len(ev.ids)
    t = _day(as_of)
    sy = school_year_of(as_of)
    y0 = school_year_start(sy).year
    sy_start = _day(pd.Timestamp(school_year_start(sy)))

    st = ev.students
    year0 = st["year0"]
    code_all = st["code"]
    history = year0 <= y0
    retentions = np.bincount(code_all[history & retained], minlength=n_ids)
    rows = np.flatnonzero(year0 == y0)
    rows = rows[_enrolled(ev.enrolments, code_all[rows], t, n_ids)]
    codes = code_all[rows]

    def pop(column: str, dtype: Any = None) -> np.ndarray:
        """The enrolled pupils' values of one students column (plain arrays: no frame per date)."""
        return np.asarray(st[column], dtype=dtype)[rows]

    n = len(rows)
    # calendar per pupil: the school's own when it has one, else the region's (the rules use the same)
    keys = cal.key_for(pop("school_id"), pop("calendar_region"))
    key_idx, key_names = pd.factorize(np.asarray(keys, dtype=object), sort=True)
    view = cal.view([str(k) for k in key_names])
    key_of_code = np.full(n_ids, -1, dtype=np.int64)
    key_of_code[codes] = key_idx
    last_week = view.lesson_week_ordinal(np.arange(len(key_names)), np.full(len(key_names), t))
    win12_start = np.array([_day(pd.Timestamp(cal.lesson_week_window(as_of, 12, str(k))[0])) for k in key_names], dtype=np.int64)

    level = _as_text(pop("level", object))
    cols: dict[str, Any] = {
        "student_id": _as_text(pop("student_id", object)),
        "as_of": np.full(n, as_of.to_datetime64()).astype("datetime64[ns]"),
        "school_id": _as_text(pop("school_id", object)),
        "municipality": pop("municipality"),
        "rmc_region": pop("rmc_region"),
        "school_year": np.full(n, sy, dtype=object),
        "level": level,
    }
    birth = rules.day_numbers(pop("birth_date")).astype(np.float64)
    cols["age"] = (t - birth) / 365.25
    first_day = _day(pd.Timestamp(cal.first))
    lookback = max(int(min(win12_start.min(initial=sy_start), sy_start)), first_day)
    cols.update(_absence_features(ev.absences, codes, key_of_code, view, last_week, t, lookback, sy_start, n_ids))
    cols.update(_sick_features(ev.sick, codes, key_of_code, view, win12_start, t, max(sy_start, first_day + 1), n_ids))
    applicable = pop("final_year").astype(bool) & pop("expects_mbo").astype(bool)
    cols.update(_application_features(ev.applications, codes, applicable, t, sy_start, _day(pd.Timestamp(y0 + 1, 4, 1)), n_ids))
    en = ev.enrolments
    done = (en["end"] <= t) & en["switch"]
    cols["switches"] = np.bincount(en["code"][done], minlength=n_ids)[codes].astype(float)
    cols["retentions"] = retentions[codes].astype(float)
    age_oct1 = (_day(pd.Timestamp(y0, 10, 1)) - birth) / 365.25
    typical = np.where(pop("school_type") == "mbo", 16.0, 12.0) + pop("grade", float)
    cols["over_age"] = np.maximum(age_oct1 - typical, 0.0)
    level_idx, levels = pd.factorize(level)
    cols["level_code"] = np.array([LEVEL_CODE.get(v, np.nan) for v in levels], dtype=float)[level_idx] if n else np.zeros(0)
    fired = rules.evaluate_arrays(ev, as_of, config=cfg, calendar=cal)  # one column dict per rule
    row_of_code = np.full(n_ids, -1, dtype=np.int64)
    row_of_code[codes] = np.arange(n)
    column_of = dict(zip(RULE_IDS, RULE_COLUMNS, strict=True))
    for column in RULE_COLUMNS:
        cols[column] = np.zeros(n, dtype=bool)
    for part in fired:
        if len(part["code"]):
            hit = row_of_code[part["code"]]
            cols[column_of[part["rule_id"][0]]][hit[hit >= 0]] = True
    # every array above is new (computed or taken by index): the frame may keep them without a copy
    return pd.DataFrame({c: cols[c] for c in ("student_id", "as_of", *CONTEXT, *FEATURES, *RULE_COLUMNS)}, copy=False), fired


def _enrolled(en: dict[str, np.ndarray], codes: np.ndarray, t: int, n_ids: int) -> np.ndarray:
    """Students row present (given) and not deregistered before t by what was known on t."""
    started = en["start"] <= t
    active = started & ((en["end"] == _NAT) | (en["end"] >= t))
    n_started = np.bincount(en["code"][started], minlength=n_ids)[codes]
    n_active = np.bincount(en["code"][active], minlength=n_ids)[codes]
    return (n_started == 0) | (n_active > 0)


def _absence_features(ab: dict[str, np.ndarray], codes: np.ndarray, key_of_code: np.ndarray, view: CalendarView,
                      last_week: np.ndarray, t: int, lookback: int, sy_start: int, n_ids: int) -> dict[str, np.ndarray]:
    sel = (ab["day"] <= t) & (ab["day"] >= lookback)
    sel[sel] = key_of_code[ab["code"][sel]] >= 0
    code = ab["code"][sel]
    key = key_of_code[code]
    day, hours, late = ab["day"][sel], ab["hours"][sel], ab["late"][sel]
    cells = view.cells(key, day, in_range=True)  # day in [lookback >= calendar start, as_of]
    lesson = view.take("lesson_day", cells)  # as in the rules: no lesson, nothing to miss
    ago = np.where(lesson, last_week[key] - view.take("week_id", cells), -1)  # lesson weeks before the current one
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


def _sick_features(sr: dict[str, np.ndarray], codes: np.ndarray, key_of_code: np.ndarray, view: CalendarView,
                   win12_start: np.ndarray, t: int, sy_start: int, n_ids: int) -> dict[str, np.ndarray]:
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
    days = view.lesson_day_ordinal(key, e) - view.lesson_day_ordinal(key, s - 1)
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
