"""Rule layer: the legal edges (16 h, lesson weeks, new period, MAZL counts, birthdays, point in time)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.calendar import SchoolCalendar
from riskscore.calendar import ages_on as age_on
from riskscore.contracts import RULE_IDS
from riskscore.errors import ConfigError, DataError
from riskscore.rules import RULES, RuleConfig, evaluate

CAL = SchoolCalendar.default()
REGION = "midden"
AS_OF = dt.date(2025, 1, 31)  # a Friday; lesson weeks before it span the Christmas break
BIRTH_14 = dt.date(2010, 6, 1)


def _students(birth: dt.date = BIRTH_14, *, has_sk: bool = False, sy: str = "2024-25", **kw: object) -> pd.DataFrame:
    row = {
        "student_id": "s1",
        "school_year": sy,
        "school_id": "SCH1",
        "municipality": "GM0363",
        "rmc_region": "RMC27",
        "calendar_region": REGION,
        "birth_date": pd.Timestamp(birth),
        "school_type": "vo",
        "level": "havo",
        "pathway": None,
        "grade": 3,
        "final_year": False,
        "expects_mbo": False,
        "has_sk": has_sk,
    }
    row.update(kw)
    return pd.DataFrame([row])


def _absences(rows: list[tuple[dt.date, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "student_id": ["s1"] * len(rows),
            "date": pd.to_datetime([r[0] for r in rows]),
            "hours": [r[1] for r in rows],
            "category": [r[2] for r in rows],
        }
    )


def _sick(rows: list[tuple[dt.date, dt.date | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "student_id": ["s1"] * len(rows),
            "start_date": pd.to_datetime([r[0] for r in rows]),
            "end_date": pd.to_datetime([r[1] for r in rows]),
        }
    )


def _fired(result: pd.DataFrame, rule: str) -> list[dt.date]:
    return [d.date() for d in result.loc[result["rule_id"] == rule, "fired_on"]]


def _lesson_days_in_weeks(as_of: dt.date, n_weeks: int) -> list[list[dt.date]]:
    """Lesson days of each of the last n lesson weeks up to as_of, oldest first."""
    start, end = CAL.lesson_week_window(as_of, n_weeks, REGION)
    days = CAL.lesson_days(start, end, REGION)
    ids = CAL.lesson_week_ids(days, REGION)
    return [[d.date() for d in days[ids == w]] for w in np.unique(ids)]


# --- leerplicht_16h_4w ---------------------------------------------------------------------------
def _spread(total: float, weeks: list[list[dt.date]]) -> list[tuple[dt.date, float, str]]:
    """The hours evenly over every lesson day of the weeks: the last day is when the total is reached."""
    days = [d for w in weeks for d in w]
    return [(d, total / len(days), "unauthorised") for d in days]


@settings(max_examples=25, deadline=None)
@given(total=st.sampled_from([15.5, 15.75, 15.99, 16.0, 16.25, 20.0]), n_weeks=st.integers(1, 4))
def test_16_hours_in_4_lesson_weeks_is_the_edge(total: float, n_weeks: int) -> None:
    """Leerplichtwet 1969 art. 21a: 16 hours of les- of praktijktijd missed without a valid reason
    within 4 consecutive lesson weeks must be reported; art. 21a/22 with DUO's verzuimloket: the school
    reports within 5 working days, so the due date is the 5th working day after the 16th hour."""
    weeks = _lesson_days_in_weeks(AS_OF, 4)[-n_weeks:]
    res = evaluate({"students": _students(), "absences": _absences(_spread(total, weeks))}, AS_OF)
    fired = _fired(res, "leerplicht_16h_4w")
    assert bool(fired) == (total >= 16.0)
    if fired:
        rows = _spread(total, weeks)
        reached = next(d for i, (d, _, _) in enumerate(rows) if sum(h for _, h, _ in rows[: i + 1]) >= 16.0 - 1e-9)
        assert fired == [reached]
        due = res.loc[res["rule_id"] == "leerplicht_16h_4w", "due_date"].iloc[0].date()
        assert due == CAL.add_working_days(fired[0], 5)
        assert res.loc[res["rule_id"] == "leerplicht_16h_4w", "role"].iloc[0] == "leerplicht"


def test_christmas_weeks_do_not_break_four_consecutive_lesson_weeks() -> None:
    # 2 lesson weeks before and 2 after the Christmas break (21 Dec 2024 – 5 Jan 2025)
    days = [dt.date(2024, 12, 9), dt.date(2024, 12, 16), dt.date(2025, 1, 6), dt.date(2025, 1, 13)]
    res = evaluate({"students": _students(), "absences": _absences([(d, 4.0, "unauthorised") for d in days])}, dt.date(2025, 1, 17))
    assert _fired(res, "leerplicht_16h_4w") == [dt.date(2025, 1, 13)]
    # a 5-lesson-week spread is not within 4 consecutive lesson weeks
    days5 = [dt.date(2024, 12, 2), dt.date(2024, 12, 16), dt.date(2025, 1, 6), dt.date(2025, 1, 13)]
    res = evaluate({"students": _students(), "absences": _absences([(d, 4.0, "unauthorised") for d in days5])}, dt.date(2025, 1, 17))
    assert _fired(res, "leerplicht_16h_4w") == []


@settings(max_examples=20, deadline=None)
@given(hours=st.floats(0.5, 8.0), n=st.integers(1, 40))
def test_sick_reports_and_authorised_absence_never_count(hours: float, n: int) -> None:
    days = [d for w in _lesson_days_in_weeks(AS_OF, 4) for d in w][:n]
    absences = _absences([(d, hours, "authorised") for d in days])
    sick = _sick([(days[0], days[-1])])
    res = evaluate({"students": _students(), "absences": absences, "sick_reports": sick}, AS_OF)
    assert not {"leerplicht_16h_4w", "lrv_4w", "rmc_verzuim"} & set(res["rule_id"])


def test_new_period_starts_after_a_report() -> None:
    """Leerplichtwet 1969 art. 21a: after a report a new period of 4 lesson weeks starts; hours before
    the report are not counted again."""
    weeks = _lesson_days_in_weeks(AS_OF, 4)
    first = [(weeks[0][0], 8.0, "unauthorised"), (weeks[0][1], 8.0, "unauthorised")]  # report 1
    fifteen = [(d, 5.0, "unauthorised") for d in weeks[1][:3]]
    res = evaluate({"students": _students(), "absences": _absences([*first, *fifteen])}, AS_OF)
    assert _fired(res, "leerplicht_16h_4w") == [weeks[0][1]]  # 15 h after the report: no second one
    second = [*first, *fifteen, (weeks[2][0], 1.0, "unauthorised")]
    res = evaluate({"students": _students(), "absences": _absences(second)}, AS_OF)
    assert _fired(res, "leerplicht_16h_4w") == [weeks[0][1], weeks[2][0]]


@settings(max_examples=20, deadline=None)
@given(offset=st.integers(-3, 3), has_sk=st.booleans(), limit=st.sampled_from([16, 18]))
def test_leerplicht_age_limits_exact_on_birthdays(offset: int, has_sk: bool, limit: int) -> None:
    """Leerplichtwet 1969 art. 21a with art. 3/4a: a jongere is leerplichtig until the end of the day
    before the 16th birthday and kwalificatieplichtig (without sk) until the day before the 18th.
    The 16 hours are missed in the week before as_of; the birthday falls around as_of."""
    birthday = AS_OF + dt.timedelta(days=offset)
    birth = birthday.replace(year=birthday.year - limit)
    week = _lesson_days_in_weeks(AS_OF, 2)[0]  # 20-24 Jan 2025: all before the birthday
    res = evaluate({"students": _students(birth, has_sk=has_sk), "absences": _absences(_spread(16.0, [week]))}, AS_OF)
    age = limit - 1  # on every day the hours were missed
    leerplichtig = age < 16 or (age < 18 and not has_sk)
    assert bool(_fired(res, "leerplicht_16h_4w")) == leerplichtig
    assert _fired(res, "rmc_verzuim") == []


@settings(max_examples=15, deadline=None)
@given(offset=st.integers(-2, 2))
def test_rmc_upper_age_limit_is_the_23rd_birthday(offset: int) -> None:
    """RMC (WEB art. 8.3.1 ff.): the RMC task covers young people under 23 without sk."""
    week = _lesson_days_in_weeks(AS_OF, 1)[0]
    birthday = week[-1] + dt.timedelta(days=offset)  # around the day the 16th hour is missed
    birth = birthday.replace(year=birthday.year - 23)
    res = evaluate({"students": _students(birth), "absences": _absences(_spread(16.0, [week]))}, AS_OF)
    assert bool(_fired(res, "rmc_verzuim")) == (birthday > week[-1])


def test_hours_are_reported_once_across_the_18th_birthday() -> None:
    """Leerplichtwet 1969 art. 4a (kwalificatieplicht until 18 without sk) and art. 21a: the school
    reports 16 hours missed within 4 lesson weeks while the pupil was kwalificatieplichtig. A pupil who
    turns 18 afterwards is still reported (the obligation arose while 17); the same hours are not
    reported again to the RMC: after a report of either kind the count starts again (DUO, 'Soorten
    verzuim': counting restarts the day after the report's end date)."""
    weeks = _lesson_days_in_weeks(dt.date(2025, 3, 14), 6)
    birthday = weeks[2][0]  # turns 18 on the Monday of the third week
    birth = birthday.replace(year=birthday.year - 18)
    before = [(d, 4.0, "unauthorised") for d in weeks[1][:4]]  # 16 h while 17: leerplicht report on the 4th day
    after = [(d, 4.0, "unauthorised") for d in weeks[2][:3]]  # 12 h while 18
    tables = {"students": _students(birth), "absences": _absences(before + after)}
    report = weeks[1][3]
    runs = [report + dt.timedelta(days=k) for k in range(0, 25, 7)]  # a weekly job, the first run on the report day
    for day in runs:
        res = evaluate(tables, day)
        assert _fired(res, "leerplicht_16h_4w") == [report], day
        assert _fired(res, "rmc_verzuim") == [], day  # 12 h since the report: below 16
    more = _absences(before + after + [(d, 4.0, "unauthorised") for d in weeks[3][:1]])
    res = evaluate({"students": _students(birth), "absences": more}, weeks[3][1])
    assert _fired(res, "rmc_verzuim") == [weeks[3][0]]  # 16 h since the report
    detail = res.loc[res["rule_id"] == "rmc_verzuim", "detail"].iloc[0]
    assert detail.startswith("16 uur")  # Dutch: no ".00", decimal comma


@pytest.mark.parametrize("limit", [18, 23])
def test_the_window_is_counted_on_the_day_it_is_judged(limit: int) -> None:
    """8 h the day before the 18th birthday and 8 h on it: 16 h within 4 lesson weeks, reached on a day
    the pupil is no longer leerplichtig, so the RMC is told (DUO 'Soorten verzuim': the report's end
    date is the day the 16 hours are reached; age on that day decides who receives it). Before this
    rule counted the window's hours on the day it is judged, RMC counted only hours missed from the
    birthday on and nobody was told. At the 23rd birthday the RMC task ends: nobody is told then."""
    days = [d for w in _lesson_days_in_weeks(dt.date(2025, 3, 14), 2) for d in w]
    birthday = next(d for d in days if d - dt.timedelta(days=1) in days)  # the day before is a lesson day too
    day_before = birthday - dt.timedelta(days=1)
    birth = birthday.replace(year=birthday.year - limit)
    tables = {"students": _students(birth), "absences": _absences([(day_before, 8.0, "unauthorised"),
                                                                    (birthday, 8.0, "unauthorised")])}
    res = evaluate(tables, days[-1])
    assert _fired(res, "leerplicht_16h_4w") == []
    if limit == 18:
        assert _fired(res, "rmc_verzuim") == [birthday]
        assert res.loc[res["rule_id"] == "rmc_verzuim", "detail"].iloc[0].startswith("16 uur")
        assert "Soorten verzuim" in res.loc[res["rule_id"] == "rmc_verzuim", "source"].iloc[0]
    else:
        assert _fired(res, "rmc_verzuim") == []


def test_startkwalificatie_counts_from_the_diploma_date() -> None:
    """Leerplichtwet 1969 art. 4a: kwalificatieplicht ends when the pupil obtains a startkwalificatie."""
    weeks = _lesson_days_in_weeks(dt.date(2025, 3, 14), 3)
    birth = dt.date(2008, 1, 1)  # 17
    rows = [(d, 4.0, "unauthorised") for d in weeks[0][:4]] + [(d, 4.0, "unauthorised") for d in weeks[2][:4]]
    diploma = pd.DataFrame({"student_id": ["s1"], "date": [pd.Timestamp(weeks[1][0])], "level": ["havo"], "is_sk": [True]})
    res = evaluate({"students": _students(birth), "absences": _absences(rows), "diplomas": diploma}, weeks[2][-1])
    assert _fired(res, "leerplicht_16h_4w") == [weeks[0][3]]  # before the diploma: reported; after it: no duty


def test_absence_on_weekends_and_public_holidays_never_counts() -> None:
    """Leerplichtwet 1969 art. 21a counts 'les- of praktijktijd' missed: on a Saturday, on Hemelvaart
    (29 May 2025) or in a school holiday there is no lesson to miss."""
    hemelvaart, saturday, vacation = dt.date(2025, 5, 29), dt.date(2025, 5, 31), dt.date(2025, 4, 30)  # meivakantie midden
    assert not CAL.is_lesson_day(hemelvaart, REGION) and not CAL.is_lesson_day(vacation, REGION)
    rows = [(hemelvaart, 8.0, "unauthorised"), (saturday, 8.0, "unauthorised"), (vacation, 8.0, "unauthorised"),
            (dt.date(2025, 5, 28), 8.0, "unauthorised"), (dt.date(2025, 5, 27), 7.0, "unauthorised")]
    res = evaluate({"students": _students(), "absences": _absences(rows)}, dt.date(2025, 6, 2))
    assert _fired(res, "leerplicht_16h_4w") == []  # 15 lesson hours
    res = evaluate({"students": _students(), "absences": _absences([*rows, (dt.date(2025, 6, 2), 1.0, "unauthorised")])}, dt.date(2025, 6, 2))
    assert _fired(res, "leerplicht_16h_4w") == [dt.date(2025, 6, 2)]


def test_rules_use_the_schools_own_calendar_like_the_features() -> None:
    """A school may move its recommended holidays (DOMAIN.md, school calendar): the 4 lesson weeks of
    art. 21a are the school's own. School S1 (zuid) holds its spring holiday a week later than zuid."""
    from riskscore import features

    own = pd.DataFrame({"school_id": ["S1"], "region": ["zuid"], "school_year": ["2024-25"], "holiday": ["voorjaarsvakantie"],
                        "start": ["2025-03-01"], "end": ["2025-03-09"]})
    cal = SchoolCalendar.default(overrides=own)
    zuid_holiday = [dt.date(2025, 2, 24), dt.date(2025, 2, 25), dt.date(2025, 2, 26)]  # lessons at S1, holiday in zuid
    s1_holiday = [dt.date(2025, 3, 3)]  # holiday at S1, lessons in zuid
    rows = [(d, 4.0, "unauthorised") for d in zuid_holiday + s1_holiday] + [(dt.date(2025, 3, 10), 4.0, "unauthorised")]
    students = _students(school_id="S1", calendar_region="zuid")
    res = evaluate({"students": students, "absences": _absences(rows)}, dt.date(2025, 3, 12), calendar=cal)
    assert _fired(res, "leerplicht_16h_4w") == [dt.date(2025, 3, 10)]  # 3 × 4 in S1's week of 24 Feb + 4 on 10 March
    table = features.build({"students": students, "absences": _absences(rows)}, [dt.date(2025, 3, 12)], calendar=cal)
    assert table["unauthorised_hours_4w"].iloc[0] == 16.0 and bool(table["rule_leerplicht_16h_4w"].iloc[0])
    region_only = evaluate({"students": _students(calendar_region="zuid"), "absences": _absences(rows)}, dt.date(2025, 3, 12), calendar=cal)
    assert _fired(region_only, "leerplicht_16h_4w") == []  # the region's calendar: only 8 lesson hours


