"""The data team's pipeline: data → (mitigated) additive model + calibrator → comparisons and
baselines → evaluation → fairness audit and gates → model bundle + model card → MLflow run.

Each step is a function in steps.py; `run` chains them and packages the result.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.audit_table import audit_frame
from riskscore.contracts import FEATURES
from riskscore.errors import ConfigError
from riskscore.review.frame import snapshot
from riskscore.training import splits, steps
from riskscore.training.config import TrainingConfig
from riskscore.training.steps import capacities_for

Progress = Callable[[str], None]
#: the champion's monitoring reference, two files in the bundle: anonymous scored rows, and pupils per
#: (audit column, group, band) with small cells suppressed. Neither names a pupil or carries an audit column
#: per row (the bundle goes to MLflow and to every server, out of reach of `riskscore privacy erase`).
REFERENCE_FILE = "reference.parquet"
REFERENCE_GROUPS_FILE = "reference_groups.parquet"
#: what monitoring reads from a reference row besides the model features, probability and band:
#: as_of (the report's date), level (fairness per level), school_id and rmc_region (the breakdowns)
REFERENCE_ROW_COLUMNS = ("as_of", "school_id", "rmc_region", "level")
#: a count of pupils below this is not stored in reference_groups.parquet
MIN_CELL = 10
BANDS = ("low", "medium", "high")
ALL_BANDS = "all"  # the group's pupils over every band


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


@dataclass
class Trained:
    """What the steps produced, before packaging."""

    prep: steps.Prepared
    additive: Any
    calibrator: Any
    mitigated: steps.Mitigated
    scores: dict[str, np.ndarray]
    metrics: pd.DataFrame
    caps: dict[str, int]
    report: Any
    verdict: Any
    gates: dict[str, Any]
    cv: dict[str, tuple[float, float]] = field(default_factory=dict)
    orderings: pd.DataFrame = field(default_factory=pd.DataFrame)  # both capacity orderings, side by side
    fairness_by_ordering: dict[str, Any] = field(default_factory=dict)  # ordering -> (report, verdict)
    fairness_fold: str = "test"  # "test", or "all" (out-of-fold over every row of a small flat table)
    warnings: list[str] = field(default_factory=list)


def train(cfg: TrainingConfig, progress: Progress = lambda _m: None) -> Trained:
    """All steps up to the gates: pure computation, nothing written."""
    from riskscore.training import gates as gate_words

    prep = steps.prepare(cfg, progress)
    rows = prep.rows
    progress(f"folds: train {prep.folds.train_years} ({rows['train']} rows), calibration {prep.folds.calibration_year} "
             f"({rows['calibration']}), test {prep.folds.test_year} ({rows['test']})")
    progress("model: additive LightGBM (one feature per tree, monotone where the sign is known)"
             + ("; mitigation candidates by reweighing" if cfg.mitigation.method != "none" else ""))
    mitigated = steps.mitigate(cfg, prep, progress)
    warnings = [*prep.warnings, *steps.no_effect_warnings(prep, mitigated.model)]
    for w in warnings[len(prep.warnings):]:
        progress(f"warning: {w}")
    calibrator = steps.fit_calibrator(cfg, prep, mitigated.model)
    baselines = cfg.promotion.resolved_baselines(table=cfg.table)
    progress("comparisons: unconstrained LightGBM, scorecard" + (f"; baselines: {', '.join(baselines)}" if baselines else ""))
    comparisons = steps.fit_comparisons(cfg, prep)
    scores = steps.test_scores(prep, mitigated.model, calibrator, comparisons)
    progress(f"evaluation: {len(scores)} models on {rows['test']} test rows, {cfg.evaluation.n_boot} bootstraps")
    metrics, caps = steps.evaluate(cfg, prep, scores)
    X_te, _ = prep.part("test")
    test_excess = steps.explain_bundle(prep, mitigated.model, calibrator).score(X_te, top_k=1).excess
    fold = steps.fairness_rows(cfg, prep)
    if fold == "all":
        progress(f"fairness: small table ({len(prep.X)} rows) — judged on out-of-fold predictions over all rows "
                 f"({cfg.table.cv_folds if cfg.table else 5}-fold)")
        oof = steps.out_of_fold(cfg, prep, strength=mitigated.chosen_strength, multipliers=mitigated.multipliers)
        prob_f, excess_f = oof["probability"], oof["excess"]
    else:
        prob_f, excess_f = scores["additive"], test_excess
    progress("fairness: both capacity orderings (probability, excess over the context), each group against its reference")
    orderings, fair = steps.orderings_table(cfg, prep, fold, prob_f, excess_f)
    report, verdict = fair[cfg.capacity_ordering]
    progress(f"fairness: {gate_words.summary_line(verdict)} (ordering: {cfg.capacity_ordering})")
    challenger = "additive" if cfg.capacity_ordering == "probability" else "additive_excess"
    gates = steps.decide(cfg, prep, {**scores, "additive_excess": test_excess}, caps, verdict, challenger=challenger)
    gates["fairness_rows"] = "out-of-fold, all rows" if fold == "all" else "test fold"
    gates["warnings"] = list(warnings)
    gates["orderings"] = _orderings_summary(orderings, fair, cfg.promotion.capacity_role)
    cv: dict[str, tuple[float, float]] = {}
    if prep.kind == "table" and cfg.table is not None:
        progress(f"cross-validation: {cfg.table.cv_folds}-fold ROC-AUC on all rows")
        cv = steps.cross_validated_auc(cfg, prep, folds=cfg.table.cv_folds)
    return Trained(prep, mitigated.model, calibrator, mitigated, scores, metrics, caps, report, verdict, gates, cv,
                   orderings=orderings, fairness_by_ordering=fair, fairness_fold=fold, warnings=warnings)


def _orderings_summary(orderings: pd.DataFrame, fair: dict[str, Any], role: str) -> dict[str, Any]:
    """Both orderings at the promotion role's capacity, for gates.json: precision, recall, fairness verdict."""
    from riskscore.training.gates import summary_line

    out: dict[str, Any] = {}
    for ordering, (_report, verdict) in fair.items():
        sub = orderings[(orderings["ordering"] == ordering) & (orderings["role"] == role)]
        out[ordering] = {row["metric"]: round(float(row["value"]), 4) for row in sub.to_dict("records")
                         if np.isfinite(row["value"])}
        out[ordering]["fairness"] = summary_line(verdict)
    return out


