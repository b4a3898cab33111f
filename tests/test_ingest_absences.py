"""School-system absence exports (SOMtoday, Magister, EduArte), weekly merging, the ledger, volume
checks, and the chain: DUO + three exports → features → a scored worklist."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from riskscore.clock import today as school_today
from riskscore.errors import DataError
from riskscore.ingest.ledger import incomplete_schools, read_ledger
from riskscore.ingest.profiles import load_school
from riskscore.ingest.run import run_import

KEY = b"test-key-0123456789"
FIX = Path(__file__).parent / "fixtures"
SCHOOLS = FIX / "schools"
EXPORTS = {
    "magister": ("magister_absences.csv", "27GZ-magister.yaml"),
    "eduarte": ("eduarte_absences.csv", "27GZ-eduarte.yaml"),
    "somtoday-csv": ("somtoday_absences.csv", "24ZZ-somtoday.yaml"),
    "somtoday-json": ("somtoday_absentiemeldingen.json", "24ZZ-somtoday.yaml"),
}
REPO = Path(__file__).resolve().parents[1]


def _import(out: Path, profile: str, export: Path | None = None) -> object:
    name, school = EXPORTS[profile]
    return run_import(export or SCHOOLS / name, kind="absences", out=out, key=KEY, profile=profile, school=SCHOOLS / school)


def _absences(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "absences.parquet")


@pytest.mark.parametrize("profile", list(EXPORTS))
def test_each_system_export_imports(tmp_path: Path, profile: str) -> None:
    s = _import(tmp_path, profile)
    f = s.files[0]  # type: ignore[attr-defined]
    assert f.status == "imported" and f.stats.added > 0
    ab = _absences(tmp_path)
    assert len(ab) > 0 and set(ab["category"]) <= {"unauthorised", "authorised", "late"}
    assert ab["hours"].between(0, 24).all()
    staged = pd.read_parquet(tmp_path / "ingest" / "school_absences.parquet")
    assert set(staged["school_id"]) == {load_school(SCHOOLS / EXPORTS[profile][1]).school_id}


def test_magister_windows_1252_duplicates_excel_rows_and_unknown_columns(tmp_path: Path) -> None:
    f = _import(tmp_path, "magister").files[0]  # type: ignore[attr-defined]
    assert f.encoding == "cp1252" and f.blank_rows == 1 and f.duplicate_in_file == 1
    assert f.dropped_columns == ["Naam leerling", "Klas", "Mentor", "Omschrijving", "Opmerking"]
    staged = pd.read_parquet(tmp_path / "ingest" / "school_absences.parquet")
    assert not {"Klas", "Mentor", "Opmerking", "Naam leerling"} & set(staged.columns)


def test_lesson_hours_and_clock_hours(tmp_path: Path) -> None:
    _import(tmp_path / "m", "magister")  # lessons: 08:30-09:20 is one lesson hour
    ab = _absences(tmp_path / "m")
    first = ab[ab["category"] == "unauthorised"].groupby("student_id")["hours"].sum().max()
    assert first == 24.0  # 8 school days x 3 lessons, the duplicate row not counted twice
    _import(tmp_path / "e", "eduarte")  # clock: "1,5" hours as exported (decimal comma)
    e = _absences(tmp_path / "e")
    assert set(e.loc[e["category"] == "unauthorised", "hours"]) == {1.5}
    assert set(e.loc[e["category"] == "late", "hours"]) == {0.25}
    _import(tmp_path / "s", "somtoday-csv")  # beginLesuur 1 .. eindLesuur 2 = two lessons
    s = _absences(tmp_path / "s")
    assert set(s.loc[s["category"] == "unauthorised", "hours"]) == {2.0}


def test_clock_mode_counts_minutes_of_the_timetable(tmp_path: Path) -> None:
    school = (SCHOOLS / "27GZ-magister.yaml").read_text().replace("hours: lessons", "hours: clock")
    (tmp_path / "clock.yaml").write_text(school)
    run_import(SCHOOLS / "magister_absences.csv", kind="absences", out=tmp_path / "d", key=KEY, profile="magister",
               school=tmp_path / "clock.yaml")
    ab = _absences(tmp_path / "d")
    assert ab[ab["category"] == "unauthorised"].groupby("student_id")["hours"].sum().max() == pytest.approx(24 * 50 / 60)


def test_sick_records_become_sick_reports_not_absence_hours(tmp_path: Path) -> None:
    _import(tmp_path, "magister")
    sick = pd.read_parquet(tmp_path / "sick_reports.parquet")
    assert len(sick) > 0 and (sick["end_date"] >= sick["start_date"]).all()
    # two sick lessons on consecutive days are one sick spell (MAZL counts reports, not lessons)
    assert sick.groupby("student_id").size().max() == 1


def test_unknown_codes_stop_the_import_listing_them_and_nothing_is_written(tmp_path: Path) -> None:
    _import(tmp_path, "magister")
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match=r"magister_unknown_code.csv: absence code\(s\) not in the code table of school 27GZ: XQ"):
        _import(tmp_path, "magister", SCHOOLS / "magister_unknown_code.csv")
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_weekly_routine_same_file_next_week_and_a_correction(tmp_path: Path) -> None:
    _import(tmp_path, "magister")
    n = len(_absences(tmp_path))
    again = _import(tmp_path, "magister").files[0]  # type: ignore[attr-defined]
    assert again.status == "unchanged" and len(_absences(tmp_path)) == n
    lines = (SCHOOLS / "magister_absences.csv").read_bytes().decode("cp1252").splitlines()
    header, first = lines[0], lines[1]
    fields = first.split(";")
    corrected = ";".join([*fields[:8], "M", *fields[9:]])  # same Id, code O → M (authorised)
    new_week = ";".join(["99999", *fields[1:5], "18-09-2023 8:30", "18-09-2023 9:20", "1", "O", *fields[9:]])
    week2 = tmp_path / "week2.csv"
    week2.write_bytes(("\r\n".join([header, corrected, new_week]) + "\r\n").encode("cp1252"))
    f = _import(tmp_path, "magister", week2).files[0]  # type: ignore[attr-defined]
    assert (f.stats.added, f.stats.replaced, f.stats.duplicate) == (1, 1, 0)
    staged = pd.read_parquet(tmp_path / "ingest" / "school_absences.parquet")
    rec = staged[staged["record_key"] == record_key("magister", fields[0])]
    assert rec["category"].tolist() == ["authorised"]


def test_an_empty_export_is_a_warning_and_flags_the_school(tmp_path: Path) -> None:
    _import(tmp_path, "magister")
    empty = tmp_path / "empty.csv"
    empty.write_text((SCHOOLS / "magister_absences.csv").read_bytes().decode("cp1252").splitlines()[0] + "\n")
    f = _import(tmp_path, "magister", empty).files[0]  # type: ignore[attr-defined]
    assert "warning: 0 rows in the file" in f.notes
    assert incomplete_schools(tmp_path) == frozenset({"27GZ"})


def test_volume_check_flags_a_school_whose_export_lost_most_records(tmp_path: Path) -> None:
    run_import(FIX / "duo", kind="duo", out=tmp_path, key=KEY)  # the pupils the export's records belong to
    _import(tmp_path, "eduarte")
    assert incomplete_schools(tmp_path) == frozenset()
    lines = (SCHOOLS / "eduarte_absences.csv").read_bytes().decode("utf-8-sig").splitlines()
    later = [ln.replace("-10-2023", "-11-2023") for ln in lines]
    (tmp_path / "full.csv").write_text("\n".join(later) + "\n")
    _import(tmp_path, "eduarte", tmp_path / "full.csv")
    assert incomplete_schools(tmp_path) == frozenset()
    # a month later the export holds only the ONG category: sick, late, authorised records stopped
    stopped = [lines[0], *(ln.replace("-10-2023", "-01-2024") for ln in lines[1:] if ";ONG;" in ln)]
    (tmp_path / "stopped.csv").write_text("\n".join(stopped) + "\n")
    _import(tmp_path, "eduarte", tmp_path / "stopped.csv")
    entry = read_ledger(tmp_path)[-1]
    assert entry["incomplete"] and any("usually present" in r for r in entry["volume"]["reasons"])
    assert incomplete_schools(tmp_path) == frozenset({"27GZ"})


# --- the command line ------------------------------------------------------------------------------
def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
    base["PYTHONPATH"] = str(REPO / "src")
    return subprocess.run([sys.executable, "-m", "riskscore.cli", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120, cwd=REPO)


def test_cli_refuses_without_a_key_and_allows_the_loud_demo_mode(tmp_path: Path) -> None:
    r = _cli("import", "--source", str(FIX / "duo"), "--kind", "duo", "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "RISKSCORE_PSEUDONYM_KEY" in r.stderr and not (tmp_path / "d").exists()
    r = _cli("import", "--source", str(FIX / "duo" / "NRSP2023DI24ZZ.csv"), "--kind", "duo", "--out", str(tmp_path / "d"),
             env={"RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS": "1"})
    assert r.returncode == 0 and "DEMO MODE" in r.stderr


def test_cli_bad_input_is_one_line_with_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Id;BSN;Start;Eind;Lesuur;Code;Geoorloofd\n1;123456782;04-09-2023 8:30;04-09-2023 9:20;1;O;Nee\n"
                   "2;123456782;31-09-2023 8:30;31-09-2023 9:20;1;O;Nee\n")
    r = _cli("import", "--source", str(bad), "--kind", "absences", "--profile", "magister", "--school",
             str(SCHOOLS / "27GZ-magister.yaml"), "--out", str(tmp_path / "d"), env={"RISKSCORE_PSEUDONYM_KEY": "x" * 20})
    assert r.returncode == 3
    assert r.stderr.strip().splitlines() == ["error: bad.csv, line 3, column 'Start': not a date (dd-mm-jjjj, jjjjmmdd, "
                                             "jjjjmm or jjjj-mm-dd[Tuu:mm]): '31-09-2023 8:30'"]
    assert not (tmp_path / "d" / "absences.parquet").exists()


@pytest.mark.slow
def test_chain_duo_and_three_exports_reach_a_scored_worklist(tmp_path: Path) -> None:
    """DUO + SOMtoday + Magister + EduArte → features → score; an incomplete school is marked, not low risk."""
    from riskscore.testing import tiny_bundle
    from test_privacy import source_identifiers

    env = {"RISKSCORE_PSEUDONYM_KEY": "k" * 24, "RISKSCORE_HOME": str(tmp_path / "home")}
    data = str(tmp_path / "home" / "data")
    r = _cli("import", "--source", str(FIX / "duo"), "--kind", "duo", env=env)
    assert r.returncode == 0
    printed = [r.stdout + r.stderr]
    for profile in ("magister", "eduarte", "somtoday-csv"):
        export, school = EXPORTS[profile]
        r = _cli("import", "--source", str(SCHOOLS / export), "--kind", "absences", "--profile", profile,
                 "--school", str(SCHOOLS / school), env=env)
        assert r.returncode == 0, r.stderr
        printed.append(r.stdout + r.stderr)
    listing = _cli("import", "--list", env=env).stdout
    printed.append(listing)
    # what the import prints (its log) names dropped columns, never a person's number or name
    leaked = [text for text in source_identifiers() if any(text in p for p in printed)]
    assert not leaked, leaked[:5]
    assert "absences:magister" in listing and "NRSP2023DI27GZ.csv" in listing
    r = _cli("features", "--data", data, "--out", str(tmp_path / "f.parquet"), "--as-of", "2023-09-15", env=env)
    assert r.returncode == 0, r.stderr
    feats = pd.read_parquet(tmp_path / "f.parquet")
    # DUO and the exports join on the pseudonym: pupils with school records have known hours
    assert feats["unauthorised_hours_year"].notna().sum() > 0 and feats["unauthorised_hours_year"].max() >= 16
    bundle = tiny_bundle(tmp_path / "bundle")
    r = _cli("score", "--data", data, "--as-of", "2023-09-15", "--bundle", str(bundle), env=env)
    assert r.returncode == 0, r.stderr
    assert "students scored" in r.stdout and "data incomplete" not in r.stdout
    # next week the Magister export of 27GZ holds one pupil only: that school is flagged
    shutil.copy(SCHOOLS / "magister_absences.csv", tmp_path / "week.csv")
    lines = (tmp_path / "week.csv").read_bytes().decode("cp1252").splitlines()
    (tmp_path / "week.csv").write_bytes(("\r\n".join(lines[:2]) + "\r\n").encode("cp1252"))
    r = _cli("import", "--source", str(tmp_path / "week.csv"), "--kind", "absences", "--profile", "magister",
             "--school", str(SCHOOLS / "27GZ-magister.yaml"), env=env)
    assert r.returncode == 0 and "DATA INCOMPLETE for school 27GZ" in r.stdout
    r = _cli("score", "--data", data, "--as-of", "2023-09-15", "--bundle", str(bundle), env=env)
    assert r.returncode == 0 and "not scored by the model: 40 students" in r.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "home" / "riskscore.db") as conn:
        rows = conn.execute("SELECT school_id, band, probability FROM scores WHERE run_id = "
                            "(SELECT MAX(id) FROM scoring_runs WHERE status = 'complete')").fetchall()
    unknown = [r for r in rows if r[1] == "unknown"]
    assert {r[0] for r in unknown} == {"27GZ"} and all(r[2] is None for r in unknown)
    assert all(r[2] is not None for r in rows if r[0] == "24ZZ")
    assert dt.date(2023, 9, 15) < school_today()


def test_absence_features_are_unknown_without_school_data_and_known_with_it(tmp_path: Path) -> None:
    from riskscore import datasets, features

    run_import(FIX / "duo", kind="duo", out=tmp_path, key=KEY)
    before = features.build(datasets.read_tables(tmp_path), ["2023-09-15"])
    assert before["unauthorised_hours_4w"].isna().all() and before["sick_reports_12w"].isna().all()
    assert before["duo_possible_vsv_12m"].ge(0).all()
    _import(tmp_path, "magister")
    after = features.build(datasets.read_tables(tmp_path), ["2023-09-15"]).set_index("student_id")
    gz = after[after["school_id"] == "27GZ"]
    assert gz["unauthorised_hours_4w"].notna().all() and gz["unauthorised_hours_4w"].max() == 24.0
    assert after.loc[after["school_id"] == "24ZZ", "unauthorised_hours_4w"].isna().all()  # 24ZZ sent nothing


def test_tables_kind_drops_identifiers_and_pseudonymises_the_student_id(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "students.csv").write_text(
        "student_id;school_year;school_id;municipality;rmc_region;calendar_region;birth_date;school_type;level;grade;"
        "final_year;expects_mbo;has_sk;Roepnaam;Voornaam;Tussenvoegsel;Naam leerling;E-mailadres;Telefoon;Mentor\n"
        "123456782;2023-24;01AB;GM0344;RMC27;midden;15-03-2008;vo;havo;4;nee;nee;nee;Pietje;Pieter;van;Pietje Puk;"
        "p@x.nl;0612345678;De Boer\n", encoding="cp1252")
    (src / "absences.csv").write_text("student_id,date,hours,category,Klas\n123456782,02-10-2023,\"1,5\",unauthorised,4A\n"
                                      "123456782,02-10-2023,\"1,5\",unauthorised,4A\n")
    s = run_import(src, kind="tables", out=tmp_path / "d", key=KEY)
    dropped = {f.file: f.dropped_columns for f in s.files}
    assert set(dropped["students.csv"]) == {"Roepnaam", "Voornaam", "Tussenvoegsel", "Naam leerling", "E-mailadres",
                                            "Telefoon", "Mentor"}
    assert dropped["absences.csv"] == ["Klas"]
    st = pd.read_parquet(tmp_path / "d" / "students.parquet")
    assert st["student_id"].tolist() == [pseudo("123456782")] and "Roepnaam" not in st.columns
    ab = pd.read_parquet(tmp_path / "d" / "absences.parquet")
    assert ab["hours"].tolist() == [1.5] and ab["student_id"].tolist() == [pseudo("123456782")]
    text = b"".join(p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file())
    assert b"123456782" not in text and b"Pietje" not in text and b"0612345678" not in text


def test_tables_kind_contract_errors_name_file_lines(tmp_path: Path) -> None:
    src = tmp_path / "absences.csv"
    src.write_text("student_id;date;hours;category\n\n1;02-10-2023;1;unauthorised\n2;02-10-2023;30;unauthorised\n")
    with pytest.raises(Exception, match=r"^absences.csv, line 4, column 'hours': '30' is not allowed; allowed: a number from 0 to 24$"):
        run_import(src, kind="tables", out=tmp_path / "d", key=KEY)
    assert not list((tmp_path / "d").rglob("*.parquet")) and not (tmp_path / "d" / "ingest" / "ledger.jsonl").exists()


def record_key(profile: str, record_id: str) -> str:
    """The stored key of a system's record id: pseudonymised, never the id in clear."""
    from riskscore.ingest.pseudonym import pseudonymise_record_ids

    return f"{profile}:" + str(pseudonymise_record_ids(pd.Series([record_id]), KEY, namespace=profile).iloc[0])


