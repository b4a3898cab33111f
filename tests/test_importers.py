"""Importers: typed raw-table exports, and DUO files pseudonymised at the door."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskscore.contracts import DIRECT_IDENTIFIERS
from riskscore.errors import ContractError, DataError
from riskscore.ingest.importers import import_duo, import_tables, pseudonymise, write_imported

KEY = b"test-key-one"

NRSP_HEADER = (
    "#BURGERSERVICENUMMER;ONDERWIJSNUMMER;GEBOORTEDATUM;GESLACHT;ACHTERNAAM;VOORVOEGSEL;VOORNAMEN;POSTCODE_CIJFERS;"
    "RMC_REGIO;RMC_REGIO_NAAM;GEMCODE;GEMEENTENAAM;BRIN;BRIN_VOLGNR;BRIN_VEST_NAAM;NIVEAU;ONDERWIJSSOORT;CREBO;"
    "CREBO_OMSCHRIJVING;ONDERWIJSAANBIEDER_CODE;ONDERWIJSAANBIEDER_NAAM;ONDERWIJSLOCATIE_CODE;ONDERWIJSLOCATIE_STRAATNAAM;"
    "ONDERWIJSLOCATIE_HUISNUMMER;ONDERWIJSLOCATIE_HUISNUMMER_TOEVOEGING;ONDERWIJSLOCATIE_POSTCODE;ONDERWIJSLOCATIE_PLAATSNAAM"
)
MONTHLY_HEADER = (
    "BRIN_NR;NAAM_INST;RAPPORTAGEMAAND;PERSOONSGEBONDENNUMMER;ACHTERNAAM;VOORVOEGSEL;ALLE_VOORNAMEN;WOONGEMEENTE;"
    "GEBOORTEDATUM;ONDERWIJSCODE;ONDERWIJSNAAM;LEERWEG;DATUM_UITSCHRIJVING;MELDING_VERZUIM_WETTELIJK;REDEN;BRIN;"
    "NAAM_INSTELLING;ONDERWIJSAANBIEDERCODE;NAAM_ONDERWIJSAANBIEDER;MELDING_VERZUIM_NIET_WETTELIJK;GEMEENTECODE;"
    "RMC_REGIO;REDEN_UITSTROOM;LOCATIECODE;ONDERWIJSLOCATIECODE;POSTCODE_ONDERWIJSLOCATIE;HUISNUMMER_ONDERWIJSLOCATIE;"
    "BRIN_VOLGNUMMER;NIVEAU;INSCHRIJVINGSVOLGNUMMER;STRAAT;HUISNUMMER;HUISLETTER;HUISNUMMER_TOEVOEGING;"
    "HUISNUMMER_AANDUIDING;ADRES_LOCATIE;POSTCODE;WOONPLAATS;VANAF_WANNEER"
)
# fake people: BSN-like numbers and names that must never come out
PEOPLE = [
    ("123456782", "987654321", "Jansen-Xq", "van", "Pieter-Zq", "1234AB", "Kerkstraat-Wq", "17", "Utrecht-Vq"),
    ("", "111222333", "Bakker-Xq", "", "Sanne-Zq", "5678CD", "Dorpsweg-Wq", "3", "Zwolle-Vq"),
    ("023456789", "222333444", "Visser-Xq", "de", "Noor-Zq", "9012EF", "Laan-Wq", "88", "Breda-Vq"),
]


def _nrsp(path: Path) -> Path:
    rows = [NRSP_HEADER]
    for bsn, onr, last, tussen, first, pc, *_ in PEOPLE:
        rows.append(
            f"{bsn};{onr};20070315;M;{last};{tussen};{first};{pc[:4]};27;Utrecht;0344;Utrecht;12AB;01;Vestiging;2;MBO;25180;"
            "Kok;1234;Aanbieder;L1;Schoolstraat;1;;3500AA;Utrecht"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _monthly(path: Path) -> Path:
    rows = [MONTHLY_HEADER]
    for i, (bsn, onr, last, tussen, first, pc, street, nr, town) in enumerate(PEOPLE):
        pgn = bsn or onr
        dereg = "20240115" if i == 0 else ""
        verzuim = "J" if i == 1 else ""
        rows.append(
            f"12AB;Inst;202401;{pgn};{last};{tussen};{first} Tweede;Utrecht;20070315;25180;Kok;BOL;{dereg};{verzuim};"
            f"R{i};12AB;Inst;1234;Aanbieder;;344;27;{'U3' if i == 0 else ''};L1;OL1;3500AA;1;01;2;1;{street};{nr};A;bis;"
            f"by;{street} {nr};{pc};{town};20240108"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_pseudonym_is_stable_for_a_key_and_differs_across_keys() -> None:
    values = pd.Series(["123456782", " 123456782 ", "23456789", None])
    a = pseudonymise(values, KEY)
    b = pseudonymise(values, KEY)
    c = pseudonymise(values, b"another-key")
    assert a.tolist() == b.tolist()
    assert a[0] == a[1]  # whitespace does not change the person
    assert a[2] == pseudonymise(["023456789"], KEY)[0]  # a lost leading zero neither
    assert a[0] != c[0] and a[2] != c[2]
    assert a[3] is None
    assert len(a[0]) == 64 and "123456782" not in a[0]


def test_pseudonymise_refuses_an_empty_key() -> None:
    with pytest.raises(DataError):
        pseudonymise(["1"], b"")


def test_duo_import_writes_no_direct_identifier(tmp_path: Path) -> None:
    src = tmp_path / "duo"
    src.mkdir()
    _nrsp(src / "NRSP2023DI27GZ.csv")
    _monthly(src / "202401A14I27GZ.csv")
    tables = import_duo(src, key=KEY)
    assert set(tables) == {"duo_students", "duo_enrolments", "duo_absence_reports"}
    written = write_imported(tables, tmp_path / "out")
    assert written
    secrets = {v for person in PEOPLE for v in person if v and len(v) > 2}
    secrets |= {p[0].lstrip("0") for p in PEOPLE if p[0]} | {f"{p[4]} Tweede" for p in PEOPLE}
    forbidden_columns = {c.lower() for c in DIRECT_IDENTIFIERS}
    for path in written:
        table = pq.read_table(path)
        assert not {c.lower() for c in table.column_names} & forbidden_columns, path
        raw = path.read_bytes()
        text = table.to_pandas().astype(str).to_csv()
        for secret in secrets:
            assert secret not in text, (path.name, secret)
            assert secret.encode() not in raw, (path.name, secret)


def test_duo_mapping_links_both_kinds_of_file(tmp_path: Path) -> None:
    nrsp = _nrsp(tmp_path / "NRSP2023DI27GZ.csv")
    monthly = _monthly(tmp_path / "202401A14I27GZ.csv")
    students = import_duo(nrsp, key=KEY)["duo_students"]
    month = import_duo(monthly, key=KEY)
    # the BSN when there is one, else the onderwijsnummer — as DUO's persoonsgebonden nummer
    expected = pseudonymise([p[0] or p[1] for p in PEOPLE], KEY).tolist()
    assert students["student_id"].tolist() == expected
    assert set(month["duo_enrolments"]["student_id"]) <= set(expected)
    row = students.iloc[0]
    assert (row.school_year, row.municipality, row.rmc_region, row.school_id) == ("2023-24", "GM0344", "RMC27", "12AB-01")
    assert (row.school_type, row.level) == ("mbo", "mbo-2")
    assert row.birth_date == pd.Timestamp("2007-03-15")
    enrol = month["duo_enrolments"]
    assert len(enrol) == 1
    assert enrol.iloc[0].end_date == pd.Timestamp("2024-01-15")
    assert enrol.iloc[0].dereg_reason == "U3" and enrol.iloc[0].level == "mbo-2" and enrol.iloc[0].pathway == "BOL"
    reports = month["duo_absence_reports"]
    assert reports["student_id"].tolist() == [expected[1]]
    assert reports.iloc[0].statutory and reports.iloc[0].report_month == pd.Timestamp("2024-01-01")
    assert reports.iloc[0].since == pd.Timestamp("2024-01-08")


def test_unknown_duo_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("A;B\n1;2\n")
    with pytest.raises(DataError, match="not a known DUO"):
        import_duo(path, key=KEY)


def _students_csv(path: Path, birth: str = "2008-05-01", final: str = "ja") -> None:
    path.write_text(
        "student_id,school_year,school_id,municipality,rmc_region,calendar_region,birth_date,school_type,level,"
        "pathway,grade,final_year,expects_mbo,has_sk,gender,migration_background,ses_band,BSN\n"
        f"007,2023-24,S1,GM0344,RMC27,midden,{birth},vo,vmbo-k,,4,{final},true,0,f,,mid,123456782\n"
    )


def test_csv_export_is_typed_validated_and_stripped(tmp_path: Path) -> None:
    _students_csv(tmp_path / "students.csv")
    pd.DataFrame({"student_id": ["007"], "date": ["2023-10-02"], "hours": ["2.5"], "category": ["unauthorised"]}).to_csv(
        tmp_path / "absences.csv", index=False
    )
    tables = import_tables(tmp_path)
    s = tables["students"]
    assert s["student_id"].tolist() == ["007"]
    assert s["birth_date"].dtype == "datetime64[ns]" and bool(s["final_year"].iloc[0]) is True
    assert bool(s["has_sk"].iloc[0]) is False
    assert "BSN" not in s.columns
    assert tables["absences"]["date"].iloc[0] == pd.Timestamp("2023-10-02")


def test_csv_bad_date_names_table_column_and_row(tmp_path: Path) -> None:
    _students_csv(tmp_path / "students.csv", birth="31-31-2008")
    with pytest.raises(ContractError, match=r"students.*birth_date.*\[0\]"):
        import_tables(tmp_path)


def test_csv_bad_bool_and_contract_breach(tmp_path: Path) -> None:
    _students_csv(tmp_path / "students.csv", final="misschien")
    with pytest.raises(ContractError, match="final_year"):
        import_tables(tmp_path)
    pd.DataFrame({"student_id": ["a"], "date": ["2023-10-02"], "hours": ["30"], "category": ["unauthorised"]}).to_csv(
        tmp_path / "absences.csv", index=False
    )
    with pytest.raises(ContractError, match=r"absences.*hours"):
        import_tables(tmp_path / "absences.csv")


def test_parquet_export_and_empty_folder(tmp_path: Path) -> None:
    pd.DataFrame({"student_id": ["a"], "vsv_date": [pd.Timestamp("2024-01-01")]}).to_parquet(tmp_path / "outcomes.parquet")
    assert list(import_tables(tmp_path)) == ["outcomes"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no raw tables"):
        import_tables(empty)
