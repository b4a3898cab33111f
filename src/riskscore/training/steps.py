"""The training pipeline's steps, each small and testable on its own (pipeline.run chains them).

prepare → mitigate (fits the additive model, candidates on the front) → calibrate → comparisons →
evaluate → fairness → gates. Packaging (bundle, card, MLflow) is in pipeline.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskscore import datasets, features
from riskscore.audit_table import audit_frame, read_audit
from riskscore.errors import ConfigError, DataError
from riskscore.training import splits
from riskscore.training.config import TrainingConfig

Progress = Callable[[str], None]
MSG_TABLE_BASELINES = ("promotion.baselines {names} need the Dutch raw tables (rule and school columns); "
                       "with a flat `table:` set `baselines: []`")


@dataclass
class Prepared:
    """Everything the later steps need; `audit` is aligned with `X` and kept out of it."""

    kind: str  # "raw" (Dutch tables) or "table" (one flat file)
    X: pd.DataFrame
    y: pd.Series
    audit: pd.DataFrame
    idx: dict[str, pd.Index]
    folds: splits.Folds
    fingerprint: str
    as_of: np.ndarray  # per row: the as-of date capacity is counted on (table mode: one constant)
    groups: np.ndarray  # per row: the pupil, for the clustered bootstrap
    feature_names: list[str] | None = None  # None: the Dutch schema
    monotone: dict[str, int] | None = None
    catalogue: dict[str, Any] | None = None
    feature_spec: dict[str, dict[str, Any]] | None = None
    audit_source: str = ""  # where the audit attributes came from, or "" when there were none
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> dict[str, int]:
        return {name: len(ix) for name, ix in self.idx.items()}

    def part(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        ix = self.idx[name]
        return self.X.loc[ix], self.y.loc[ix].to_numpy()

    def mask(self, name: str) -> np.ndarray:
        return np.asarray(self.X.index.isin(self.idx[name]))


def configured_features(cfg: TrainingConfig) -> tuple[list[str] | None, dict[str, int] | None, dict[str, Any] | None,
                                                       dict[str, dict[str, Any]] | None]:
    """Feature names, monotone signs, reason catalogue and spec from the config (None: Dutch defaults)."""
    if cfg.features is None:
        return None, None, None, None
    from riskscore.model.explain import ReasonTemplate

    names = [f.name for f in cfg.features]
    monotone = {f.name: int(f.monotone) for f in cfg.features}
    catalogue = {f.name: ReasonTemplate(f.reason.code, f.reason.category, f.reason.nl, f.reason.en, f.reason.fmt)
                 for f in cfg.features}
    spec = {f.name: {"monotone": int(f.monotone), "justification": f.justification} for f in cfg.features}
    return names, monotone, catalogue, spec


def _guard(cfg: TrainingConfig, names: list[str] | None, audit_cols: list[str]) -> None:
    from riskscore.model.guard import assert_no_protected

    assert_no_protected(names or [], audit_columns=[*audit_cols, *cfg.fairness.groupings])


# --- step 1: prepare ---------------------------------------------------------------------------------
def prepare(cfg: TrainingConfig, progress: Progress = lambda _m: None) -> Prepared:
    return prepare_table(cfg, progress) if cfg.table is not None else prepare_raw(cfg, progress)


def prepare_raw(cfg: TrainingConfig, progress: Progress = lambda _m: None) -> Prepared:
    """Raw Dutch tables → point-in-time features, labels, temporal folds; audit table joined apart."""
    names, monotone, catalogue, spec = configured_features(cfg)
    _guard(cfg, names, [])
    progress(f"data: reading {cfg.data.dir}")
    tables = datasets.read_tables(cfg.data.dir)
    fp = datasets.fingerprint(tables)
    years = sorted(tables["students"]["school_year"].unique())
    dates = splits.as_of_dates(years, cfg.as_of_days)
    table = features.load_if_current(cfg.data.features_cache, fingerprint=fp, dates=dates)
    if table is not None:
        progress(f"features: reusing {cfg.data.features_cache}")
    else:
        progress(f"features: building {len(dates)} as-of dates over {len(years)} school years")
        table = features.build(tables, dates)
        if cfg.data.features_cache is not None:
            features.save_table(table, cfg.data.features_cache, fingerprint=fp, dates=dates)
    outcomes = tables.get("outcomes")
    if outcomes is None:
        raise DataError(f"no outcomes table in {cfg.data.dir}: training needs labels")
    y = features.label(table, outcomes, horizon_days=cfg.label.horizon_days).astype(int)
    folds = splits.plan_folds(list(years), cfg)
    fold = splits.assign_folds(table["as_of"], folds, cfg)
    idx = {name: table.index[fold == name] for name in ("train", "calibration", "test")}
    for name, ix in idx.items():
        if len(ix) == 0:
            raise DataError(f"the {name} fold is empty (folds: {folds}); generate more school years")
    raw_audit = read_audit(cfg.data.dir, cfg.fairness.audit_table)
    source = "" if raw_audit is None else str(cfg.fairness.audit_table or cfg.data.dir / "audit.parquet")
    progress("audit: " + (f"attributes from {source}, joined by pseudonym" if source
                          else "no audit table — fairness will be reported as unmeasured"))
    audit = audit_frame(table, tables["students"], raw_audit)
    if raw_audit is None:  # older data with audit columns on students: used, but said so
        legacy = [c for c in audit.columns if c != "level"]
        source = f"students table columns {legacy} (legacy: keep them in audit.parquet)" if legacy else ""
    return Prepared(kind="raw", X=table, y=y, audit=audit, idx=idx, folds=folds, fingerprint=fp,
                    as_of=table["as_of"].to_numpy(), groups=table["student_id"].to_numpy(), feature_names=names,
                    monotone=monotone, catalogue=catalogue, feature_spec=spec, audit_source=source)


def read_flat(path: Any) -> pd.DataFrame:
    """CSV (any of , ; tab, BOM or not) or Parquet; header names keep their spelling but lose stray
    whitespace (the UCI file has a header ending in a tab)."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise DataError(f"table not found: {path}")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except Exception as exc:  # the parsers raise many kinds
        raise DataError(f"table {path} cannot be read: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        raise DataError(f"table {path} has duplicate column names after trimming whitespace")
    return frame


def prepare_table(cfg: TrainingConfig, progress: Progress = lambda _m: None) -> Prepared:
    """One flat table → features, label, audit frame split off at the door, stratified random folds
    (60 % train, 20 % calibration, 20 % test)."""
    from sklearn.model_selection import train_test_split

    from riskscore.training.fairness import resolve_columns

    spec_t = cfg.table
    assert spec_t is not None
    bad = [b for b in cfg.promotion.baselines]
    if bad:
        raise ConfigError(MSG_TABLE_BASELINES.format(names=bad))
    progress(f"data: reading {spec_t.path}")
    frame = read_flat(spec_t.path)
    cols = list(frame.columns)
    found, missing = resolve_columns([spec_t.target, *spec_t.audit_columns, *spec_t.drop], cols)
    if missing:
        raise DataError(f"column(s) {missing} named in the config are not in {spec_t.path}")
    target = found[spec_t.target]
    audit_cols = [found[c] for c in spec_t.audit_columns if c in found]
    dropped = {found[c] for c in spec_t.drop if c in found}
    names, monotone, catalogue, spec = configured_features(cfg)
    if names is None:  # all remaining columns, in file order
        names = [c for c in cols if c != target and c not in audit_cols and c not in dropped and c != spec_t.id_column]
        monotone = monotone or {}
    absent = [n for n in names if n not in cols]
    if absent:
        raise DataError(f"feature column(s) {absent} not in {spec_t.path}")
    _guard(cfg, names, audit_cols)
    positive = {str(v).strip().casefold() for v in spec_t.positive}
    y = frame[target].astype(str).str.strip().str.casefold().isin(positive).astype(int)
    if y.nunique() < 2:
        raise DataError(f"target '{target}' has no rows with {spec_t.positive} (or only such rows)")
    ids = frame[spec_t.id_column].astype(str) if spec_t.id_column else pd.Series([f"R{i:06d}" for i in range(len(frame))])
    X = frame[names].copy()
    X["student_id"] = ids.to_numpy()
    audit = frame[audit_cols].astype("string").fillna("unknown")
    audit.index = X.index
    rest, test = train_test_split(X.index, test_size=0.2, stratify=y, random_state=cfg.seed)
    train, cal = train_test_split(rest, test_size=0.25, stratify=y.loc[rest], random_state=cfg.seed)
    idx = {"train": pd.Index(sorted(train)), "calibration": pd.Index(sorted(cal)), "test": pd.Index(sorted(test))}
    folds = splits.Folds(train_years=("random 60 %",), calibration_year="random 20 %", test_year="random 20 %",
                         scoring_year=None, data_end=pd.Timestamp.now(tz="UTC").tz_localize(None))
    fp = datasets.fingerprint({"table": frame})
    progress(f"table: {len(frame)} rows, {len(names)} features, target {target} ∈ {spec_t.positive} "
             f"(prevalence {y.mean():.1%}), audit columns {audit_cols} kept apart")
    return Prepared(kind="table", X=X, y=y, audit=audit, idx=idx, folds=folds, fingerprint=fp,
                    as_of=np.zeros(len(X), dtype=np.int64), groups=ids.to_numpy(), feature_names=names,
                    monotone=monotone, catalogue=catalogue, feature_spec=spec,
                    audit_source=f"{spec_t.path} columns {audit_cols}" if audit_cols else "")


# --- step 2: capacities ------------------------------------------------------------------------------
def capacities_for(cfg: TrainingConfig, n_students: int) -> dict[str, int]:
    return {role: max(1, round(k * n_students / 10_000)) for role, k in cfg.capacity_per_10k.items()}


def capacity(cfg: TrainingConfig, prep: Prepared, fold: str) -> tuple[dict[str, int], int]:
    """Capacities per role for one as-of date of `fold`, and the k of the promotion role."""
    n = int(pd.Series(prep.as_of[prep.mask(fold)]).value_counts().median())
    caps = capacities_for(cfg, n)
    return caps, caps[cfg.promotion.capacity_role]


# --- step 3: the additive model (optionally weighted) ------------------------------------------------
def fit_additive(cfg: TrainingConfig, prep: Prepared, *, sample_weight: Any = None) -> Any:
    from riskscore.model.additive import AdditiveLGBM

    X, y = prep.part("train")
    return AdditiveLGBM(random_state=cfg.seed, features=prep.feature_names, monotone=prep.monotone,
                        **cfg.model.model_dump()).fit(X, y, sample_weight=sample_weight)


def fit_calibrator(cfg: TrainingConfig, prep: Prepared, model: Any) -> Any:
    from riskscore.model.additive import Calibrator

    X, y = prep.part("calibration")
    return Calibrator(random_state=cfg.seed).fit(model.raw_score(X), y)


# --- step 4: fairness of flags on one fold -----------------------------------------------------------
def fairness_on(cfg: TrainingConfig, prep: Prepared, fold: str, score: np.ndarray, prob: np.ndarray, k: int,
                *, n_boot: int | None = None, skip_gates: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """Flags = top-k per as-of date of `fold`; the fairness report and the gate's verdict."""
    from riskscore.training import evaluation, fairness, gates

    m = prep.mask(fold)
    y = prep.y.to_numpy()[m]
    flags = evaluation.flag_top_k(score, prep.as_of[m], k, seed=cfg.seed)
    fc = cfg.fairness
    report = fairness.fairness_audit(
        y, flags, prob, prep.audit.loc[m], min_group_size=fc.min_group_size, min_positives=fc.min_positives,
        columns=[*fc.groupings, *[c for c in fc.report_only if c in prep.audit.columns]],
        gate_groupings=fc.groupings, reference=fc.reference, intersections=fc.intersections,
        n_boot=fc.n_boot if n_boot is None else n_boot, alpha=1 - fc.ci_level, seed=cfg.seed, groups=prep.groups[m],
    )
    active = {g: t for g, t in fc.gates.model_dump().items() if g not in skip_gates}
    return report, gates.judge(report, active)


# --- step 5: mitigation ------------------------------------------------------------------------------
@dataclass
class Mitigated:
    model: Any
    front: pd.DataFrame
    chosen_strength: float
    rule_outcome: str
    multipliers: dict[str, dict[str, float]]


def _worst_ratio(verdict: Any) -> tuple[float, float]:
    t = verdict.table
    if t is None or not len(t):
        return float("nan"), float("nan")
    tpr = t[(t["metric"] == "tpr") & (t["verdict"] != "too_small")]
    if not len(tpr):
        return float("nan"), float("nan")
    est = np.minimum(tpr["estimate"], 1 / tpr["estimate"])
    low = np.minimum(tpr["ci_low"], 1 / tpr["ci_high"])
    return float(est.min()), float(low.min())


def mitigate(cfg: TrainingConfig, prep: Prepared, progress: Progress = lambda _m: None) -> Mitigated:
    """Fit the unmitigated model and, if configured, reweighed candidates; judge each on the
    calibration year and pick one by the configured rule."""
    from riskscore.training import evaluation, mitigation

    _, k = capacity(cfg, prep, "calibration")
    X_cal, y_cal = prep.part("calibration")
    base = fit_additive(cfg, prep)
    strengths = cfg.mitigation.strengths if cfg.mitigation.method != "none" else [0.0]
    candidates: list[mitigation.Candidate] = []
    multipliers: dict[str, dict[str, float]] = {}
    audit_train = prep.audit.loc[prep.idx["train"]]
    for s in strengths:
        model = base
        if s > 0:
            if not multipliers:
                break  # nothing to correct (or nothing measurable): the unmitigated model stands alone
            progress(f"mitigation: reweighing strength {s:g}")
            weights = mitigation.training_weights(prep.y.loc[prep.idx["train"]], audit_train, multipliers, s)
            model = fit_additive(cfg, prep, sample_weight=weights)
        raw = model.raw_score(X_cal)
        # candidates are ranked on who gets flagged (TPR, selection rate); their probabilities are not yet
        # calibrated, so the calibration gate is taken on the test year only
        report, verdict = fairness_on(cfg, prep, "calibration", raw, 1 / (1 + np.exp(-raw)), k,
                                      skip_gates=("calibration_gap_max",))
        if s == 0:
            multipliers = mitigation.tpr_multipliers(report.comparisons)
        worst, low = _worst_ratio(verdict)
        candidates.append(mitigation.Candidate(
            strength=s, model=model, precision=evaluation.precision_at_k(y_cal, raw, k, strata=prep.as_of[prep.mask("calibration")]),
            roc_auc=evaluation.roc_auc(y_cal, raw), worst_tpr_ratio=worst, worst_tpr_ratio_low=low,
            verdict=verdict.status))
    chosen, outcome = mitigation.choose(candidates, cfg.mitigation.rule)
    front = mitigation.front_table(candidates, chosen)
    progress(f"mitigation: chose strength {candidates[chosen].strength:g} — {outcome}")
    return Mitigated(candidates[chosen].model, front, candidates[chosen].strength, outcome, multipliers)


# --- step 6: comparisons and baselines ---------------------------------------------------------------
def fit_comparisons(cfg: TrainingConfig, prep: Prepared) -> dict[str, Any]:
    """Unconstrained LightGBM (+ its calibrator) and the scorecard; rules and school level on raw data."""
    from riskscore.model import additive as model

    params = cfg.model.model_dump()
    X_tr, y_tr = prep.part("train")
    X_cal, y_cal = prep.part("calibration")
    unc = model.UnconstrainedLGBM(random_state=cfg.seed, features=prep.feature_names, **params).fit(X_tr, y_tr)
    out: dict[str, Any] = {
        "unconstrained": model.CalibratedModel(unc, model.Calibrator(random_state=cfg.seed)).fit(X_cal, y_cal),
        "scorecard": model.ScorecardLR(random_state=cfg.seed, features=prep.feature_names).fit(X_tr, y_tr),
    }
    if prep.kind == "raw":
        out["rules"] = model.RulesBaseline().fit(X_tr, y_tr)
        both = prep.idx["train"].append(prep.idx["calibration"])
        out["school_level"] = model.SchoolBaseline().fit(prep.X.loc[both], prep.y.loc[both])
    return out


def test_scores(prep: Prepared, additive: Any, calibrator: Any, comparisons: dict[str, Any]) -> dict[str, np.ndarray]:
    X_te, _ = prep.part("test")
    scores = {"additive": calibrator.transform(additive.raw_score(X_te))}
    for name, est in comparisons.items():
        scores[name] = est.predict_proba(X_te)[:, 1]
    return scores


# --- step 7: evaluation and gates --------------------------------------------------------------------
def evaluate(cfg: TrainingConfig, prep: Prepared, scores: dict[str, np.ndarray]) -> tuple[pd.DataFrame, dict[str, int]]:
    from riskscore.training import evaluation

    caps, _ = capacity(cfg, prep, "test")
    m = prep.mask("test")
    metrics = evaluation.evaluate_models(
        prep.y.to_numpy()[m], scores, as_of=prep.as_of[m] if prep.kind == "raw" else None, groups=prep.groups[m],
        capacities=caps, top_fractions=cfg.evaluation.top_fractions, n_boot=cfg.evaluation.n_boot, seed=cfg.seed)
    return metrics, caps


def decide(cfg: TrainingConfig, prep: Prepared, scores: dict[str, np.ndarray], caps: dict[str, int],
           verdict: Any) -> dict[str, Any]:
    """The promotion gates: beat every baseline at capacity, and the fairness verdict."""
    from riskscore.training import evaluation

    role = cfg.promotion.capacity_role
    m = prep.mask("test")
    cmp = evaluation.compare_at_capacity(
        prep.y.to_numpy()[m], scores, challenger="additive", baselines=cfg.promotion.baselines,
        as_of=prep.as_of[m], groups=prep.groups[m], k=caps[role], n_boot=cfg.evaluation.n_boot, seed=cfg.seed)
    beats = all(c["beats"] for c in cmp.values())
    return {
        "capacity_role": role, "k": caps[role], "baselines": cmp, "beats_baselines": beats,
        "fairness_verdict": verdict.status, "fairness_lines": list(verdict.lines),
        "fairness_by_grouping": dict(verdict.by_grouping),
        # kept for older readers: the lines that block or need review
        "fairness_violations": [ln for ln in verdict.lines if "→ fail" in ln or "unmeasured" in ln],
        "passed": bool(beats and verdict.status == "pass"),
    }


def cross_validated_auc(cfg: TrainingConfig, prep: Prepared, *, folds: int = 5) -> dict[str, tuple[float, float]]:
    """Mean and SD of ROC-AUC over stratified k-fold CV on all rows (flat tables: the headline figure)."""
    from sklearn.model_selection import StratifiedKFold

    from riskscore.model import additive as model
    from riskscore.training import evaluation

    params = cfg.model.model_dump()
    y = prep.y.to_numpy()
    out: dict[str, list[float]] = {"additive": [], "unconstrained": []}
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(prep.X, y):
        Xtr, Xte = prep.X.iloc[tr], prep.X.iloc[te]
        add = model.AdditiveLGBM(random_state=cfg.seed, features=prep.feature_names, monotone=prep.monotone, **params)
        unc = model.UnconstrainedLGBM(random_state=cfg.seed, features=prep.feature_names, **params)
        out["additive"].append(evaluation.roc_auc(y[te], add.fit(Xtr, y[tr]).raw_score(Xte)))
        out["unconstrained"].append(evaluation.roc_auc(y[te], unc.fit(Xtr, y[tr]).raw_score(Xte)))
    return {k: (float(np.mean(v)), float(np.std(v))) for k, v in out.items()}


__all__ = ["Mitigated", "Prepared", "capacities_for", "capacity", "configured_features", "cross_validated_auc",
           "decide", "evaluate", "fairness_on", "fit_additive", "fit_calibrator", "fit_comparisons", "mitigate",
           "prepare", "prepare_raw", "prepare_table", "read_flat", "test_scores"]
