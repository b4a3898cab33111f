"""The scoring core's one pass (one preparation of the events, one rule evaluation, the contract's
fast acceptance) gives exactly what the separate entry points give, for one pupil and for a cohort.

Random event sets over a few pupils: ages around 16, 18 and 23, a startkwalificatie reached (flag or
diploma, before or after as_of), several schools (one with its own calendar), absences on lesson and
non-lesson days, sick reports, applications and enrolments, and events dated after as_of (which
nothing may read)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskscore import contracts, features, rules, scoring
from riskscore.calendar import SchoolCalendar
from riskscore.contracts import FEATURE_TABLE, RULE_COLUMNS, RULE_IDS
from riskscore.errors import ContractError, DataError
from riskscore.model.bundle import ModelBundle
from riskscore.testing import tiny_bundle

OWN = pd.DataFrame({"school_id": ["OWN"], "region": ["zuid"], "school_year": ["2024-25"], "holiday": ["voorjaarsvakantie"],
                    "start": ["2025-03-01"], "end": ["2025-03-09"]})
CAL = SchoolCalendar.default(overrides=OWN)
CFG = rules.RuleConfig(lookback_days=120, enabled=dict.fromkeys(RULE_IDS, True))
AS_OFS = [dt.date(2024, 10, 1), dt.date(2025, 1, 31), dt.date(2025, 3, 12), dt.date(2025, 4, 10), dt.date(2025, 6, 27),
          dt.date(2025, 8, 20)]
SCHOOLS = [("S1", "noord"), ("S2", "midden"), ("OWN", "zuid")]
HOURS = st.sampled_from([0.25, 1.0, 2.0, 4.0, 6.0])
CATEGORIES = st.sampled_from(["unauthorised", "unauthorised", "late", "authorised", "sent_out"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    return ModelBundle.load(tiny_bundle(tmp_path_factory.mktemp("bundle")))


def _school_year(day: dt.date) -> str:
    y = day.year if day.month >= 8 else day.year - 1
    return f"{y}-{(y + 1) % 100:02d}"


@st.composite
def pupil(draw: st.DrawFn, sid: str, as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    """One pupil's raw rows: a students row for as_of's school year (and maybe the year before and
    the year after), events from 14 months before as_of to 2 months after it."""
    age = draw(st.sampled_from([13, 16, 18, 23]))
    birth = dt.date(as_of.year - age, as_of.month, min(as_of.day, 28)) + dt.timedelta(days=draw(st.integers(-60, 60)))
    school, region = draw(st.sampled_from(SCHOOLS))
    sy = _school_year(as_of)
    y0 = int(sy[:4])
    level = draw(st.sampled_from(["vmbo-b", "vmbo-k", "havo", "mbo-2"]))
    row = {"student_id": sid, "school_year": sy, "school_id": school, "municipality": "GM0363", "rmc_region": "RMC27",
           "calendar_region": region, "birth_date": pd.Timestamp(birth), "school_type": "mbo" if level.startswith("mbo") else "vo",
           "level": level, "pathway": None, "grade": float(draw(st.integers(1, 4))), "final_year": draw(st.booleans()),
           "expects_mbo": draw(st.booleans()), "has_sk": draw(st.booleans()) and draw(st.booleans())}
    students = [row]
    if draw(st.booleans()):  # the year before (a retention when the grade is the same)
        students.append({**row, "school_year": f"{y0 - 1}-{y0 % 100:02d}", "grade": row["grade"] - draw(st.sampled_from([0.0, 1.0])) or 1.0,
                         "has_sk": False})
    if draw(st.booleans()):  # a row for the next school year: not known on as_of
        students.append({**row, "school_year": f"{y0 + 1}-{(y0 + 2) % 100:02d}", "has_sk": True})

    def day(lo: int = -420, hi: int = 60) -> dt.date:
        return as_of + dt.timedelta(days=draw(st.integers(lo, hi)))

    absence_days = draw(st.lists(st.integers(-420, 60), max_size=30, unique=True))  # here and there
    mode = draw(st.sampled_from(["sparse", "cluster", "truant"]))
    start = draw(st.integers(-200, 10))
    if mode == "cluster":  # a bad month: enough for 16 hours in 4 lesson weeks, or many late arrivals
        absence_days += draw(st.lists(st.integers(start, start + 35), min_size=10, max_size=30, unique=True))
    elif mode == "truant":  # every day (weekends and holidays too) for up to nine weeks: LRV
        absence_days += list(range(start, start + draw(st.integers(20, 63))))
    absences = [{"student_id": sid, "date": pd.Timestamp(as_of + dt.timedelta(days=k)), "hours": draw(HOURS),
                 "category": "unauthorised" if mode == "truant" else draw(CATEGORIES)} for k in sorted(set(absence_days))]
    sick = []
    for _ in range(draw(st.integers(0, 6))):
        start = day()
        end = None if draw(st.booleans()) else start + dt.timedelta(days=draw(st.integers(0, 20)))
        sick.append({"student_id": sid, "start_date": pd.Timestamp(start), "end_date": pd.Timestamp(end) if end else pd.NaT})
    applications = []
    for k in range(draw(st.integers(0, 2))):
        sub = day(-300, 40)
        dates = {f"{s}_on": pd.Timestamp(sub + dt.timedelta(days=draw(st.integers(0, 150)))) if draw(st.booleans()) else pd.NaT
                 for s in contracts.VVA_STATUSES}
        applications.append({"student_id": sid, "application_id": f"{sid}-A{k}", "programme": "25180", "level": "mbo-2",
                             "submitted_on": pd.Timestamp(sub), **dates})
    enrolments = []
    for _ in range(draw(st.integers(0, 2))):
        start = as_of + dt.timedelta(days=draw(st.one_of(st.integers(-500, 0), st.integers(1, 30))))  # or not yet started
        kind = draw(st.sampled_from(["open", "recent", "any"]))
        end = None if kind == "open" else day(-110, 0) if kind == "recent" else day()  # may end before it starts
        enrolments.append({"student_id": sid, "school_id": school, "level": level, "start_date": pd.Timestamp(start),
                           "end_date": pd.Timestamp(end) if end else pd.NaT,
                           "dereg_reason": draw(st.sampled_from(["switch", "dropout", "moved", None]))})
    diplomas = []
    if draw(st.booleans()):
        diplomas.append({"student_id": sid, "date": pd.Timestamp(day(-300, 60)), "level": "havo", "is_sk": draw(st.booleans())})
    return {"students": students, "absences": absences, "sick_reports": sick, "applications": applications,
            "enrolments": enrolments, "diplomas": diplomas}


@st.composite
def cohort(draw: st.DrawFn) -> tuple[dict[str, pd.DataFrame], dt.date]:
    as_of = draw(st.sampled_from(AS_OFS))
    rows: dict[str, list[dict[str, Any]]] = {}
    for i in range(draw(st.integers(1, 4))):
        for name, part in draw(pupil(f"p{i}", as_of)).items():
            rows.setdefault(name, []).extend(part)
    tables = {name: pd.concat([contracts.empty(name), pd.DataFrame(rows.get(name) or None)], ignore_index=True)
              .astype({c: str(col.dtype) for c, col in contracts.SCHEMAS[name].columns.items()
                       if str(col.dtype).startswith(("datetime", "bool", "float"))})
              for name in ("students", "absences", "sick_reports", "applications", "enrolments", "diplomas")}
    return tables, as_of


def _outcome(fn: Any) -> Any:
    """The result, or the error's type and message (both paths must fail alike)."""
    try:
        return fn()
    except DataError as exc:
        return (type(exc).__name__, str(exc))


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        assert isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame), (a, b)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        assert a == b


