"""`riskscore score`: the batch job — score every enrolled student as of a date and open review cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskscore.clock import today as school_today
from riskscore.commands.engine_options import (
    ENGINE_HELP,
    GROUPS_HELP,
    MAX_MEMORY_HELP,
    SPARK_MASTER_HELP,
    Engine,
    check_engine,
)

if TYPE_CHECKING:
    from riskscore.model.bundle import ModelBundle
    from riskscore.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("score")(score)


MSG_BAD_DATE = "--as-of: '{value}' is not a date; use YYYY-MM-DD, e.g. 2024-02-01"
MSG_FUTURE_DATE = "--as-of: {day} lies in the future"


def _parse_date(value: str) -> dt.date:
    from riskscore.errors import ConfigError

    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(MSG_BAD_DATE.format(value=value)) from None
    if day > school_today():
        raise ConfigError(MSG_FUTURE_DATE.format(day=day))
    return day


def load_bundle(settings: Settings, bundle: Path | None) -> ModelBundle:
    """--bundle, else settings.bundle_path, else the registry alias (mlflow is imported only then)."""
    from riskscore.model.bundle import ModelBundle

    path = bundle or settings.bundle_path
    if path is not None:
        return ModelBundle.load(path)
    import tempfile

    from riskscore import registry

    registry.configure(settings.resolved_tracking_uri(), settings.resolved_artifact_root())
    folder = registry.download_bundle(settings.model_alias, model_name=settings.model_name,
                                      dst=Path(tempfile.mkdtemp(prefix="riskscore-score-")))
    return ModelBundle.load(folder)


def score(
    as_of: Annotated[str, typer.Option("--as-of", help="Reference date (YYYY-MM-DD): score the students enrolled then.")],
    data: Annotated[str | None, typer.Option(help="Raw tables folder (default <home>/data); with --engine spark also s3a://… or hdfs://….")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Model bundle folder (default RISKSCORE_BUNDLE_PATH, else the registry's champion).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with capacity_per_10k (a `scoring:` section or top level, e.g. training/config.yaml).")] = None,
    rules_config: Annotated[Path | None, typer.Option("--rules", help="Rule thresholds (YAML); default the packaged rules.yaml.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON line.")] = False,
    pause_before_commit: Annotated[float, typer.Option(hidden=True, help="Testing: hold the transaction open N s.")] = 0.0,
    engine_name: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "pandas",
    spark_master: Annotated[str | None, typer.Option("--spark-master", help=SPARK_MASTER_HELP)] = None,
    groups: Annotated[int | None, typer.Option("--groups", min=1, help=GROUPS_HELP)] = None,
    staging: Annotated[str | None, typer.Option("--staging", help="--engine spark: where the scored Parquet goes (default <home>/runs/spark; a URI like s3a://… on a cluster).")] = None,
    max_memory: Annotated[float | None, typer.Option("--max-memory", min=0.0, help=MAX_MEMORY_HELP)] = None,
) -> None:
    """Score every student enrolled on --as-of, evaluate the rules, route, open review cases and store
    one scoring run (all or nothing). Rerunning for the same date and model replaces that run."""
    day = _parse_date(as_of)
    check_engine(engine_name)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from riskscore import batch, datasets
    from riskscore.rules import RuleConfig
    from riskscore.settings import get_settings
    from riskscore.store.audit import append_audit
    from riskscore.store.db import make_engine, migrate, session_factory

    settings = get_settings()
    cfg = batch.ScoringConfig.from_yaml(config) if config is not None else batch.ScoringConfig()
    rule_cfg = RuleConfig.from_yaml(rules_config) if rules_config is not None else RuleConfig.default()
    data_dir = data or str(settings.home / "data")
    console = Console(stderr=True)
    steps = ("data", "model", "database", *batch.STEPS)
    with Progress(TextColumn("[bold]score[/] {task.description:<30}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("reading data", total=len(steps))

        def progress(step: str) -> None:
            bar.update(task, description=step)
            if step in steps:
                bar.advance(task)

        spark = None
        if engine_name == Engine.spark:
            from riskscore.engines import spark as spark_engine

            spark = spark_engine.session(spark_master)
            tables: dict[str, Any] = {}
        else:
            from riskscore.audit_table import read_audit
            from riskscore.engines import sizing

            sizing.check_pandas_fits(Path(data_dir), 1, max_memory_gib=max_memory)
            tables = datasets.read_tables(data_dir)
            audit = read_audit(data_dir)  # audit attributes, kept apart: only the monitoring frame gets them
            if audit is not None:
                tables = {**tables, "audit": audit}
        from riskscore.ingest.ledger import incomplete_schools

        # the import ledger's volume, join and freshness checks; "today" of the freshness check: the as-of date
        incomplete = incomplete_schools(data_dir, today=day, max_age_days=settings.import_max_age_days)
        progress("data")
        model = load_bundle(settings, bundle)
        progress("model")
        engine = make_engine(settings.resolved_database_url())
        try:
            migrate(engine)
            progress("database")
            with session_factory(engine)() as session:
                from riskscore.store.privacy import all_objecting

                objecting = all_objecting(session)
                if spark is not None:
                    result = spark_engine.run_batch(spark, session, data_dir, day, model, home=settings.home, staging=staging,
                                                    config=cfg, rule_config=rule_cfg, progress=progress,
                                                    pause_before_commit=pause_before_commit, groups=groups,
                                                    objecting=objecting, incomplete_schools=incomplete)
                else:
                    result = batch.run(session, tables, day, model, home=settings.home, config=cfg, rule_config=rule_cfg,
                                       progress=progress, pause_before_commit=pause_before_commit, source=str(data_dir),
                                       incomplete_schools=incomplete, objecting=objecting)
                append_audit(session, actor=batch.BATCH_ACTOR, action="run.write", resource=f"run:{result.run_id}",
                             outcome="allowed", purpose="batch scoring")
        finally:
            engine.dispose()
    _report(result, as_json)



def _report(result: Any, as_json: bool) -> None:
    from riskscore import batch

    if as_json:
        typer.echo(batch.summary_json(result))
        return
    b, c = result.bands, result.cases
    typer.echo(f"run {result.run_id}: {result.n_scored} students scored as of {result.as_of} "
               f"with model {result.model_version} in {result.seconds:.1f} s")
    typer.echo(f"  bands: high {b['high']} · medium {b['medium']} · low {b['low']};  rule triggers: {result.n_triggers}")
    if b.get("unknown"):
        typer.echo(f"  not scored by the model: {b['unknown']} students (their school's data is incomplete — "
                   "see `riskscore import --list` — or they objected); their legal rules still ran")
    typer.echo(f"  review cases: {c['opened']} opened · {c['updated']} updated · {c['unchanged']} already finished")
    typer.echo("  capacity per role: " + ", ".join(f"{r} {n}" for r, n in result.capacities.items()))
    typer.echo(f"  monitoring frame: {result.frame_path}")
