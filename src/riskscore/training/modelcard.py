"""The model card (Markdown and HTML), with the fields of the Dutch algorithm register.

Written for the data team, reviewers and the public: what the model is for and not for, how the
label is defined, why each feature is justified, how it compares with the simpler alternatives, how
calibrated and how fair it is, and what it cannot know.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.contracts import AUDIT_COLUMNS, FEATURE_SPEC, FEATURES, LEVELS, PROXY_COLUMNS


@dataclass
class Card:
    markdown: Path
    html: Path
    plots: dict[str, Path] = field(default_factory=dict)


def _plt():  # matplotlib only when a card is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def shape_functions(additive: Any, reference: pd.DataFrame | None = None, n_points: int = 60) -> dict[str, pd.DataFrame]:
    """Each feature's contribution curve: exact for an additive model (others held fixed)."""
    curves = {}
    names = [str(f) for f in getattr(additive, "feature_names_in_", FEATURES)]
    for feat in names:
        lo, hi = _feature_range(feat, reference)
        grid = np.unique(np.round(np.linspace(lo, hi, n_points), 3))
        frame = pd.DataFrame({f: np.zeros(len(grid)) for f in names})
        frame[feat] = grid
        contrib = np.asarray(additive.contributions(frame))[:, names.index(feat)]
        curves[feat] = pd.DataFrame({"value": grid, "contribution": contrib})
    return curves


def _feature_range(feat: str, reference: pd.DataFrame | None) -> tuple[float, float]:
    if feat == "level_code":
        return 0.0, float(len(LEVELS) - 1)
    if reference is not None and feat in reference and pd.to_numeric(reference[feat], errors="coerce").notna().any():
        col = pd.to_numeric(reference[feat], errors="coerce").dropna()
        return float(col.quantile(0.001)), float(max(col.quantile(0.995), col.quantile(0.001) + 1))
    return (-20.0, 20.0) if feat == "unauthorised_trend" else (0.0, 40.0)


