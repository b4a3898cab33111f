"""Bring-your-own flat tables without friction (issue 25): text columns as categorical features, a
threshold outcome, only the named languages, baselines by the kind of data, a wider guard and the
config's own protected columns, fairness on out-of-fold predictions for small data, and a model card,
gates and mitigation messages that say what actually happened. The second worked example
(examples/student-performance: UCI 320, CC BY 4.0) trains from its config as published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from riskscore.errors import ConfigError, ModelError
from riskscore.model.guard import is_protected
from riskscore.training import evaluation, mitigation, pipeline
from riskscore.training.config import load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "student-performance"
CONFIG = EXAMPLE / "config.yaml"


def _small(cfg: Any) -> Any:
    cfg.model.n_estimators = 80
    cfg.model.learning_rate = 0.12
    cfg.evaluation.n_boot = 20
    cfg.fairness.n_boot = 40
    assert cfg.table is not None
    cfg.table.cv_folds = 3
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> pipeline.TrainingResult:
    cfg = _small(load_config(CONFIG))
    return pipeline.run(cfg, tracking_uri=None, artifact_root=None, out_dir=tmp_path_factory.mktemp("models"),
                        register=False)


def test_the_published_file_trains_with_text_columns_and_a_threshold(trained: pipeline.TrainingResult) -> None:
    prep = trained.extra["prepared"]
    assert int(prep.y.sum()) == 100 and len(prep.y) == 649  # G3 < 10
    assert set(prep.categorical) == {"school", "schoolsup", "activities", "higher"}  # text, as published
    assert prep.X["school"].dtype == object  # no preprocessing: the text reaches the model as text
    assert not {"sex", "address", "Medu", "Fedu", "Mjob", "Fjob", "Pstatus", "guardian", "famsize"} & set(prep.feature_names)
    from riskscore.model.bundle import ModelBundle

    bundle = ModelBundle.load(trained.bundle_dir)
    assert bundle.categories["school"] == ("GP", "MS") and bundle.context_features == ("school", "age")
    X_te, _ = prep.part("test")
    s = bundle.score(X_te)
    logit = np.log(s.probability) - np.log1p(-s.probability)
    assert np.max(np.abs(bundle.intercept + s.contributions.sum(axis=1) - logit)) < 1e-9
    # one language: the Dutch text is the English one
    assert bundle.catalogue["absences"].nl == bundle.catalogue["absences"].en == "{v} absences this year"


def test_the_card_describes_this_data_not_the_vsv_model(trained: pipeline.TrainingResult) -> None:
    card = trained.card_md.read_text()
    assert card.startswith("# Model card — student-performance-por")
    assert "riskscore-vsv" not in card and "voortijdig schoolverlater" not in card and "synthetic data" not in card
    assert "**G3 < 10**" in card and "test fold (random 20 %)" in card and "test year" not in card
    assert "Trained on real data: UCI Machine Learning Repository 320" in card
    for col in ("`sex`", "`address`", "`Medu`", "`internet`"):
        assert col in card  # the audit and protected columns of this training, by their own names
    assert "(sex)" not in card and "gender, migration_background" not in card
    assert "out-of-fold predictions over all rows" in card and "Capacity lists: two orderings" in card
    assert "max |base + contributions − logit(p)|" in card
    assert "school_level" in card and "nog in te vullen" not in card.split("Algoritmeregister")[0]
    register = card.split("Algoritmeregister")[1]
    assert "voortijdig" not in register and "Leerplichtwet" not in register and "G3 < 10" in register
    gates = json.loads((trained.card_md.parent.parent / "gates.json").read_text())
    assert set(gates["orderings"]) == {"probability", "excess"} and gates["capacity_ordering"] == "excess"
    assert gates["fairness_rows"] == "out-of-fold, all rows"
    assert any("column names only" in w for w in gates["warnings"])  # the guard never claims completeness
    assert "## Warnings" in card and "column names only" in card.split("## Warnings")[1]


@pytest.mark.parametrize(("change", "message"), [
    ({"table": {"positive": [True]}}, "read by YAML as a boolean"),
    ({"table": {"positive": ["yes"], "positive_when": "< 10"}}, "exactly one of"),
    ({"table": {"positive_when": "G2 < 10"}}, "names column 'G2'"),
    ({"table": {"positive_when": "about ten"}}, "not a condition"),
    ({"languages": ["nl", "en"]}, "reason texts missing"),
    ({"features": [{"name": "school", "kind": "context", "type": "categorical", "monotone": 1,
                    "justification": "the school the pupil attends", "reason": {"code": "S", "en": "school {v}"}}]},
     "categorical feature has no order"),
    ({"features": [{"name": "absences", "kind": "context", "justification": "number of absences this year",
                    "reason": {"code": "A", "category": "sick", "en": "{v}"}}]}, "cannot be context"),
])
def test_config_mistakes_are_named(change: dict[str, Any], message: str) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    for key, value in change.items():
        if isinstance(value, dict) and key in raw:
            raw[key] = {k: v for k, v in {**raw[key], **value}.items()}
            if "positive" in value and "positive_when" not in value:
                raw[key].pop("positive_when", None)
            if "positive_when" in value and "positive" not in value:
                raw[key].pop("positive", None)
        else:
            raw[key] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_numbers_are_outcome_values_too(tmp_path: Path) -> None:
    """The issue's `positive: [0, …, 9]` failed with 'Input should be a valid string' per value."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["table"].pop("positive_when")
    raw["table"]["positive"] = list(range(10))
    raw["table"]["path"] = str(EXAMPLE / "student-por.csv")
    cfg = parse_config(raw)
    from riskscore.training import steps

    prep = steps.prepare(cfg)
    assert int(prep.y.sum()) == 100