@pytest.mark.parametrize("hours", [10.25, 16.0, 30.0])
def test_more_hours_on_a_day_than_a_school_day_has_is_a_clear_error(hours: float) -> None:
    """A school day has at most its timetable's lesson hours (max_hours_per_day, default 10): a
    registration of more is an error the school must correct, named by pupil, date and hours."""
    day = dt.date(2025, 1, 28)
    with pytest.raises(DataError, match=r"s1 .*2025-01-28") as err:
        evaluate({"students": _students(), "absences": _absences([(day, hours, "unauthorised")])}, AS_OF)
    assert f"{hours:g} hours" in str(err.value)
    split = _absences([(day, hours / 2, "unauthorised"), (day, hours / 2, "unauthorised")])
    with pytest.raises(DataError, match="2025-01-28"):  # two rows on one day are summed first
        evaluate({"students": _students(), "absences": split}, AS_OF)
    assert evaluate({"students": _students(), "absences": _absences([(day, 10.0, "unauthorised")])}, AS_OF).empty
    with pytest.raises(DataError, match="hours"):
        evaluate({"students": _students(), "absences": _absences([(day, -1.0, "unauthorised")])}, AS_OF)


# --- lrv_4w --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_weeks", "fires"), [(4, False), (5, True)])
def test_lrv_fires_after_more_than_four_fully_absent_lesson_weeks(n_weeks: int, fires: bool) -> None:
    weeks = _lesson_days_in_weeks(AS_OF, n_weeks)
    rows = [(d, 5.0, "unauthorised") for w in weeks for d in w]
    res = evaluate({"students": _students(), "absences": _absences(rows)}, AS_OF)
    assert bool(_fired(res, "lrv_4w")) == fires
    if fires:
        assert _fired(res, "lrv_4w") == [weeks[4][0]]


