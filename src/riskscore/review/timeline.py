"""A pupil's timeline: per lesson week the unauthorised absence hours and the late arrivals, beside what
the team did — the signals with their dates, the cases opened, plan steps, the school's report to DUO,
letters. Pure: the door reads the pupil's raw events (datasets.read_student_tables) and the store's
records, this module only arranges them.

Health data stays the jeugdarts': sick spells (with their dates) and sick days per week are filled in
only for a viewer who sees health content (access.view.sees_health); for every other viewer the sick
reports are never read into the result at all — no dates, no counts, no "ziek" line.

Lesson weeks are the school calendar's (the school's own calendar, else its region's): the weeks the
16-hour rule counts. The window is the last ``n_weeks`` lesson weeks up to ``end`` (the reference date
of the newest case or score); a week outside the window appears only when something was done in it.
A week after ``end`` has no absence figures ("no data yet"), never zeros."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskscore.access import sees_health
from riskscore.calendar import SchoolCalendar, to_date

#: lesson weeks shown by default: about half a school year, enough for the 4-week rules and a trend
DEFAULT_WEEKS = 20


@dataclass(frozen=True)
class Mark:
    """Something dated on the pupil's timeline, already in the reader's words (the page makes the text):
    a signal, a case opened, a plan step planned or done, a follow-up check, a report to DUO, a letter."""

    day: dt.date
    kind: str
    text: str


@dataclass(frozen=True)
class SickSpell:
    """A sick spell (the jeugdarts' view only): first day, last day (None: still sick), school days."""

    start: dt.date
    end: dt.date | None
    school_days: int


@dataclass(frozen=True)
class Week:
    """One week of the timeline (Monday). ``hours`` and ``lates`` are None after the data's end;
    ``sick_days`` is None unless the viewer sees health content."""

    monday: dt.date
    lesson_week: bool
    hours: float | None
    lates: int | None
    sick_days: int | None
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Timeline:
    weeks: list[Week]  # newest first
    end: dt.date
    spells: list[SickSpell] = field(default_factory=list)  # only for a viewer who sees health content
    health: bool = False  # whether sick figures were filled in (the jeugdarts)
    total_hours: float = 0.0
    total_lates: int = 0


def calendar_key(students: pd.DataFrame, calendar: SchoolCalendar, end: dt.date) -> str:
    """The pupil's calendar: the school's own or its region's, from the newest students row up to ``end``
    (the calendar the rules count lesson weeks by)."""
    rows = students
    if len(rows) and "school_year" in rows.columns:
        before = rows[rows["school_year"].astype(str) <= _school_year(end)]
        rows = before if len(before) else rows
        rows = rows.sort_values("school_year")
    if not len(rows):
        return "midden"
    last = rows.iloc[-1]
    region = str(last.get("calendar_region") or "midden")
    return str(calendar.key_for([str(last.get("school_id"))], [region])[0])


def _school_year(day: dt.date) -> str:
    y0 = day.year if day.month >= 8 else day.year - 1
    return f"{y0}-{(y0 + 1) % 100:02d}"


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def build(tables: dict[str, pd.DataFrame], *, calendar: SchoolCalendar, end: dt.date, viewer: str,
          marks: Iterable[Mark] = (), n_weeks: int = DEFAULT_WEEKS,
          unauthorised: Sequence[str] = ("unauthorised",), late: str = "late") -> Timeline:
    """The timeline of one pupil from their raw tables (students, absences, sick_reports), as ``viewer``
    may see it. Absence rows after ``end`` are not counted (a week after ``end`` has no figures)."""
    end = to_date(end)
    key = calendar_key(tables.get("students", pd.DataFrame()), calendar, end)
    last = calendar.last_lesson_week_id(end, key)
    ids = np.arange(max(last - n_weeks + 1, 0), last + 1)
    window = [d.astype(dt.date) for d in calendar.lesson_week_monday(ids, key)]
    by_week: dict[dt.date, list[Mark]] = {}
    for m in marks:
        by_week.setdefault(_monday(m.day), []).append(m)
    mondays = sorted(set(window) | set(by_week), reverse=True)

    absences = tables.get("absences")
    hours: dict[dt.date, float] = {}
    lates: dict[dt.date, int] = {}
    if absences is not None and len(absences):
        ab = absences[pd.to_datetime(absences["date"]).dt.date <= end]
        days = pd.to_datetime(ab["date"]).dt.date
        week = days.map(_monday)
        category = ab["category"].astype(str)
        unauth = category.isin(list(unauthorised)).to_numpy()
        for monday, h in pd.Series(ab["hours"].to_numpy(dtype=float)[unauth]).groupby(week.to_numpy()[unauth]).sum().items():
            hours[monday] = float(h)
        is_late = (category == late).to_numpy()
        late_days = pd.Series(days.to_numpy()[is_late]).drop_duplicates()
        for monday, n in late_days.map(_monday).value_counts().items():
            lates[monday] = int(n)

    health = sees_health(viewer)
    spells: list[SickSpell] = []
    sick_days: dict[dt.date, int] = {}
    if health:
        spells, sick_days = _sick(tables.get("sick_reports"), calendar, key, end=end,
                                  since=min(mondays) if mondays else end)

    weeks = []
    for monday in mondays:
        known = monday <= end
        weeks.append(Week(
            monday=monday, lesson_week=_is_lesson_week(calendar, key, monday),
            hours=round(hours.get(monday, 0.0), 2) if known else None,
            lates=lates.get(monday, 0) if known else None,
            sick_days=(sick_days.get(monday, 0) if known else None) if health else None,
            marks=tuple(sorted(by_week.get(monday, ()), key=lambda m: (m.day, m.kind)))))
    shown = {w.monday for w in weeks}
    return Timeline(weeks=weeks, end=end, spells=spells, health=health,
                    total_hours=round(sum(h for m, h in hours.items() if m in shown), 2),
                    total_lates=sum(n for m, n in lates.items() if m in shown))


def _is_lesson_week(calendar: SchoolCalendar, key: str, monday: dt.date) -> bool:
    days = [monday + dt.timedelta(days=i) for i in range(5)]
    if not all(calendar.covers(d) for d in days):
        return False
    return bool((calendar.lesson_week_ids(days, key) >= 0).any())


def _sick(sick: pd.DataFrame | None, calendar: SchoolCalendar, key: str, *, end: dt.date,
          since: dt.date) -> tuple[list[SickSpell], dict[dt.date, int]]:
    """Sick spells overlapping [since, end] and the school days sick per week (the jeugdarts only)."""
    spells: list[SickSpell] = []
    per_week: dict[dt.date, int] = {}
    if sick is None or not len(sick):
        return spells, per_week
    for start, stop in zip(pd.to_datetime(sick["start_date"]), pd.to_datetime(sick["end_date"]), strict=True):
        first = start.date()
        last = None if pd.isna(stop) else stop.date()
        until = min(last or end, end)
        if first > end or until < since:
            continue
        lo, hi = max(first, calendar.first), min(until, calendar.last)
        days = list(calendar.lesson_days(lo, hi, key).date) if lo <= hi else []
        spells.append(SickSpell(start=first, end=last if last is None or last <= end else None, school_days=len(days)))
        for d in days:
            if d >= since:
                per_week[_monday(d)] = per_week.get(_monday(d), 0) + 1
    spells.sort(key=lambda s: s.start, reverse=True)
    return spells, per_week


__all__ = ["DEFAULT_WEEKS", "Mark", "SickSpell", "Timeline", "Week", "build", "calendar_key"]
