"""Rule layer: the legal edges (16 h, lesson weeks, new period, MAZL counts, birthdays, point in time)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.calendar import SchoolCalendar
from riskscore.contracts import RULE_IDS
from riskscore.errors import ConfigError
from riskscore.rules import RULES, RuleConfig, age_on, evaluate

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
    per = total / len(weeks)
    return [(w[0], per, "unauthorised") for w in weeks]


@settings(max_examples=25, deadline=None)
@given(total=st.sampled_from([15.5, 15.75, 15.99, 16.0, 16.25, 20.0]), n_weeks=st.integers(1, 4))
def test_16_hours_in_4_lesson_weeks_is_the_edge(total: float, n_weeks: int) -> None:
    weeks = _lesson_days_in_weeks(AS_OF, 4)[-n_weeks:]
    res = evaluate({"students": _students(), "absences": _absences(_spread(total, weeks))}, AS_OF)
    fired = _fired(res, "leerplicht_16h_4w")
    assert bool(fired) == (total >= 16.0)
    if fired:
        assert fired == [weeks[-1][0]]
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
    weeks = _lesson_days_in_weeks(AS_OF, 4)
    first = [(weeks[0][0], 8.0, "unauthorised"), (weeks[0][1], 8.0, "unauthorised")]  # report 1
    res = evaluate({"students": _students(), "absences": _absences([*first, (weeks[1][0], 15.0, "unauthorised")])}, AS_OF)
    assert _fired(res, "leerplicht_16h_4w") == [weeks[0][1]]  # 15 h after the report: no second one
    second = [*first, (weeks[1][0], 15.0, "unauthorised"), (weeks[2][0], 1.0, "unauthorised")]
    res = evaluate({"students": _students(), "absences": _absences(second)}, AS_OF)
    assert _fired(res, "leerplicht_16h_4w") == [weeks[0][1], weeks[2][0]]


@settings(max_examples=20, deadline=None)
@given(offset=st.integers(-3, 3), has_sk=st.booleans(), limit=st.sampled_from([16, 18]))
def test_leerplicht_age_limits_exact_on_birthdays(offset: int, has_sk: bool, limit: int) -> None:
    birthday = AS_OF + dt.timedelta(days=offset)  # the 16th/18th birthday falls around as_of
    birth = birthday.replace(year=birthday.year - limit)
    weeks = _lesson_days_in_weeks(AS_OF, 1)
    res = evaluate({"students": _students(birth, has_sk=has_sk), "absences": _absences(_spread(16.0, weeks))}, AS_OF)
    age = limit - 1 if birthday > AS_OF else limit
    leerplichtig = age < 16 or (age < 18 and not has_sk)
    assert bool(_fired(res, "leerplicht_16h_4w")) == leerplichtig
    rmc = 18 <= age < 23 and not has_sk
    assert bool(_fired(res, "rmc_verzuim")) == rmc


@settings(max_examples=15, deadline=None)
@given(offset=st.integers(-2, 2))
def test_rmc_upper_age_limit_is_the_23rd_birthday(offset: int) -> None:
    birthday = AS_OF + dt.timedelta(days=offset)
    birth = birthday.replace(year=birthday.year - 23)
    res = evaluate({"students": _students(birth), "absences": _absences(_spread(16.0, _lesson_days_in_weeks(AS_OF, 1)))}, AS_OF)
    assert bool(_fired(res, "rmc_verzuim")) == (birthday > AS_OF)


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
    weeks = _lesson_days_in_weeks(AS_OF, 1 + gap_weeks * (n_reports - 1))
    starts = [weeks[i * gap_weeks][0] for i in range(n_reports)]
    res = evaluate({"students": _students(), "sick_reports": _sick([(d, d) for d in starts])}, AS_OF, config=RuleConfig(lookback_days=366))
    expected = [starts[i] for i in range(3, n_reports) if 3 * gap_weeks < 12]
    assert _fired(res, "mazl_frequent") == expected
    assert RULES["mazl_frequent"].role == "jeugdarts"


@settings(max_examples=20, deadline=None)
@given(n_days=st.integers(1, 12), ongoing=st.booleans())
def test_seventh_consecutive_school_day_triggers_mazl_long(n_days: int, ongoing: bool) -> None:
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
    [(None, dt.date(2025, 3, 31), False), (None, dt.date(2025, 4, 1), True), (dt.date(2025, 4, 1), dt.date(2025, 4, 10), False), (dt.date(2025, 4, 2), dt.date(2025, 4, 10), True)],
)
def test_vva_not_applied_on_1_april(submitted: dt.date | None, as_of: dt.date, fires: bool) -> None:
    students = _students(final_year=True, expects_mbo=True)
    res = evaluate({"students": students, "applications": _apps(submitted)}, as_of)
    assert _fired(res, "vva_not_applied") == ([dt.date(2025, 4, 1)] if fires else [])


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