def _student(s: scoring.ScoredStudent | None) -> dict[str, Any] | None:
    """Everything a result carries; the probability to 1e-12: the compiled model sums a one-row and a
    many-row matrix in a different order, so the last bit may differ (as it did before the one pass)."""
    if s is None:
        return None
    out = {**s.to_dict(), "has_sk": s.has_sk}
    if out["probability"] is not None:
        out["probability"] = pytest.approx(out["probability"], rel=1e-12, abs=1e-15)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=cohort())
def test_one_pass_equals_the_separate_entry_points(data: tuple[dict[str, pd.DataFrame], dt.date], bundle: ModelBundle) -> None:
    """build_with_triggers' table is build's table, and its triggers are exactly rules.evaluate on the
    tables as known on as_of (point_in_time): one preparation of the events gives both."""
    tables, as_of = data
    both = _outcome(lambda: features.build_with_triggers(tables, as_of, calendar=CAL, rule_config=CFG))
    table = _outcome(lambda: features.build(tables, as_of, calendar=CAL, rule_config=CFG))
    if isinstance(both, tuple) and isinstance(both[0], str):  # an error: the same one
        assert both == table
        return
    _same(both[0], table)
    _same(both[1], rules.evaluate(features.point_in_time(tables, as_of), as_of, config=CFG, calendar=CAL))
    fired = both[1]
    for rule_id, column in zip(RULE_IDS, RULE_COLUMNS, strict=True):  # the rule columns are those triggers
        who = set(fired.loc[fired["rule_id"] == rule_id, "student_id"])
        assert table[column].tolist() == [sid in who for sid in table["student_id"]]
    assert contracts._passes_as_is(FEATURE_TABLE, table)
    _same(FEATURE_TABLE.validate(table, lazy=True), table)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=cohort())