def build(*, cfg: Any, bundle: Any, additive: Any, calibrator: Any, metrics: pd.DataFrame, fairness_report: Any,
          gates: dict[str, Any], folds: Any, rows: dict[str, int], test_y: np.ndarray, test_prob: np.ndarray,
          out_dir: Path, reference: pd.DataFrame | None = None, verdict: Any = None, front: pd.DataFrame | None = None,
          mitigation_rule: str = "", cv: dict[str, tuple[float, float]] | None = None, audit_source: str = "",
          kind: str = "raw") -> Card:
    from riskscore.training import evaluation

    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    plots: dict[str, Path] = {}

    def save(fig: Any, name: str, dpi: int) -> None:
        fig.tight_layout()
        plots[name] = out_dir / name
        fig.savefig(plots[name], dpi=dpi)
        plt.close(fig)

    # Calibration (reliability) curve on the test fold.
    curve = evaluation.reliability_curve(test_y, test_prob, n_bins=10)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    diagonal = max(0.3, float(curve["mean_predicted"].max()))
    ax.plot([0, diagonal], [0, diagonal], ls="--", c="grey", lw=1)
    ax.plot(curve["mean_predicted"], curve["observed"], marker="o")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed VSV rate")
    ax.set_title("Calibration on the test year")
    save(fig, "calibration.png", dpi=90)

    # One shape function per feature: the model's actual risk curve.
    curves = shape_functions(additive, reference)
    ncols = 4
    nrows = int(np.ceil(len(curves) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.6 * nrows))
    for ax, (feat, df) in zip(np.ravel(axes), curves.items(), strict=False):
        ax.step(df["value"], df["contribution"], where="post")
        ax.axhline(0, c="grey", lw=0.6)
        ax.set_title(feat, fontsize=9)
    for ax in np.ravel(axes)[len(curves):]:
        ax.axis("off")
    fig.suptitle("Shape functions (contribution to the log-odds)")
    save(fig, "shape_functions.png", dpi=80)

    if front is not None and len(front):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(front["worst_tpr_ratio"], front["precision_at_capacity"], c="grey")
        for row in front.itertuples():
            ax.annotate(f"s={row.strength:g} ({row.gate})", (row.worst_tpr_ratio, row.precision_at_capacity), fontsize=8)
        chosen = front[front["chosen"]]
        ax.scatter(chosen["worst_tpr_ratio"], chosen["precision_at_capacity"], s=120, facecolors="none", edgecolors="red",
                   label="chosen")
        if cfg.fairness.gates.tpr_ratio_min is not None:
            ax.axvline(cfg.fairness.gates.tpr_ratio_min, ls="--", c="red", lw=0.8, label="gate")
        ax.set_xlabel("worst TPR ratio against the reference (calibration year)")
        ax.set_ylabel("precision at capacity")
        ax.set_title("Accuracy–fairness front of the mitigation candidates")
        ax.legend(fontsize=8)
        save(fig, "fairness_front.png", dpi=90)

    md = _markdown(cfg=cfg, bundle=bundle, calibrator=calibrator, metrics=metrics, fairness_report=fairness_report,
                   gates=gates, folds=folds, rows=rows, verdict=verdict, front=front, mitigation_rule=mitigation_rule,
                   cv=cv or {}, audit_source=audit_source, kind=kind)
    md_path = out_dir / "model_card.md"
    md_path.write_text(md, encoding="utf-8")
    html_path = out_dir / "model_card.html"
    html_path.write_text(_html(md, out_dir), encoding="utf-8")
    return Card(md_path, html_path, plots)


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, float | np.floating) and np.isfinite(v) else ("–" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fairness_md(cfg: Any, verdict: Any, front: pd.DataFrame | None, mitigation_rule: str, audit_source: str,
                 comparisons: pd.DataFrame | None = None) -> str:
    from riskscore.training.gates import WORDS

    status = verdict.status if verdict is not None else "unmeasured"
    nl, en = WORDS.get(status, (status, status))
    parts = [f"**Fairness gate: {status}** — {en} / {nl}.", "",
             f"Audit attributes: {audit_source or 'none available — fairness is unmeasured, not passed'}. "
             f"Reference group per grouping: {cfg.fairness.reference or 'the largest group'}; "
             f"{cfg.fairness.ci_level:.0%} bootstrap intervals ({cfg.fairness.n_boot} replicates, resampling pupils) of the "
             f"ratio or difference itself; a group with fewer than {cfg.fairness.min_positives} VSV'ers (TPR) or "
             f"{cfg.fairness.min_group_size} pupils is too small to judge. Pass: the interval lies inside the allowed band; "
             "fail: wholly outside; inconclusive: it straddles a bound (promotion then needs a recorded review).", ""]
    if verdict is not None and len(verdict.table):
        t = verdict.table[["gate", "grouping", "group", "reference", "estimate", "ci_low", "ci_high", "positives",
                           "allowed_low", "allowed_high", "verdict"]]
        parts += [_table(t.reset_index(drop=True)), ""]
    if verdict is not None and verdict.lines:
        parts += [f"- {ln}" for ln in verdict.lines] + [""]
    if comparisons is not None and len(comparisons) and cfg.fairness.gates.selection_rate_ratio_min is None:
        sel = comparisons[comparisons["metric"] == "selection_rate"]
        if len(sel):
            parts += ["Selection-rate ratios against the reference (reported; no gate, since base rates may differ):", "",
                      _table(sel[["grouping", "group", "reference", "estimate", "ci_low", "ci_high", "n"]].reset_index(drop=True)), ""]
    if front is not None and len(front):
        parts += ["### Mitigation: accuracy–fairness front (calibration year)",
                  "Candidates reweigh training VSV'ers by group (`training/mitigation.py`, `training_weights` is the only "
                  "place audit attributes touch training); the model never receives an audit attribute, at training or at "
                  f"scoring time. Rule (config `mitigation.rule` = `{cfg.mitigation.rule}`): {mitigation_rule}.", "",
                  _table(front), "", "![front](fairness_front.png)", ""]
    return "\n".join(parts)


def _markdown(*, cfg: Any, bundle: Any, calibrator: Any, metrics: pd.DataFrame, fairness_report: Any,
              gates: dict[str, Any], folds: Any, rows: dict[str, int], verdict: Any = None,
              front: pd.DataFrame | None = None, mitigation_rule: str = "", cv: dict[str, tuple[float, float]] | None = None,
              audit_source: str = "", kind: str = "raw") -> str:
    overall = metrics[metrics["as_of"] == "all"]
    wanted = ["roc_auc", "pr_auc", f"precision_at_{gates['capacity_role']}", "precision_at_top_5pct", "brier", "ece"]
    comp = overall[overall["metric"].isin(wanted)].copy()
    comp["value (95% CI)"] = [
        f"{v:.3f} ({lo:.3f}–{hi:.3f})" if np.isfinite(lo) else f"{v:.3f}" for v, lo, hi in zip(comp["value"], comp["ci_low"], comp["ci_high"], strict=True)
    ]
    comp_wide = comp.pivot_table(index="model", columns="metric", values="value (95% CI)", aggfunc="first")
    comp_wide = comp_wide.reindex([m for m in ("additive", "unconstrained", "scorecard", "rules", "school_level") if m in comp_wide.index])
    comp_wide = comp_wide[[m for m in wanted if m in comp_wide.columns]].reset_index()

    spec = bundle.feature_spec or {f: {"monotone": FEATURE_SPEC[f][0], "justification": FEATURE_SPEC[f][1]} for f in FEATURES}
    words = {1: "never lowers risk", 0: "free", -1: "never raises risk"}
    feat_rows = pd.DataFrame(
        [{"feature": f, "monotone": words.get(int(spec.get(f, {}).get("monotone", 0)), "free"),
          "reason (category)": f"{bundle.catalogue[f].code} ({bundle.catalogue[f].category})" if f in bundle.catalogue else "–",
          "why it is justified": spec.get(f, {}).get("justification", "–")} for f in bundle.features]
    )
    cv_line = "".join(f"- {m}: cross-validated ROC-AUC {mean:.3f} ± {sd:.3f} (all rows)\n" for m, (mean, sd) in (cv or {}).items())
    if kind == "raw":
        data_md = f"""- As-of dates: {', '.join(cfg.as_of_days)} (month-day) of each school year; features use only records dated on or before the as-of date.
- Label: the pupil became a voortijdig schoolverlater (left school without startkwalificatie, aged 12–23, not from pro/vso)
  within {cfg.label.horizon_days} days after the as-of date.
- Folds (temporal, with embargo = {cfg.split.embargo}): train {', '.join(folds.train_years)} ({rows['train']} rows),
  calibration {folds.calibration_year} ({rows['calibration']} rows), test {folds.test_year} ({rows['test']} rows)."""
    else:
        data_md = f"""- One flat table `{cfg.table.path.name if cfg.table else ''}`; label: `{cfg.table.target if cfg.table else ''}` in {cfg.table.positive if cfg.table else ''}.
- Folds (stratified, random): train {rows['train']}, calibration {rows['calibration']}, test {rows['test']} rows.
{cv_line}"""
    ftab = fairness_report.table
    show = ftab[ftab.get("suppressed", False) == False] if "suppressed" in ftab else ftab  # noqa: E712
    show = show.head(40)
    gate_lines = [f"- vs `{name}`: {c['challenger']:.3f} vs {c['baseline']:.3f}, difference CI "
                  f"[{c['diff_ci_low']:.3f}, {c['diff_ci_high']:.3f}] → {'beats' if c['beats'] else 'does not beat'}"
                  for name, c in gates["baselines"].items()]
    violations = gates.get("fairness_lines") or gates["fairness_violations"] or ["none"]
    return f"""# Model card — riskscore-vsv (`{bundle.version}`)

**This model produces signals for a human review, never decisions.** A score asks a mentor, youth doctor,
attendance officer or RMC to look at a young person's situation; it does not say what is wrong or what to do.

## Intended use
- Prioritising which pupils a care team (zorgteam) looks at first, within its capacity.
- Routing a signal to the right reviewer through its reasons (absence → leerplicht/RMC, sick reporting → jeugdarts,
  transition to mbo → school's decaan and RMC).

## Not intended for
- Any automated decision about a young person (sanctions, admission, benefits, enforcement).
- Comparing or ranking schools, teachers or neighbourhoods.
- Use on populations unlike the training data without re-validation (see monitoring).

## Data and label
- Data snapshot fingerprint: `{bundle.metadata.get('data_fingerprint')}`.
{data_md}

## Features and why each is justified
Protected and proxy attributes ({', '.join(AUDIT_COLUMNS + PROXY_COLUMNS)}, and their aliases and spellings, see
`model/guard.py`) are **never** features; the audit columns ({', '.join(cfg.fairness.groupings)}) live in a separate
table and are used only to measure fairness (and, in mitigation, to weight training rows). School level is a
documented, monitored exception.

{_table(feat_rows)}

## Model
An additive LightGBM (every tree uses one feature; monotone constraints where the sign is known), so each feature's
contribution is exact and drawn below, plus a {getattr(calibrator, 'method_', 'fitted')} calibrator chosen on the calibration fold.
Bands: medium ≥ {cfg.bands.medium:.2f}, high ≥ {cfg.bands.high:.2f} (calibrated probability).

![shape functions](shape_functions.png)

## Performance on the test year, against comparisons and baselines
Capacity k per as-of date: {gates['k']} ({gates['capacity_role']}). 95 % bootstrap intervals, resampling pupils.

{_table(comp_wide)}

![calibration](calibration.png)

## Promotion gates
{chr(10).join(gate_lines)}
- Fairness gate: **{gates.get('fairness_verdict', 'unmeasured')}** ({'; '.join(violations)})
- **Passed: {gates['passed']}**

## Fairness gate (test year, flags = top-k at capacity)
{_fairness_md(cfg, verdict, front, mitigation_rule, audit_source, getattr(fairness_report, "comparisons", None))}

### Per group
Groups smaller than {cfg.fairness.min_group_size} are suppressed. Selection rate, TPR, FPR, precision and calibration gap per group.

{_table(show.reset_index(drop=True)) if len(show) else 'no group large enough'}

## Known limitations
- Interventions change outcomes: a pupil who was helped and stayed is a "false alarm" in the data; measured precision
  understates usefulness, and retraining on post-deployment data learns the effect of help, not only of risk.
- The label comes from enrolment registrations; moves abroad and registration errors count as VSV.
- Recorded absence depends on how strictly a school records it: a stricter school looks riskier. Monitoring watches
  selection rates by group for this.
- Trained on synthetic data in this repository; real deployments must re-validate on their own region.
- Rare groups and small schools have wide uncertainty.

## Algoritmeregister (Dutch algorithm register)
| field | value |
|---|---|
| Naam | riskscore-vsv — signalering voortijdig schoolverlaten |
| Organisatie | the deploying municipality / RMC region |
| Korte omschrijving | Kans op voortijdig schoolverlaten binnen 12 maanden, met redenen, als signaal voor een gesprek |
| Doel en impact | Vroeg signaleren zodat school, jeugdarts, leerplicht of RMC tijdig een gesprek voert |
| Type algoritme | Regels (wettelijk) + additief gradient-boosted model (glass box), gekalibreerd |
| Menselijke tussenkomst | Elk signaal wordt door een mens beoordeeld; er wordt geen besluit genomen door het algoritme |
| Wettelijke basis | Leerplichtwet 1969; WEB art. 8.0.1; RMC-wetgeving; Regeling gegevensverstrekking VVA |
| Risicobeheer | Fairness-gates vóór promotie, doorlopende monitoring van drift en selectie per groep |
| Impacttoetsen | DPIA en IAMA vereist vóór inzet (EU AI Act: hoog risico, bijlage III onderwijs) |
| Data | Verzuim, ziekmeldingen, aanmeldingen mbo (VVA), in- en uitschrijvingen; geen beschermde kenmerken als invoer |
| Status | {'in gebruik (champion)' if gates['passed'] else 'in ontwikkeling (challenger)'} |
"""


def _html(md: str, folder: Path) -> str:
    import markdown

    body = markdown.markdown(md, extensions=["tables"])
    for name in ("shape_functions.png", "calibration.png", "fairness_front.png"):
        path = folder / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode()
            body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{data}"')
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Model card riskscore-vsv</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
        "table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
        "img{max-width:100%}</style></head><body>" + body + "</body></html>"
    )
