"""Does the impact evaluation find an effect that is there, and no effect when there is none?

Per seed: a synthetic cohort (two school years), the real batch job at 1 February of the first year
(school capacity only, so one cut-off per school), the intervention knob (synthetic.Intervention)
applied to flagged pupils whose case was acted on, and monitoring.impact's estimate. The truth at the
cut-off is known: the same seed's coupled potential outcomes (every pool pupil treated vs none) give
each pupil's intent-to-treat effect, and a local linear fit of those at x = 0 over the rows the
estimate compares (comparison_rows), with its kernel and bandwidth, is the estimand. Lives with the
commands because it drives batch (a layer above monitoring)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.monitoring.impact import (
    OUTCOMES,
    ImpactConfig,
    attach_outcomes,
    comparison_rows,
    estimate,
    running_frame,
)
from riskscore.synthetic import Intervention, apply_intervention, generate

AS_OF = dt.date(2024, 2, 1)
FIRST_YEAR = "2023-24"
PLANTED = Intervention(absence_reduction=1.0, vsv_reduction=1.0, acted_share=0.9)
NONE = Intervention(absence_reduction=0.0, vsv_reduction=0.0, acted_share=0.8)


def local_truth(tau: np.ndarray, x: np.ndarray, h: float) -> float:
    """Intercept at x=0 of a triangular-kernel weighted linear fit of tau on x within |x| <= h."""
    w = np.clip(1 - np.abs(x) / h, 0, None)
    keep = w > 0
    if keep.sum() < 3:
        return float("nan")
    X = np.column_stack([np.ones(keep.sum()), x[keep]])
    W = w[keep]
    beta = np.linalg.lstsq(X * np.sqrt(W)[:, None], tau[keep] * np.sqrt(W), rcond=None)[0]
    return float(beta[0])


def one_seed(seed: int, bundle: Any, *, n_students: int = 10_000, planted: Intervention = PLANTED,
             config: ImpactConfig | None = None, capacity_per_10k: int = 300) -> list[dict[str, Any]]:
    """Rows (seed, condition, outcome, truth, estimate, ci, covers, excludes_zero, status)."""
    from riskscore.batch import ScoringConfig, prepare
    from riskscore.review import signal_keys

    cfg = config or ImpactConfig()
    tables = generate(n_students, 2, seed, first_year=FIRST_YEAR)
    prepared = prepare(tables, AS_OF, bundle, config=ScoringConfig(
        capacity_per_10k={"school": capacity_per_10k, "leerplicht": 0, "jeugdarts": 0, "rmc": 0}))
    scores = pd.DataFrame([s.to_dict() for s in prepared.students]).assign(run_id=1, as_of=pd.Timestamp(AS_OF))
    cases = pd.DataFrame(signal_keys(prepared.candidates), columns=["student_id", "role", "reason"]).assign(
        as_of=pd.Timestamp(AS_OF))
    ids = sorted(scores["student_id"].astype(str))
    u = np.random.default_rng([seed, 7]).random(len(ids))
    draw = dict(zip(ids, u, strict=True))
    rows: list[dict[str, Any]] = []
    for condition, knob in (("effect", planted), ("no_effect", Intervention(0.0, 0.0, planted.acted_share))):
        would = {sid for sid in ids if draw[sid] < knob.acted_share}
        cases["reviewed"] = (cases["reason"] == "capacity") & cases["student_id"].isin(would)
        frame = running_frame(scores, cases)
        frame = frame.loc[frame["role"] == "school"].reset_index(drop=True)
        flagged_acted = set(frame.loc[frame["flagged"] & frame["reviewed"], "student_id"])
        observed = attach_outcomes(frame, apply_intervention(tables, dict.fromkeys(flagged_acted, AS_OF), knob, seed=seed),
                                   config=cfg)
        y0 = attach_outcomes(frame, tables, config=cfg)
        pool_would = set(frame["student_id"]) & would
        y1 = attach_outcomes(frame, apply_intervention(tables, dict.fromkeys(pool_would, AS_OF), knob, seed=seed),
                             config=cfg)
        for outcome in OUTCOMES:
            est = estimate(observed, role="school", outcome=outcome, config=cfg)
            # the truth on the rows the estimate compares (the teams' symmetric windows), same x, kernel, bandwidth
            rows_used = comparison_rows(observed, role="school", outcome=outcome, config=cfg)
            tau = (y1[outcome] - y0[outcome]).loc[rows_used.index].to_numpy(dtype=float)
            truth = (local_truth(tau, rows_used["x"].to_numpy(dtype=float), est.bandwidth)
                     if est.status == "ok" and est.bandwidth else float("nan"))
            covers = est.status == "ok" and est.ci_low is not None and est.ci_high is not None and \
                est.ci_low <= truth <= est.ci_high
            excl = est.status == "ok" and est.ci_low is not None and est.ci_high is not None and \
                not (est.ci_low <= 0 <= est.ci_high)
            rows.append({"seed": seed, "condition": condition, "outcome": outcome, "status": est.status,
                         "truth": truth, "estimate": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
                         "covers_truth": bool(covers), "excludes_zero": bool(excl),
                         "n_within_h": est.n_left_h + est.n_right_h, "bandwidth": est.bandwidth,
                         "density_p": est.density_p,
                         "reviewed_left": est.first_stage.get("reviewed_left"),
                         "reviewed_right": est.first_stage.get("reviewed_right")})
    return rows


def simulate(seeds: Sequence[int], *, bundle_dir: Path, n_students: int = 10_000, planted: Intervention = PLANTED,
             config: ImpactConfig | None = None, capacity_per_10k: int = 300,
             progress: Callable[[str], None] = lambda _m: None) -> pd.DataFrame:
    from riskscore.model.bundle import ModelBundle

    bundle = ModelBundle.load(bundle_dir)
    rows: list[dict[str, Any]] = []
    for i, seed in enumerate(seeds, 1):
        rows += one_seed(int(seed), bundle, n_students=n_students, planted=planted, config=config,
                         capacity_per_10k=capacity_per_10k)
        progress(f"seed {seed} ({i}/{len(seeds)})")
    return pd.DataFrame(rows)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per condition and outcome: seeds, usable estimates, coverage of the truth, share excluding zero,
    mean truth and mean estimate."""
    g = results.groupby(["condition", "outcome"], sort=False)
    return pd.DataFrame({
        "seeds": g.size(),
        "ok": g["status"].apply(lambda s: int((s == "ok").sum())),
        "coverage": g["covers_truth"].mean(),
        "excludes_zero": g["excludes_zero"].mean(),
        "mean_truth": g["truth"].mean(),
        "mean_estimate": g["estimate"].mean(),
        "mean_n_within_h": g["n_within_h"].mean(),
    }).reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in table.to_dict("records"):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in rec.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