def test_a_pupil_scored_alone_equals_the_pupil_in_the_cohort(data: tuple[dict[str, pd.DataFrame], dt.date],
                                                             bundle: ModelBundle) -> None:
    """The API scores one pupil per call, the batch a whole cohort: the same reasons, triggers, due
    dates, roles and probability either way (or the same error)."""
    tables, as_of = data
    today = dt.date(2026, 1, 1)
    whole = _outcome(lambda: scoring.score_events(tables, as_of, bundle, rule_config=CFG, calendar=CAL, today=today))
    for sid in tables["students"]["student_id"].unique():
        one_tables = {name: df[df["student_id"] == sid] for name, df in tables.items()}
        alone = _outcome(lambda t=one_tables: scoring.score_events(t, as_of, bundle, rule_config=CFG, calendar=CAL, today=today))
        if isinstance(whole, tuple):  # the cohort failed (bad hours of some pupil): alone it fails or is fine
            continue
        got = None if isinstance(alone, tuple) else alone.by_id().get(sid)
        if isinstance(alone, tuple):
            assert alone[0] == "NothingToScoreError", alone
        assert _student(got) == _student(whole.by_id().get(sid))


# --- the contract's fast acceptance decides like pandera ------------------------------------------
def _valid_table() -> pd.DataFrame:
    n = 3
    cols: dict[str, Any] = {"student_id": np.array(["a", "b", "c"], dtype=object),
                            "as_of": np.full(n, np.datetime64("2025-01-31", "ns")),
                            "school_id": np.array(["S1", "S1", "S2"], dtype=object),
                            "municipality": np.array(["GM1", None, "GM2"], dtype=object),
                            "rmc_region": np.array(["R", "R", "R"], dtype=object),
                            "school_year": np.array(["2024-25"] * n, dtype=object),
                            "level": np.array(["havo", "vmbo-k", "mbo-2"], dtype=object),
                            "age": np.array([14.5, 16.0, 19.2])}
    for f in contracts.FEATURES:
        cols[f] = np.array([0.0, 2.5, np.nan])
    for c in RULE_COLUMNS:
        cols[c] = np.array([False, True, False])
    return pd.DataFrame(cols)


def _perturb(df: pd.DataFrame, how: str, column: str, row: int) -> pd.DataFrame:
    df = df.copy()
    if how == "nan":
        df[column] = df[column].astype(object) if df[column].dtype == bool else df[column]
        df.loc[row, column] = None
    elif how == "negative":
        if df[column].dtype.kind == "f":
            df.loc[row, column] = -0.5
    elif how == "huge":
        if df[column].dtype.kind == "f":
            df.loc[row, column] = 99.0
    elif how == "int":
        if df[column].dtype.kind == "f" and df[column].notna().all():
            df[column] = df[column].round().astype(np.int64)
    elif how == "number":
        if df[column].dtype == object:
            df.loc[row, column] = 7
    elif how == "unknown_level":
        df.loc[row, "level"] = "gymnasium-plus"
    elif how == "duplicate":
        df.loc[row, "student_id"] = df.loc[(row + 1) % len(df), "student_id"]
    elif how == "drop":
        df = df.drop(columns=[column])
    elif how == "text_dtype":
        df[column] = df[column].astype("string")
    return df


@settings(max_examples=150, deadline=None)
@given(how=st.sampled_from(["none", "nan", "negative", "huge", "int", "number", "unknown_level", "duplicate", "drop",
                            "text_dtype"]),
       column=st.sampled_from(list(_valid_table().columns)), row=st.integers(0, 2))
def test_fast_acceptance_decides_like_pandera(how: str, column: str, row: int) -> None:
    """validate() returns a frame as it is only when pandera would accept it unchanged; every other
    frame goes through pandera, so a breach raises the same ContractError as before."""
    df = _perturb(_valid_table(), how, column, row)
    try:
        expected: Any = FEATURE_TABLE.validate(df, lazy=True)
    except Exception as exc:
        expected = exc
    fast = contracts._passes_as_is(FEATURE_TABLE, df)
    if isinstance(expected, Exception):
        assert not fast
        with pytest.raises(ContractError) as err:
            contracts.validate("features", df)
        assert str(err.value) == str(ContractError(contracts.MSG_TABLE_INVALID.format(
            table="features", details=contracts._describe(expected, 5))))  # type: ignore[arg-type]
    else:
        if fast:
            pd.testing.assert_frame_equal(expected, df, check_exact=True)
        pd.testing.assert_frame_equal(contracts.validate("features", df), expected, check_exact=True)