def pseudo(number: str) -> str:
    from riskscore.ingest.pseudonym import pseudonymise

    return str(pseudonymise([number], KEY)[0])


def test_a_school_files_holiday_region_wins_over_the_duo_default(tmp_path: Path) -> None:
    run_import(FIX / "duo", kind="duo", out=tmp_path, key=KEY, calendar_region="zuid")
    st = pd.read_parquet(tmp_path / "students.parquet")
    assert set(st["calendar_region"]) == {"zuid"}
    _import(tmp_path, "somtoday-csv")  # 24ZZ's school file says noord
    st = pd.read_parquet(tmp_path / "students.parquet")
    assert set(st.loc[st["school_id"] == "24ZZ", "calendar_region"]) == {"noord"}
    assert set(st.loc[st["school_id"] == "27GZ", "calendar_region"]) == {"zuid"}


def test_an_export_that_kept_few_pupils_is_measured_against_the_whole_school(tmp_path: Path) -> None:
    """The issue's case: one college's absences stop — the export still holds a few pupils with many records."""
    run_import(FIX / "duo", kind="duo", out=tmp_path, key=KEY)  # 27GZ: 40 pupils in DUO's start population
    _import(tmp_path, "magister")
    assert incomplete_schools(tmp_path) == frozenset()
    lines = (SCHOOLS / "magister_absences.csv").read_bytes().decode("cp1252").splitlines()
    first_pupil = lines[1].split(";")[1]
    kept = [lines[0], *(ln.replace("-09-2023", "-10-2023") for ln in lines[1:] if f";{first_pupil};" in ln)]
    (tmp_path / "week.csv").write_bytes(("\r\n".join(kept) + "\r\n").encode("cp1252"))
    _import(tmp_path, "magister", tmp_path / "week.csv")
    entry = read_ledger(tmp_path)[-1]
    assert entry["volume"]["pupils"] == 40 and entry["incomplete"]
    assert incomplete_schools(tmp_path) == frozenset({"27GZ"})