def test_default_baselines_follow_the_kind_of_data() -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    cfg = parse_config(raw)
    assert cfg.promotion.resolved_baselines(table=cfg.table) == ["school_level"]
    raw["table"].pop("school_column")
    cfg = parse_config(raw)
    assert cfg.promotion.resolved_baselines(table=cfg.table) == []  # a flat table no longer fails on the Dutch ones
    dutch = parse_config({"seed": 1})
    assert dutch.promotion.resolved_baselines(table=None) == ["rules", "school_level"]


def test_the_guard_knows_parental_and_household_fields_and_says_it_knows_names_only(tmp_path: Path) -> None:
    for name in ("Medu", "Fedu", "Mjob", "Fjob", "Pstatus", "guardian", "famsize", "famsup", "address", "Dalc",
                 "health", "opleiding_ouders", "gezinssituatie", "sex"):
        assert is_protected(name), name
    for name in ("absences", "studytime", "failures", "G1", "unauthorised_hours_4w", "over_age", "level_code",
                 "Admission grade", "Curricular units 1st sem (approved)", "Inflation rate"):
        assert not is_protected(name), name
    # a table taken as it is (no `features:`): protected columns are left out with a warning, not a crash
    raw = yaml.safe_load(CONFIG.read_text())
    raw.pop("features")
    raw["table"]["path"] = str(EXAMPLE / "student-por.csv")
    raw["table"]["audit_columns"] = ["sex"]
    raw["table"]["drop"] = ["G1", "G2"]
    raw["protected_columns"] = ["paid"]
    from riskscore.training import steps

    prep = steps.prepare(parse_config(raw))
    left_out = next(w for w in prep.warnings if w.startswith("left out as protected"))
    for name in ("Medu", "Fjob", "Pstatus", "guardian", "address", "health", "paid"):
        assert name in left_out and name not in prep.feature_names
    assert any("names only" in w or "column names only" in w for w in prep.warnings)
    # a config that names a protected column as a feature is refused
    raw = yaml.safe_load(CONFIG.read_text())
    raw["features"][2]["name"] = "Medu"
    with pytest.raises(ModelError, match="Medu"):
        steps.prepare(parse_config(raw, base_dir=EXAMPLE))


def test_mitigation_says_it_did_not_run_when_nothing_was_measurable() -> None:
    """Before: 'no candidate passes; the least unfair one that does not fail' although no candidate but the
    unmitigated model existed and nothing could be judged."""
    c = mitigation.Candidate(strength=0.0, model=None, precision=0.5, roc_auc=0.7, worst_tpr_ratio=np.nan,
                             worst_tpr_ratio_low=np.nan, verdict="unmeasured")
    said = mitigation.not_run(c, min_positives=30)
    assert said.startswith("did not run") and "no candidate passes" not in said
    idx, said = mitigation.choose([c, mitigation.Candidate(1.0, None, 0.4, 0.7, np.nan, np.nan, "unmeasured")])
    assert idx == 0 and "could be judged" in said and "no candidate passes" not in said
    ok = mitigation.Candidate(0.0, None, 0.5, 0.7, 0.9, 0.85, "pass")
    assert mitigation.not_run(ok, min_positives=30).startswith("not needed")


