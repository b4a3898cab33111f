"""Tests of the causal synthetic cohort: contracts, determinism, calibration, calendar, causality, knobs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from riskscore import synthetic
from riskscore.calendar import SchoolCalendar
from riskscore.contracts import RAW_SCHEMAS, validate
from riskscore.errors import ConfigError
from riskscore.synthetic import Knobs, calibration_table, generate


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return generate(3000, 2, seed=5)


@pytest.fixture(scope="module")
def calendar() -> SchoolCalendar:
    return SchoolCalendar.default()


def _unauth_hours(tables: dict[str, pd.DataFrame], school_year: str) -> pd.Series:
    """Unauthorised hours per student in a school year (0 for students without any)."""
    ab = tables["absences"]
    start = pd.Timestamp(int(school_year[:4]), 8, 1)
    ab = ab[(ab["category"] == "unauthorised") & (ab["date"] >= start) & (ab["date"] < start + pd.DateOffset(years=1))]
    st = tables["students"]
    st = st[st["school_year"] == school_year]
    return ab.groupby("student_id")["hours"].sum().reindex(st["student_id"], fill_value=0.0)


def test_tables_pass_their_contracts(small: dict[str, pd.DataFrame]) -> None:
    assert set(small) == {*RAW_SCHEMAS, "audit"}  # audit attributes: a table of their own
    for name, df in small.items():
        if name != "audit":
            validate(name, df)
        assert len(df) > 0, name
    st = small["students"]
    assert st.groupby("school_year").size().between(2900, 3000).all()
    assert st["rmc_region"].str.fullmatch(r"RMC(0[1-9]|[1-3]\d)").all()
    assert st["municipality"].str.fullmatch(r"GM\d{4}").all()
    assert (st.groupby("school_id")["school_type"].nunique() == 1).all()  # one type per school
    assert (st.groupby("municipality")["rmc_region"].nunique() == 1).all()  # nested in RMC regions
    ages = (pd.to_datetime(st["school_year"].str[:4] + "-10-01") - st["birth_date"]).dt.days / 365.25
    assert ages.between(12, 23).all()


def test_same_seed_same_tables_other_seed_differs() -> None:
    a, b, c = generate(400, 2, seed=3), generate(400, 2, seed=3), generate(400, 2, seed=4)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["absences"].equals(c["absences"])


def test_calibration_within_tolerance() -> None:
    # 20,000 x 3 gives ~700 entree and ~24,000 mbo student-years; the tolerance adds 3 binomial standard
    # errors to the public spread, so a failure means a biased mechanism, not bad luck
    table = calibration_table(generate(20000, 3, seed=21))
    assert table["within_tolerance"].all(), table[["level_group", "generated_rate", "public_rate", "tolerance"]]
    rates = table.set_index("level_group")["generated_rate"]
    assert rates["mbo-1"] > rates["mbo-2"] > rates["mbo-3"] > rates["vo"]


def test_calibration_table_flags_a_wrong_rate(small: dict[str, pd.DataFrame]) -> None:
    tables = dict(small)
    tables["outcomes"] = small["outcomes"].iloc[:0]  # nobody drops out: far below every public rate
    table = calibration_table(tables)
    assert not table.set_index("level_group").loc[["mbo-1", "mbo"], "within_tolerance"].any()


def test_events_fall_on_lesson_days_only(small: dict[str, pd.DataFrame], calendar: SchoolCalendar) -> None:
    st = small["students"][["student_id", "school_year", "calendar_region"]]
    for table, column in (("absences", "date"), ("sick_reports", "start_date")):
        events = small[table]
        year = np.where(events[column].dt.month >= 8, events[column].dt.year, events[column].dt.year - 1)
        events = events.assign(school_year=[f"{y}-{(y + 1) % 100:02d}" for y in year])
        merged = events.merge(st, on=["student_id", "school_year"], how="left", validate="many_to_one")
        assert merged["calendar_region"].notna().all(), table  # none outside a student's school years
        for region, group in merged.groupby("calendar_region"):
            assert calendar.lesson_day_mask(group[column].to_numpy(), region).all(), (table, region)
    assert not small["absences"].duplicated(["student_id", "date", "category"]).any()


def test_sick_report_lengths_are_realistic(small: dict[str, pd.DataFrame]) -> None:
    sr = small["sick_reports"].dropna(subset=["end_date"])
    days = (sr["end_date"] - sr["start_date"]).dt.days + 1
    assert 0.6 < (days <= 3).mean() < 0.95  # mostly 1-3 days
    assert 0.01 < (days > 6).mean() < 0.15  # a tail of long spells (MAZL's > 6 school days)
    per_student = small["sick_reports"].groupby("student_id").size()
    assert per_student.max() >= 4 * per_student.median()  # frequent reporters exist


def test_signals_drive_the_outcome() -> None:
    tables = generate(20000, 1, seed=8)
    hours = _unauth_hours(tables, "2020-21")
    vsv = hours.index.isin(tables["outcomes"]["student_id"])
    assert vsv.sum() > 200
    assert hours[vsv].mean() > 2 * hours[~vsv].mean()
    # missing or late mbo applications go with failed transitions (vo pupils expecting mbo)
    st = tables["students"]
    expecting = st.loc[st["expects_mbo"] & st["level"].str.startswith("vmbo"), "student_id"]
    first_app = tables["applications"].groupby("student_id")["submitted_on"].min()
    submitted = first_app.reindex(expecting)
    became_vsv = expecting.isin(tables["outcomes"]["student_id"]).to_numpy()
    missing = submitted.isna().to_numpy()
    late = (submitted > pd.Timestamp("2021-04-01")).to_numpy()
    on_time = ~missing & ~late
    assert missing.sum() > 30 and late.sum() > 50
    assert became_vsv[missing].mean() > 2 * became_vsv[on_time].mean()
    assert became_vsv[late].mean() > became_vsv[on_time].mean()


def test_only_eligible_students_become_vsv(small: dict[str, pd.DataFrame]) -> None:
    st = small["students"]
    vsv_rows = st[st["student_id"].isin(small["outcomes"]["student_id"])]
    last = vsv_rows.sort_values("school_year").drop_duplicates("student_id", keep="last")
    assert not last["level"].isin(["pro", "vso"]).any()
    assert not last["has_sk"].any()
    assert small["outcomes"]["student_id"].is_unique
    sk = small["diplomas"].set_index("level")["is_sk"]
    assert not sk.loc[sk.index.str.startswith("vmbo")].any() and sk.loc[["havo", "vwo", "mbo-2"]].all()
    assert not sk.loc[["mbo-1"]].any()


def test_audit_columns_correlate_with_home_situation_not_directly_used(small: dict[str, pd.DataFrame]) -> None:
    st, audit = small["students"], small["audit"]
    assert not {"gender", "migration_background", "ses_band"} & set(st.columns)  # kept apart from school records
    assert audit["student_id"].is_unique and set(audit["student_id"]) == set(st["student_id"])
    hours = _unauth_hours(small, "2020-21")
    ses = audit.set_index("student_id")["ses_band"]
    by_ses = hours.groupby(ses.reindex(hours.index)).mean()
    assert by_ses["low"] > by_ses["high"]  # through the latent home situation
    assert set(audit["gender"]) <= {"m", "v", "x"}


def test_absence_surge_raises_unauthorised_hours_in_that_year_only() -> None:
    base = generate(3000, 2, seed=9)
    surged = generate(3000, 2, seed=9, knobs=Knobs(absence_surge_year="2021-22", absence_surge_factor=2.0))
    assert _unauth_hours(surged, "2021-22").mean() > 1.6 * _unauth_hours(base, "2021-22").mean()
    ratio_first = _unauth_hours(surged, "2020-21").mean() / _unauth_hours(base, "2020-21").mean()
    assert 0.8 < ratio_first < 1.25


def test_strict_recording_raises_recorded_hours_for_the_group_only() -> None:
    group = ("migration_background", "non_western")
    base = generate(4000, 1, seed=10)
    strict = generate(4000, 1, seed=10, knobs=Knobs(strict_group=group, strict_factor=3.0, strict_from="2020-21"))

    def group_means(tables: dict[str, pd.DataFrame]) -> tuple[float, float]:
        hours = _unauth_hours(tables, "2020-21")
        st = tables["audit"].set_index("student_id")
        in_group = (st["migration_background"] == "non_western").reindex(hours.index).to_numpy()
        return float(hours[in_group].mean()), float(hours[~in_group].mean())

    (group0, others0), (group1, others1) = group_means(base), group_means(strict)
    assert group1 > 2 * group0
    assert abs(others1 / others0 - 1) < 0.15
    # recording, not risk: the VSV count moves no more than chance
    n0, n1 = len(base["outcomes"]), len(strict["outcomes"])
    assert abs(n1 - n0) < 4 * np.sqrt(n0)


def test_level_mix_shift_changes_level_shares() -> None:
    base = generate(3000, 2, seed=12)
    shifted = generate(3000, 2, seed=12, knobs=Knobs(level_mix_shift=0.25, level_mix_from="2021-22"))

    def low_mbo_share(t: dict[str, pd.DataFrame], sy: str) -> float:
        st = t["students"]
        return float(st.loc[st["school_year"] == sy, "level"].isin(["mbo-1", "mbo-2"]).mean())

    assert low_mbo_share(shifted, "2021-22") > low_mbo_share(base, "2021-22") + 0.15
    assert abs(low_mbo_share(shifted, "2020-21") - low_mbo_share(base, "2020-21")) < 0.02


def test_bad_knobs_and_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        generate(100, 1, seed=1, knobs=Knobs(strict_group=("migration_background", "mars")))
    with pytest.raises(ConfigError):
        generate(100, 1, seed=1, knobs=Knobs(absence_surge_year="2021", absence_surge_factor=2.0))
    with pytest.raises(ConfigError):
        generate(100, 12, seed=1)
    with pytest.raises(ConfigError):
        generate(100, 2, seed=1, first_year="2027-28")  # beyond the school calendar


def test_intercepts_hit_the_public_rates_in_expectation() -> None:
    ic = synthetic.level_intercepts()
    assert ic["mbo-1"] > ic["mbo-2"] > ic["mbo-3"] > ic["vo"]


def test_cli_bad_option_is_one_line_and_nonzero(tmp_path: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "riskscore.cli", "synth", "--out", str(tmp_path), "--students", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "n_students" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "riskscore.cli", "synth", "--out", str(tmp_path),
                           "--strict-group", "nonsense"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1


def test_cli_writes_tables_and_prints_calibration(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "data"
    proc = subprocess.run([sys.executable, "-m", "riskscore.cli", "synth", "--out", str(out), "--students", "500",
                           "--years", "1", "--seed", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "mbo-1" in proc.stdout and "public" in proc.stdout
    from riskscore.datasets import read_tables

    tables = read_tables(out)
    assert set(tables) == set(RAW_SCHEMAS)  # the audit table is not among the school's tables …
    assert (out / "audit.parquet").is_file()  # … it is written apart, for training and monitoring only
