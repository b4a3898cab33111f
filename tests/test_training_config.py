"""The training config is validated before anything runs; the temporal folds never leak labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskscore.errors import ConfigError
from riskscore.training import splits
from riskscore.training.config import load_config, parse_config

REPO = Path(__file__).resolve().parents[1]


def test_repository_config_is_valid() -> None:
    cfg = load_config(REPO / "training" / "config.yaml")
    assert cfg.seed == 7
    assert cfg.fairness.gates.tpr_ratio_min == 0.8


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"seed": -1}, "seed"),
        ({"bands": {"medium": 0.3, "high": 0.2}}, "bands"),
        ({"as_of_days": ["13-01"]}, "as_of_days"),
        ({"capacity_per_10k": {"police": 3}}, "capacity_per_10k"),
        ({"split": {"test_year": "2023"}}, "split.test_year"),
        ({"unknown_section": 1}, "unknown_section"),
        ({"model": {"learning_rate": 0}}, "model.learning_rate"),
    ],
)
def test_bad_config_names_the_field(patch: dict, needle: str) -> None:
    raw = {"seed": 7, **patch}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, source="x.yaml")
    assert needle in str(err.value)
    assert "x.yaml" in str(err.value)


def test_missing_seed_is_an_error() -> None:
    with pytest.raises(ConfigError, match="seed"):
        parse_config({}, source="x.yaml")


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(bad)


def test_as_of_dates_fall_in_their_school_year() -> None:
    dates = splits.as_of_dates(["2022-23"], ["10-01", "02-01", "05-01"])
    assert dates == [pd.Timestamp("2022-10-01"), pd.Timestamp("2023-02-01"), pd.Timestamp("2023-05-01")]
    assert {splits.year_of(d) for d in dates} == {"2022-23"}


def test_auto_folds_and_embargo_never_leak_labels() -> None:
    cfg = parse_config({"seed": 1})
    years = ["2019-20", "2020-21", "2021-22", "2022-23", "2023-24", "2024-25"]
    folds = splits.plan_folds(years, cfg)
    # 2024-25's labels are not complete by 31 Jul 2025: it is the year to score, not to test.
    assert folds.scoring_year == "2024-25"
    assert folds.test_year == "2023-24" and folds.calibration_year == "2022-23"
    assert folds.train_years == ("2019-20", "2020-21", "2021-22")
    as_of = pd.Series(splits.as_of_dates(years, cfg.as_of_days))
    fold = splits.assign_folds(as_of, folds, cfg)
    horizon = pd.Timedelta(days=cfg.label.horizon_days)
    first = {name: as_of[fold == name].min() for name in ("calibration", "test")}
    assert (as_of[fold == "train"] + horizon <= first["calibration"]).all()
    assert (as_of[fold == "calibration"] + horizon <= first["test"]).all()
    assert (as_of[fold != ""] + horizon <= folds.data_end).all()
    assert (fold == "train").sum() > 0 and (fold == "calibration").sum() > 0 and (fold == "test").sum() == 3


def test_too_few_years_is_a_clear_error() -> None:
    cfg = parse_config({"seed": 1})
    from riskscore.errors import DataError

    with pytest.raises(DataError, match="calibrate"):
        splits.plan_folds(["2022-23", "2023-24"], cfg)
