"""The model card (Markdown and HTML), with the fields of the Dutch algorithm register.

Written for the data team, reviewers and the public: what the model is for and not for, how the
label is defined, why each feature is justified, how it compares with the simpler alternatives, how
calibrated and how fair it is, and what it cannot know. It describes the data the model was actually
trained on — the Dutch raw tables (VSV) or a flat table of your own (its outcome, its folds, its audit
columns, real or synthetic) — never the VSV defaults for another dataset.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.contracts import FEATURE_SPEC, FEATURES, LEVELS


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
    """Each feature's contribution curve: exact for an additive model (others held fixed). A
    categorical feature gets one point per category (column ``label`` names it)."""
    curves = {}
    names = [str(f) for f in getattr(additive, "feature_names_in_", FEATURES)]
    categories = getattr(additive, "categories_", None) or {}

    def frame_of(n: int) -> pd.DataFrame:  # every other feature held at 0 (or its first category)
        return pd.DataFrame({f: [(categories[f] or [""])[0]] * n if f in categories else np.zeros(n) for f in names})

    for feat in names:
        if feat in categories:
            labels = list(categories[feat])
            frame = frame_of(len(labels))
            frame[feat] = labels
            grid = np.arange(len(labels), dtype=float)
        else:
            lo, hi = _feature_range(feat, reference)
            grid = np.unique(np.round(np.linspace(lo, hi, n_points), 3))
            frame = frame_of(len(grid))
            frame[feat] = grid
            labels = None
        contrib = np.asarray(additive.contributions(frame))[:, names.index(feat)]
        curve = pd.DataFrame({"value": grid, "contribution": contrib})
        if labels is not None:
            curve["label"] = labels
        curves[feat] = curve
    return curves


def _feature_range(feat: str, reference: pd.DataFrame | None) -> tuple[float, float]:
    if feat == "level_code":
        return 0.0, float(len(LEVELS) - 1)
    if reference is not None and feat in reference and pd.to_numeric(reference[feat], errors="coerce").notna().any():
        col = pd.to_numeric(reference[feat], errors="coerce").dropna()
        return float(col.quantile(0.001)), float(max(col.quantile(0.995), col.quantile(0.001) + 1))
    return (-20.0, 20.0) if feat == "unauthorised_trend" else (0.0, 40.0)


def title_of(cfg: Any) -> str:
    return str(cfg.card.title or cfg.mlflow.model_name)


def _fold_words(kind: str) -> str:
    return "test year" if kind == "raw" else "test fold (random 20 %)"


def identity_check(bundle: Any, X: pd.DataFrame) -> float:
    """Max |base + Σ contributions − logit(p)| over the rows (log-odds scale), or − the uncalibrated
    score (score scale): how exactly the reasons add up, measured on every row."""
    scored = bundle.score(X, top_k=1)
    total = bundle.intercept + scored.contributions.sum(axis=1)  # intercept + context + signals, summed afresh
    if bundle.scale == "log_odds":
        p = np.clip(scored.probability, 1e-300, 1 - 1e-16)
        target = np.log(p) - np.log1p(-p)
    else:
        target = scored.raw
    return float(np.max(np.abs(total - target))) if len(X) else float("nan")


def build(*, cfg: Any, bundle: Any, additive: Any, calibrator: Any, metrics: pd.DataFrame, fairness_report: Any,
          gates: dict[str, Any], folds: Any, rows: dict[str, int], test_y: np.ndarray, test_prob: np.ndarray,
          out_dir: Path, reference: pd.DataFrame | None = None, verdict: Any = None, front: pd.DataFrame | None = None,
          mitigation_rule: str = "", cv: dict[str, tuple[float, float]] | None = None, audit_source: str = "",
          kind: str = "raw", prep: Any = None, orderings: pd.DataFrame | None = None,
          fairness_by_ordering: dict[str, Any] | None = None, fairness_fold: str = "test",
          warnings: list[str] | None = None) -> Card:
    from riskscore.training import evaluation

    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    plots: dict[str, Path] = {}
    outcome = getattr(prep, "outcome", "VSV") if prep is not None else "VSV"

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
    ax.set_ylabel(f"observed rate ({outcome})")
    ax.set_title(f"Calibration on the {_fold_words(kind)}")
    save(fig, "calibration.png", dpi=90)

    # One shape function per feature: the model's actual risk curve.
    curves = shape_functions(additive, reference)
    ncols = 4
    nrows = int(np.ceil(len(curves) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.6 * nrows))
    for ax, (feat, df) in zip(np.ravel(axes), curves.items(), strict=False):
        if "label" in df:
            ax.bar(range(len(df)), df["contribution"])
            ax.set_xticks(range(len(df)), [str(v)[:10] for v in df["label"]], fontsize=7, rotation=45)
        else:
            ax.step(df["value"], df["contribution"], where="post")
        ax.axhline(0, c="grey", lw=0.6)
        kind_of = (bundle.feature_spec.get(feat) or {}).get("kind", "signal")
        ax.set_title(f"{feat} ({kind_of})", fontsize=9)
    for ax in np.ravel(axes)[len(curves):]:
        ax.axis("off")
    fig.suptitle("Shape functions (contribution to the uncalibrated score; times the Platt slope on the log-odds)")
    save(fig, "shape_functions.png", dpi=80)

    if front is not None and len(front) > 1:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(front["worst_tpr_ratio"], front["precision_at_capacity"], c="grey")
        for row in front.itertuples():
            ax.annotate(f"s={row.strength:g} ({row.gate})", (row.worst_tpr_ratio, row.precision_at_capacity), fontsize=8)
        chosen = front[front["chosen"]]
        ax.scatter(chosen["worst_tpr_ratio"], chosen["precision_at_capacity"], s=120, facecolors="none", edgecolors="red",
                   label="chosen")
        if cfg.fairness.gates.tpr_ratio_min is not None:
            ax.axvline(cfg.fairness.gates.tpr_ratio_min, ls="--", c="red", lw=0.8, label="gate")
        ax.set_xlabel("worst TPR ratio against the reference (calibration fold)")
        ax.set_ylabel("precision at capacity")
        ax.set_title("Accuracy–fairness front of the mitigation candidates")
        ax.legend(fontsize=8)
        save(fig, "fairness_front.png", dpi=90)

    X_te = reference if reference is not None else None
    md = _markdown(cfg=cfg, bundle=bundle, calibrator=calibrator, metrics=metrics, fairness_report=fairness_report,
                   gates=gates, folds=folds, rows=rows, verdict=verdict, front=front, mitigation_rule=mitigation_rule,
                   cv=cv or {}, audit_source=audit_source, kind=kind, prep=prep, orderings=orderings,
                   fairness_by_ordering=fairness_by_ordering or {}, fairness_fold=fairness_fold,
                   warnings=list(warnings or []), test_rows=X_te, front_plot="fairness_front.png" in plots)
    md_path = out_dir / "model_card.md"
    md_path.write_text(md, encoding="utf-8")
    html_path = out_dir / "model_card.html"
    html_path.write_text(_html(md, out_dir, title_of(cfg)), encoding="utf-8")
    return Card(md_path, html_path, plots)


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, float | np.floating) and np.isfinite(v) else ("–" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fairness_md(cfg: Any, verdict: Any, front: pd.DataFrame | None, mitigation_rule: str, audit_source: str,
                 comparisons: pd.DataFrame | None = None, *, positives: str = "VSV'ers", front_plot: bool = False) -> str:
    from riskscore.training.gates import WORDS, summary_line

    status = verdict.status if verdict is not None else "unmeasured"
    nl, en = WORDS.get(status, (status, status))
    parts = [f"**Fairness gate: {summary_line(verdict) if verdict is not None else status}** — {en} / {nl}.", "",
             f"Audit attributes: {audit_source or 'none available — fairness is unmeasured, not passed'}. "
             f"Reference group per grouping: {cfg.fairness.reference or 'the largest group'}; "
             f"{cfg.fairness.ci_level:.0%} bootstrap intervals ({cfg.fairness.n_boot} replicates, resampling pupils) of the "
             f"ratio or difference itself; a group with fewer than {cfg.fairness.min_positives} {positives} (TPR) or "
             f"{cfg.fairness.min_group_size} rows is too small to judge, and a gate no group could be judged on leaves its "
             "grouping unmeasured. Pass: the interval lies inside the allowed band; fail: wholly outside; inconclusive: it "
             "straddles a bound (promotion then needs a recorded review).", ""]
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
        parts += ["### Mitigation (calibration fold)",
                  "Candidates reweigh training positives by group (`training/mitigation.py`, `training_weights` is the only "
                  "place audit attributes touch training); the model never receives an audit attribute, at training or at "
                  f"scoring time. Rule (config `mitigation.rule` = `{cfg.mitigation.rule}`). What happened: {mitigation_rule}.", "",
                  _table(front), ""]
        if front_plot:
            parts += ["![front](fairness_front.png)", ""]
    return "\n".join(parts)


def _orderings_md(cfg: Any, orderings: pd.DataFrame | None, fair: dict[str, Any], fold_words: str, role: str) -> str:
    """Both capacity orderings side by side: precision and recall at capacity, and the fairness table."""
    from riskscore.training.gates import summary_line

    if orderings is None or not len(orderings):
        return "not measured"
    show = orderings.copy()
    show["value (95% CI)"] = [f"{v:.3f} ({lo:.3f}–{hi:.3f})" if np.isfinite(lo) else (f"{v:.3f}" if np.isfinite(v) else "–")
                              for v, lo, hi in zip(show["value"], show["ci_low"], show["ci_high"], strict=True)]
    wide = show.pivot_table(index=["role", "k"], columns=["ordering", "metric"], values="value (95% CI)",
                            aggfunc="first")
    wide.columns = [f"{o}: {m}" for o, m in wide.columns]
    parts = [f"Rows: {fold_words}. **probability** ranks by the calibrated probability; **excess** ranks by the risk above "
             "what is usual for the pupil's context (the signals' sum: the context features — school level, age — are left "
             "out of the ranking, so a list is not filled by level alone; Perdomo et al. 2023 found that in Wisconsin's DEWS "
             "targeting by school environment did as well as the individual scores). The config chooses one "
             f"(`capacity_ordering: {cfg.capacity_ordering}`); the fairness gate and the baseline gate judge the chosen one.", "",
             _table(wide.reset_index()), ""]
    for ordering, (report, verdict) in fair.items():
        comp = getattr(report, "comparisons", None)
        parts.append(f"**Fairness, ordering {ordering}** (flags = top-k at the {role} capacity): {summary_line(verdict)}")
        parts.append("")
        if comp is not None and len(comp):
            t = comp[comp["metric"].isin(["tpr", "selection_rate"])][
                ["grouping", "group", "reference", "metric", "estimate", "ci_low", "ci_high", "positives", "why_not"]]
            parts += [_table(t.reset_index(drop=True)), ""]
    return "\n".join(parts)


def _data_md(cfg: Any, prep: Any, folds: Any, rows: dict[str, int], kind: str, bundle: Any,
             cv: dict[str, tuple[float, float]]) -> str:
    synthetic = getattr(prep, "synthetic", None)
    if synthetic:
        provenance = ("**Trained on synthetic data** (generated by `riskscore synth`, calibrated to public Dutch figures): its "
                      "metrics say nothing about real pupils.")
    elif synthetic is False:
        provenance = f"Trained on real data: {cfg.card.data_source or 'source not stated (config card.data_source)'}."
    else:
        provenance = (f"Data: {cfg.card.data_source or 'source not stated (config card.data_source)'}; whether it is real or "
                      "synthetic is not stated (config card.synthetic).")
    if kind == "raw":
        return f"""- {provenance}
