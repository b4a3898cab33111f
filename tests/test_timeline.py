"""review.timeline as a pure function: lesson weeks only (holidays are no rows unless something was done
in them), unauthorised hours and lates per week, nothing after the end date counted, and sick figures
only for a viewer who sees health content."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from riskscore.calendar import SchoolCalendar
from riskscore.review.timeline import Mark, build


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return SchoolCalendar.default()


def _tables() -> dict[str, pd.DataFrame]:
    students = pd.DataFrame([{"student_id": "T", "school_year": "2024-25", "school_id": "01AB",
                              "calendar_region": "midden"}])
    absences = pd.DataFrame({"student_id": "T", "date": pd.to_datetime(
        ["2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16", "2025-03-10", "2025-03-20"]),
        "hours": [3.0, 2.5, 0.2, 1.0, 2.0, 7.0],
        "category": ["unauthorised", "unauthorised", "late", "authorised", "unauthorised", "unauthorised"]})
    sick = pd.DataFrame({"student_id": ["T"], "start_date": pd.to_datetime(["2025-02-03"]),
                         "end_date": [pd.NaT]})
    return {"students": students, "absences": absences, "sick_reports": sick}


def test_weeks_hours_and_lates(calendar: SchoolCalendar) -> None:
    end = dt.date(2025, 3, 12)
    tl = build(_tables(), calendar=calendar, end=end, viewer="school", n_weeks=12,
               marks=[Mark(dt.date(2024, 12, 27), "step", "in the Christmas holiday")])
    weeks = {w.monday: w for w in tl.weeks}
    assert [w.monday for w in tl.weeks] == sorted(weeks, reverse=True)  # newest first
    assert len([w for w in tl.weeks if w.lesson_week]) == 12
    assert weeks[dt.date(2025, 1, 13)].hours == 5.5 and weeks[dt.date(2025, 1, 13)].lates == 1
    assert weeks[dt.date(2025, 3, 10)].hours == 2.0  # the 20 March hours lie after the end: not counted
    assert dt.date(2025, 2, 24) not in weeks  # the spring holiday (midden) is no lesson week
    holiday = weeks[dt.date(2024, 12, 23)]  # shown because something was done in it
    assert not holiday.lesson_week and [m.text for m in holiday.marks] == ["in the Christmas holiday"]
    assert tl.total_hours == 7.5 and tl.total_lates == 1


def test_sick_figures_only_for_the_jeugdarts(calendar: SchoolCalendar) -> None:
    end = dt.date(2025, 3, 12)
    for viewer in ("school", "leerplicht", "rmc"):
        tl = build(_tables(), calendar=calendar, end=end, viewer=viewer)
        assert not tl.health and tl.spells == [] and all(w.sick_days is None for w in tl.weeks), viewer
    doctor = build(_tables(), calendar=calendar, end=end, viewer="jeugdarts")
    (spell,) = doctor.spells
    assert spell.start == dt.date(2025, 2, 3) and spell.end is None  # still sick on the end date
    # 3 Feb up to 12 March: 4 lesson weeks of 5 days and 3 days; the spring holiday (24-28 Feb) not counted
    assert spell.school_days == 23
    weeks = {w.monday: w for w in doctor.weeks}
    assert weeks[dt.date(2025, 2, 3)].sick_days == 5 and weeks[dt.date(2025, 3, 10)].sick_days == 3


def test_a_week_after_the_data_has_no_figures(calendar: SchoolCalendar) -> None:
    later = dt.date(2025, 6, 2)
    tl = build(_tables(), calendar=calendar, end=dt.date(2025, 3, 12), viewer="school",
               marks=[Mark(later, "report", "reported to DUO")])
    week = next(w for w in tl.weeks if w.monday == later)
    assert week.hours is None and week.lates is None and week.marks[0].kind == "report"
