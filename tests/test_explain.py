"""Reasons name the value in both languages, only risk-raising ones, largest first."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskscore.contracts import FEATURES, LEVEL_CODE, VVA_STATUS_CODE
from riskscore.errors import DataError
from riskscore.model import explain


def _row(**values: float) -> dict[str, float]:
    return {f: values.get(f, 0.0) for f in FEATURES}


def _contrib(**values: float) -> np.ndarray:
    return np.array([values.get(f, 0.0) for f in FEATURES])


def test_catalogue_covers_every_feature_with_unique_codes() -> None:
    assert set(explain.DEFAULT_CATALOGUE) == set(FEATURES)
    codes = [t.code for t in explain.DEFAULT_CATALOGUE.values()]
    assert len(set(codes)) == len(codes)
    assert all(t.category in explain.CATEGORIES for t in explain.DEFAULT_CATALOGUE.values())
    assert explain.DEFAULT_CATALOGUE["sick_reports_12w"].category == "sick"


def test_reasons_name_the_value_in_both_languages() -> None:
    values = _row(unauthorised_hours_4w=18.0, sick_reports_12w=4.0, over_age=1.5)
    contrib = _contrib(unauthorised_hours_4w=0.9, sick_reports_12w=0.4, over_age=0.1, level_code=-0.3)
    out = explain.reasons(None, values, contrib, top_k=3)
    assert [r.code for r in out] == ["ABS_UNAUTH_4W", "SICK_FREQ_12W", "OVER_AGE"]
    assert out[0].text_nl == "18 uur ongeoorloofd verzuim in de laatste 4 lesweken"
    assert out[0].text_en == "18 hours of unauthorised absence in the last 4 lesson weeks"
    assert out[0].value == 18.0 and out[0].contribution == pytest.approx(0.9)
    assert "4 ziekmeldingen" in out[1].text_nl and "4 sick reports" in out[1].text_en
    assert "1,5" in out[2].text_nl and "1.5" in out[2].text_en


def test_only_positive_contributions_are_reasons() -> None:
    contrib = _contrib(switches=0.2, level_code=-0.5, retentions=0.0)
    out = explain.reasons(None, _row(switches=2.0), contrib, top_k=3)
    assert [r.feature for r in out] == ["switches"]
    prot = explain.protective(None, _row(level_code=float(LEVEL_CODE["vwo"])), contrib)
    assert [r.code for r in prot] == ["LEVEL"]
    assert "vwo" in prot[0].text_nl and "vwo" in prot[0].text_en


def test_vva_status_and_level_in_words_and_missing_is_unknown() -> None:
    contrib = _contrib(vva_status_code=0.5, level_code=0.4, sick_days_year=0.3)
    values = _row(vva_status_code=float(VVA_STATUS_CODE["none"]), level_code=float(LEVEL_CODE["mbo-1"]),
                  sick_days_year=math.nan)
    by_code = {r.code: r for r in explain.reasons(None, values, contrib)}
    assert by_code["VVA_STATUS"].text_nl.endswith("geen aanmelding")
    assert by_code["VVA_STATUS"].text_en.endswith("no application")
    assert "mbo-1" in by_code["LEVEL"].text_nl
    assert "onbekend" in by_code["SICK_DAYS"].text_nl and "unknown" in by_code["SICK_DAYS"].text_en
    assert by_code["SICK_DAYS"].value is None


def test_catalogue_round_trip_and_wrong_length() -> None:
    again = explain.catalogue_from_dict(explain.catalogue_dict())
    assert again == explain.DEFAULT_CATALOGUE
    with pytest.raises(DataError):
        explain.reasons(None, _row(), np.zeros(3))
