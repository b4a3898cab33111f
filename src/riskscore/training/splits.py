"""Temporal design (after dssg/triage): as-of dates, label windows, and train/calibration/test folds.

A row's label is knowable only at as_of + horizon. With `embargo`, a training row's label window
must end on or before the first as-of date of the calibration fold, and a calibration row's before
the test fold's: the model never learns from an outcome that a later fold is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskscore import calendar
from riskscore.errors import ConfigError, DataError
from riskscore.training.config import TrainingConfig


def school_year_start(school_year: str) -> pd.Timestamp:
    return pd.Timestamp(calendar.school_year_start(school_year))


def school_year_end(school_year: str) -> pd.Timestamp:
    return pd.Timestamp(calendar.school_year_end(school_year))


def as_of_dates(school_years: list[str], month_days: list[str]) -> list[pd.Timestamp]:
    """As-of dates of each school year (months 8-12 fall in its first calendar year)."""
    dates = []
    for sy in school_years:
        y0 = calendar.school_year_start(sy).year
        for md in month_days:
            month, day = (int(x) for x in md.split("-"))
            dates.append(pd.Timestamp(y0 if month >= 8 else y0 + 1, month, day))
    return sorted(dates)


def year_of(ts: pd.Timestamp) -> str:
    return calendar.school_year_of(ts)


@dataclass(frozen=True)
class Folds:
    train_years: tuple[str, ...]
    calibration_year: str
    test_year: str
    scoring_year: str | None  # the latest year, whose labels are not complete yet
    data_end: pd.Timestamp


def plan_folds(school_years: list[str], cfg: TrainingConfig) -> Folds:
    """Pick folds: the latest year with complete labels tests, the one before calibrates."""
    years = sorted(set(school_years))
    if not years:
        raise DataError("no school years in the students table")
    data_end = school_year_end(years[-1])
    horizon = pd.Timedelta(days=cfg.label.horizon_days)
    complete = [y for y in years if max(as_of_dates([y], cfg.as_of_days)) + horizon <= data_end]
    scoring = years[-1] if years[-1] not in complete else None
    test = complete[-1] if cfg.split.test_year == "auto" and complete else cfg.split.test_year
    if test == "auto":
        raise DataError(f"no school year has complete {cfg.label.horizon_days}-day labels in data ending {data_end.date()}")
    cal = cfg.split.calibration_year
    if cal == "auto":
        earlier = [y for y in complete if y < test]
        if not earlier:
            raise DataError(f"need a school year with complete labels before test year {test} to calibrate on")
        cal = earlier[-1]
    train = cfg.split.train_years
    if train == "auto":
        train = [y for y in years if y < cal]
    for name, ys in (("test_year", [test]), ("calibration_year", [cal]), ("train_years", list(train))):
        missing = [y for y in ys if y not in years]
        if missing:
            raise ConfigError(f"split.{name}: {missing} not in the data (years: {years})")
    if not (max(train) < cal < test):
        raise ConfigError(f"split: train years {list(train)} < calibration {cal} < test {test} must hold")
    if not train:
        raise DataError("no school years left to train on")
    return Folds(tuple(train), cal, test, scoring, data_end)


def assign_folds(as_of: pd.Series, folds: Folds, cfg: TrainingConfig) -> pd.Series:
    """'train' / 'calibration' / 'test' / '' (dropped) per row, embargo applied."""
    horizon = pd.Timedelta(days=cfg.label.horizon_days)
    years = as_of.map(year_of)
    fold = pd.Series(np.where(years.isin(folds.train_years), "train", ""), index=as_of.index, dtype=object)
    fold[years == folds.calibration_year] = "calibration"
    fold[years == folds.test_year] = "test"
    if cfg.split.embargo:
        cal_start = as_of[fold == "calibration"].min()
        test_start = as_of[fold == "test"].min()
        fold[(fold == "train") & (as_of + horizon > cal_start)] = ""
        fold[(fold == "calibration") & (as_of + horizon > test_start)] = ""
    # Labels incomplete beyond the data's end are never used.
    fold[as_of + horizon > folds.data_end] = ""
    return fold
