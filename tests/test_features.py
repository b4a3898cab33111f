"""Point-in-time features: definitions on hand-made tables, contract, and no leakage from the future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore import features
from riskscore.calendar import SchoolCalendar
from riskscore.contracts import FEATURES, RULE_COLUMNS, empty
from riskscore.errors import ContractError, DataError

T = pd.Timestamp


@pytest.fixture(scope="module")
def cal() -> SchoolCalendar:
    return SchoolCalendar.default()


def student(sid: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "student_id": sid, "school_year": "2023-24", "school_id": "S1", "municipality": "GM0344", "rmc_region": "RMC27",
        "calendar_region": "midden", "birth_date": T("2009-03-01"), "school_type": "vo", "level": "vmbo-k", "pathway": None,
        "grade": 3, "final_year": False, "expects_mbo": False, "has_sk": False, "gender": "f",
        "migration_background": None, "ses_band": None,
    }
    row.update(kw)
    return row


def tables(students: list[dict[str, object]], **events: list[dict[str, object]]) -> dict[str, pd.DataFrame]:
    out = {name: empty(name) for name in ("absences", "sick_reports", "applications", "enrolments", "diplomas")}
    out["students"] = pd.DataFrame(students)
    for name, rows in events.items():
        df = pd.DataFrame(rows)
        out[name] = pd.concat([out[name].iloc[:0], df], ignore_index=True) if rows else out[name]
        for col in out[name].columns:
            if col.endswith(("date", "_on")) or col == "date":
                out[name][col] = pd.to_datetime(out[name][col])
    return out


def absence(sid: str, date: str, hours: float, category: str = "unauthorised") -> dict[str, object]:
    return {"student_id": sid, "date": T(date), "hours": hours, "category": category}


def one(df: pd.DataFrame, sid: str) -> pd.Series:
    rows = df[df["student_id"] == sid]
    assert len(rows) == 1
    return rows.iloc[0]


def test_unauthorised_hours_count_lesson_weeks_across_a_holiday(cal: SchoolCalendar) -> None:
    # midden: autumn holiday 14-22 Oct 2023, so the week of 16 Oct is no lesson week.
    # noord: autumn holiday 21-29 Oct, so there the week of 23 Oct is skipped instead.
    dates = ["2023-09-26", "2023-10-03", "2023-10-10", "2023-10-17", "2023-10-24", "2023-10-31", "2023-11-06"]
    hours = [5, 4, 4, 2, 4, 4, 9]  # 6 Nov is after as_of
    rows = [absence(s, d, h) for s in ("m", "n") for d, h in zip(dates, hours, strict=True)]
    rows += [absence("m", "2023-10-30", 3, "authorised"), absence("m", "2023-10-30", 0.25, "late")]
    t = tables([student("m"), student("n", calendar_region="noord")], absences=rows)
    df = features.build(t, [T("2023-11-03")], calendar=cal)
    m, n = one(df, "m"), one(df, "n")
    assert m.unauthorised_hours_4w == 16  # 3, 10, 24, 31 Oct; 17 Oct is in the holiday
    assert m.unauthorised_hours_12w == 21
    assert m.unauthorised_hours_year == 23  # school year to date counts every dated row
    assert m.unauthorised_trend == pytest.approx(16 / 4 - 5 / 8)
    assert m.late_count_12w == 1
    assert n.unauthorised_hours_4w == 14  # 10, 17, 31 Oct and 3 Oct (24 Oct is noord's holiday)
    assert n.unauthorised_hours_12w == 19


def test_sick_features_in_school_days_clipped_at_as_of(cal: SchoolCalendar) -> None:
    reports = [
        {"student_id": "a", "start_date": "2023-09-04", "end_date": "2023-09-08"},  # Mon-Fri: 5 school days
        {"student_id": "a", "start_date": "2023-10-27", "end_date": None},  # ongoing: 30 Oct - 3 Nov + 27 Oct
        {"student_id": "a", "start_date": "2023-11-06", "end_date": "2023-11-07"},  # after as_of
        {"student_id": "b", "start_date": "2023-10-12", "end_date": "2023-10-25"},  # spans the midden holiday
    ]
    t = tables([student("a"), student("b")], sick_reports=reports)
    df = features.build(t, [T("2023-11-03")], calendar=cal)
    a, b = one(df, "a"), one(df, "b")
    assert a.sick_reports_12w == 2
    assert a.longest_sick_spell_days == 6  # Fri 27 Oct + Mon-Fri to 3 Nov
    assert a.sick_days_year == 11
    assert b.longest_sick_spell_days == 5  # 12, 13 Oct + 23, 24, 25 Oct: the holiday week is no school


def test_application_features(cal: SchoolCalendar) -> None:
    fy = {"final_year": True, "expects_mbo": True, "grade": 4}
    apps = [
        {"student_id": "late", "application_id": "1", "programme": "25180", "level": "mbo-2", "submitted_on": "2024-04-11",
         "applied_on": "2024-04-11", "agreement_offered_on": "2024-04-20", "enrolled_on": "2024-06-01"},
        {"student_id": "early", "application_id": "2", "programme": "25180", "level": "mbo-3", "submitted_on": "2024-02-01",
         "applied_on": "2024-02-01", "withdrawn_on": "2024-03-01"},
        {"student_id": "early", "application_id": "3", "programme": "25181", "level": "mbo-3", "submitted_on": "2024-03-05"},
    ]
    t = tables([student("late", **fy), student("none", **fy), student("early", **fy), student("other")], applications=apps)
    may, march = features.build(t, [T("2024-05-01"), T("2024-03-01")], calendar=cal).groupby("as_of")
    df = may[1] if may[0] == T("2024-05-01") else march[1]
    assert one(df, "late").application_days_late == 10
    assert one(df, "late").vva_status_code == 1  # agreement offered; enrolled only in June
    assert one(df, "none").application_days_late == 30  # 1 April .. 1 May, still nothing
    assert one(df, "none").vva_status_code == 4
    assert one(df, "early").application_days_late == 0
    assert one(df, "early").vva_status_code == 2  # one withdrawn, one applied: the most advanced counts
    assert np.isnan(one(df, "other").application_days_late) and np.isnan(one(df, "other").vva_status_code)
    before = march[1] if march[0] == T("2024-03-01") else may[1]
    assert one(before, "none").application_days_late == 0  # before 1 April nobody is late
    assert one(before, "late").vva_status_code == 4  # its submission was still in the future
    assert one(before, "early").vva_status_code == 3  # withdrawn on 1 March itself


def test_population_history_and_context(cal: SchoolCalendar) -> None:
    enrol = [
        {"student_id": "left", "school_id": "S1", "level": "vmbo-k", "start_date": "2023-08-20", "end_date": "2023-09-15", "dereg_reason": "dropout"},
        {"student_id": "leaves_later", "school_id": "S1", "level": "vmbo-k", "start_date": "2023-08-20", "end_date": "2023-12-01", "dereg_reason": "dropout"},
        {"student_id": "sw", "school_id": "S0", "level": "havo", "start_date": "2021-08-20", "end_date": "2022-01-10", "dereg_reason": "switch"},
        {"student_id": "sw", "school_id": "S1", "level": "vmbo-k", "start_date": "2022-01-11", "end_date": None, "dereg_reason": None},
    ]
    students = [
        student("left"), student("leaves_later"), student("sw", birth_date=T("2007-06-01")),
        student("sw", school_year="2022-23"), student("sw", school_year="2021-22", grade=2),
        student("only_last_year", school_year="2022-23"),
        student("mbo", school_type="mbo", level="mbo-2", grade=1, birth_date=T("2005-10-01")),
    ]
    t = tables(students, enrolments=enrol)
    df = features.build(t, ["2023-10-01"], calendar=cal)
    assert set(df["student_id"]) == {"leaves_later", "sw", "mbo"}
    sw, mbo = one(df, "sw"), one(df, "mbo")
    assert sw.switches == 1 and sw.retentions == 1  # grade 3 twice
    assert sw.age == pytest.approx((T("2023-10-01") - T("2007-06-01")).days / 365.25)
    assert sw.over_age == pytest.approx((T("2023-10-01") - T("2007-06-01")).days / 365.25 - 15)
    assert one(df, "leaves_later").over_age == 0
    assert mbo.over_age == pytest.approx(18.0 - 17.0, abs=0.01) and mbo.level_code == 8
    assert (sw.school_id, sw.school_year, sw.level, sw.rmc_region) == ("S1", "2023-24", "vmbo-k", "RMC27")
    assert df[list(FEATURES)].dtypes.map(lambda d: d == np.float64).all()
    assert (df[list(RULE_COLUMNS)].dtypes == np.dtype(bool)).all()


def test_contract_breach_and_bad_input(cal: SchoolCalendar) -> None:
    t = tables([student("baby", birth_date=T("2021-01-01"))])
    with pytest.raises(ContractError, match="age"):
        features.build(t, ["2023-10-01"], calendar=cal)
    with pytest.raises(DataError):
        features.build(t, [], calendar=cal)
    with pytest.raises(DataError, match="calendar"):
        features.build(t, ["2035-10-01"], calendar=cal)


def test_label_and_default_dates() -> None:
    f = pd.DataFrame({"student_id": ["a", "a", "b", "c"], "as_of": [T("2023-10-01"), T("2024-10-01"), T("2023-10-01"), T("2023-10-01")]})
    outcomes = pd.DataFrame({"student_id": ["a", "b"], "vsv_date": [T("2024-09-30"), T("2023-10-01")]})
    assert features.label(f, outcomes).tolist() == [True, False, False, False]
    assert features.label(f, outcomes, horizon_days=100).tolist() == [False, False, False, False]
    assert features.default_as_of_dates(["2023-24"]) == [T("2023-10-01"), T("2024-02-01"), T("2024-05-01")]


# --- leakage ---------------------------------------------------------------------------------------
def _cohort(n: int, seed: int) -> dict[str, pd.DataFrame]:
    """A small random cohort with every kind of event, some of them near the as-of dates."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    students = []
    for i, sid in enumerate(ids):
        for sy, grade in (("2022-23", 3), ("2023-24", 3 + int(rng.random() < 0.8))):
            students.append(student(sid, school_year=sy, grade=grade, calendar_region=["noord", "midden", "zuid"][i % 3],
                                    final_year=grade == 4, expects_mbo=bool(i % 2), birth_date=T("2008-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))))
    days = pd.date_range("2022-08-20", "2024-07-10")
    n_abs = n * 30
    absences = pd.DataFrame({
        "student_id": rng.choice(ids, n_abs), "date": rng.choice(days, n_abs), "hours": rng.choice([1.0, 2.0, 4.0, 6.0], n_abs),
        "category": rng.choice(["unauthorised", "late", "authorised"], n_abs),
    }).drop_duplicates(["student_id", "date"])  # one registration a day: 16 h on one day is a data error (rules)
    truants = [sid for i, sid in enumerate(ids) if i % 5 == 0]  # 6 unauthorised hours a week: the 16 h rule fires
    tue_thu = days[days.dayofweek.isin([1, 3])]
    absences = pd.concat([absences, pd.DataFrame({"student_id": np.repeat(truants, len(tue_thu)), "date": np.tile(tue_thu, len(truants)),
                                                  "hours": 3.0, "category": "unauthorised"})], ignore_index=True)
    often_sick = [sid for i, sid in enumerate(ids) if i % 6 == 1]  # a one-day report every two weeks: MAZL frequent
    mondays = days[(days.dayofweek == 0) & (days.isocalendar().week.to_numpy() % 2 == 0)]
    starts = rng.choice(days, n * 3)
    ends = pd.Series(starts + pd.to_timedelta(rng.integers(0, 12, n * 3), unit="D")).where(rng.random(n * 3) < 0.9)
    sick = pd.concat([pd.DataFrame({"student_id": rng.choice(ids, n * 3), "start_date": starts, "end_date": ends}),
                      pd.DataFrame({"student_id": np.repeat(often_sick, len(mondays)), "start_date": np.tile(mondays, len(often_sick)),
                                    "end_date": np.tile(mondays, len(often_sick))})], ignore_index=True)
    sub = pd.to_datetime(rng.choice(pd.date_range("2024-01-15", "2024-06-01"), n))
    apps = pd.DataFrame({"student_id": ids, "application_id": [f"a{i}" for i in range(n)], "programme": "25180", "level": "mbo-2",
                         "submitted_on": sub, "applied_on": sub, "agreement_offered_on": sub + pd.Timedelta(days=20),
                         "no_enrolment_on": pd.NaT, "withdrawn_on": pd.NaT, "enrolled_on": sub + pd.Timedelta(days=60)})
    enrol = pd.DataFrame({"student_id": ids, "school_id": "S1", "level": "vmbo-k", "start_date": T("2021-08-20"),
                          "end_date": pd.Series([T("2023-12-15") if i % 7 == 0 else pd.NaT for i in range(n)]),
                          "dereg_reason": [("switch" if i % 2 else "dropout") if i % 7 == 0 else None for i in range(n)]})
    return {"students": pd.DataFrame(students), "absences": absences, "sick_reports": sick, "applications": apps,
            "enrolments": enrol, "diplomas": empty("diplomas")}


def _future(t: dict[str, pd.DataFrame], as_of: pd.Timestamp, seed: int) -> dict[str, pd.DataFrame]:
    """The same tables plus events dated after as_of, and the future filled into open fields."""
    rng = np.random.default_rng(seed)
    ids = t["students"]["student_id"].unique()
    later = as_of + pd.to_timedelta(rng.integers(1, 60, len(ids)), unit="D")
    out = dict(t)
    extra = pd.DataFrame({"student_id": ids, "date": later, "hours": 6.0, "category": "unauthorised"})
    extra = extra[~pd.MultiIndex.from_frame(extra[["student_id", "date"]]).isin(pd.MultiIndex.from_frame(t["absences"][["student_id", "date"]]))]
    out["absences"] = pd.concat([t["absences"], extra,
                                 pd.DataFrame({"student_id": ids, "date": later, "hours": 0.2, "category": "late"})], ignore_index=True)
    sick = t["sick_reports"].copy()
    sick["end_date"] = sick["end_date"].fillna(as_of + pd.Timedelta(days=30))  # ongoing spells end later
    out["sick_reports"] = pd.concat([sick, pd.DataFrame({"student_id": ids, "start_date": later, "end_date": later + pd.Timedelta(days=20)})], ignore_index=True)
    apps = t["applications"].copy()
    future_status = apps["submitted_on"] > as_of
    apps.loc[~future_status, "withdrawn_on"] = as_of + pd.Timedelta(days=3)
    extra = apps.assign(application_id=apps["application_id"] + "x", submitted_on=as_of + pd.Timedelta(days=1),
                        applied_on=as_of + pd.Timedelta(days=1), enrolled_on=as_of + pd.Timedelta(days=2))
    out["applications"] = pd.concat([apps, extra], ignore_index=True)
    enrol = t["enrolments"].copy()
    enrol.loc[enrol["end_date"].isna(), ["end_date", "dereg_reason"]] = [as_of + pd.Timedelta(days=5), "switch"]
    out["enrolments"] = pd.concat([enrol, pd.DataFrame({"student_id": ids, "school_id": "S9", "level": "mbo-2", "start_date": later,
                                                        "end_date": later + pd.Timedelta(days=1), "dereg_reason": "dropout"})], ignore_index=True)
    out["diplomas"] = pd.DataFrame({"student_id": ids, "date": later, "level": "vmbo-k", "is_sk": False})
    out["outcomes"] = pd.DataFrame({"student_id": ids, "vsv_date": later})
    return out


@pytest.mark.parametrize("as_of", [T("2023-10-01"), T("2024-02-01"), T("2024-05-01")])
def test_no_feature_or_rule_reads_the_future(cal: SchoolCalendar, as_of: pd.Timestamp) -> None:
    t = _cohort(60, seed=1)
    before = features.build(t, [as_of], calendar=cal)
    after = features.build(_future(t, as_of, seed=2), [as_of], calendar=cal)
    assert len(before) > 40
    pd.testing.assert_frame_equal(before, after)
    # and the cohort is not trivial: the features do vary, and the future would have changed them
    assert before["unauthorised_hours_12w"].nunique() > 3 and before["sick_days_year"].gt(0).any()
    fired = before[list(RULE_COLUMNS)].sum()
    assert fired[["rule_leerplicht_16h_4w", "rule_mazl_frequent", "rule_mazl_long"]].gt(0).all(), fired.to_dict()
    later = features.build(_future(t, as_of, seed=2), [as_of + pd.Timedelta(days=70)], calendar=cal)
    assert not later["unauthorised_hours_year"].reset_index(drop=True).equals(before["unauthorised_hours_year"].reset_index(drop=True))


def test_point_in_time_cuts_every_table() -> None:
    t = _future(_cohort(10, seed=3), T("2024-02-01"), seed=4)
    cut = features.point_in_time(t, T("2024-02-01"))
    assert "outcomes" not in cut
    assert cut["absences"]["date"].max() <= T("2024-02-01")
    assert cut["sick_reports"]["end_date"].dropna().max() <= T("2024-02-01")
    assert cut["enrolments"]["end_date"].dropna().max() <= T("2024-02-01")
    for col in ("submitted_on", "applied_on", "enrolled_on", "withdrawn_on"):
        assert (cut["applications"][col].dropna() <= T("2024-02-01")).all()
    assert len(cut["applications"]) and cut["applications"]["submitted_on"].notna().all()


# --- CLI -------------------------------------------------------------------------------------------
def _run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from riskscore import cli

    monkeypatch.setattr("sys.argv", ["riskscore", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_features_and_import(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from riskscore import datasets

    datasets.write_tables(_cohort(12, seed=5), tmp_path / "data")
    out = tmp_path / "f.parquet"
    code, stdout, _ = _run_cli(monkeypatch, capsys, "features", "--data", str(tmp_path / "data"), "--out", str(out),
                               "--as-of", "2024-02-01", "--as-of", "2023-10-01")
    assert code == 0 and "rows" in stdout
    table = pd.read_parquet(out)
    assert set(table["as_of"]) == {T("2024-02-01"), T("2023-10-01")} and len(table) == int(stdout.split()[1].replace(",", ""))
    from riskscore.settings import get_settings

    monkeypatch.setenv("RISKSCORE_PSEUDONYM_KEY", "test-key-0123456789")  # imports need a key (ingest/pseudonym.py)
    get_settings.cache_clear()
    code, stdout, _ = _run_cli(monkeypatch, capsys, "import", "--source", str(tmp_path / "data"), "--kind", "tables", "--out", str(tmp_path / "imp"))
    get_settings.cache_clear()
    assert code == 0 and (tmp_path / "imp" / "students.parquet").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["features", "--data", "{d}/missing", "--out", "{d}/f.parquet"],
        ["features", "--data", "{d}", "--out", "{d}/f.parquet", "--as-of", "2024-13-01"],
        ["features", "--data", "{d}", "--out", "{d}/f.csv"],
        ["import", "--source", "{d}", "--kind", "duo", "--out", "{d}/o"],
        ["import", "--source", "{d}", "--kind", "nonsense", "--out", "{d}/o"],
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(tmp_path, monkeypatch, capsys, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run_cli(monkeypatch, capsys, *[a.format(d=tmp_path) for a in args])
    assert code != 0
    assert err.strip().startswith("error") or "Invalid value" in err, err


def test_more_absence_never_lowers_the_absence_features(cal: SchoolCalendar) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lesson_days = cal.lesson_days("2023-08-28", "2024-02-01", "zuid")

    @settings(max_examples=12, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, len(lesson_days) - 1), st.sampled_from([1.0, 2.0, 5.0])), max_size=30),
           st.integers(0, len(lesson_days) - 1))
    def check(events: list[tuple[int, float]], extra: int) -> None:
        rows = [absence("z", str(lesson_days[i].date()), h) for i, h in events]
        base = one(features.build(tables([student("z", calendar_region="zuid")], absences=rows), ["2024-02-01"], calendar=cal), "z")
        more = [*rows, absence("z", str(lesson_days[extra].date()), 3.0)]
        plus = one(features.build(tables([student("z", calendar_region="zuid")], absences=more), ["2024-02-01"], calendar=cal), "z")
        assert base.unauthorised_hours_4w <= base.unauthorised_hours_12w <= base.unauthorised_hours_year
        for name in ("unauthorised_hours_4w", "unauthorised_hours_12w", "unauthorised_hours_year"):
            assert plus[name] >= base[name]
        assert plus.unauthorised_hours_year == base.unauthorised_hours_year + 3.0

    check()


def test_saved_table_is_reused_only_for_the_same_data_dates_and_rules(tmp_path) -> None:
    table = pd.DataFrame({"student_id": ["a", "b"], "x": [1.0, 2.0]})
    dates = [pd.Timestamp("2024-10-01"), pd.Timestamp("2025-02-01")]
    path = features.save_table(table, tmp_path / "features.parquet", fingerprint="fp1", dates=dates)
    pd.testing.assert_frame_equal(features.load_if_current(path, fingerprint="fp1", dates=dates), table)
    assert features.load_if_current(path, fingerprint="fp2", dates=dates) is None
    assert features.load_if_current(path, fingerprint="fp1", dates=dates[:1]) is None
    assert features.load_if_current(path, fingerprint="fp1", dates=dates, rules="sha256:x") is None
    assert features.load_if_current(tmp_path / "missing.parquet", fingerprint="fp1", dates=dates) is None
    path.with_suffix(".json").write_text("{not json")
    assert features.load_if_current(path, fingerprint="fp1", dates=dates) is None


def test_a_pupils_row_does_not_depend_on_the_other_pupils_in_the_call(cal: SchoolCalendar) -> None:
    """Spark runs build() per group of pupils (applyInPandas): any split must give the same rows."""
    t = _cohort(40, seed=7)
    dates = [T("2023-10-01"), T("2024-02-01")]
    whole = features.build(t, dates, calendar=cal)
    ids = t["students"]["student_id"].unique()
    parts = []
    for group in (ids[::3], ids[1::3], ids[2::3]):
        sub = {name: df[df["student_id"].isin(group)] for name, df in t.items()}
        parts.append(features.build(sub, dates, calendar=cal))
    split = pd.concat(parts).sort_values(["as_of", "student_id"]).reset_index(drop=True)
    whole = whole.sort_values(["as_of", "student_id"]).reset_index(drop=True)
    assert whole[list(RULE_COLUMNS)].to_numpy().any()
    pd.testing.assert_frame_equal(whole, split)


def test_feature_contract_still_demands_text_ids_and_known_levels(cal: SchoolCalendar) -> None:
    from riskscore.contracts import validate

    t = tables([student("a"), student("b")], absences=[absence("a", "2023-10-03", 2.0)])
    table = features.build(t, ["2023-11-01"], calendar=cal)
    with pytest.raises(ContractError, match="student_id"):
        validate("features", table.assign(student_id=[1, 2]))
    with pytest.raises(ContractError, match="level"):
        validate("features", table.assign(level=["vmbo-k", "gymnasium-plus"]))
    ints = tables([student(7), student(8)])  # type: ignore[arg-type]
    assert features.build(ints, ["2023-11-01"], calendar=cal)["student_id"].tolist() == ["7", "8"]  # as pandera's str coercion did
