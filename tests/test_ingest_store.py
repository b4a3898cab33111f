"""Properties of the raw store's merge and of turning absence records into school days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.ingest.profiles import SchoolFile, default_calendar, expand_days, split_days
from riskscore.ingest.store import merge

SCHOOL = SchoolFile(school_id="01AB", hours="lessons", codes={"O": "unauthorised"},
                    timetable={1: "08:30-09:20", 2: "09:30-10:20", 3: "10:30-11:20", 4: "11:30-12:20"})

records = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 30), st.sampled_from(["x", "y"]),
                             st.floats(0, 8, allow_nan=False)), min_size=1, max_size=25)


def _frame(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"school_id": "01AB", "record_key": [f"{s}|{d}" for s, d, _c, _h in rows],
                         "student_id": [s for s, *_ in rows], "category": [c for _s, _d, c, _h in rows],
                         "hours": [h for *_, h in rows]})


@settings(max_examples=60, deadline=None)
@given(records, records)
def test_merge_is_idempotent_and_counts_every_key_once(first: list, second: list) -> None:
    a, b = _frame(first).drop_duplicates("record_key"), _frame(second).drop_duplicates("record_key")
    stored, s1 = merge(None, a, "school_absences")
    assert s1.added == a["record_key"].nunique()
    merged, s2 = merge(stored, b, "school_absences")
    keys_b = set(b["record_key"])
    assert s2.added + s2.replaced + s2.duplicate == len(keys_b)
    assert s2.added == len(keys_b - set(a["record_key"]))
    assert set(merged["record_key"]) == set(a["record_key"]) | keys_b
    # the newer export wins for every key it holds
    got = merged.set_index("record_key").loc[list(keys_b), "hours"].sort_index()
    assert got.tolist() == b.set_index("record_key").loc[list(keys_b), "hours"].sort_index().tolist()
    again, s3 = merge(merged, b, "school_absences")
    assert (s3.added, s3.replaced, s3.duplicate) == (0, 0, len(keys_b))
    assert len(again) == len(merged)


@settings(max_examples=80, deadline=None)
@given(st.dates(dt.date(2023, 9, 4), dt.date(2024, 6, 28)), st.integers(0, 20), st.integers(0, 4), st.integers(1, 4))
def test_a_record_counts_lessons_on_lesson_days_only(day: dt.date, span: int, first: int, last: int) -> None:
    start = pd.Timestamp(day) + pd.Timedelta(minutes=8 * 60 + 30 + 60 * first)  # from lesson first+1
    end = pd.Timestamp(day + dt.timedelta(days=span)) + pd.Timedelta(minutes=8 * 60 + 20 + 60 * last)
    if end <= start:
        return
    rec = pd.DataFrame({"student_id": ["a"], "school_id": ["01AB"], "record_key": ["k"], "start": [start],
                        "end": [end], "hours": [np.nan], "category": ["unauthorised"], "code": ["O"], "profile": ["p"]})
    split = split_days(rec, SCHOOL)
    days = split.days
    assert days["hours"].between(0, 4).all()
    cal = default_calendar()
    lesson = [d for d in pd.date_range(day, day + dt.timedelta(days=span)) if cal.is_lesson_day(d, "midden")]
    assert pd.to_datetime(days["date"]).tolist() == lesson  # weekends, holidays and public holidays hold none
    assert len(split.outside) == (0 if lesson else 1)  # a record without a lesson day is counted apart
    inner = [i for i, d in enumerate(lesson) if d.date() not in (day, day + dt.timedelta(days=span))]
    if inner:  # whole days in between count every lesson
        assert (days["hours"].iloc[inner] == 4).all()
    clock = expand_days(rec, SCHOOL.model_copy(update={"hours": "clock"}))
    assert (clock["hours"] <= days["hours"] * 50 / 60 + 1e-9).all()  # a lesson is 50 clock minutes


@settings(max_examples=60, deadline=None)
@given(st.dates(dt.date(2023, 9, 4), dt.date(2024, 6, 28)), st.integers(0, 20), st.floats(0.5, 80))
def test_exported_hours_are_spread_over_the_lesson_days_and_add_up(day: dt.date, span: int, hours: float) -> None:
    start = pd.Timestamp(day) + pd.Timedelta(minutes=8 * 60 + 30)
    end = pd.Timestamp(day + dt.timedelta(days=span)) + pd.Timedelta(minutes=12 * 60 + 20)
    rec = pd.DataFrame({"student_id": ["a"], "school_id": ["01AB"], "record_key": ["k"], "start": [start],
                        "end": [end], "hours": [hours], "category": ["unauthorised"], "code": ["O"], "profile": ["p"]})
    days = expand_days(rec, SCHOOL)
    if len(days) and hours <= 24:  # spread, never lost, never counted on each day again
        assert days["hours"].sum() == pytest.approx(hours)
    assert (days["hours"] <= 24).all()
    if len(days) > 1:  # whole lesson days (lessons 1-4 each) get equal shares
        assert days["hours"].max() == pytest.approx(days["hours"].min())