def run(cfg: TrainingConfig, *, tracking_uri: str | None, artifact_root: str | None, out_dir: Path,
        progress: Progress = lambda _m: None, register: bool = True) -> TrainingResult:
    """Train, evaluate, audit and (optionally) register. Pure library: the CLI passes everything in."""
    t0 = time.perf_counter()
    t = train(cfg, progress)
    version, run_id, final, card = package(cfg, t, tracking_uri=tracking_uri, artifact_root=artifact_root,
                                          out_dir=out_dir, progress=progress, register=register)
    return TrainingResult(
        model_version=version, run_id=run_id, bundle_dir=final / "bundle", card_md=final / "card" / card.markdown.name,
        card_html=final / "card" / card.html.name, metrics=t.metrics, fairness=t.report.table, gates=t.gates,
        folds=t.prep.folds, rows=t.prep.rows, seconds=time.perf_counter() - t0,
        extra={"front": t.mitigated.front, "comparisons": t.verdict.table, "cv_auc": t.cv, "verdict": t.verdict,
               "prepared": t.prep, "calibrator": t.calibrator, "additive": t.additive},
    )


def package(cfg: TrainingConfig, t: Trained, *, tracking_uri: str | None, artifact_root: str | None, out_dir: Path,
            progress: Progress, register: bool) -> tuple[str | None, str | None, Path, Any]:
    """Bundle, model card, reference snapshot and artifacts; MLflow run when `register`."""
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import modelcard
    from riskscore.training.gates import summary_line

    prep, gates = t.prep, t.gates
    folds, rows, fp = prep.folds, prep.rows, prep.fingerprint
    progress("bundle and model card")
    bundle = ModelBundle.from_model(
        t.additive, t.calibrator, version=f"{cfg.mlflow.model_name}@{fp}-{cfg.seed}",
        band_thresholds={"medium": cfg.bands.medium, "high": cfg.bands.high},
        catalogue=prep.catalogue, feature_spec=prep.feature_spec, reference=prep.part("calibration")[0],
        metadata={"data_fingerprint": fp, "folds": _folds_dict(folds), "rows": rows, "seed": cfg.seed,
                  "capacities": t.caps, "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
                  "metrics": _model_metrics(t.metrics, "additive"), "gates_passed": bool(gates["passed"]),
                  "fairness_verdict": gates["fairness_verdict"], "fairness_violations": list(gates["fairness_violations"]),
                  "fairness_unmeasured": gates.get("fairness_unmeasured", {}),
                  "mitigation_strength": t.mitigated.chosen_strength, "capacity_ordering": cfg.capacity_ordering,
                  "outcome": prep.outcome, "warnings": list(t.warnings)},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="riskscore-train-", dir=out_dir))
    try:
        bundle_dir = work / "bundle"
        bundle.save(bundle_dir)
        X_te, y_te = prep.part("test")
        card = modelcard.build(
            cfg=cfg, bundle=bundle, additive=t.additive, calibrator=t.calibrator, metrics=t.metrics,
            fairness_report=t.report, gates=gates, folds=folds, rows=rows, test_y=y_te,
            test_prob=t.scores["additive"], out_dir=work / "card", verdict=t.verdict, front=t.mitigated.front,
            mitigation_rule=t.mitigated.rule_outcome, cv=t.cv, audit_source=prep.audit_source, kind=prep.kind,
            reference=X_te, prep=prep, orderings=t.orderings, fairness_by_ordering=t.fairness_by_ordering,
            fairness_fold=t.fairness_fold, warnings=t.warnings,
        )
        if prep.kind == "raw":
            write_reference(bundle_dir, bundle, X_te, prep.audit.loc[X_te.index])
        shutil.copy(card.markdown, bundle_dir / "model_card.md")
        shutil.copy(card.html, bundle_dir / "model_card.html")
        t.metrics.to_csv(work / "metrics.csv", index=False)
        t.report.table.to_csv(work / "fairness.csv", index=False)
        t.verdict.table.to_csv(work / "fairness_gate.csv", index=False)
        t.report.comparisons.to_csv(work / "fairness_comparisons.csv", index=False)
        t.mitigated.front.to_csv(work / "mitigation_front.csv", index=False)
        t.orderings.to_csv(work / "orderings.csv", index=False)
        (work / "gates.json").write_text(json.dumps(gates, indent=2, default=_json_default))

        version = run_id = None
        if register:
            from riskscore import registry

            progress("mlflow: logging run, registering, alias challenger")
            if tracking_uri is None:
                raise ConfigError("registering needs an MLflow tracking URI (or train with --no-register)")
            registry.configure(tracking_uri, artifact_root)
            info = registry.log_training_run(
                experiment=cfg.mlflow.experiment,
                params={**cfg.model.model_dump(), "seed": cfg.seed, **_folds_dict(folds),
                        "mitigation_strength": t.mitigated.chosen_strength},
                metrics=_headline(t.metrics), config=cfg.model_dump(mode="json"), data_fingerprint=fp,
                artifacts={"model_card.md": card.markdown, "model_card.html": card.html, "metrics.csv": work / "metrics.csv",
                           "fairness.csv": work / "fairness.csv", "fairness_gate.csv": work / "fairness_gate.csv",
                           "fairness_comparisons.csv": work / "fairness_comparisons.csv",
                           "mitigation_front.csv": work / "mitigation_front.csv", "gates.json": work / "gates.json",
                           "orderings.csv": work / "orderings.csv",
                           **card.plots},
                bundle_dir=bundle_dir, model_name=cfg.mlflow.model_name,
                tags={"gates_passed": str(gates["passed"]).lower(), "beats_baselines": str(gates["beats_baselines"]).lower(),
                      "fairness_verdict": gates["fairness_verdict"],
                      "fairness_summary": summary_line(t.verdict)[:4000],
                      "fairness_violations": "; ".join(gates["fairness_lines"])[:4000]},
            )
            version, run_id = str(info.model_version), info.run_id
        final = out_dir / (f"v{version}" if version else "latest")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return version, run_id, final, card


