"""DUO's files as DUO sends them (tests/fixtures/duo: cedanl's public files, invented people)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from riskscore.errors import DataError
from riskscore.ingest.duo import read_duo_file
from riskscore.ingest.pseudonym import pseudonymise
from riskscore.ingest.run import run_import

KEY = b"test-key-0123456789"
DUO = Path(__file__).parent / "fixtures" / "duo"
#: ../shared next to the repository (the CI clone), or RISKSCORE_SHARED_DATA
SHARED = Path(os.environ.get("RISKSCORE_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data") \
    / "nl" / "duo_cedanl"


def _counts(out: Path) -> dict[str, int]:
    return {p.name: len(pd.read_parquet(p)) for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("duo") / "data"
    run_import(DUO, kind="duo", out=out, key=KEY)
    return out


def test_every_file_type_imports_and_a_second_import_changes_nothing(store: Path) -> None:
    before = _counts(store)
    assert before["students.parquet"] > 0 and before["outcomes.parquet"] == 10 and before["duo_signals.parquet"] > 0
    again = run_import(DUO, kind="duo", out=store, key=KEY)
    assert {f.status for f in again.files} == {"unchanged"}
    assert _counts(store) == before


def test_months_are_months_and_signals_are_dated_events(store: Path) -> None:
    signals = pd.read_parquet(store / "duo_signals.parquet")
    assert set(signals["signal"]) == {"possible_vsv", "statutory_absence_report"}  # MELDING_VERZUIM_WETTELIJK = J
    assert signals["date"].min() == pd.Timestamp(2022, 10, 1)  # RAPPORTAGEMAAND 202210, never 2022-01-02
    assert signals["since"].dropna().dt.day.eq(1).all()


def test_school_ids_and_regions_join_across_file_types(store: Path) -> None:
    students = pd.read_parquet(store / "students.parquet")
    signals = pd.read_parquet(store / "duo_signals.parquet")
    assert set(students["school_id"]) == {"27GZ", "24ZZ"}  # never 27GZ-27GZ
    assert set(signals["school_id"]) == {"27GZ"}
    assert students["rmc_region"].str.fullmatch(r"RMC\d{2}").all()  # REGIO 28 and 13 alike
    assert "RMC28" in set(students["rmc_region"]) and "RMC13" in set(students["rmc_region"])
    assert students["municipality"].str.fullmatch(r"GM\d{4}").all()


def test_levels_vavo_included(store: Path) -> None:
    students = pd.read_parquet(store / "students.parquet")
    assert set(students["level"]) <= {"mbo-1", "mbo-2", "mbo-3", "mbo-4", "vavo"}
    assert "vavo" in set(students["level"])  # HAVO/VWO bovenbouw is vavo, not vo/vwo
    assert (students.loc[students["level"] == "vavo", "school_type"] == "vavo").all()
    assert students["grade"].isna().all()  # DUO carries no leerjaar: unknown, not guessed


def test_nenr_pupils_are_outcomes_not_start_population(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(DUO / "NenR2023DI27GZ.csv", src)
    out = tmp_path / "data"
    run_import(src, kind="duo", out=out, key=KEY)
    assert len(pd.read_parquet(out / "students.parquet")) == 0
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    assert len(outcomes) == 10 and (outcomes["vsv_date"] == pd.Timestamp(2024, 10, 1)).all()


def test_person_numbers_zero_is_nobody(tmp_path: Path) -> None:
    """ONDERWIJSNUMMER 0 next to a BSN: the BSN counts. Neither filled: rejected, never a shared pseudonym."""
    f = read_duo_file(DUO / "NRSP2023DI24ZZ.csv", key=KEY)
    assert f.rows["student_id"].is_unique and f.rejected == 0
    assert f.rows["student_id"].iloc[0] == pseudonymise(["123456789"], KEY)[0]
    text = (DUO / "NRSP2023DI24ZZ.csv").read_text().splitlines()
    blanked = [text[0], *(";0;" + line.split(";", 2)[2] for line in text[1:3])]
    p = tmp_path / "NRSP2023DI99ZZ.csv"
    p.write_text("\n".join(blanked) + "\n")
    g = read_duo_file(p, key=KEY)
    assert g.rejected == 2 and len(g.rows) == 0


def test_a05_us_dates_and_startkwalificatie(store: Path) -> None:
    f = read_duo_file(DUO / "202410A05I24ZZ.csv", key=KEY)  # CR line ends, 1/26/06 dates
    assert len(f.rows) == 23 and f.rows["birth_date"].iloc[2] == pd.Timestamp(2006, 1, 26)
    assert f.rows["has_sk"].tolist().count(True) == 3
    assert set(f.rows["school_year"]) == {"2024-25"}


def test_definitive_outranks_provisional_in_any_order(tmp_path: Path) -> None:
    d = read_duo_file(DUO / "NRSP2023DI27GZ.csv", key=KEY).rows
    src = tmp_path / "src"
    src.mkdir()
    # a provisional file that differs from the definitive one for its first pupil
    lines = (DUO / "NRSP2023VI27GZ.csv").read_bytes().split(b"\r\n")
    lines[1] = lines[1].replace(b"Mbo4 opleidingen", b"Mbo2 opleidingen")
    (src / "NRSP2023VI27GZ.csv").write_bytes(b"\r\n".join(lines))
    out = tmp_path / "data"
    shutil.copy(DUO / "NRSP2023DI27GZ.csv", tmp_path)
    run_import(tmp_path / "NRSP2023DI27GZ.csv", kind="duo", out=out, key=KEY)
    summary = run_import(src, kind="duo", out=out, key=KEY)
    assert summary.files[0].stats.kept_better >= 1 and summary.files[0].stats.replaced == 0
    # the 'rejected' bucket says why: the summary (CLI and --json) lists the rows a definitive file holds
    assert summary.files[0].reasons() == {
        "a definitive DUO file already holds this pupil (a provisional row never replaces it)":
            summary.files[0].stats.kept_better}
    assert summary.files[0].buckets()["rejected"] == sum(summary.files[0].reasons().values())
    students = pd.read_parquet(out / "students.parquet").set_index("student_id")
    assert students.loc[d["student_id"].iloc[0], "level"] == "mbo-4"


def test_unknown_level_text_stops_with_the_list(tmp_path: Path) -> None:
    text = (DUO / "NRSP2023DI24ZZ.csv").read_text().replace("Mbo niveau 3", "Niveau onbekend X")
    p = tmp_path / "NRSP2023DI24ZZ.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=r"NRSP2023DI24ZZ.csv: unknown DUO level text\(s\) .*'Niveau onbekend X'"):
        read_duo_file(p, key=KEY)


def test_not_a_duo_file(tmp_path: Path) -> None:
    p = tmp_path / "export.csv"
    p.write_text("a;b\n1;2\n")
    with pytest.raises(DataError, match="not a DUO RMC/VSV file"):
        read_duo_file(p, key=KEY)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared DUO folder is not next to the repository")
def test_the_whole_shared_duo_folder_imports_twice_without_change(tmp_path: Path) -> None:
    out = tmp_path / "data"
    first = run_import(SHARED, kind="duo", out=out, key=KEY)
    assert len(first.files) == 21 and all(f.status == "imported" for f in first.files)
    before = _counts(out)
    run_import(SHARED, kind="duo", out=out, key=KEY)
    assert _counts(out) == before


def test_a_duo_deregistration_reaches_the_rule_and_the_signals(tmp_path: Path) -> None:
    from riskscore import datasets, features

    lines = (DUO / "202401A14I27GZ.csv").read_bytes().decode("utf-8").split("\r\n")
    head = lines[0].split(";")
    row = lines[1].split(";")
    row[head.index("RAPPORTAGEMAAND")] = "202401"
    row[head.index("DATUM_UITSCHRIJVING")] = "15-01-2024"
    row[head.index("REDEN_UITSTROOM")] = "02"
    src = tmp_path / "src"
    src.mkdir()
    (src / "202401A14I27GZ.csv").write_bytes("\r\n".join([lines[0], ";".join(row), ""]).encode("utf-8"))
    out = tmp_path / "data"
    run_import(src, kind="duo", out=out, key=KEY)
    sid = pseudonymise([row[head.index("PERSOONSGEBONDENNUMMER")]], KEY)[0]
    signals = pd.read_parquet(out / "duo_signals.parquet")
    dereg = signals[signals["signal"] == "deregistered"]
    assert dereg["student_id"].tolist() == [sid] and dereg["date"].tolist() == [pd.Timestamp(2024, 1, 15)]
    assert dereg["code"].tolist() == ["02"]
    enrol = pd.read_parquet(out / "enrolments.parquet")
    assert enrol.loc[enrol["student_id"] == sid, "end_date"].tolist() == [pd.Timestamp(2024, 1, 15)]
    table = features.build(datasets.read_tables(out), ["2024-01-10", "2024-01-31"]).set_index(["as_of", "student_id"])
    # enrolled on 10 January, deregistered on the 15th: an 18-23-year-old without sk goes to the RMC
    assert not table.loc[(pd.Timestamp("2024-01-10"), sid), "rule_deregistered_no_sk"]
    assert table.loc[(pd.Timestamp("2024-01-10"), sid), "duo_deregistered_12m"] == 0
    from riskscore import rules

    tables = datasets.read_tables(out)
    fired = rules.evaluate(features.point_in_time(tables, "2024-01-31"), pd.Timestamp("2024-01-31"))
    hit = fired[(fired["student_id"] == sid) & (fired["rule_id"] == "deregistered_no_sk")]
    assert len(hit) == 1 and hit["role"].tolist() == ["rmc"]
