"""The data team's pipeline: raw tables → features → additive model + calibrator, comparisons,
baselines, evaluation, fairness audit, gates → model bundle + model card → MLflow run + registry."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore import datasets, features
from riskscore.contracts import AUDIT_COLUMNS, FEATURES
from riskscore.errors import ConfigError, DataError
from riskscore.training import splits
from riskscore.training.config import TrainingConfig

Progress = Callable[[str], None]


@dataclass
class TrainingResult:
    model_version: str | None
    run_id: str | None
    bundle_dir: Path
    card_md: Path
    card_html: Path
    metrics: pd.DataFrame
    fairness: pd.DataFrame
    gates: dict[str, Any]
    folds: splits.Folds
    rows: dict[str, int]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def load_feature_table(cfg: TrainingConfig, tables: dict[str, pd.DataFrame], fingerprint: str, progress: Progress) -> pd.DataFrame:
    """Build the point-in-time feature table, reusing the cache when the data is unchanged."""
    years = sorted(tables["students"]["school_year"].unique())
    dates = splits.as_of_dates(years, cfg.as_of_days)
    cache = cfg.data.features_cache
    cached = features.load_if_current(cache, fingerprint=fingerprint, dates=dates)
    if cached is not None:
        progress(f"features: reusing {cache}")
        return cached
    progress(f"features: building {len(dates)} as-of dates over {len(years)} school years")
    table = features.build(tables, dates)
    if cache is not None:
        features.save_table(table, cache, fingerprint=fingerprint, dates=dates)
    return table


def audit_frame(table: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """Audit-only columns joined to the feature rows — for fairness, never for the model."""
    cols = ["student_id", "school_year", *AUDIT_COLUMNS]
    audit = table[["student_id", "school_year", "level"]].merge(students[cols], on=["student_id", "school_year"], how="left")
    audit.index = table.index
    return audit[[*AUDIT_COLUMNS, "level"]].fillna("unknown")


def capacities_for(cfg: TrainingConfig, n_students: int) -> dict[str, int]:
    return {role: max(1, round(k * n_students / 10_000)) for role, k in cfg.capacity_per_10k.items()}


def run(cfg: TrainingConfig, *, tracking_uri: str | None, artifact_root: str | None, out_dir: Path,
        progress: Progress = lambda _m: None, register: bool = True) -> TrainingResult:
    """Train, evaluate, audit and (optionally) register. Pure library: the CLI passes everything in."""
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import evaluation, fairness, modelcard

    t0 = time.perf_counter()
    progress(f"data: reading {cfg.data.dir}")
    tables = datasets.read_tables(cfg.data.dir)
    fp = datasets.fingerprint(tables)
    table = load_feature_table(cfg, tables, fp, progress)
    outcomes = tables.get("outcomes")
    if outcomes is None:
        raise DataError(f"no outcomes table in {cfg.data.dir}: training needs labels")
    y_all = features.label(table, outcomes, horizon_days=cfg.label.horizon_days).astype(int)
    folds = splits.plan_folds(list(tables["students"]["school_year"].unique()), cfg)
    fold = splits.assign_folds(table["as_of"], folds, cfg)
    idx = {name: table.index[fold == name] for name in ("train", "calibration", "test")}
    rows = {name: len(ix) for name, ix in idx.items()}
    for name, n in rows.items():
        if n == 0:
            raise DataError(f"the {name} fold is empty (folds: {folds}); generate more school years")
    progress(f"folds: train {folds.train_years} ({rows['train']} rows), calibration {folds.calibration_year} "
             f"({rows['calibration']}), test {folds.test_year} ({rows['test']})")
    X = table  # estimators select their own columns; audit columns are not in the feature table
    y_tr, y_cal, y_te = y_all[idx["train"]], y_all[idx["calibration"]], y_all[idx["test"]]
    params = cfg.model.model_dump()

    progress("model: additive LightGBM (one feature per tree, monotone where the sign is known)")
    additive = model.AdditiveLGBM(random_state=cfg.seed, **params).fit(X.loc[idx["train"]], y_tr)
    calibrator = model.Calibrator(random_state=cfg.seed).fit(additive.raw_score(X.loc[idx["calibration"]]), y_cal)

    progress("comparisons: unconstrained LightGBM, scorecard; baselines: rules, school level")
    unconstrained = model.UnconstrainedLGBM(random_state=cfg.seed, **params).fit(X.loc[idx["train"]], y_tr)
    unc_cal = model.Calibrator(random_state=cfg.seed).fit(unconstrained.raw_score(X.loc[idx["calibration"]]), y_cal)
    scorecard = model.ScorecardLR(random_state=cfg.seed).fit(X.loc[idx["train"]], y_tr)
    rules_base = model.RulesBaseline().fit(X.loc[idx["train"]], y_tr)
    train_cal = idx["train"].append(idx["calibration"])
    school_base = model.SchoolBaseline().fit(X.loc[train_cal], y_all[train_cal])

    X_te = X.loc[idx["test"]]
    scores = {
        "additive": calibrator.transform(additive.raw_score(X_te)),
        "unconstrained": unc_cal.transform(unconstrained.raw_score(X_te)),
        "scorecard": scorecard.predict_proba(X_te)[:, 1],
        "rules": rules_base.predict_proba(X_te)[:, 1],
        "school_level": school_base.predict_proba(X_te)[:, 1],
    }
    n_per_as_of = int(X_te.groupby("as_of").size().median())
    caps = capacities_for(cfg, n_per_as_of)
    progress(f"evaluation: {len(scores)} models on {len(X_te)} test rows, capacities {caps}, {cfg.evaluation.n_boot} bootstraps")
    metrics = evaluation.evaluate_models(
        y_te.to_numpy(), scores, as_of=X_te["as_of"].to_numpy(), groups=X_te["student_id"].to_numpy(),
        capacities=caps, top_fractions=cfg.evaluation.top_fractions, n_boot=cfg.evaluation.n_boot, seed=cfg.seed,
    )

    progress("fairness: MetricFrame over audit columns and level, with intersections")
    role = cfg.promotion.capacity_role
    flags = evaluation.flag_top_k(scores["additive"], X_te["as_of"].to_numpy(), caps[role], seed=cfg.seed)
    audit = audit_frame(X_te, tables["students"])
    report = fairness.fairness_audit(
        y_te.to_numpy(), flags, scores["additive"], audit, min_group_size=cfg.fairness.min_group_size,
        n_boot=min(cfg.evaluation.n_boot, 100), seed=cfg.seed,
    )
    fairness_violations = fairness.check_gates(report, cfg.fairness.gates.model_dump())
    baseline_cmp = evaluation.compare_at_capacity(
        y_te.to_numpy(), scores, challenger="additive", baselines=cfg.promotion.baselines,
        as_of=X_te["as_of"].to_numpy(), groups=X_te["student_id"].to_numpy(), k=caps[role],
        n_boot=cfg.evaluation.n_boot, seed=cfg.seed,
    )
    gates = {
        "capacity_role": role,
        "k": caps[role],
        "baselines": baseline_cmp,
        "beats_baselines": all(c["beats"] for c in baseline_cmp.values()),
        "fairness_violations": fairness_violations,
        "fairness_summary": report.summary,
        "passed": all(c["beats"] for c in baseline_cmp.values()) and not fairness_violations,
    }

    progress("bundle and model card")
    version_hint = f"{cfg.mlflow.model_name}@{fp}-{cfg.seed}"
    bundle = ModelBundle.from_model(
        additive, calibrator, version=version_hint,
        band_thresholds={"medium": cfg.bands.medium, "high": cfg.bands.high},
        metadata={"data_fingerprint": fp, "folds": _folds_dict(folds), "rows": rows, "seed": cfg.seed,
                  "capacities": caps, "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
                  "metrics": _model_metrics(metrics, "additive"), "gates_passed": bool(gates["passed"]),
                  "fairness_violations": list(fairness_violations)},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="riskscore-train-", dir=out_dir))
    try:
        bundle_dir = work / "bundle"
        bundle.save(bundle_dir)
        card = modelcard.build(
            cfg=cfg, bundle=bundle, additive=additive, calibrator=calibrator, metrics=metrics,
            fairness_report=report, gates=gates, folds=folds, rows=rows,
            test_y=y_te.to_numpy(), test_prob=scores["additive"], out_dir=work / "card",
        )
        reference_snapshot(bundle, X_te, audit).to_parquet(bundle_dir / REFERENCE_FILE, index=False)
        shutil.copy(card.markdown, bundle_dir / "model_card.md")
        shutil.copy(card.html, bundle_dir / "model_card.html")
        metrics.to_csv(work / "metrics.csv", index=False)
        report.table.to_csv(work / "fairness.csv", index=False)
        (work / "gates.json").write_text(json.dumps(gates, indent=2, default=_json_default))

        version = run_id = None
        if register:
            from riskscore import registry

            progress("mlflow: logging run, registering riskscore-vsv, alias challenger")
            if tracking_uri is None:
                raise ConfigError("registering needs an MLflow tracking URI (or train with --no-register)")
            registry.configure(tracking_uri, artifact_root)
            headline = _headline(metrics)
            info = registry.log_training_run(
                experiment=cfg.mlflow.experiment, params={**params, "seed": cfg.seed, **_folds_dict(folds)},
                metrics=headline, config=cfg.model_dump(mode="json"), data_fingerprint=fp,
                artifacts={"model_card.md": card.markdown, "model_card.html": card.html, "metrics.csv": work / "metrics.csv",
                           "fairness.csv": work / "fairness.csv", "gates.json": work / "gates.json", **card.plots},
                bundle_dir=bundle_dir, model_name=cfg.mlflow.model_name,
                tags={"gates_passed": str(gates["passed"]).lower(), "fairness_violations": "; ".join(fairness_violations)},
            )
            version, run_id = str(info.model_version), info.run_id
        final = out_dir / (f"v{version}" if version else "latest")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return TrainingResult(
        model_version=version, run_id=run_id, bundle_dir=final / "bundle", card_md=final / "card" / card.markdown.name,
        card_html=final / "card" / card.html.name, metrics=metrics, fairness=report.table, gates=gates, folds=folds,
        rows=rows, seconds=time.perf_counter() - t0,
    )


REFERENCE_FILE = "reference.parquet"


def reference_snapshot(bundle: Any, X_te: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """The scored frame monitoring compares against: the test year's last as-of date, one row per pupil,
    with the model's features, probability and band, level, school and region, and the audit columns."""
    last = X_te["as_of"].max()
    rows = X_te[X_te["as_of"] == last]
    scored = bundle.score(rows, top_k=1)
    keep = [c for c in ("student_id", "as_of", "school_id", "rmc_region", "municipality", "level") if c in rows.columns]
    frame = rows[keep + [f for f in bundle.features if f not in keep]].copy()
    for col in AUDIT_COLUMNS:
        frame[col] = audit.loc[rows.index, col].to_numpy()
    frame["probability"] = scored.probability
    frame["band"] = scored.band
    return frame.reset_index(drop=True)