def test_lrv_needs_every_lesson_day() -> None:
    weeks = _lesson_days_in_weeks(AS_OF, 6)
    rows = [(d, 5.0, "unauthorised") for w in weeks for d in w if d != weeks[2][1]]
    res = evaluate({"students": _students(), "absences": _absences(rows)}, AS_OF)
    assert _fired(res, "lrv_4w") == []


# --- MAZL ----------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(n_reports=st.integers(1, 6), gap_weeks=st.integers(1, 5))
def test_fourth_sick_report_within_12_school_weeks(n_reports: int, gap_weeks: int) -> None:
    """MAZL (NCJ): the 4th sick report within 12 school weeks is a signal for the jeugdarts."""
    weeks = _lesson_days_in_weeks(AS_OF, 1 + gap_weeks * (n_reports - 1))
    starts = [weeks[i * gap_weeks][0] for i in range(n_reports)]
    res = evaluate({"students": _students(), "sick_reports": _sick([(d, d) for d in starts])}, AS_OF, config=RuleConfig(lookback_days=366))
    expected = [starts[i] for i in range(3, n_reports) if 3 * gap_weeks < 12]
    assert _fired(res, "mazl_frequent") == expected
    assert RULES["mazl_frequent"].role == "jeugdarts"


@settings(max_examples=20, deadline=None)
@given(n_days=st.integers(1, 12), ongoing=st.booleans())
def test_seventh_consecutive_school_day_triggers_mazl_long(n_days: int, ongoing: bool) -> None:
    """MAZL (NCJ): sick for more than 6 consecutive school days — from the 7th school day; holiday
    days are no school days."""
    start = dt.date(2024, 12, 16)  # spans the Christmas break: holiday days are not school days
    days = CAL.lesson_days(start, dt.date(2025, 3, 1), REGION)
    last = days[n_days - 1].date()
    as_of = last if ongoing else dt.date(2025, 1, 31)
    res = evaluate({"students": _students(), "sick_reports": _sick([(start, None if ongoing else last)])}, as_of)
    fired = _fired(res, "mazl_long")
    assert bool(fired) == (n_days >= 7)
    if fired:
        assert fired == [days[6].date()]