def reference_snapshot(bundle: Any, X_te: pd.DataFrame, audit: pd.DataFrame) -> pd.DataFrame:
    """A scored frame: the last as-of date of `X_te`, one row per pupil, with student_id, the model's
    features, probability and band, base and excess, level, school, municipality and region, and the
    audit columns — the same columns as a scoring run's monitoring frame (review.frame).

    The bundle never gets it whole: `write_reference` splits it into anonymous rows and suppressed group
    counts."""
    last = X_te["as_of"].max()
    rows = X_te[X_te["as_of"] == last]
    scored = bundle.score(rows, top_k=1)
    return snapshot(rows, scored.probability, scored.band, bundle.features, audit, base=scored.base,
                    excess=scored.excess)


def anonymous_rows(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The rows of the bundle's reference.parquet: only what monitoring reads per row (REFERENCE_ROW_COLUMNS,
    the model features, probability, band, base and excess). No student_id, no audit column, no municipality; sorted by
    school, level and score, so the order does not follow the pupil list either."""
    cols = [c for c in REFERENCE_ROW_COLUMNS if c in frame.columns]
    cols += [f for f in features if f in frame.columns and f not in cols]
    rows = frame[[*cols, "probability", "band", *[c for c in ("base", "excess") if c in frame.columns]]]
    order = [c for c in ("as_of", "school_id", "level", "probability") if c in rows.columns]
    return rows.sort_values(order, kind="mergesort").reset_index(drop=True)


def reference_groups(frame: pd.DataFrame, columns: Sequence[str], *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Pupils of the reference per (audit column, group, band), and per group over all bands (band "all"):
    what monitoring needs to compare flag rates per audit group, whichever bands count as flagged then.

    Columns: column, group, band, n (empty when suppressed), suppressed. A count under `min_cell` is
    suppressed, and so is, where needed, a second count of the same group or band, so that no suppressed
    count can be worked out from the others (a group's bands add up to its "all"; a band's groups add up
    to that band's rows in reference.parquet, which anyone with the bundle can count). The sum of two
    suppressed counts can be (a small group's flagged pupils, say): that is the price of keeping the
    large groups comparable."""
    out = []
    band = frame["band"].astype(str)
    for col in columns:
        if col not in frame.columns:
            continue
        counts = pd.crosstab(frame[col].astype(str), band).reindex(columns=list(BANDS), fill_value=0)
        counts[ALL_BANDS] = counts.sum(axis=1)
        hidden = _suppress(counts, min_cell)
        for group in counts.index:
            for b in counts.columns:
                out.append({"column": col, "group": str(group), "band": b,
                            "n": None if hidden.loc[group, b] else int(counts.loc[group, b]),
                            "suppressed": bool(hidden.loc[group, b])})
    table = pd.DataFrame(out, columns=["column", "group", "band", "n", "suppressed"])
    table["n"] = table["n"].astype("Int64")
    return table


