"""School calendar: holidays are not lesson weeks, lesson-week arithmetic spans breaks, data coverage."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.calendar import (
    REGIONS,
    SchoolCalendar,
    easter_sunday,
    public_holidays,
    school_year_of,
    school_year_start,
)
from riskscore.errors import ConfigError, DataError

CAL = SchoolCalendar.default()
YEARS = [f"{y}-{(y + 1) % 100:02d}" for y in range(2019, 2028)]
regions = st.sampled_from(REGIONS)
covered_days = st.dates(min_value=dt.date(2019, 8, 1), max_value=dt.date(2028, 7, 31))


def _holiday_days(region: str) -> set[dt.date]:
    rows = CAL.holidays[CAL.holidays["region"].isin([region, "all"])]
    out: set[dt.date] = set()
    for start, end in zip(rows["start"], rows["end"], strict=True):
        out.update(pd.date_range(start, end).date)
    return out


HOLIDAY_DAYS = {r: _holiday_days(r) for r in REGIONS}


def test_every_school_year_and_region_has_all_five_holidays() -> None:
    h = CAL.holidays
    for sy in YEARS:
        rows = h[h["school_year"] == sy]
        assert set(rows.loc[rows["region"] == "all", "holiday"]) == {"kerstvakantie", "meivakantie"}, sy
        for region in REGIONS:
            own = set(rows.loc[rows["region"] == region, "holiday"])
            assert own == {"herfstvakantie", "voorjaarsvakantie", "zomervakantie"}, (sy, region)
        for _, row in rows.iterrows():  # each holiday lies in its own school year
            assert school_year_of(row["start"]) == sy and school_year_of(row["end"]) in (sy, _next(sy))


def _next(sy: str) -> str:
    return school_year_of(school_year_start(sy) + dt.timedelta(days=366))


def test_christmas_dates_as_in_domain() -> None:
    for region in REGIONS:
        assert not CAL.is_lesson_day(dt.date(2024, 12, 23), region)
        assert CAL.is_lesson_day(dt.date(2024, 12, 20), region)  # Friday before the break
        assert CAL.is_lesson_day(dt.date(2025, 1, 6), region)  # Monday after 5 Jan 2025
        assert CAL.is_lesson_day(dt.date(2025, 12, 19), region)
        assert CAL.lesson_days(dt.date(2025, 12, 20), dt.date(2026, 1, 4), region).empty
        assert CAL.is_lesson_day(dt.date(2026, 1, 5), region)
    xmas = CAL.holidays[(CAL.holidays["holiday"] == "kerstvakantie") & (CAL.holidays["school_year"] == "2024-25")]
    assert (xmas["start"].iloc[0], xmas["end"].iloc[0]) == (dt.date(2024, 12, 21), dt.date(2025, 1, 5))


def test_public_holidays() -> None:
    assert easter_sunday(2024) == dt.date(2024, 3, 31)
    assert easter_sunday(2025) == dt.date(2025, 4, 20)
    assert easter_sunday(2019) == dt.date(2019, 4, 21)
    ph = public_holidays(2025)
    assert ph[dt.date(2025, 4, 26)] == "Koningsdag"  # 27 April 2025 is a Sunday
    assert ph[dt.date(2025, 4, 18)] == "Goede Vrijdag"
    assert ph[dt.date(2025, 5, 29)] == "Hemelvaartsdag"
    assert dt.date(2025, 5, 30) not in ph  # only Hemelvaartsdag itself
    assert ph[dt.date(2025, 6, 9)] == "Tweede Pinksterdag"
    assert public_holidays(2024)[dt.date(2024, 4, 27)] == "Koningsdag"
    assert not CAL.is_lesson_day(dt.date(2024, 4, 1), "noord")  # Tweede Paasdag 2024
    assert not CAL.is_lesson_day(dt.date(2024, 5, 9), "zuid")  # Hemelvaart 2024
    assert CAL.is_lesson_day(dt.date(2024, 5, 10), "zuid")
    assert dt.date(2025, 5, 5) not in public_holidays(2025, liberation_day=False)


@settings(max_examples=200, deadline=None)
@given(day=covered_days, region=regions)
def test_holiday_and_weekend_days_are_not_lesson_days(day: dt.date, region: str) -> None:
    expected = day.weekday() < 5 and day not in HOLIDAY_DAYS[region] and day not in public_holidays(day.year)
    assert CAL.is_lesson_day(day, region) == expected


@settings(max_examples=200, deadline=None)
@given(day=covered_days, region=regions)
def test_whole_holiday_weeks_are_not_lesson_weeks(day: dt.date, region: str) -> None:
    monday = day - dt.timedelta(days=day.weekday())
    week = [monday + dt.timedelta(days=i) for i in range(7) if CAL.covers(monday + dt.timedelta(days=i))]
    has_lesson = any(CAL.is_lesson_day(d, region) for d in week)
    week_id = CAL.lesson_week_ids(np.array([day], dtype="datetime64[D]"), region)[0]
    assert (week_id >= 0) == has_lesson
    if all(d in HOLIDAY_DAYS[region] for d in week[:5]):
        assert week_id == -1


def test_lesson_week_ids_consecutive_across_christmas() -> None:
    days = pd.to_datetime(["2024-12-16", "2024-12-20", "2024-12-23", "2024-12-30", "2025-01-06"])
    for region in REGIONS:
        ids = CAL.lesson_week_ids(days, region)
        assert ids[0] == ids[1]
        assert ids[2] == ids[3] == -1
        assert ids[4] == ids[0] + 1


def test_lesson_week_ids_monotone_and_dense() -> None:
    days = pd.date_range("2019-08-01", "2028-07-31")
    for region in REGIONS:
        ids = CAL.lesson_week_ids(days, region)
        lesson = ids[ids >= 0]
        assert (np.diff(lesson) >= 0).all()
        assert set(np.diff(lesson)) <= {0, 1}
        assert lesson[0] == 0
        # roughly 40 lesson weeks a school year
        assert 9 * 37 <= lesson[-1] + 1 <= 9 * 42


def test_lesson_week_window_spans_the_break() -> None:
    start, end = CAL.lesson_week_window(dt.date(2025, 1, 8), 4, "midden")
    assert end == dt.date(2025, 1, 8)
    # weeks of 6 Jan, 16 Dec, 9 Dec, 2 Dec (the two Christmas weeks do not count)
    assert start == dt.date(2024, 12, 2)
    # during a holiday the last lesson week is the one before it
    start, _ = CAL.lesson_week_window(dt.date(2024, 12, 28), 1, "midden")
    assert start == dt.date(2024, 12, 16)


def test_school_days_and_ordinals() -> None:
    assert CAL.school_days_between(dt.date(2024, 12, 16), dt.date(2025, 1, 10), "noord") == 10
    assert CAL.school_days_between(dt.date(2025, 1, 10), dt.date(2025, 1, 6), "noord") == 0
    days = CAL.lesson_days(dt.date(2024, 9, 2), dt.date(2024, 12, 31), "zuid")
    ords = CAL.lesson_day_ordinals(days, "zuid")
    assert (np.diff(ords) == 1).all()
    back = CAL.date_of_lesson_day_ordinal(ords, "zuid")
    assert (back == days.to_numpy().astype("datetime64[D]")).all()


def test_add_working_days() -> None:
    assert CAL.add_working_days(dt.date(2025, 4, 25), 5) == dt.date(2025, 5, 2)  # over Koningsdag (Sat)
    assert CAL.add_working_days(dt.date(2024, 3, 28), 5) == dt.date(2024, 4, 8)  # Goede Vrijdag, Paasmaandag
    assert CAL.add_working_days(dt.date(2024, 3, 30), 1) == dt.date(2024, 4, 2)
    dates = np.array(["2025-04-25", "2024-03-28", "2024-03-30", "2024-05-04"], dtype="datetime64[D]")
    expected = [CAL.add_working_days(d.astype(dt.date), 5) for d in dates]
    assert list(CAL.add_working_days_array(dates, 5).astype(dt.date)) == expected


def test_school_year() -> None:
    assert school_year_of(dt.date(2023, 8, 1)) == "2023-24"
    assert school_year_of(dt.date(2024, 7, 31)) == "2023-24"
    assert school_year_of("2099-12-31") == "2099-00"
    assert CAL.school_year_start("2023-24") == dt.date(2023, 8, 1)
    with pytest.raises(DataError):
        school_year_start("2023-25")


def test_out_of_range_and_bad_input_raise() -> None:
    with pytest.raises(DataError, match="outside"):
        CAL.is_lesson_day(dt.date(2019, 7, 31), "noord")
    with pytest.raises(DataError, match="outside"):
        CAL.lesson_week_ids(pd.to_datetime(["2024-01-08", "2030-01-01"]), "noord")
    with pytest.raises(DataError, match="region"):
        CAL.is_lesson_day(dt.date(2024, 1, 8), "oost")
    with pytest.raises(DataError):
        CAL.lesson_week_ids(pd.to_datetime(["2024-01-08", None]), "noord")


def test_school_override_moves_a_recommended_holiday_but_not_summer() -> None:
    own = pd.DataFrame(
        {
            "school_id": ["S1"],
            "region": ["zuid"],
            "school_year": ["2024-25"],
            "holiday": ["voorjaarsvakantie"],
            "start": ["2025-03-01"],
            "end": ["2025-03-09"],
        }
    )
    cal = SchoolCalendar.default(overrides=own)
    assert not CAL.is_lesson_day(dt.date(2025, 2, 24), "zuid")
    assert cal.is_lesson_day(dt.date(2025, 2, 24), "S1")
    assert not cal.is_lesson_day(dt.date(2025, 3, 3), "S1")
    summer = own.assign(holiday="zomervakantie")
    with pytest.raises(ConfigError, match="fixed"):
        SchoolCalendar.default(overrides=summer)


def test_bad_holiday_table_raises() -> None:
    bad = CAL.holidays.copy()
    bad.loc[0, "end"] = dt.date(2000, 1, 1)
    with pytest.raises(ConfigError):
        SchoolCalendar(bad)


@settings(max_examples=60, deadline=None)
@given(birth=st.dates(dt.date(1995, 1, 1), dt.date(2015, 12, 31)), on=st.dates(dt.date(2005, 1, 1), dt.date(2035, 12, 31)),
       years=st.sampled_from([16, 18, 23]))
def test_one_age_on_scalar_vectorised_and_birthdays_agree(birth: dt.date, on: dt.date, years: int) -> None:
    """Legal ages turn on the birthday itself (born 29 February: 1 March in other years)."""
    from riskscore.calendar import age_on, ages_on, birthdays

    age = age_on(birth, on)
    assert age == on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    assert int(ages_on([birth], on)[0]) == age
    turns = birthdays(np.array([(birth - dt.date(1970, 1, 1)).days]), years)[0]
    assert (age >= years) == ((on - dt.date(1970, 1, 1)).days >= turns)


def test_school_year_helpers_agree() -> None:
    from riskscore.calendar import school_year_end, school_year_first_years, school_year_name

    assert school_year_name(2023) == "2023-24" and school_year_end("2023-24") == dt.date(2024, 7, 31)
    days = np.array(["2023-07-31", "2023-08-01", "2024-07-31", "2024-08-01"], dtype="datetime64[D]").astype(np.int64)
    assert school_year_first_years(days).tolist() == [2022, 2023, 2023, 2024]