# --- VVA, deregistration, lateness ---------------------------------------------------------------
def _apps(submitted: dt.date | None, enrolled: dt.date | None = None) -> pd.DataFrame:
    if submitted is None:
        return pd.DataFrame(columns=["student_id", "application_id", "submitted_on", "enrolled_on"])
    return pd.DataFrame(
        {"student_id": ["s1"], "application_id": ["a1"], "submitted_on": [pd.Timestamp(submitted)], "enrolled_on": [pd.Timestamp(enrolled) if enrolled else pd.NaT]}
    )


@pytest.mark.parametrize(
    ("submitted", "as_of", "fires"),
    [
        (None, dt.date(2025, 3, 31), False),
        (None, dt.date(2025, 4, 1), False),  # the deadline day itself: still on time
        (None, dt.date(2025, 4, 2), True),
        (dt.date(2025, 4, 1), dt.date(2025, 4, 10), False),
        (dt.date(2025, 4, 2), dt.date(2025, 4, 10), True),
    ],
)
def test_vva_not_applied_after_1_april(submitted: dt.date | None, as_of: dt.date, fires: bool) -> None:
    """Toelatingsrecht art. 8.0.1 WEB / VVA: a pupil who applies 'uiterlijk op 1 april' is on time, so
    an application on 1 April is no breach; the breach exists, and is dated, from 2 April."""
    students = _students(final_year=True, expects_mbo=True)
    res = evaluate({"students": students, "applications": _apps(submitted)}, as_of)
    assert _fired(res, "vva_not_applied") == ([dt.date(2025, 4, 2)] if fires else [])


