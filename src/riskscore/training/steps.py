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
MSG_TABLE_BASELINES = ("promotion.baselines {names} need the Dutch raw tables (rule columns); with a flat `table:` "
                       "use [school_level] (with table.school_column) or []")
MSG_SCHOOL_BASELINE = "promotion.baselines [school_level] on a flat table needs table.school_column (the school column)"
MSG_CATEGORICAL_SIGN = ("feature(s) {cols} hold text, so they are categorical (no order): set their monotone sign to 0, "
                        "or encode them as numbers")
MSG_GUARD_BY_NAME = ("protected attributes are recognised by their column names only (model/guard.py and "
                     "protected_columns): check that none of the {n} features stands in for one (the card lists them)")
#: below this many rows a flat table's fairness is judged on out-of-fold predictions (fairness_on: auto)
SMALL_TABLE_ROWS = 20_000


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
    categorical: list[str] = field(default_factory=list)  # features LightGBM splits by category
    warnings: list[str] = field(default_factory=list)  # said on the console, in the card and gates.json
    outcome: str = "VSV within 12 months"  # the label in words
    positives_word: str = "VSV'ers"  # what a positive row is called in the card
    synthetic: bool | None = None  # trained on synthetic data? None: not stated

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
    """Feature names, monotone signs, reason catalogue and spec (with each feature's kind) from the
    config (None: Dutch defaults). A language the config does not name shows the other one's text."""
    if cfg.features is None:
        return None, None, None, None
    from riskscore.model.explain import ReasonTemplate

    names = [f.name for f in cfg.features]
    monotone = {f.name: int(f.monotone) for f in cfg.features}
    catalogue = {}
    for f in cfg.features:
        nl = f.reason.nl if "nl" in cfg.languages and f.reason.nl else (f.reason.en or f.reason.nl or f.name)
        en = f.reason.en if "en" in cfg.languages and f.reason.en else (f.reason.nl or f.reason.en or f.name)
        catalogue[f.name] = ReasonTemplate(f.reason.code, f.reason.category, nl, en, f.reason.fmt)
    spec = {f.name: {"monotone": int(f.monotone), "justification": f.justification, "kind": f.kind} for f in cfg.features}
    return names, monotone, catalogue, spec