def _model_metrics(metrics: pd.DataFrame, model_name: str) -> dict[str, float]:
    """Overall test-year metrics of one model, with CIs where present, for the bundle and /v1/models/current."""
    rows = metrics[(metrics["as_of"] == "all") & (metrics["model"] == model_name)]
    out: dict[str, float] = {}
    for row in rows.to_dict("records"):
        if np.isfinite(row["value"]):
            out[row["metric"]] = round(float(row["value"]), 5)
            for bound in ("ci_low", "ci_high"):
                if bound in row and row[bound] is not None and np.isfinite(row[bound]):
                    out[f"{row['metric']}_{bound}"] = round(float(row[bound]), 5)
    return out


def _headline(metrics: pd.DataFrame) -> dict[str, float]:
    overall = metrics[metrics["as_of"] == "all"]
    out = {}
    for row in overall.itertuples():
        if np.isfinite(row.value):
            out[f"{row.model}.{row.metric}"] = float(row.value)
    return out


def _folds_dict(folds: splits.Folds) -> dict[str, str]:
    return {"train_years": ",".join(folds.train_years), "calibration_year": folds.calibration_year, "test_year": folds.test_year}


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    return str(o)


def comparison_table(metrics: pd.DataFrame, *, metric_names: tuple[str, ...] = ()) -> pd.DataFrame:
    """Models × overall test metrics, for the note, the card and the CLI."""
    overall = metrics[metrics["as_of"] == "all"]
    wide = overall.pivot_table(index="model", columns="metric", values="value", aggfunc="first")
    if metric_names:
        wide = wide[[m for m in metric_names if m in wide.columns]]
    order = [m for m in ("additive", "unconstrained", "scorecard", "rules", "school_level") if m in wide.index]
    return wide.loc[order]


__all__ = ["FEATURES", "TrainingResult", "comparison_table", "run"]
