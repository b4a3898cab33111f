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


LANGUAGES = ("nl", "en")


class ReasonSection(_Strict):
    code: str = Field(..., min_length=1, max_length=40)
    category: Literal["absence", "sick", "transition", "school_career", "context"] = "context"
    nl: str | None = Field(None, min_length=1, description="Dutch text; {v} is the value (a category's name for a "
                                                           "categorical feature). Required when `languages` names nl.")
    en: str | None = Field(None, min_length=1, description="English text; {v} is the value. Required when `languages` names en.")
    fmt: Literal["int", "float1", "signed1", "category"] = "float1"


class FeatureSection(_Strict):
    """One model feature of your own: its monotone sign, why it is justified, its reason texts, whether
    it is a *signal* (something a mentor can act on: shown as a reason) or *context* (school, level,
    age: shown as the pupil's base, never as a reason), and whether it is numeric or categorical."""

    name: str = Field(..., min_length=1)
    monotone: Literal[-1, 0, 1] = 0
    justification: str = Field(..., min_length=10)
    kind: Literal["signal", "context"] = Field("signal", description="signal: a reason; context: part of the base.")
    type: Literal["auto", "numeric", "categorical"] = Field(
        "auto", description="auto: a text column is categorical (LightGBM's native categorical splits), a number numeric; "
                            "categorical also for numbers that are codes (a programme code).")
    reason: ReasonSection

    @model_validator(mode="after")
    def _context_is_not_health(self) -> FeatureSection:
        if self.kind == "context" and self.reason.category == "sick":
            raise ValueError(f"feature '{self.name}': a sick (health) feature cannot be context — the base is shown to "
                             "every role, health detail only to the jeugdarts")
        if self.type == "categorical" and self.monotone != 0:
            raise ValueError(f"feature '{self.name}': a categorical feature has no order, so monotone must be 0")
        return self


_CONDITION = re.compile(r"^\s*(?:(?P<column>.+?)\s*)?(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[-+]?\d+(?:[.,]\d+)?)\s*$")
MSG_YAML_BOOLEAN = ("table.positive: {value!r} was read by YAML as a boolean (yes/no/on/off/true/false unquoted); "
                    "write it in quotes, e.g. ['yes']")


class TableDataSection(_Strict):
    """A single flat table (CSV/Parquet) with a target column — bring-your-own data, no Dutch raw tables."""

    path: Path
    target: str
    positive: list[str | int | float] | None = Field(
        None, min_length=1, description="Target values that count as the outcome (e.g. Dropout, or 0 and 1).")
    positive_when: str | None = Field(
        None, description="Or a condition on a numeric target: '< 10' (or 'G3 < 10'); operators < <= > >= == !=.")
    id_column: str | None = Field(None, description="Pseudonymous row id; default: the row number.")
    audit_columns: list[str] = Field(default_factory=list, description="Split off at the door into the audit frame.")
    drop: list[str] = Field(default_factory=list, description="Columns neither feature nor audit.")
    school_column: str | None = Field(None, description="The school (or class) column: enables the school-level "
                                                        "baseline; it is no feature unless you list it.")
    fairness_on: Literal["auto", "test", "out_of_fold"] = Field(
        "auto", description="Where the fairness gate is judged: the test fold, or out-of-fold predictions over all rows "
                            "(cross-validation). auto: out-of-fold below 20,000 rows, where the test fold is too small.")
    cv_folds: int = Field(5, ge=2, le=20)

    @field_validator("positive", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, v: object) -> object:
        if isinstance(v, list):
            for value in v:
                if isinstance(value, bool):
                    raise ValueError(MSG_YAML_BOOLEAN.format(value=value))
        return v

    @model_validator(mode="after")
    def _one_outcome_rule(self) -> TableDataSection:
        if (self.positive is None) == (self.positive_when is None):
            raise ValueError("give exactly one of table.positive (values) and table.positive_when (a condition like '< 10')")
        if self.positive_when is not None:
            m = _CONDITION.match(self.positive_when)
            if m is None:
                raise ValueError(f"table.positive_when '{self.positive_when}' is not a condition like '< 10' or "
                                 f"'{self.target} < 10'")
            column = m.group("column")
            if column and column.strip() != self.target.strip():
                raise ValueError(f"table.positive_when names column '{column}', but the target is '{self.target}'")
        return self

    def condition(self) -> tuple[str, float] | None:
        """(operator, number) of positive_when, or None."""
        if self.positive_when is None:
            return None
        m = _CONDITION.match(self.positive_when)
        assert m is not None  # validated
        return m.group("op"), float(m.group("value").replace(",", "."))

    def outcome_words(self) -> str:
        """The label in words for the card and messages: 'G3 < 10' or 'Target ∈ [Dropout]'."""
        cond = self.condition()
        if cond is not None:
            return f"{self.target} {cond[0]} {cond[1]:g}"
        return f"{self.target} ∈ {list(self.positive or [])}"