def test_vva_no_enrolment_at_start_of_next_school_year() -> None:
    students = _students(final_year=True, expects_mbo=True)
    for enrolled, fires in [(None, True), (dt.date(2025, 7, 1), False), (dt.date(2025, 8, 20), True)]:
        tables = {"students": students, "applications": _apps(dt.date(2025, 2, 1), enrolled)}
        assert bool(_fired(evaluate(tables, dt.date(2025, 8, 10)), "vva_no_enrolment")) == fires
    assert _fired(evaluate({"students": students}, dt.date(2025, 7, 31)), "vva_no_enrolment") == []


@pytest.mark.parametrize(("years_on_dereg", "has_sk", "fires"), [(17, False, False), (18, False, True), (22, False, True), (23, False, False), (19, True, False)])
def test_deregistered_no_sk(years_on_dereg: int, has_sk: bool, fires: bool) -> None:
    end = dt.date(2025, 1, 20)
    birth = end.replace(year=end.year - years_on_dereg)
    enrol = pd.DataFrame({"student_id": ["s1"], "school_id": ["X"], "level": ["mbo-2"], "start_date": [pd.Timestamp("2024-08-20")], "end_date": [pd.Timestamp(end)], "dereg_reason": ["dropout"]})
    res = evaluate({"students": _students(birth, has_sk=has_sk), "enrolments": enrol}, AS_OF)
    assert bool(_fired(res, "deregistered_no_sk")) == fires


def test_lateness_off_by_default_and_fires_on_more_than_n() -> None:
    days = [d for w in _lesson_days_in_weeks(AS_OF, 3) for d in w][:10]
    tables = {"students": _students(), "absences": _absences([(d, 0.25, "late") for d in days])}
    assert _fired(evaluate(tables, AS_OF), "lateness") == []
    on = RuleConfig(enabled={r: True for r in RULE_IDS})
    assert _fired(evaluate(tables, AS_OF, config=on), "lateness") == [days[9]]
    tables9 = {"students": _students(), "absences": _absences([(d, 0.25, "late") for d in days[:9]])}
    assert _fired(evaluate(tables9, AS_OF, config=on), "lateness") == []