- Data snapshot fingerprint: `{bundle.metadata.get('data_fingerprint')}`.
- As-of dates: {', '.join(cfg.as_of_days)} (month-day) of each school year; features use only records dated on or before the as-of date.
- Label: the pupil became a voortijdig schoolverlater (left school without startkwalificatie, aged 12–23, not from pro/vso)
  within {cfg.label.horizon_days} days after the as-of date (DUO's registrations of enrolments and diplomas).
- Folds (temporal, with embargo = {cfg.split.embargo}): train {', '.join(folds.train_years)} ({rows['train']} rows),
  calibration {folds.calibration_year} ({rows['calibration']} rows), test {folds.test_year} ({rows['test']} rows)."""
    cv_line = "".join(f"- {m}: cross-validated ROC-AUC {mean:.3f} ± {sd:.3f} (all rows)\n" for m, (mean, sd) in (cv or {}).items())
    table = cfg.table
    return f"""- {provenance}
- Data snapshot fingerprint: `{bundle.metadata.get('data_fingerprint')}`.
- One flat table `{table.path.name if table else ''}`, one row per pupil; label: **{getattr(prep, 'outcome', '')}**
  (prevalence {float(prep.y.mean()) if prep is not None else float('nan'):.1%}).
- Folds (stratified, random — no time order): train {rows['train']}, calibration {rows['calibration']}, test {rows['test']} rows.
{cv_line}"""


def _register_md(cfg: Any, kind: str, gates: dict[str, Any], bundle: Any, prep: Any) -> str:
    c = cfg.card
    status = 'in gebruik (champion)' if gates['passed'] else 'in ontwikkeling (challenger)'
    if kind == "raw":
        rows = {
            "Naam": f"{title_of(cfg)} — signalering voortijdig schoolverlaten",
            "Organisatie": c.organisation or "the deploying municipality / RMC region",
            "Korte omschrijving": c.purpose_nl or "Kans op voortijdig schoolverlaten binnen 12 maanden, met redenen, als signaal voor een gesprek",
            "Doel en impact": "Vroeg signaleren zodat school, jeugdarts, leerplicht of RMC tijdig een gesprek voert",
            "Wettelijke basis": c.legal_basis or "Leerplichtwet 1969; WEB art. 8.0.1; RMC-wetgeving; Regeling gegevensverstrekking VVA",
            "Data": c.data_source or "Verzuim, ziekmeldingen, aanmeldingen mbo (VVA), in- en uitschrijvingen; geen beschermde kenmerken als invoer",
        }
    else:
        todo = "— nog in te vullen (config card.{key})"
        rows = {
            "Naam": title_of(cfg),
            "Organisatie": c.organisation or todo.format(key="organisation"),
            "Korte omschrijving": c.purpose_nl or f"Kans op {getattr(prep, 'outcome', 'de uitkomst')}, met redenen, als signaal voor een gesprek",
            "Doel en impact": "Vroeg signaleren zodat een mentor of zorgteam tijdig een gesprek voert",
            "Wettelijke basis": c.legal_basis or todo.format(key="legal_basis"),
            "Data": (c.data_source or f"tabel {cfg.table.path.name if cfg.table else ''}") + "; kenmerken: " + ", ".join(bundle.features),
        }
    rows.update({
        "Type algoritme": ("Regels (wettelijk) + " if kind == "raw" else "") + "additief gradient-boosted model (glass box), gekalibreerd",
        "Menselijke tussenkomst": "Elk signaal wordt door een mens beoordeeld; er wordt geen besluit genomen door het algoritme",
        "Risicobeheer": "Fairness-gates vóór promotie, doorlopende monitoring van drift en selectie per groep",
        "Impacttoetsen": "DPIA en IAMA vereist vóór inzet (EU AI Act: hoog risico, bijlage III onderwijs)",
        "Status": status,
    })
    return "| field | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows.items())


def _explain_md(bundle: Any, calibrator: Any, test_rows: pd.DataFrame | None) -> str:
    base_p = float(bundle.probability_of(bundle.intercept))
    spec = getattr(calibrator, "spec_", None) or bundle.calibrator
    if bundle.scale == "log_odds":
        a, b = float(spec.get("a", 1.0)), float(spec.get("b", 0.0))
        what = (f"Platt calibration, logit(p) = {a:.4f} · score {b:+.4f}: every contribution is the shape function times "
                f"{a:.4f}, so **base + contributions = logit(p) exactly**. The intercept (every contribution 0) is "
                f"{bundle.intercept:+.4f} on the log-odds, a probability of {base_p:.1%}.")
    else:
        what = ("Isotonic calibration is a step function: no split of logit(p) into shares exists. The contributions are "
                "shares of the model's **uncalibrated score**: base + contributions = that score, and the probability is a "
                f"monotone step function of it. The intercept (every contribution 0) is {bundle.intercept:+.4f} on that "
                f"score (a probability of {base_p:.1%}). For exact log-odds reasons set `calibration.method: platt`.")
    context = ", ".join(bundle.context_features) or "none"
    lines = [what, "",
             f"Context features (the pupil's base, never a reason): {context}. A pupil's base = the intercept plus the context "
             "features' contributions; it is shown as 'bij … is de gebruikelijke kans X %', where X is the model's probability "
             "for that base averaged over the spread of signals on the calibration fold (the probability at the average "
             "log-odds would understate what is usual: most pupils have few signals, a few have many). Reasons come from the "
             "signal features only, and base + reasons + the other signals' sum = the total."]
    if test_rows is not None and len(test_rows):
        err = identity_check(bundle, test_rows)
        lines += ["", f"Checked on every one of the {len(test_rows)} evaluated rows: max |base + contributions − "
                      f"{'logit(p)' if bundle.scale == 'log_odds' else 'score'}| = {err:.1e}."]
    return "\n".join(lines)


def _markdown(*, cfg: Any, bundle: Any, calibrator: Any, metrics: pd.DataFrame, fairness_report: Any,
              gates: dict[str, Any], folds: Any, rows: dict[str, int], verdict: Any = None,
              front: pd.DataFrame | None = None, mitigation_rule: str = "", cv: dict[str, tuple[float, float]] | None = None,
              audit_source: str = "", kind: str = "raw", prep: Any = None, orderings: pd.DataFrame | None = None,
              fairness_by_ordering: dict[str, Any] | None = None, fairness_fold: str = "test",
              warnings: list[str] | None = None, test_rows: pd.DataFrame | None = None, front_plot: bool = False) -> str:
    from riskscore.training.gates import summary_line

    positives = getattr(prep, "positives_word", "VSV'ers") if prep is not None else "VSV'ers"
    fold_words = _fold_words(kind)
    fairness_words = "out-of-fold predictions over all rows (the table is small)" if fairness_fold == "all" else f"the {fold_words}"
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
        [{"feature": f, "kind": spec.get(f, {}).get("kind", "signal") + (" (categorical)" if f in bundle.categories else ""),
          "monotone": words.get(int(spec.get(f, {}).get("monotone", 0)), "free"),
          "reason (category)": f"{bundle.catalogue[f].code} ({bundle.catalogue[f].category})" if f in bundle.catalogue else "–",
          "why it is justified": spec.get(f, {}).get("justification", "–")} for f in bundle.features]
    )
    audit_cols = [c for c in (getattr(prep, "audit", pd.DataFrame()).columns if prep is not None else []) if c != "level"]
    if kind == "table" and cfg.table is not None:
        audit_cols = list(cfg.table.audit_columns)
    protected = ", ".join(f"`{c}`" for c in [*audit_cols, *cfg.protected_columns]) or "none named"
    ftab = fairness_report.table
    show = ftab[ftab.get("suppressed", False) == False] if "suppressed" in ftab else ftab  # noqa: E712
    show = show.head(40)
    gate_lines = [f"- vs `{name}`: {c['challenger']:.3f} vs {c['baseline']:.3f}, difference CI "
                  f"[{c['diff_ci_low']:.3f}, {c['diff_ci_high']:.3f}] → {'beats' if c['beats'] else 'does not beat'}"
                  for name, c in gates["baselines"].items()] or [f"- {gates.get('baselines_note') or 'no baseline'}"]
    violations = gates.get("fairness_lines") or gates["fairness_violations"] or ["none"]
    warn_md = "\n".join(f"- {w}" for w in (warnings or [])) or "- none"
    synthetic_limit = ("- Trained on synthetic data in this repository; real deployments must re-validate on their own region."
                       if getattr(prep, "synthetic", None) else
                       "- Validated only on the data described above; re-validate before using it on another population.")
    label_limit = ("- The label comes from enrolment registrations; moves abroad and registration errors count as VSV."
                   if kind == "raw" else f"- The label is {getattr(prep, 'outcome', 'the configured outcome')} as recorded in "
                   "the table; how it was recorded limits what the model can learn.")
    return f"""# Model card — {title_of(cfg)} (`{bundle.version}`)

**This model produces signals for a human review, never decisions.** A score asks a mentor, youth doctor,
attendance officer or RMC to look at a young person's situation; it does not say what is wrong or what to do.

## Intended use
- Prioritising which pupils a care team (zorgteam) or mentor looks at first, within its capacity.
- Routing a signal to the right reviewer through its reasons.

## Not intended for
- Any automated decision about a young person (sanctions, admission, benefits, enforcement).
- Comparing or ranking schools, teachers or neighbourhoods.
- Use on populations unlike the training data without re-validation (see monitoring).

## Data and label
{_data_md(cfg, prep, folds, rows, kind, bundle, cv or {})}

## Features and why each is justified
Protected and proxy attributes are **never** features: the audit columns of this training ({protected}) live apart and
are used only to measure fairness (and, in mitigation, to weight training rows). The guard (`model/guard.py`) refuses
known protected and proxy names (gender, origin, nationality, postcode, language, income, parents' education and jobs,
household, health…) and the config's `protected_columns` — by **name only**: a column that stands in for one under an
unknown name is not caught, so each feature's justification below was checked by a person.
**Context** features (school level, age) make the pupil's base and are never shown as a reason; **signal** features are
what a mentor can act on.

{_table(feat_rows)}

## Model
An additive LightGBM (every tree uses one feature; monotone constraints where the sign is known), so each feature's
contribution is exact and drawn below, plus a {getattr(calibrator, 'method_', 'fitted')} calibrator chosen on the calibration fold.
Bands: medium ≥ {cfg.bands.medium:.2f}, high ≥ {cfg.bands.high:.2f} (calibrated probability).

### What the numbers are
{_explain_md(bundle, calibrator, test_rows)}

![shape functions](shape_functions.png)

## Performance on the {fold_words}, against comparisons and baselines
Capacity k per as-of date: {gates['k']} ({gates['capacity_role']}). 95 % bootstrap intervals, resampling pupils; the ECE's
interval is bias-corrected and accelerated (BCa, `scipy.stats.bootstrap`).

{_table(comp_wide)}

![calibration](calibration.png)

## Capacity lists: two orderings, side by side
{_orderings_md(cfg, orderings, fairness_by_ordering or {}, fairness_words, gates['capacity_role'])}

## Promotion gates (ordering: {gates.get('capacity_ordering', 'probability')})
{chr(10).join(gate_lines)}
- Fairness gate: **{summary_line(verdict) if verdict is not None else gates.get('fairness_verdict', 'unmeasured')}** ({'; '.join(violations)})
- **Passed: {gates['passed']}**

## Fairness gate ({fairness_words}, flags = top-k at capacity)
{_fairness_md(cfg, verdict, front, mitigation_rule, audit_source, getattr(fairness_report, "comparisons", None),
              positives=positives, front_plot=front_plot)}

### Per group
Groups smaller than {cfg.fairness.min_group_size} are suppressed. Selection rate, TPR, FPR, precision and calibration gap per group.

{_table(show.reset_index(drop=True)) if len(show) else 'no group large enough'}

## Warnings
{warn_md}

## Known limitations
- Interventions change outcomes: a pupil who was helped and stayed is a "false alarm" in the data; measured precision
  understates usefulness, and retraining on post-deployment data learns the effect of help, not only of risk.
{label_limit}
- Recorded absence depends on how strictly a school records it: a stricter school looks riskier. Monitoring watches
  selection rates by group for this.
{synthetic_limit}
- Rare groups and small schools have wide uncertainty.

## Algoritmeregister (Dutch algorithm register)
{_register_md(cfg, kind, gates, bundle, prep)}
"""


def _html(md: str, folder: Path, title: str = "riskscore") -> str:
    import markdown

    body = markdown.markdown(md, extensions=["tables"])
    for name in ("shape_functions.png", "calibration.png", "fairness_front.png"):
        path = folder / name
        if path.exists():
            data = base64.b64encode(path.read_bytes()).decode()
            body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{data}"')
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Model card " + html.escape(title) + "</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
        "table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
        "img{max-width:100%}</style></head><body>" + body + "</body></html>"
    )
