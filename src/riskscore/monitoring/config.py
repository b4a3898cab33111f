"""Monitoring configuration (monitoring/config.yaml), validated before anything runs.

Thresholds are effect sizes *and* significance levels: with thousands of pupils a pure test alerts on
trivia, with a few hundred a pure effect size alerts on noise. Each check needs both."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskscore.contracts import AUDIT_COLUMNS, FEATURES
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError

BANDS = ("low", "medium", "high")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlagConfig(_Strict):
    """Which scores count as 'flagged' (sent to a human reviewer): the selection whose fairness we watch."""

    #: medium + high: `high` alone holds ~1 % of pupils, too few per group to test (monitoring/README.md)
    bands: list[Literal["low", "medium", "high"]] = Field(["medium", "high"], min_length=1)


class FeatureDriftConfig(_Strict):
    columns: list[str] = Field(default_factory=lambda: list(FEATURES), min_length=1)
    categorical: list[str] = Field(default_factory=list)
    num_method: str = "wasserstein"
    num_threshold: float = Field(0.1, gt=0)
    cat_method: str = "psi"
    cat_threshold: float = Field(0.2, gt=0)
    per_column_threshold: dict[str, float] = Field(default_factory=dict)
    #: columns with fewer non-missing values on either side are reported as too sparse, not tested
    min_non_null: int = Field(1000, ge=2)
    #: share of drifted columns at which the whole input is declared drifted (→ retrain)
    dataset_drift_share: float = Field(0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _known(self) -> FeatureDriftConfig:
        unknown = set(self.categorical) - set(self.columns)
        if unknown:
            raise ValueError(f"categorical columns {sorted(unknown)} are not in columns")
        return self


class ScoreDriftConfig(_Strict):
    psi_bins: int = Field(10, ge=2, le=100)
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.2, gt=0)
    #: band shares: chi-square significance and minimum absolute change of a band's share
    band_alpha: float = Field(0.001, gt=0, lt=1)
    band_min_change: float = Field(0.02, gt=0, lt=1)

    @model_validator(mode="after")
    def _order(self) -> ScoreDriftConfig:
        if self.psi_warn > self.psi_alert:
            raise ValueError("psi_warn must not exceed psi_alert")
        return self


class FairnessConfig(_Strict):
    groups: list[str] = Field(default_factory=lambda: [*AUDIT_COLUMNS, "level"], min_length=1)
    min_group_size: int = Field(100, ge=10)
    #: family-wise significance level (Bonferroni over every group value tested)
    alpha: float = Field(0.01, gt=0, lt=1)
    #: a group's flag rate must change by this factor more than the overall flag rate did …
    min_ratio_change: float = Field(1.5, gt=1)
    #: … and by at least this much in absolute terms
    min_abs_change: float = Field(0.02, gt=0, lt=1)


class OutcomesConfig(_Strict):
    horizon_days: int = Field(365, ge=1)
    min_group_size: int = Field(50, ge=5)
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    #: alert when the upper confidence bound falls below these
    min_precision: float = Field(0.15, ge=0, le=1)
    min_recall: float = Field(0.2, ge=0, le=1)
    min_review_precision: float = Field(0.3, ge=0, le=1)
    #: observed/expected VSV ratio outside [1/x, x] with confidence → recalibrate
    max_calibration_ratio: float = Field(1.5, gt=1)
    #: |group − rest| gap in TPR / FPR / precision whose confidence interval lies wholly beyond this
    max_gap: float = Field(0.1, gt=0, lt=1)
    #: review outcomes recorded in this many days before the run count (the store's "worth a conversation")
    review_window_days: int = Field(90, ge=1)


class BreakdownConfig(_Strict):
    columns: list[str] = Field(default_factory=lambda: ["school_id", "rmc_region"])
    min_group_size: int = Field(100, ge=10)
    alpha: float = Field(0.01, gt=0, lt=1)
    min_ratio_change: float = Field(1.5, gt=1)
    min_abs_change: float = Field(0.05, gt=0, lt=1)


class MonitoringConfig(_Strict):
    seed: int = 0
    reference: Path | None = Field(None, description="Reference scored frame: the champion's validation snapshot.")
    current: Path | None = Field(None, description="Current scored frame: the latest complete scoring run.")
    outcomes: Path | None = Field(None, description="Optional outcomes (student_id, vsv_date or label).")
    output_dir: Path | None = Field(None, description="Reports folder; default <RISKSCORE_HOME>/reports/monitoring.")
    model_version: str | None = None
    flag: FlagConfig = FlagConfig()
    feature_drift: FeatureDriftConfig = FeatureDriftConfig()
    score_drift: ScoreDriftConfig = ScoreDriftConfig()
    fairness: FairnessConfig = FairnessConfig()
    outcome_checks: OutcomesConfig = OutcomesConfig()
    breakdowns: BreakdownConfig = BreakdownConfig()

    @field_validator("reference", "current", "outcomes", "output_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if v == "" else v


def _details(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def load_config(path: str | Path) -> MonitoringConfig:
    """Read and validate; any problem is one ConfigError line naming the file and the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details="file not found")) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=str(exc).splitlines()[0])) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details="top level must be a mapping"))
    try:
        return MonitoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=_details(exc))) from None