# --- point in time, config, catalogue ------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(extra=st.lists(st.tuples(st.integers(1, 120), st.floats(0.5, 8.0)), min_size=1, max_size=20))
def test_nothing_after_as_of_changes_the_result(extra: list[tuple[int, float]]) -> None:
    weeks = _lesson_days_in_weeks(AS_OF, 4)
    base_abs = _spread(12.0, weeks)
    base_sick = [(weeks[0][0], None)]
    later = [(AS_OF + dt.timedelta(days=k), h, "unauthorised") for k, h in extra]
    base = {"students": _students(birth=dt.date(2007, 3, 1)), "absences": _absences(base_abs), "sick_reports": _sick(base_sick)}
    future = {
        **base,
        "absences": _absences(base_abs + later),
        "sick_reports": _sick([(weeks[0][0], AS_OF + dt.timedelta(days=2)), *[(AS_OF + dt.timedelta(days=k), None) for k, _ in extra]]),
        "students": pd.concat([base["students"], _students(birth=dt.date(2007, 3, 1), sy="2025-26", has_sk=True)]),
    }
    a, b = evaluate(base, AS_OF), evaluate(future, AS_OF)
    assert not a.empty  # the ongoing sick spell fires mazl_long: the comparison is not vacuous
    pd.testing.assert_frame_equal(a, b)