def test_a_gate_no_group_could_be_judged_on_is_unmeasured_not_passed() -> None:
    """TPR too small everywhere while the calibration gap passes: before, the grouping passed silently."""
    from riskscore.training import gates
    from riskscore.training.fairness import FairnessReport

    comp = pd.DataFrame([
        {"grouping": "sex", "group": "M", "reference": "F", "metric": "tpr", "kind": "ratio", "value": np.nan,
         "reference_value": np.nan, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 300, "positives": 12,
         "judgeable": False, "why_not": "too small to judge (< 30 VSV'ers)"},
        {"grouping": "sex", "group": "M", "reference": "F", "metric": "calibration_gap", "kind": "difference",
         "value": 0.01, "reference_value": 0.0, "estimate": 0.01, "ci_low": -0.01, "ci_high": 0.02, "n": 300,
         "positives": 12, "judgeable": True, "why_not": ""},
    ])
    report = FairnessReport(table=pd.DataFrame(), summary={"gate_groupings": ["sex"], "unmeasured": []}, comparisons=comp)
    verdict = gates.judge(report, {"tpr_ratio_min": 0.8, "calibration_gap_max": 0.05})
    assert verdict.status == "unmeasured" and verdict.by_grouping["sex"] == "unmeasured"
    assert any("tpr unmeasured" in ln for ln in verdict.lines)
    assert gates.summary_line(verdict) == "unmeasured (sex: tpr unmeasured)"
    assert gates.unmeasured_gates(verdict) == {"sex": ["tpr: sex=M (too small to judge (< 30 VSV'ers))"]}


def test_a_monotone_feature_without_effect_is_warned_about() -> None:
    """A sign against the data silences a feature: training says so (before: nothing)."""
    from riskscore.training import steps

    rng = np.random.default_rng(2)
    n = 1200
    X = pd.DataFrame({"grade": rng.uniform(0, 20, n), "noise": rng.normal(size=n)})
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-(3 - 0.4 * X["grade"])))).astype(int))
    idx = {"train": X.index[:800], "calibration": X.index[800:1000], "test": X.index[1000:]}
    prep = steps.Prepared(kind="table", X=X, y=y, audit=pd.DataFrame(index=X.index), idx=idx, folds=None,  # type: ignore[arg-type]
                          fingerprint="x", as_of=np.zeros(n), groups=np.arange(n), feature_names=["grade", "noise"],
                          monotone={"grade": 1, "noise": 0})  # the wrong sign: a higher grade lowers the risk
    from riskscore.model.additive import AdditiveLGBM

    m = AdditiveLGBM(n_estimators=40, features=["grade", "noise"], monotone={"grade": 1, "noise": 0}).fit(X.iloc[:800], y.iloc[:800])
    warned = steps.no_effect_warnings(prep, m)
    assert any("'grade' has no effect although its monotone sign is +1" in w and "falls" in w for w in warned)


def test_the_ece_interval_is_bias_corrected() -> None:
    """A known miscalibration (true ECE ≈ 0.029, 600 pupils): the percentile interval of the upward-biased
    plug-in ECE sits above the truth most of the time; the BCa interval (scipy) covers it far more often."""
    rng = np.random.default_rng(999)
    big = rng.beta(1.2, 5, 400_000)
    truth = evaluation.expected_calibration_error((rng.random(len(big)) < big).astype(float), np.clip(big * 1.15, 0, 1))
    covered = {"percentile": 0, "bca": 0}
    for seed in range(30):
        r = np.random.default_rng(seed)
        p = r.beta(1.2, 5, 600)
        y = (r.random(600) < p).astype(float)
        q = np.clip(p * 1.15, 0, 1)
        metrics = evaluation.evaluate_models(y, {"m": q}, capacities={"school": 60}, n_boot=200, seed=seed)
        row = metrics[(metrics["metric"] == "ece") & (metrics["as_of"] == "all")].iloc[0]
        covered["bca"] += row["ci_low"] <= truth <= row["ci_high"]
        _, lo, hi = evaluation.bootstrap_ci(evaluation.expected_calibration_error, y, q, n_boot=200, seed=seed)
        covered["percentile"] += lo <= truth <= hi
    assert covered["bca"] >= 16 and covered["percentile"] <= 6, covered