def _suppress(counts: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Which cells of one column's group × band table to suppress: every count under min_cell, then more
    until no suppressed count can be worked out from the others. The lines are each group (its bands add
    up to its "all") and each band (its groups add up to that band's rows in reference.parquet); a line
    with one suppressed cell gives it away, so its smallest visible cell is suppressed too, a band before
    the group's "all" (with "all" and the other bands visible the group's flag rate is still known)."""
    hidden = counts < min_cell
    bands = [b for b in counts.columns if b != ALL_BANDS]
    changed = True
    while changed:
        changed = False
        for group in counts.index:
            hid, values = hidden.loc[group], counts.loc[group]
            if int(hid.sum()) == 1:
                visible = [c for c in bands if not hid[c]] or [ALL_BANDS]
                hidden.loc[group, min(visible, key=lambda c: int(values[c]))] = True
                changed = True
        for b in counts.columns:
            hid, values = hidden[b], counts[b]
            visible = [g for g in counts.index if not hid[g]]
            if int(hid.sum()) == 1 and visible:
                hidden.loc[min(visible, key=lambda g: int(values[g])), b] = True
                changed = True
    return hidden


def write_reference(bundle_dir: Path, bundle: Any, X_te: pd.DataFrame, audit: pd.DataFrame) -> tuple[Path, Path]:
    """The monitoring reference in the bundle folder: reference.parquet (anonymous rows) and
    reference_groups.parquet (pupils per audit column, group and band; small cells suppressed). The whole
    scored frame they come from names pupils and is not written."""
    frame = reference_snapshot(bundle, X_te, audit)
    rows = anonymous_rows(frame, bundle.features)
    audit_columns = [c for c in audit.columns if c not in rows.columns]
    rows_path, groups_path = Path(bundle_dir) / REFERENCE_FILE, Path(bundle_dir) / REFERENCE_GROUPS_FILE
    rows.to_parquet(rows_path, index=False)
    reference_groups(frame, audit_columns).to_parquet(groups_path, index=False)
    return rows_path, groups_path


def _model_metrics(metrics: pd.DataFrame, model_name: str) -> dict[str, float]:
    """Overall test metrics of one model, with CIs where present, for the bundle and /v1/models/current."""
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
    return {f"{row.model}.{row.metric}": float(row.value) for row in overall.itertuples() if np.isfinite(row.value)}


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


__all__ = ["FEATURES", "MIN_CELL", "REFERENCE_FILE", "REFERENCE_GROUPS_FILE", "REFERENCE_ROW_COLUMNS", "Trained",
           "TrainingResult", "anonymous_rows", "audit_frame", "capacities_for", "comparison_table", "package",
           "reference_groups", "reference_snapshot", "run", "train", "write_reference"]