def test_config_yaml_roundtrip_and_errors(tmp_path) -> None:
    assert RuleConfig.default() == RuleConfig()
    assert RuleConfig().enabled["lateness"] is False
    good = tmp_path / "r.yaml"
    good.write_text("leerplicht_hours: 12\nenabled: {lateness: true}\n")
    cfg = RuleConfig.from_yaml(good)
    assert cfg.leerplicht_hours == 12 and cfg.enabled["lateness"] and cfg.enabled["mazl_long"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("leerplicht_hourz: 12\n")
    with pytest.raises(ConfigError):
        RuleConfig.from_yaml(bad)


def test_catalogue_covers_every_rule_id() -> None:
    assert set(RULES) == set(RULE_IDS)
    for rule in RULES.values():
        assert rule.source and rule.description_nl and rule.description_en
        assert all(t in RuleConfig.model_fields for t in rule.thresholds)


def test_age_on_exact_birthdays() -> None:
    births = pd.to_datetime(["2009-01-31", "2009-02-01", "2008-02-29"])
    assert list(age_on(births, dt.date(2025, 1, 31))) == [16, 15, 16]
    assert list(age_on(births, dt.date(2024, 2, 29))) == [15, 15, 16]


# --- properties: exact on every day, whatever the cadence -------------------------------------------
SY_START, SY_END = dt.date(2024, 8, 1), dt.date(2025, 7, 15)
ALL_DAYS = [SY_START + dt.timedelta(days=k) for k in range((SY_END - SY_START).days + 1)]
LESSON_DAYS = [d for d in ALL_DAYS if CAL.is_lesson_day(d, REGION)]
FREE_DAYS = [d for d in ALL_DAYS if not CAL.is_lesson_day(d, REGION)]  # weekends, public and school holidays
HOURS = st.sampled_from([0.5, 1.0, 2.0, 3.25, 4.0, 6.0, 8.0])


def _reference(rows: list[tuple[dt.date, float]], birth: dt.date, sk_on: dt.date | None, cfg: RuleConfig) -> dict[str, list[tuple[dt.date, float]]]:
    """Slow oracle, one pupil, written from the law's text day by day (no arrays, no tricks).

    Leerplichtwet 1969 art. 21a: lesson hours missed are reported when they reach 16 within 4
    consecutive lesson weeks; after a report a new period starts. The day the hours are reached is
    judged: a leerplichtig pupil (under 16, or under 18 without startkwalificatie, art. 4a) is
    reported to leerplicht, one of 18 to 23 without sk to the RMC; the window counts every
    unreported hour in it, whatever the pupil's age on the day it was missed (DUO, 'Soorten verzuim').
    """
    from riskscore.calendar import age_on

    per_day: dict[dt.date, float] = {}
    for d, h in rows:
        if CAL.is_lesson_day(d, REGION):
            per_day[d] = per_day.get(d, 0.0) + h
    week = {d: int(CAL.lesson_week_ids([d], REGION)[0]) for d in per_day}
    out: dict[str, list[tuple[dt.date, float]]] = {"leerplicht_16h_4w": [], "rmc_verzuim": []}
    period_after: dt.date | None = None  # one period: a report of either kind restarts the count
    for d in sorted(per_day):
        age, sk = age_on(birth, d), sk_on is not None and sk_on <= d
        leerplichtig = age < 16 or (age < 18 and not sk)
        rmc = not leerplichtig and 18 <= age < 23 and not sk
        if not (leerplichtig or rmc):
            continue
        rule, hours, weeks = (("leerplicht_16h_4w", cfg.leerplicht_hours, cfg.leerplicht_weeks) if leerplichtig
                              else ("rmc_verzuim", cfg.rmc_hours, cfg.rmc_weeks))
        total = sum(h for e, h in per_day.items()
                    if e <= d and (period_after is None or e > period_after) and week[e] > week[d] - weeks)
        if total >= hours - 1e-9:
            out[rule].append((d, total))
            period_after = d
    return out


pupil_rows = st.lists(st.tuples(st.sampled_from(LESSON_DAYS), HOURS), min_size=1, max_size=60, unique_by=lambda r: r[0])
free_rows = st.lists(st.tuples(st.sampled_from(FREE_DAYS), HOURS), min_size=1, max_size=20)
birthdays_around = st.sampled_from([dt.date(2008, 11, 3), dt.date(2007, 2, 10), dt.date(2006, 12, 1), dt.date(2009, 3, 31), dt.date(2002, 5, 5)])


@settings(max_examples=40, deadline=None)
@given(rows=pupil_rows, birth=birthdays_around, sk=st.sampled_from([None, dt.date(2025, 1, 15)]))
def test_reports_equal_the_day_by_day_reference(rows: list[tuple[dt.date, float]], birth: dt.date, sk: dt.date | None) -> None:
    """The vectorised rule equals the slow oracle: the same report dates and the same hours; so each
    hour is reported at most once (periods are disjoint, leerplicht and RMC hours are disjoint)."""
    cfg = RuleConfig(lookback_days=366)
    students = _students(birth, has_sk=False)
    tables = {"students": students, "absences": _absences([(d, h, "unauthorised") for d, h in rows])}
    if sk is not None:
        tables["diplomas"] = pd.DataFrame({"student_id": ["s1"], "date": [pd.Timestamp(sk)], "level": ["havo"], "is_sk": [True]})
    res = evaluate(tables, SY_END, config=cfg)
    expected = _reference(rows, birth, sk, cfg)
    for rule in ("leerplicht_16h_4w", "rmc_verzuim"):
        got = res.loc[res["rule_id"] == rule]
        assert _fired(res, rule) == [d for d, _ in expected[rule]]
        counted = [float(x.split()[0].replace(",", ".")) for x in got["detail"]]  # Dutch decimal comma
        assert counted == pytest.approx([round(h, 2) for _, h in expected[rule]], abs=0.006)
    reported = sum(h for r in expected.values() for _, h in r)
    assert reported <= sum(h for _, h in rows) + 1e-9  # never more hours reported than were missed


@settings(max_examples=30, deadline=None)
@given(rows=pupil_rows, extra=free_rows, birth=birthdays_around)
def test_hours_on_non_lesson_days_never_count(rows: list[tuple[dt.date, float]], extra: list[tuple[dt.date, float]], birth: dt.date) -> None:
    """Leerplichtwet 1969 art. 21a counts missed lesson time: absence registered on a weekend, a
    public holiday or in a school holiday changes no trigger and no date."""
    cfg = RuleConfig(lookback_days=366, enabled={r: True for r in RULE_IDS} | {"lateness": False})
    base = {"students": _students(birth), "absences": _absences([(d, h, "unauthorised") for d, h in rows])}
    more = {**base, "absences": _absences([(d, h, "unauthorised") for d, h in rows + extra])}
    pd.testing.assert_frame_equal(evaluate(base, SY_END, config=cfg), evaluate(more, SY_END, config=cfg))


def _runs(first: dt.date, last: dt.date, cadence: str) -> list[dt.date]:
    if cadence == "daily":
        return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    if cadence == "weekly":
        return [*[first + dt.timedelta(days=k) for k in range(0, (last - first).days, 7)], last]
    out, day = [], first
    while day <= last:  # the first of every month
        out.append(day)
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


@settings(max_examples=4, deadline=None)
@given(rows=pupil_rows, birth=birthdays_around, start=st.sampled_from([dt.date(2024, 10, 1), dt.date(2025, 1, 1), dt.date(2025, 3, 1)]))
def test_report_dates_do_not_depend_on_how_often_the_job_runs(rows: list[tuple[dt.date, float]], birth: dt.date, start: dt.date) -> None:
    """A daily, weekly or monthly job finds the same triggers with the same fired and due dates (a
    trigger stays active for lookback_days, which covers the longest month)."""
    cfg = RuleConfig(lookback_days=31, enabled={r: True for r in RULE_IDS})
    last = (start.replace(day=28) + dt.timedelta(days=35)).replace(day=1)  # two months later
    tables = {"students": _students(birth), "absences": _absences([(d, h, "unauthorised") for d, h in rows])}
    seen: dict[str, set[tuple[str, dt.date, object]]] = {}
    for cadence in ("daily", "weekly", "monthly"):
        found = set()
        for day in _runs(start, last, cadence):
            res = evaluate(tables, day, config=cfg, calendar=CAL)
            found |= {(r.rule_id, r.fired_on.date(), None if pd.isna(r.due_date) else r.due_date.date()) for r in res.itertuples()
                      if r.fired_on.date() >= start - dt.timedelta(days=cfg.lookback_days)}
        seen[cadence] = found
    assert seen["daily"] == seen["weekly"] == seen["monthly"]


def test_rule_texts_are_built_from_the_configured_thresholds() -> None:
    """A region that reports at 12 hours within 3 lesson weeks must never read '16 uur'."""
    from riskscore.rules import rule_text

    assert rule_text("leerplicht_16h_4w", "nl").startswith("16 uur of meer ongeoorloofd verzuim binnen 4 opeenvolgende lesweken")
    cfg = RuleConfig(leerplicht_hours=12.5, leerplicht_weeks=3, leerplicht_report_working_days=2, mazl_frequent_count=3,
                     mazl_frequent_window=3, mazl_frequent_unit="months", mazl_long_days=7, vva_apply_by=(3, 15), lateness_max=5)
    nl = {r: rule_text(r, "nl", cfg) for r in RULES}
    en = {r: rule_text(r, "en", cfg) for r in RULES}
    assert "12,5 uur" in nl["leerplicht_16h_4w"] and "3 opeenvolgende lesweken" in nl["leerplicht_16h_4w"] and "2 werkdagen" in nl["leerplicht_16h_4w"]
    assert "12.5 or more hours" in en["leerplicht_16h_4w"] and "2 working days" in en["leerplicht_16h_4w"]
    assert not any("16 uur" in t or "16 or more" in t for t in [nl["leerplicht_16h_4w"], en["leerplicht_16h_4w"]])
    assert nl["mazl_frequent"] == "3e ziekmelding binnen 3 maanden." and en["mazl_frequent"] == "3rd sick report within 3 months."
    assert "vanaf de 8e schooldag" in nl["mazl_long"] and "8th school day" in en["mazl_long"]
    assert "15 maart" in nl["vva_not_applied"] and "15 March" in en["vva_not_applied"]
    assert "5 keer" in nl["lateness"] and "more than 5 times" in en["lateness"]
    assert rule_text("no_such_rule", "nl") == "no_such_rule"
    for rule in RULES.values():  # every placeholder is filled in both languages
        assert "{" not in rule.text("nl", cfg) and "{" not in rule.text("en", cfg)


@settings(max_examples=10, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 1400), HOURS), min_size=5, max_size=80, unique_by=lambda r: r[0]),
       as_of=st.sampled_from([dt.date(2023, 9, 15), dt.date(2024, 8, 20), dt.date(2025, 1, 10), dt.date(2025, 6, 30)]))
