"""drift.py: evidently 0.7 behind one function; effect-size methods so big samples do not alert on trivia."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore.errors import DataError
from riskscore.monitoring import drift


def _frame(seed: int, n: int = 2000, *, scale: float = 2.0, mbo_share: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = np.where(rng.random(n) < 0.3, rng.gamma(1.0, scale, n), 0.0)
    return pd.DataFrame({
        "hours": hours,
        "sick": rng.poisson(0.7, n).astype(float),
        "level": np.where(rng.random(n) < mbo_share, "mbo-2", "havo"),
        "sparse": np.where(rng.random(n) < 0.9, np.nan, rng.normal(size=n)),
    })


@pytest.fixture(scope="module")
def same() -> drift.DriftResult:
    return drift.feature_drift(_frame(1), _frame(2), columns=["hours", "sick", "level"], categorical=["level"])


def test_no_change_no_drift(same: drift.DriftResult) -> None:
    assert not same.per_column["drifted"].any()
    assert same.share_drifted == 0.0 and not same.dataset_drifted
    assert set(same.per_column["method"]) == {"wasserstein", "psi"}
    assert (same.per_column["score"] < same.per_column["threshold"]).all()


def test_shifted_column_is_flagged_alone() -> None:
    result = drift.feature_drift(_frame(1), _frame(2, scale=4.0), columns=["hours", "sick", "level"],
                                 categorical=["level"], drift_share=0.5)
    assert result.drifted_columns() == ["hours"]
    assert result.share_drifted == pytest.approx(1 / 3)
    assert not result.dataset_drifted


def test_categorical_mix_shift_uses_psi() -> None:
    result = drift.feature_drift(_frame(1), _frame(2, mbo_share=0.6), columns=["level"], categorical=["level"],
                                 drift_share=0.5)
    row = result.per_column.iloc[0]
    assert row["method"] == "psi" and row["drifted"] and row["score"] > 0.2
    assert result.dataset_drifted


def test_missing_and_empty_columns_are_skipped_not_failed() -> None:
    ref = _frame(1).assign(empty=np.nan)
    result = drift.feature_drift(ref, _frame(2), columns=["hours", "absent", "empty"])
    assert result.skipped == ["absent", "empty"]
    assert result.per_column["column"].tolist() == ["hours"]


def test_bad_input_raises_data_error() -> None:
    with pytest.raises(DataError):
        drift.feature_drift(_frame(1).iloc[:0], _frame(2), columns=["hours"])
    with pytest.raises(DataError):
        drift.feature_drift(_frame(1), _frame(2), columns=["nope"])


def test_pvalue_methods_flag_low_scores() -> None:
    assert drift._is_drift("ks", 0.001, 0.05) and not drift._is_drift("ks", 0.5, 0.05)
    assert drift._is_drift("psi", 0.3, 0.2) and not drift._is_drift("psi", 0.1, 0.2)
    assert not drift._is_drift("wasserstein", float("nan"), 0.1)


def test_to_dict_is_json_and_html_is_saved(same: drift.DriftResult, tmp_path) -> None:
    import json

    json.dumps(same.to_dict(), allow_nan=False)
    path = drift.save_html(same, tmp_path / "sub" / "drift.html")
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size > 1000 and "<html" in text.lower()
    assert [p.name for p in path.parent.iterdir()] == ["drift.html"]  # no temp file left
