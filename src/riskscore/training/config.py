"""The training configuration: versioned YAML, validated before anything runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskscore.errors import MSG_CONFIG_INVALID, ConfigError

_YEAR = re.compile(r"^\d{4}-\d{2}$")
ROLES = ("school", "leerplicht", "jeugdarts", "rmc")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Strict):
    dir: Path = Field(Path(".riskscore/data"), description="Folder of raw Parquet tables.")
    features_cache: Path | None = Field(None, description="Feature table cache (reused when the data fingerprint matches).")


class LabelSection(_Strict):
    horizon_days: int = Field(365, ge=30, le=730)


class SplitSection(_Strict):
    test_year: str = "auto"
    calibration_year: str = "auto"
    train_years: list[str] | Literal["auto"] = "auto"
    embargo: bool = True

    @field_validator("test_year", "calibration_year")
    @classmethod
    def _year(cls, v: str) -> str:
        if v != "auto" and not _YEAR.match(v):
            raise ValueError(f"'{v}' is not a school year like 2022-23 or 'auto'")
        return v

    @field_validator("train_years")
    @classmethod
    def _years(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, list):
            bad = [y for y in v if not _YEAR.match(y)]
            if bad or not v:
                raise ValueError(f"train_years must be school years like 2020-21, got {v}")
        return v


class ModelSection(_Strict):
    n_estimators: int = Field(300, ge=10, le=5000)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(8, ge=2, le=256)
    min_child_samples: int = Field(50, ge=1)


class BandsSection(_Strict):
    medium: float = Field(0.05, gt=0, lt=1)
    high: float = Field(0.20, gt=0, lt=1)

    @model_validator(mode="after")
    def _order(self) -> BandsSection:
        if not self.medium < self.high:
            raise ValueError("bands.medium must be below bands.high")
        return self


class EvaluationSection(_Strict):
    n_boot: int = Field(200, ge=0, le=5000)
    top_fractions: list[float] = Field(default_factory=lambda: [0.05, 0.10])


class GatesSection(_Strict):
    """Bands per group against the reference group; null switches a gate off (it is still reported)."""

    tpr_ratio_min: float | None = Field(0.8, gt=0, le=1, description="TPR ratio must lie in [t, 1/t].")
    selection_rate_ratio_min: float | None = Field(None, gt=0, le=1, description="Selection-rate ratio in [t, 1/t].")
    calibration_gap_max: float | None = Field(0.05, ge=0, le=1, description="|calibration gap − reference's| ≤ t.")


class FairnessSection(_Strict):
    audit_table: Path | None = Field(
        None, description="Audit attributes (Parquet/CSV, one row per pupil, joined by student_id); default <data.dir>/audit.parquet.")
    groupings: list[str] = Field(default_factory=lambda: ["gender", "migration_background", "ses_band"], min_length=1,
                                 description="Audit columns that decide the gate (yours included); matched case-insensitively.")
    report_only: list[str] = Field(default_factory=lambda: ["level"], description="Reported, not gated (e.g. school level).")
    reference: dict[str, str] = Field(default_factory=dict, description="Reference group per grouping; default: the largest.")
    intersections: bool = True
    min_group_size: int = Field(50, ge=1)
    min_positives: int = Field(30, ge=1, description="Below this many VSV'ers a group is too small to judge on TPR.")
    ci_level: float = Field(0.90, gt=0.5, lt=1, description="Two-sided bootstrap interval; each bound is a one-sided test at (1-level)/2.")
    n_boot: int = Field(200, ge=20, le=5000)
    gates: GatesSection = GatesSection()


class MitigationSection(_Strict):
    """Reweighing for TPR parity: audit attributes weight training rows, nothing else (see training/mitigation.py)."""

    method: Literal["none", "reweigh_tpr"] = "reweigh_tpr"
    strengths: list[float] = Field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0], min_length=1)
    rule: Literal["most_precise_passing"] = Field(
        "most_precise_passing",
        description="Among candidates whose gate passes on the calibration year, the most precise at capacity; "
                    "else the least failing (highest lowest TPR-ratio bound); 0 strength = unmitigated.")

    @field_validator("strengths")
    @classmethod
    def _strengths(cls, v: list[float]) -> list[float]:
        if any(s < 0 or s > 10 for s in v):
            raise ValueError("strengths lie in [0, 10]")
        return sorted(set([0.0, *v]))


class ReasonSection(_Strict):
    code: str = Field(..., min_length=1, max_length=40)
    category: Literal["absence", "sick", "transition", "school_career", "context"] = "context"
    nl: str = Field(..., min_length=1, description="Dutch text; {v} is the value.")
    en: str = Field(..., min_length=1, description="English text; {v} is the value.")
    fmt: Literal["int", "float1", "signed1"] = "float1"


class FeatureSection(_Strict):
    """One model feature of your own: its monotone sign, why it is justified, and its reason texts."""

    name: str = Field(..., min_length=1)
    monotone: Literal[-1, 0, 1] = 0
    justification: str = Field(..., min_length=10)
    reason: ReasonSection


class TableDataSection(_Strict):
    """A single flat table (CSV/Parquet) with a target column — bring-your-own data, no Dutch raw tables."""

    path: Path
    target: str
    positive: list[str] = Field(..., min_length=1, description="Target values that count as the outcome (e.g. Dropout).")
    id_column: str | None = Field(None, description="Pseudonymous row id; default: the row number.")
    audit_columns: list[str] = Field(default_factory=list, description="Split off at the door into the audit frame.")
    drop: list[str] = Field(default_factory=list, description="Columns neither feature nor audit.")
    cv_folds: int = Field(5, ge=2, le=20)


class PromotionSection(_Strict):
    capacity_role: Literal["school", "leerplicht", "jeugdarts", "rmc"] = "school"
    baselines: list[Literal["rules", "school_level"]] = Field(default_factory=lambda: ["rules", "school_level"])  # type: ignore[arg-type]


class MlflowSection(_Strict):
    experiment: str = "riskscore-vsv"
    model_name: str = "riskscore-vsv"


class TrainingConfig(_Strict):
    version: Literal[1] = 1
    seed: int = Field(..., ge=0, description="Seeds LightGBM, bootstraps and tie-breaking.")
    data: DataSection = DataSection()
    as_of_days: list[str] = Field(default_factory=lambda: ["10-01", "02-01", "05-01"])
    label: LabelSection = LabelSection()
    split: SplitSection = SplitSection()
    model: ModelSection = ModelSection()
    capacity_per_10k: dict[str, int] = Field(default_factory=lambda: {"school": 300, "leerplicht": 150, "jeugdarts": 100, "rmc": 100})
    bands: BandsSection = BandsSection()
    evaluation: EvaluationSection = EvaluationSection()
    fairness: FairnessSection = FairnessSection()
    mitigation: MitigationSection = MitigationSection()
    features: list[FeatureSection] | None = Field(None, description="Your own features; default: the Dutch schema.")
    table: TableDataSection | None = Field(None, description="Train on one flat table instead of the raw tables.")
    promotion: PromotionSection = PromotionSection()
    mlflow: MlflowSection = MlflowSection()

    @field_validator("as_of_days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        for d in v:
            if not re.match(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", d):
                raise ValueError(f"'{d}' is not a month-day like 10-01")
        if not v:
            raise ValueError("at least one as-of day is needed")
        return v

    @field_validator("capacity_per_10k")
    @classmethod
    def _capacity(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = set(v) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; known: {list(ROLES)}")
        if any(k <= 0 for k in v.values()):
            raise ValueError("capacities must be positive")
        return v

    @field_validator("features")
    @classmethod
    def _unique_features(cls, v: list[FeatureSection] | None) -> list[FeatureSection] | None:
        if v is not None:
            names = [f.name for f in v]
            if len(set(names)) != len(names) or not names:
                raise ValueError("features must be a non-empty list of distinct names")
        return v

    @model_validator(mode="after")
    def _promotion_role(self) -> TrainingConfig:
        if self.promotion.capacity_role not in self.capacity_per_10k:
            raise ValueError(f"promotion.capacity_role '{self.promotion.capacity_role}' has no capacity in capacity_per_10k")
        return self


def load_config(path: str | Path, *, base_dir: Path | None = None) -> TrainingConfig:
    """Load and validate; relative data paths are taken from the current directory (or base_dir)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details="file not found"))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=f"not valid YAML: {exc}")) from None
    cfg = parse_config(raw, source=str(path), base_dir=base_dir)
    if cfg.table is not None and not cfg.table.path.is_absolute():
        cfg.table.path = path.parent / cfg.table.path  # a flat table travels with its config (examples/)
    return cfg


def parse_config(raw: object, *, source: str = "<dict>", base_dir: Path | None = None) -> TrainingConfig:
    if not isinstance(raw, dict):
        raise ConfigError(MSG_CONFIG_INVALID.format(path=source, details="expected a mapping at the top level"))
    try:
        cfg = TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(MSG_CONFIG_INVALID.format(path=source, details=details)) from None
    if base_dir is not None:
        if not cfg.data.dir.is_absolute():
            cfg.data.dir = base_dir / cfg.data.dir
        if cfg.data.features_cache is not None and not cfg.data.features_cache.is_absolute():
            cfg.data.features_cache = base_dir / cfg.data.features_cache
        if cfg.table is not None and not cfg.table.path.is_absolute():
            cfg.table.path = base_dir / cfg.table.path
        if cfg.fairness.audit_table is not None and not cfg.fairness.audit_table.is_absolute():
            cfg.fairness.audit_table = base_dir / cfg.fairness.audit_table
    return cfg