def test_history_window_drops_only_rows_that_cannot_matter(rows: list[tuple[int, float]], as_of: dt.date) -> None:
    """Events keep absences from HISTORY_DAYS before as_of: the same triggers as with all history."""
    from riskscore.rules import Events, evaluate_events

    cfg = RuleConfig(lookback_days=366, enabled={r: True for r in RULE_IDS})
    days = [(dt.date(2021, 9, 1) + dt.timedelta(days=k), h) for k, h in rows]
    tables = {"students": pd.concat([_students(dt.date(2007, 10, 1), sy=sy) for sy in ("2022-23", "2023-24", "2024-25")]),
              "absences": _absences([(d, h, "unauthorised") for d, h in days] + [(d, 0.25, "late") for d, _ in days[::3]])}
    full = evaluate_events(Events.from_tables(tables, cfg), as_of, config=cfg, calendar=CAL)
    windowed = evaluate_events(Events.from_tables(tables, cfg, as_of=(as_of, as_of)), as_of, config=cfg, calendar=CAL)
    pd.testing.assert_frame_equal(full, windowed)


def test_vva_no_enrolment_is_judged_on_the_start_of_the_school_year() -> None:
    """VVA: by the start of the school year (1 August) an application must have reached 'enrolled'.
    The breach is fixed on that day: enrolling later does not undo it (a weekly and a daily job see the
    same trigger), but it stays active only for the lookback once the pupil has enrolled."""
    students = _students(final_year=True, expects_mbo=True)
    tables = {"students": students, "applications": _apps(dt.date(2025, 2, 1), dt.date(2025, 8, 20))}
    for day in (dt.date(2025, 8, 1), dt.date(2025, 8, 25)):
        res = evaluate(tables, day)
        assert _fired(res, "vva_no_enrolment") == [dt.date(2025, 8, 1)]
    assert res.loc[res["rule_id"] == "vva_no_enrolment", "detail"].iloc[0] == "ingeschreven na de start van het schooljaar"
    assert _fired(evaluate(tables, dt.date(2025, 9, 15)), "vva_no_enrolment") == []  # enrolled, beyond the lookback
    never = {"students": students, "applications": _apps(dt.date(2025, 2, 1))}
    assert _fired(evaluate(never, dt.date(2025, 9, 15)), "vva_no_enrolment") == [dt.date(2025, 8, 1)]  # still not enrolled