def test_a_second_import_into_the_same_store_waits_its_turn(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "ingest").mkdir()
    with (tmp_path / "ingest" / ".lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DataError, match=r"another import into .* is running"):
            _import(tmp_path, "magister")
    _import(tmp_path, "magister")  # released: it runs
    assert len(_absences(tmp_path)) > 0


def test_the_systems_authorised_flag_is_checked_against_the_code_table(tmp_path: Path) -> None:
    lines = (SCHOOLS / "magister_absences.csv").read_bytes().decode("cp1252").splitlines()
    lines[1] = lines[1].replace(";O;omschrijving;Nee;", ";O;omschrijving;Ja;")
    (tmp_path / "x.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    f = _import(tmp_path / "d", "magister", tmp_path / "x.csv").files[0]  # type: ignore[attr-defined]
    assert any(n.startswith("1 record(s) where Magister's 'Geoorloofd' flag disagrees") for n in f.notes)
    staged = pd.read_parquet(tmp_path / "d" / "ingest" / "school_absences.parquet")
    assert staged.loc[staged["record_key"] == record_key("magister", lines[1].split(";")[0]), "category"].tolist() == ["unauthorised"]


def _young_pupil_with_lessons(tmp_path: Path, lessons: int, *, duplicated: bool) -> pd.Series:
    from riskscore import datasets, features

    tmp_path.mkdir(parents=True)
    src = tmp_path / "students.csv"
    src.write_text("student_id;school_year;school_id;municipality;rmc_region;calendar_region;birth_date;school_type;"
                   "level;grade;final_year;expects_mbo;has_sk\n"
                   "123456782;2023-24;01AB;GM0344;RMC27;midden;15-03-2009;vo;havo;3;nee;nee;nee\n")
    out = tmp_path / "d"
    run_import(src, kind="tables", out=out, key=KEY)
    school = (SCHOOLS / "27GZ-magister.yaml").read_text().replace("school_id: 27GZ", "school_id: 01AB")
    (tmp_path / "01AB.yaml").write_text(school)
    rows = ["Id;BSN;Start;Eind;Lesuur;Code;Geoorloofd"]
    for i in range(lessons):  # Monday 2 .. Friday 6 October 2023, lessons 1-4
        day, lesson = 2 + i // 4, 1 + i % 4
        row = f"{i};123456782;{day:02d}-10-2023;{day:02d}-10-2023;{lesson};O;Nee"
        rows += [row, row] if duplicated else [row]
    (tmp_path / "export.csv").write_text("\n".join(rows) + "\n")
    run_import(tmp_path / "export.csv", kind="absences", out=out, key=KEY, profile="magister", school=tmp_path / "01AB.yaml")
    table = features.build(datasets.read_tables(out), ["2023-10-06"])
    return table.iloc[0]


def test_duplicated_rows_never_make_a_false_legal_flag(tmp_path: Path) -> None:
    """The issue: duplicated rows doubled the 4-week hours and leerplicht_16h_4w fired."""
    dup = _young_pupil_with_lessons(tmp_path / "a", 9, duplicated=True)
    assert dup["unauthorised_hours_4w"] == 9 and not dup["rule_leerplicht_16h_4w"]
    real = _young_pupil_with_lessons(tmp_path / "b", 17, duplicated=False)
    assert real["unauthorised_hours_4w"] == 17 and real["rule_leerplicht_16h_4w"]


def test_overlapping_records_never_count_more_than_a_school_day(tmp_path: Path) -> None:
    rows = ["Id;BSN;Start;Eind;Lesuur;Code;Geoorloofd"]
    for rid in range(3):  # three records (new ids) for the same whole day of 8 lessons
        rows.append(f"{rid};123456782;02-10-2023 08:30;02-10-2023 16:40;;O;Nee")
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    _import(tmp_path / "d", "magister", tmp_path / "x.csv")
    assert _absences(tmp_path / "d")["hours"].tolist() == [8.0]
