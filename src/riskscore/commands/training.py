"""`riskscore train` and `riskscore promote`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from riskscore.commands.engine_options import (
    ENGINE_HELP,
    GROUPS_HELP,
    MAX_MEMORY_HELP,
    SPARK_MASTER_HELP,
    Engine,
    check_engine,
)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("promote")(promote)


def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training configuration (YAML).")] = Path("training/config.yaml"),
    data: Annotated[Path | None, typer.Option(help="Raw tables folder; overrides data.dir of the config.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where bundles and model cards go (default <home>/models).")] = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="Train and evaluate without MLflow.")] = False,
    engine_name: Annotated[str, typer.Option("--engine", help="Feature step: " + ENGINE_HELP)] = "pandas",
    spark_master: Annotated[str | None, typer.Option("--spark-master", help=SPARK_MASTER_HELP)] = None,
    groups: Annotated[int | None, typer.Option("--groups", min=1, help=GROUPS_HELP)] = None,
    max_memory: Annotated[float | None, typer.Option("--max-memory", min=0.0, help=MAX_MEMORY_HELP)] = None,
) -> None:
    """Train the additive model, compare it with the alternatives, audit fairness, register it as challenger."""
    from riskscore.settings import get_settings
    from riskscore.training.config import load_config

    check_engine(engine_name)
    cfg = load_config(config)  # validated before anything runs
    if data is not None:
        if cfg.data.features_cache is not None and cfg.data.features_cache.parent == cfg.data.dir:
            cfg.data.features_cache = data / cfg.data.features_cache.name  # the cache travels with the data
        cfg.data.dir = data
    settings = get_settings()
    if engine_name == Engine.spark:
        if cfg.data.features_cache is None:
            cfg.data.features_cache = settings.home / "cache" / "features-train.parquet"
        _spark_feature_step(cfg, master=spark_master, groups=groups)
    else:
        _check_memory(cfg, max_memory)
    from riskscore.training import pipeline as training

    def progress(msg: str) -> None:
        typer.echo(f"[train] {msg}", err=True)

    result = training.run(
        cfg, tracking_uri=settings.resolved_tracking_uri(), artifact_root=settings.resolved_artifact_root(),
        out_dir=out or settings.home / "models", progress=progress, register=not no_register,
    )
    table = training.comparison_table(
        result.metrics, metric_names=("roc_auc", "pr_auc", f"precision_at_{result.gates['capacity_role']}", "precision_at_top_5pct", "brier", "ece")
    )
    fold = "test year" if result.extra.get("prepared") is None or result.extra["prepared"].kind == "raw" else "test fold"
    typer.echo(f"\nMetrics on the {fold} (additive = the glass-box model served):")
    typer.echo(table.round(4).to_string())
    cv = result.extra.get("cv_auc") or {}
    for name, (mean, sd) in cv.items():
        typer.echo(f"{name}: {len(cv) and 'cross-validated'} ROC-AUC {mean:.3f} ± {sd:.3f} (all rows)")
    _print_fairness(result)
    _print_reasons(result)
    from riskscore.training.gates import summary_line

    verdict = result.extra.get("verdict")
    fairness = summary_line(verdict) if verdict is not None else result.gates["fairness_verdict"]
    typer.echo(f"\ngates passed: {result.gates['passed']} (fairness: {fairness}; ordering: "
               f"{result.gates.get('capacity_ordering', 'probability')})")
    for name, c in result.gates["baselines"].items():
        typer.echo(f"  vs {name}: precision@k {c['challenger']:.3f} vs {c['baseline']:.3f} → {'beats' if c['beats'] else 'does not beat'}")
    if not result.gates["baselines"] and result.gates.get("baselines_note"):
        typer.echo(f"  {result.gates['baselines_note']}")
    for line in result.gates.get("warnings", []):
        typer.echo(f"warning: {line}")
    if result.model_version:
        typer.echo(f"registered {cfg.mlflow.model_name} version {result.model_version} (alias challenger), run {result.run_id}")
    typer.echo(f"bundle: {result.bundle_dir}")
    typer.echo(f"model card: {result.card_html}")
    typer.echo(f"took {result.seconds:.1f} s")


def _print_reasons(result: object, n: int = 3) -> None:
    """Explain: the base and top reasons of three pupils of the test fold, as a reviewer reads them, and
    how they add up (base + reasons + the other signals = logit(p), or the uncalibrated score)."""
    from riskscore.model.bundle import ModelBundle
    from riskscore.model.explain import ReasonTemplate, base_text

    prep = result.extra.get("prepared")  # type: ignore[attr-defined]
    if prep is None:
        return
    bundle = ModelBundle.load(result.bundle_dir)  # type: ignore[attr-defined]
    X_te, _ = prep.part("test")
    scored = bundle.score(X_te, top_k=3)
    order = scored.probability.argsort()[::-1]
    picks = [order[0], order[len(order) // 10], order[len(order) // 4]][:n]  # the top, the 90th and 75th percentile
    matrix = bundle.matrix(X_te)
    templates = [bundle.catalogue.get(f) or ReasonTemplate(f.upper(), "context", f"{f} {{v}}", f"{f} {{v}}", "float1")
                 for f in bundle.context_features]
    ctx = [bundle.features.index(f) for f in bundle.context_features]
    total = "logit(p)" if bundle.scale == "log_odds" else "score"
    typer.echo("\nReasons of three pupils in the test fold — the highest risk, the 90th and the 75th percentile "
               "(signals for a conversation, not decisions):")
    for i in picks:
        who = X_te["student_id"].iloc[i] if "student_id" in X_te else str(X_te.index[i])
        usual = float(bundle.usual_probability(scored.base[i]))
        _, en = base_text(templates, [matrix[i, j] for j in ctx], usual)
        typer.echo(f"  {who}: probability {scored.probability[i]:.2f} ({scored.band[i]}) — {en}")
        found = bundle.reasons(matrix[i], scored.contributions[i], top_k=3)
        for r in found:
            texts = r.text_en if r.text_en == r.text_nl else f"{r.text_en} / {r.text_nl}"
            typer.echo(f"    {r.code} [{r.category}] {r.contribution:+.2f}: {texts}")
        other = float(scored.excess[i]) - sum(r.contribution for r in found)
        value = float(scored.base[i] + scored.excess[i])
        typer.echo(f"    base {scored.base[i]:+.2f} + reasons + other signals {other:+.2f} = {total} {value:+.2f}")


def _print_fairness(result: object) -> None:
    from riskscore.training.gates import WORDS

    gates = result.gates  # type: ignore[attr-defined]
    table = result.extra.get("comparisons")  # type: ignore[attr-defined]
    verdict = gates["fairness_verdict"]
    typer.echo(f"\nFairness gate: {verdict} — {WORDS.get(verdict, (verdict, verdict))[1]}")
    if table is not None and len(table):
        show = table[["gate", "grouping", "group", "reference", "estimate", "ci_low", "ci_high", "positives", "verdict"]]
        typer.echo(show.round(3).to_string(index=False))
    for line in gates["fairness_lines"]:
        typer.echo(f"  {line}")
def _check_memory(cfg: Any, max_memory: float | None) -> None:
    """The pandas feature step must fit (unless the cache will be reused): else name --engine spark."""
    from riskscore.engines import sizing

    path = cfg.data.dir / "students.parquet"
    if not path.exists() or (cfg.data.features_cache is not None and cfg.data.features_cache.exists()):
        return  # missing data: the pipeline names it; a cache: probably reused (checked there)
    n_dates = len(cfg.as_of_days) * sizing._school_years(path)
    sizing.check_pandas_fits(cfg.data.dir, n_dates, max_memory_gib=max_memory)


def _spark_feature_step(cfg: Any, *, master: str | None, groups: int | None) -> None:
    """Build the training feature table with Spark into the pipeline's cache (with its sidecar: data
    fingerprint, dates, rules), so the pipeline reuses it instead of building it in memory."""
    from riskscore import datasets, features
    from riskscore.engines import spark as engine
    from riskscore.training import splits

    tables = datasets.read_tables(cfg.data.dir)
    fingerprint = datasets.fingerprint(tables)
    years = sorted(tables["students"]["school_year"].unique())
    dates = splits.as_of_dates(years, cfg.as_of_days)
    students = tables["students"][["student_id"]]
    del tables
    if features.load_if_current(cfg.data.features_cache, fingerprint=fingerprint, dates=dates) is not None:
        typer.echo(f"[train] features: the cache {cfg.data.features_cache} is current", err=True)
        return
    typer.echo(f"[train] features: building {len(dates)} as-of dates with Spark …", err=True)
    spark = engine.session(master)
    table = engine.order_like_pandas(engine.features_frame(spark, str(cfg.data.dir), dates, groups=groups), students)
    features.save_table(table, cfg.data.features_cache, fingerprint=fingerprint, dates=dates)
    typer.echo(f"[train] features: {len(table):,} rows written to {cfg.data.features_cache}", err=True)


def promote(
    version: Annotated[str | None, typer.Option(help="Model version to promote (default: the challenger).")] = None,
    review: Annotated[str | None, typer.Option(
        "--review", help="Needed when the fairness gate is inconclusive or unmeasured: who reviewed the model card "
                         "and why it may go ahead. Stored on the registry version and in the audit log.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote although the baselines were not beaten (needs --reason). "
                                                        "Never overrides a failed fairness gate.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the baseline gate is overridden; logged on the run.")] = None,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "riskscore-vsv",
) -> None:
    """Move alias `champion` to a version that passed its gates. A failed fairness gate is refused;
    an inconclusive or unmeasured one needs --review "…" (recorded)."""
    from riskscore.errors import ConfigError
    from riskscore.settings import get_settings

    if force and not (reason and reason.strip()):
        raise ConfigError("--force needs --reason \"…\" saying why the gates are overridden")
    if reason and not force:
        raise ConfigError("--reason is only used together with --force")
    if review is not None and not review.strip():
        raise ConfigError("--review needs a text: who reviewed the model card and why it may go ahead")
    settings = get_settings()
    from riskscore import registry

    registry.configure(settings.resolved_tracking_uri(), settings.resolved_artifact_root())
    result = registry.promote(version, model_name=model_name, forced=force, reason=reason, review=review)
    if result.review or result.forced:
        _audit_promotion(settings, result)
    typer.echo(result)


def _audit_promotion(settings: object, result: object) -> None:
    """A reviewed or forced promotion goes into the audit log too (the registry tag can be edited)."""
    from riskscore.store.audit import append_audit
    from riskscore.store.db import make_engine, migrate, session_factory

    engine = make_engine(settings.resolved_database_url())  # type: ignore[attr-defined]
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            what = f"fairness {result.fairness_verdict}, review: {result.review}" if result.review else ""  # type: ignore[attr-defined]
            if result.forced:  # type: ignore[attr-defined]
                what = (what + "; " if what else "") + f"forced: {result.reason}"  # type: ignore[attr-defined]
            append_audit(session, actor="cli", action="model.promote",
                         resource=f"model:{result.model_name}/{result.version}",  # type: ignore[attr-defined]
                         outcome="allowed", role="data_team", purpose=what[:200])
    finally:
        engine.dispose()
