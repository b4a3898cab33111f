"""Mentor groups: the optional class column of the students contract, kept by the importer when a school's
export names the class (a profile's ``group`` field) or when the project's own students table carries
``mentor_group``; synthetic pupils get a plausible class; the registrations read it, and a mentor's pupils
are those whose newest class is theirs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from riskscore import synthetic
from riskscore.access import Principal
from riskscore.contracts import validate
from riskscore.ingest.run import run_import
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.registrations import (
    current_groups,
    mentor_pupils,
    pupils_in_groups,
    spans_of,
    sync_registrations,
)

KEY = b"test-key-0123456789"
FIX = Path(__file__).parent / "fixtures"
SCHOOLS = FIX / "schools"


def _magister_with_class(folder: Path) -> Path:
    """The built-in Magister profile plus the export's 'Klas' column as the pupil's class."""
    text = (Path(__file__).resolve().parents[1] / "src/riskscore/data/profiles/magister.yaml").read_text()
    path = folder / "magister-klas.yaml"
    path.write_text(text.replace("  record_id: Id\n", "  record_id: Id\n  group: Klas\n"))
    return path


def test_an_export_with_a_class_column_gives_the_pupils_their_class(tmp_path: Path) -> None:
    out = tmp_path / "store"
    run_import(FIX / "duo", kind="duo", out=out, key=KEY)
    before = pd.read_parquet(out / "students.parquet")
    assert "mentor_group" not in before.columns or before["mentor_group"].isna().all()
    summary = run_import(SCHOOLS / "magister_absences.csv", kind="absences", out=out, key=KEY,
                         profile=str(_magister_with_class(tmp_path)), school=SCHOOLS / "27GZ-magister.yaml")
    assert "Klas" not in summary.files[0].dropped_columns
    st = pd.read_parquet(out / "students.parquet")
    raw = pd.read_csv(SCHOOLS / "magister_absences.csv", sep=";", encoding="cp1252", dtype=str).dropna(how="all")
    named = st[st["mentor_group"].notna()]
    assert len(named) > 0 and set(named["mentor_group"]) <= set(raw["Klas"].dropna())
    # the class is the school's, for the school year of the records; other schools' pupils keep none
    assert set(named["school_id"]) == {"27GZ"} and set(named["school_year"]) == {"2023-24"}
    validate("students", st)


def test_without_a_class_column_nothing_changes(tmp_path: Path) -> None:
    out = tmp_path / "store"
    run_import(FIX / "duo", kind="duo", out=out, key=KEY)
    run_import(SCHOOLS / "magister_absences.csv", kind="absences", out=out, key=KEY, profile="magister",
               school=SCHOOLS / "27GZ-magister.yaml")
    st = pd.read_parquet(out / "students.parquet")
    assert "mentor_group" not in st.columns or st["mentor_group"].isna().all()
    staged = pd.read_parquet(out / "ingest" / "school_absences.parquet")
    assert "mentor_group" not in staged.columns  # an unchanged export keeps its stored content (no re-import churn)


def test_the_projects_own_students_table_keeps_mentor_group(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "students.csv").write_text(
        "student_id;school_year;school_id;municipality;rmc_region;calendar_region;birth_date;school_type;level;grade;"
        "final_year;expects_mbo;has_sk;mentor_group\n"
        "123456782;2023-24;01AB;GM0344;RMC27;midden;15-03-2008;vo;havo;4;nee;nee;nee;4HA\n"
        "223456781;2023-24;01AB;GM0344;RMC27;midden;15-03-2008;vo;havo;4;nee;nee;nee;\n")
    run_import(src, kind="tables", out=tmp_path / "d", key=KEY)
    st = pd.read_parquet(tmp_path / "d" / "students.parquet")
    assert sorted(st["mentor_group"].fillna("").tolist()) == ["", "4HA"]  # a blank cell: no class


def test_synthetic_pupils_have_a_plausible_class() -> None:
    tables = synthetic.generate(3000, 2, 7, first_year="2023-24")
    st = tables["students"]
    assert st["mentor_group"].notna().all()
    sizes = st.groupby(["school_year", "school_id", "mentor_group"]).size()
    assert sizes.median() >= 15 and sizes.max() <= 60  # classes of about 25
    vo = st[st["school_type"] == "vo"].iloc[0]
    assert vo["mentor_group"].startswith(str(int(vo["grade"])))  # "3HA": grade first
    # the class draws nothing from the random stream: the same seed gives the same pupils and events
    again = synthetic.generate(3000, 2, 7, first_year="2023-24")
    pd.testing.assert_frame_equal(st, again["students"])
    pd.testing.assert_frame_equal(tables["absences"], again["absences"])


def test_a_mentors_pupils_are_those_whose_newest_class_is_theirs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        rows = [("M-1", "2024-25", "3HA"), ("M-1", "2025-26", "4HA"),  # moved up a class
                ("M-2", "2024-25", "3HA"), ("M-2", "2025-26", "3HA"),  # stayed back
                ("M-3", "2025-26", None), ("M-4", "2025-26", "3HB")]
        sync_registrations(session, pd.DataFrame([
            {"student_id": sid, "school_year": year, "school_id": "01AB", "municipality": "GM0363",
             "rmc_region": "RMC27", "mentor_group": group} for sid, year, group in rows]))
        day = dt.date(2025, 12, 1)
        assert current_groups(session, ["M-1", "M-2", "M-3", "M-4"], day) == {
            "M-1": "4HA", "M-2": "3HA", "M-3": None, "M-4": "3HB"}
        assert pupils_in_groups(session, ["3HA"], on=day) == ("M-2",)
        assert pupils_in_groups(session, ["3HA"], on=dt.date(2025, 1, 10)) == ("M-1", "M-2")  # a year earlier
        assert pupils_in_groups(session, ["3HA"], on=day, school_ids=["02CD"]) == ()
        mentor = Principal("user:x", "Mentor", "school", "school", ("01AB",), kind="person", groups=("3HA", "3HB"))
        assert mentor_pupils(session, mentor, on=day) == ("M-2", "M-4")
        assert mentor_pupils(session, mentor, on=day, group="3HB") == ("M-4",)
        whole = Principal("user:y", "Zorgcoördinator", "school", "school", ("01AB",), kind="person")
        assert mentor_pupils(session, whole, on=day) is None
        assert {s.place.mentor_group for s in spans_of(session, ["M-1"])["M-1"]} == {"3HA", "4HA"}
    engine.dispose()