class PromotionSection(_Strict):
    capacity_role: Literal["school", "leerplicht", "jeugdarts", "rmc"] = "school"
    baselines: list[Literal["rules", "school_level"]] | None = Field(
        None, description="What the model must beat at capacity. Default by the kind of data: the Dutch raw tables "
                          "[rules, school_level]; a flat table [school_level] when table.school_column is set, else [].")

    def resolved_baselines(self, *, table: TableDataSection | None) -> list[str]:
        if self.baselines is not None:
            return list(self.baselines)
        if table is None:
            return ["rules", "school_level"]
        return ["school_level"] if table.school_column else []


class CalibrationSection(_Strict):
    method: Literal["auto", "platt", "isotonic"] = Field(
        "auto", description="auto: whichever predicts the calibration fold better (cross-validated Brier). Only Platt "
                            "makes base + contributions = logit(p) exactly; with isotonic the reasons are shares of the "
                            "uncalibrated score (the model card says which).")


class CardSection(_Strict):
    """What the model card and the algorithm register say about this model; defaults fit the Dutch VSV
    model on the raw tables, placeholders a flat table."""

    title: str | None = Field(None, description="Default: mlflow.model_name.")
    purpose_nl: str | None = Field(None, description="Korte omschrijving (register).")
    purpose_en: str | None = None
    organisation: str | None = Field(None, description="Who deploys it (register 'Organisatie').")
    legal_basis: str | None = Field(None, description="Register 'Wettelijke basis'.")
    data_source: str | None = Field(None, description="Where the data come from, with its licence.")
    synthetic: bool | None = Field(None, description="Trained on synthetic data? Default: detected (the raw tables "
                                                     "of `riskscore synth` carry their calibration table).")


class MlflowSection(_Strict):
    experiment: str = "riskscore-vsv"
    model_name: str = "riskscore-vsv"


def _both_languages() -> list[Literal["nl", "en"]]:
    return ["nl", "en"]


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
    languages: list[Literal["nl", "en"]] = Field(
        default_factory=_both_languages, min_length=1,
        description="Languages your reason texts are written in; a missing language shows the other one's text.")
    protected_columns: list[str] = Field(
        default_factory=list, description="Your own protected or proxy columns (beyond the built-in names): never features.")
    capacity_ordering: Literal["probability", "excess"] = Field(
        "probability", description="How capacity lists are ordered: by probability, or by risk above what is usual "
                                   "for the pupil's context (the signals' sum). Both are measured in the model card.")
    calibration: CalibrationSection = CalibrationSection()
    card: CardSection = CardSection()

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

    @model_validator(mode="after")
    def _texts_in_the_named_languages(self) -> TrainingConfig:
        lacking = [f"{f.name} ({lang})" for f in self.features or [] for lang in self.languages
                   if not getattr(f.reason, lang)]
        if lacking:
            raise ValueError(f"reason texts missing for {lacking}; write them, or leave the language out of `languages`")
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