def _generic_features(names: list[str], categorical: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Reason texts and spec for a flat table's columns taken as they are (no `features:` in the config):
    the column name and its value, routed to the school; every one a signal, unconstrained."""
    from riskscore.model.explain import ReasonTemplate

    catalogue = {n: ReasonTemplate(_code(n), "school_career", f"{n}: {{v}}", f"{n}: {{v}}",
                                   "category" if n in categorical else "float1") for n in names}
    spec = {n: {"monotone": 0, "justification": "column of the table, taken as it is (no `features:` in the config)",
                "kind": "signal"} for n in names}
    return catalogue, spec


def _code(name: str) -> str:
    code = "".join(ch if ch.isalnum() else "_" for ch in name.upper()).strip("_")
    return (code or "FEATURE")[:40]


def _guard(cfg: TrainingConfig, names: list[str] | None, audit_cols: list[str]) -> None:
    from riskscore.model.guard import assert_no_protected

    assert_no_protected(names or [], audit_columns=[*audit_cols, *cfg.fairness.groupings, *cfg.protected_columns])


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
    from riskscore.synthetic import is_synthetic

    synthetic = cfg.card.synthetic if cfg.card.synthetic is not None else (True if is_synthetic(cfg.data.dir) else None)
    return Prepared(kind="raw", X=table, y=y, audit=audit, idx=idx, folds=folds, fingerprint=fp,
                    as_of=table["as_of"].to_numpy(), groups=table["student_id"].to_numpy(), feature_names=names,
                    monotone=monotone, catalogue=catalogue, feature_spec=spec, audit_source=source,
                    outcome=f"VSV within {cfg.label.horizon_days} days", synthetic=synthetic)


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


def _label(frame: pd.DataFrame, target: str, spec_t: Any) -> pd.Series:
    """1 where the row is an outcome: its target among `positive` (numbers compared as numbers,
    text case-insensitively), or satisfying `positive_when` ('< 10')."""
    col = frame[target]
    cond = spec_t.condition()
    if cond is not None:
        values = pd.to_numeric(col, errors="coerce")
        if values.isna().any():
            bad = col[values.isna()].iloc[0]
            raise DataError(f"target '{target}' has a value {bad!r} that is not a number; positive_when needs numbers")
        op, number = cond
        import operator

        ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
               "!=": operator.ne}
        return ops[op](values, number).astype(int)
    wanted = list(spec_t.positive or [])
    numbers = [v for v in wanted if isinstance(v, int | float)]
    hit = col.astype(str).str.strip().str.casefold().isin({str(v).strip().casefold() for v in wanted})
    if numbers:
        hit |= pd.to_numeric(col, errors="coerce").isin([float(v) for v in numbers])
    return hit.astype(int)


def _is_text(column: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def prepare_table(cfg: TrainingConfig, progress: Progress = lambda _m: None) -> Prepared:
    """One flat table → features (text columns categorical), label (values or a condition), audit
    frame split off at the door, stratified random folds (60 % train, 20 % calibration, 20 % test)."""
    from sklearn.model_selection import train_test_split

    from riskscore.model.guard import is_protected
    from riskscore.training.fairness import resolve_columns

    spec_t = cfg.table
    assert spec_t is not None
    baselines = cfg.promotion.resolved_baselines(table=spec_t)
    if "rules" in baselines:
        raise ConfigError(MSG_TABLE_BASELINES.format(names=["rules"]))
    if "school_level" in baselines and not spec_t.school_column:
        raise ConfigError(MSG_SCHOOL_BASELINE)
    progress(f"data: reading {spec_t.path}")
    frame = read_flat(spec_t.path)
    cols = list(frame.columns)
    named = [spec_t.target, *spec_t.audit_columns, *spec_t.drop, *([spec_t.school_column] if spec_t.school_column else [])]
    found, missing = resolve_columns(named, cols)
    if missing:
        raise DataError(f"column(s) {missing} named in the config are not in {spec_t.path}")
    target = found[spec_t.target]
    audit_cols = [found[c] for c in spec_t.audit_columns if c in found]
    dropped = {found[c] for c in spec_t.drop if c in found}
    school_col = found.get(spec_t.school_column) if spec_t.school_column else None
    names, monotone, catalogue, spec = configured_features(cfg)
    warnings: list[str] = []
    if names is None:  # all remaining columns, in file order, less the protected ones
        extra = [*audit_cols, *cfg.fairness.groupings, *cfg.protected_columns]
        rest = [c for c in cols if c != target and c not in audit_cols and c not in dropped and c != spec_t.id_column]
        left_out = [c for c in rest if is_protected(c, extra=extra)]
        if left_out:
            warnings.append(f"left out as protected or proxy columns (never features): {left_out}")
        names = [c for c in rest if c not in left_out]
        monotone = {}
    absent = [n for n in names if n not in cols]
    if absent:
        raise DataError(f"feature column(s) {absent} not in {spec_t.path}")
    _guard(cfg, names, audit_cols)
    declared = {f.name: f.type for f in cfg.features or []}
    categorical = [n for n in names if declared.get(n, "auto") == "categorical"
                   or (declared.get(n, "auto") == "auto" and _is_text(frame[n]))]
    numeric_text = [n for n in names if declared.get(n) == "numeric" and _is_text(frame[n])]
    if numeric_text:
        raise DataError(f"feature column(s) {numeric_text} are declared numeric but hold text; declare them categorical")
    signed = [n for n in categorical if (monotone or {}).get(n, 0)]
    if signed:
        raise ConfigError(MSG_CATEGORICAL_SIGN.format(cols=signed))
    if catalogue is None:
        catalogue, spec = _generic_features(names, categorical)
    warnings.append(MSG_GUARD_BY_NAME.format(n=len(names)))
    y = _label(frame, target, spec_t)
    outcome = spec_t.outcome_words()
    if y.nunique() < 2:
        raise DataError(f"target '{target}': no row has {outcome} (or every row has)")
    ids = frame[spec_t.id_column].astype(str) if spec_t.id_column else pd.Series([f"R{i:06d}" for i in range(len(frame))])
    X = frame[names].copy()
    X["student_id"] = ids.to_numpy()
    if school_col is not None and school_col not in X.columns:
        X[school_col] = frame[school_col].to_numpy()
    audit = frame[audit_cols].astype("string").fillna("unknown")
    audit.index = X.index
    rest_idx, test = train_test_split(X.index, test_size=0.2, stratify=y, random_state=cfg.seed)
    train, cal = train_test_split(rest_idx, test_size=0.25, stratify=y.loc[rest_idx], random_state=cfg.seed)
    idx = {"train": pd.Index(sorted(train)), "calibration": pd.Index(sorted(cal)), "test": pd.Index(sorted(test))}
    folds = splits.Folds(train_years=("random 60 %",), calibration_year="random 20 %", test_year="random 20 %",
                         scoring_year=None, data_end=pd.Timestamp.now(tz="UTC").tz_localize(None))
    fp = datasets.fingerprint({"table": frame})
    progress(f"table: {len(frame)} rows, {len(names)} features ({len(categorical)} categorical), outcome {outcome} "
             f"(prevalence {y.mean():.1%}), audit columns {audit_cols} kept apart")
    for w in warnings:
        progress(f"warning: {w}")
    return Prepared(kind="table", X=X, y=y, audit=audit, idx=idx, folds=folds, fingerprint=fp,
                    as_of=np.zeros(len(X), dtype=np.int64), groups=ids.to_numpy(), feature_names=names,
                    monotone=monotone, catalogue=catalogue, feature_spec=spec,
                    audit_source=f"{spec_t.path.name} columns {audit_cols}" if audit_cols else "",
                    categorical=categorical, warnings=warnings, outcome=outcome,
                    positives_word=f"rows with {outcome}", synthetic=cfg.card.synthetic,
                    extra={"school_column": school_col})


# --- step 2: capacities ------------------------------------------------------------------------------
def capacities_for(cfg: TrainingConfig, n_students: int) -> dict[str, int]:
    return {role: max(1, round(k * n_students / 10_000)) for role, k in cfg.capacity_per_10k.items()}


def capacity(cfg: TrainingConfig, prep: Prepared, fold: str) -> tuple[dict[str, int], int]:
    """Capacities per role for one as-of date of `fold` ("all": every row), and the k of the promotion role."""
    m = np.ones(len(prep.X), dtype=bool) if fold == "all" else prep.mask(fold)
    n = int(pd.Series(prep.as_of[m]).value_counts().median())
    caps = capacities_for(cfg, n)
    return caps, caps[cfg.promotion.capacity_role]


# --- step 3: the additive model (optionally weighted) ------------------------------------------------
def additive_model(cfg: TrainingConfig, prep: Prepared) -> Any:
    """An unfitted additive model with the config's parameters, features, signs and categoricals."""
    from riskscore.model.additive import AdditiveLGBM

    return AdditiveLGBM(random_state=cfg.seed, features=prep.feature_names, monotone=prep.monotone,
                        categorical=prep.categorical or None, **cfg.model.model_dump())


def fit_additive(cfg: TrainingConfig, prep: Prepared, *, sample_weight: Any = None) -> Any:
    X, y = prep.part("train")
    return additive_model(cfg, prep).fit(X, y, sample_weight=sample_weight)


def fit_calibrator(cfg: TrainingConfig, prep: Prepared, model: Any) -> Any:
    from riskscore.model.additive import Calibrator

    X, y = prep.part("calibration")
    return Calibrator(method=cfg.calibration.method, random_state=cfg.seed).fit(model.raw_score(X), y)


# --- step 4: fairness of flags on one fold -----------------------------------------------------------
def fairness_on(cfg: TrainingConfig, prep: Prepared, fold: str, score: np.ndarray, prob: np.ndarray, k: int,
                *, n_boot: int | None = None, skip_gates: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """Flags = top-k per as-of date of `fold` (or "all": every row, for out-of-fold predictions);
    the fairness report and the gate's verdict."""
    from riskscore.training import evaluation, fairness, gates

    m = np.ones(len(prep.X), dtype=bool) if fold == "all" else prep.mask(fold)
    y = prep.y.to_numpy()[m]
    flags = evaluation.flag_top_k(score, prep.as_of[m], k, seed=cfg.seed)
    fc = cfg.fairness
    report = fairness.fairness_audit(
        y, flags, prob, prep.audit.loc[m], min_group_size=fc.min_group_size, min_positives=fc.min_positives,
        columns=[*fc.groupings, *[c for c in fc.report_only if c in prep.audit.columns]],
        gate_groupings=fc.groupings, reference=fc.reference, intersections=fc.intersections,
        n_boot=fc.n_boot if n_boot is None else n_boot, alpha=1 - fc.ci_level, seed=cfg.seed, groups=prep.groups[m],
        positives_word=prep.positives_word,
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
    calibration year and pick one by the configured rule. The outcome says what actually happened:
    switched off, not run (nothing measurable), not needed, or which candidate the rule chose."""
    from riskscore.training import evaluation, mitigation

    _, k = capacity(cfg, prep, "calibration")
    X_cal, y_cal = prep.part("calibration")
    base = fit_additive(cfg, prep)
    strengths = cfg.mitigation.strengths if cfg.mitigation.method != "none" else [0.0]
    candidates: list[mitigation.Candidate] = []
    multipliers: dict[str, dict[str, float]] = {}
    audit_train = prep.audit.loc[prep.idx["train"]]
    outcome = ""
    for s in strengths:
        model = base
        if s > 0:
            if not multipliers:  # nothing to correct, or nothing measurable: the unmitigated model stands alone
                outcome = mitigation.not_run(candidates[0], min_positives=cfg.fairness.min_positives,
                                             word=prep.positives_word)
                break
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
    if cfg.mitigation.method == "none":
        chosen, outcome = 0, "mitigation is switched off (mitigation.method: none): the unmitigated model is used"
    elif outcome:
        chosen = 0
    else:
        chosen, outcome = mitigation.choose(candidates, cfg.mitigation.rule)
    front = mitigation.front_table(candidates, chosen)
    progress(f"mitigation: strength {candidates[chosen].strength:g} — {outcome}")
    return Mitigated(candidates[chosen].model, front, candidates[chosen].strength, outcome, multipliers)


# --- step 6: comparisons and baselines ---------------------------------------------------------------
def fit_comparisons(cfg: TrainingConfig, prep: Prepared) -> dict[str, Any]:
    """Unconstrained LightGBM (+ its calibrator) and the scorecard; the rules on raw data and school-level
    targeting where there is a school column (raw data, or a flat table's table.school_column)."""
    from riskscore.model import additive as model

    params = cfg.model.model_dump()
    X_tr, y_tr = prep.part("train")
    X_cal, y_cal = prep.part("calibration")
    cats = prep.categorical or None
    unc = model.UnconstrainedLGBM(random_state=cfg.seed, features=prep.feature_names, categorical=cats, **params).fit(X_tr, y_tr)
    out: dict[str, Any] = {
        "unconstrained": model.CalibratedModel(unc, model.Calibrator(method=cfg.calibration.method,
                                                                     random_state=cfg.seed)).fit(X_cal, y_cal),
        "scorecard": model.ScorecardLR(random_state=cfg.seed, features=prep.feature_names, categorical=cats).fit(X_tr, y_tr),
    }
    both = prep.idx["train"].append(prep.idx["calibration"])
    if prep.kind == "raw":
        out["rules"] = model.RulesBaseline().fit(X_tr, y_tr)
        out["school_level"] = model.SchoolBaseline().fit(prep.X.loc[both], prep.y.loc[both])
    elif prep.extra.get("school_column"):
        out["school_level"] = model.SchoolBaseline(school_column=prep.extra["school_column"]).fit(
            prep.X.loc[both], prep.y.loc[both])
    return out


def test_scores(prep: Prepared, additive: Any, calibrator: Any, comparisons: dict[str, Any]) -> dict[str, np.ndarray]:
    X_te, _ = prep.part("test")
    scores = {"additive": calibrator.transform(additive.raw_score(X_te))}
    for name, est in comparisons.items():
        scores[name] = est.predict_proba(X_te)[:, 1]
    return scores


def explain_bundle(prep: Prepared, additive: Any, calibrator: Any, *, version: str = "evaluation") -> Any:
    """The served bundle's scoring of an (additive, calibrator) pair: base, excess, scaled reasons."""
    from riskscore.model.bundle import ModelBundle

    return ModelBundle.from_model(additive, calibrator, version=version, band_thresholds={"medium": 0.05, "high": 0.2},
                                  catalogue=prep.catalogue, feature_spec=prep.feature_spec)


def out_of_fold(cfg: TrainingConfig, prep: Prepared, *, strength: float = 0.0,
                multipliers: dict[str, dict[str, float]] | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold predictions over all rows of a flat table (stratified k-fold): in each fold the model
    is fitted on 75 % of the other rows (weighted as the chosen mitigation), calibrated on the other
    25 %, and scores the held-out rows. Probability and excess (the second ordering) per row."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from riskscore.model.additive import Calibrator
    from riskscore.training import mitigation

    n_folds = cfg.table.cv_folds if cfg.table is not None else 5
    y = prep.y.to_numpy()
    prob, excess = np.full(len(y), np.nan), np.full(len(y), np.nan)
    for tr, te in StratifiedKFold(n_folds, shuffle=True, random_state=cfg.seed).split(prep.X, y):
        fit_rows, cal_rows = train_test_split(tr, test_size=0.25, stratify=y[tr], random_state=cfg.seed)
        weights = None
        if strength > 0 and multipliers:
            weights = mitigation.training_weights(y[fit_rows], prep.audit.iloc[fit_rows], multipliers, strength)
        add = additive_model(cfg, prep).fit(prep.X.iloc[fit_rows], y[fit_rows], sample_weight=weights)
        cal = Calibrator(method=cfg.calibration.method, random_state=cfg.seed).fit(
            add.raw_score(prep.X.iloc[cal_rows]), y[cal_rows])
        scored = explain_bundle(prep, add, cal).score(prep.X.iloc[te], top_k=1)
        prob[te], excess[te] = scored.probability, scored.excess
    return {"probability": prob, "excess": excess}


def fairness_rows(cfg: TrainingConfig, prep: Prepared) -> str:
    """Where the fairness gate is judged: 'test', or 'all' (out-of-fold, a small flat table)."""
    if prep.kind != "table" or cfg.table is None:
        return "test"
    if cfg.table.fairness_on == "auto":
        return "all" if len(prep.X) < SMALL_TABLE_ROWS else "test"
    return "all" if cfg.table.fairness_on == "out_of_fold" else "test"


def orderings_table(cfg: TrainingConfig, prep: Prepared, fold: str, prob: np.ndarray, excess: np.ndarray
                    ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Both capacity orderings side by side on the same rows: precision and recall at each role's
    capacity (95 % bootstrap intervals, resampling pupils) and the fairness report of each ordering's
    flags at the promotion role's capacity. Returns (table, {ordering: (report, verdict)})."""
    from riskscore.training import evaluation

    caps, k = capacity(cfg, prep, fold)
    m = np.ones(len(prep.X), dtype=bool) if fold == "all" else prep.mask(fold)
    y, strata, groups = prep.y.to_numpy()[m], prep.as_of[m], prep.groups[m]
    rows = []
    fair: dict[str, Any] = {}
    for ordering, score in (("probability", prob), ("excess", excess)):
        for role, kk in caps.items():
            for metric, fn in (("precision", evaluation.precision_at_k), ("recall", evaluation.recall_at_k)):
                value, lo, hi = evaluation.bootstrap_ci(fn, y, score, k=kk, strata=strata, groups=groups,
                                                        n_boot=cfg.evaluation.n_boot, seed=cfg.seed)
                rows.append({"ordering": ordering, "role": role, "k": kk, "metric": metric, "value": value,
                             "ci_low": lo, "ci_high": hi})
        fair[ordering] = fairness_on(cfg, prep, fold, score, prob, k)
    return pd.DataFrame(rows), fair


def no_effect_warnings(prep: Prepared, additive: Any) -> list[str]:
    """Features the fitted model gives no effect at all (every contribution 0), with the training data's
    own direction where a monotone sign was asked for: a sign against the data silences a feature."""
    from scipy.stats import spearmanr

    X_tr, y_tr = prep.part("train")
    compiled = additive.compiled_
    out = []
    for j, name in enumerate(compiled.feature_names):
        if np.any(compiled.values[j] != 0):
            continue
        sign = int((prep.monotone or {}).get(name, 0)) if prep.monotone is not None else _dutch_sign(name)
        if not sign:
            out.append(f"feature '{name}' has no effect in the model (no split was worth making)")
            continue
        col = pd.to_numeric(X_tr[name], errors="coerce")
        ok = col.notna().to_numpy()
        rho = float(spearmanr(col[ok], y_tr[ok]).statistic) if ok.sum() > 2 and col[ok].nunique() > 1 else float("nan")
        against = np.isfinite(rho) and np.sign(rho) == -sign
        out.append(f"feature '{name}' has no effect although its monotone sign is {sign:+d}"
                   + (f": in the training data the outcome {'falls' if rho < 0 else 'rises'} as it rises "
                      f"(Spearman {rho:+.2f}), against the sign — check the sign" if against else
                      " (the constraint may have silenced it; check the sign)"))
    return out


def _dutch_sign(name: str) -> int:
    from riskscore import contracts

    return contracts.FEATURE_SPEC[name][0] if name in contracts.FEATURE_SPEC else 0


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
           verdict: Any, *, challenger: str = "additive") -> dict[str, Any]:
    """The promotion gates: beat every baseline at capacity with the ordering the lists will use
    (`challenger`: the probability, or the excess score), and the fairness verdict."""
    from riskscore.training import evaluation, gates

    role = cfg.promotion.capacity_role
    m = prep.mask("test")
    baselines = cfg.promotion.resolved_baselines(table=cfg.table)
    cmp = evaluation.compare_at_capacity(
        prep.y.to_numpy()[m], scores, challenger=challenger, baselines=baselines,
        as_of=prep.as_of[m], groups=prep.groups[m], k=caps[role], n_boot=cfg.evaluation.n_boot, seed=cfg.seed)
    beats = all(c["beats"] for c in cmp.values())
    unmeasured = gates.unmeasured_gates(verdict)
    return {
        "capacity_role": role, "k": caps[role], "baselines": cmp, "beats_baselines": beats,
        "baselines_note": "" if baselines else "no baseline configured: nothing to beat (set promotion.baselines, or "
                                               "table.school_column for school-level targeting)",
        "capacity_ordering": cfg.capacity_ordering,
        "fairness_verdict": verdict.status, "fairness_lines": list(verdict.lines),
        "fairness_by_grouping": dict(verdict.by_grouping),
        "fairness_unmeasured": unmeasured,
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
        add = additive_model(cfg, prep)
        unc = model.UnconstrainedLGBM(random_state=cfg.seed, features=prep.feature_names,
                                      categorical=prep.categorical or None, **params)
        out["additive"].append(evaluation.roc_auc(y[te], add.fit(Xtr, y[tr]).raw_score(Xte)))
        out["unconstrained"].append(evaluation.roc_auc(y[te], unc.fit(Xtr, y[tr]).raw_score(Xte)))
    return {k: (float(np.mean(v)), float(np.std(v))) for k, v in out.items()}


__all__ = ["Mitigated", "Prepared", "additive_model", "capacities_for", "capacity", "configured_features",
           "cross_validated_auc", "decide", "evaluate", "explain_bundle", "fairness_on", "fairness_rows", "fit_additive",
           "fit_calibrator", "fit_comparisons", "mitigate", "no_effect_warnings", "orderings_table", "out_of_fold",
           "prepare", "prepare_raw", "prepare_table", "read_flat", "test_scores"]
