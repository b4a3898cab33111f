"""`riskscore features`: the point-in-time feature table (imports: commands/ingest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from riskscore.commands.engine_options import (
    ENGINE_HELP,
    GROUPS_HELP,
    MAX_MEMORY_HELP,
    SPARK_MASTER_HELP,
    Engine,
    check_engine,
)
from riskscore.errors import DataError


def register(app: typer.Typer) -> None:
    app.command("features")(features_command)


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DataError(f"--as-of: not a date like 2024-05-01: {value!r}") from None


def features_command(
    data: Annotated[str, typer.Option("--data", help="Folder of raw tables (<table>.parquet, or <table>/ partitioned by school_year); with --engine spark also s3a://… or hdfs://….")],
    out: Annotated[str, typer.Option("--out", help="Feature table to write (.parquet); with --engine spark a URI (s3a://…) gets a Parquet dataset partitioned by school year.")],
    as_of: Annotated[
        list[str] | None,
        typer.Option("--as-of", help="As-of date (YYYY-MM-DD); repeat for more. Default: 1 Oct, 1 Feb, 1 May of every school year in the data."),
    ] = None,
    rules_config: Annotated[Path | None, typer.Option("--rules-config", help="Rule thresholds (YAML); default: DOMAIN.md's.")] = None,
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "pandas",
    spark_master: Annotated[str | None, typer.Option("--spark-master", help=SPARK_MASTER_HELP)] = None,
    groups: Annotated[int | None, typer.Option("--groups", min=1, help=GROUPS_HELP)] = None,
    max_memory: Annotated[float | None, typer.Option("--max-memory", min=0.0, help=MAX_MEMORY_HELP)] = None,
) -> None:
    """Build the point-in-time feature table: one row per enrolled student per as-of date."""
    check_engine(engine)
    if engine == Engine.spark:
        _features_spark(data, out, as_of=as_of, rules_config=rules_config, master=spark_master, groups=groups)
        return
    _features_pandas(Path(data), Path(out), as_of=as_of, rules_config=rules_config, max_memory=max_memory)


def _features_pandas(data: Path, out: Path, *, as_of: list[str] | None, rules_config: Path | None,
                     max_memory: float | None) -> None:
    import hashlib

    import pandas as pd
    from rich.progress import Progress

    from riskscore import datasets, features
    from riskscore.calendar import SchoolCalendar
    from riskscore.rules import RuleConfig

    if out.suffix.lower() != ".parquet":
        raise DataError(f"--out must be a .parquet file: {out}")
    config = RuleConfig.from_yaml(rules_config) if rules_config is not None else None  # validated before the data is read
    dates = [pd.Timestamp(_parse_date(d)) for d in as_of] if as_of else None
    if not data.is_dir():
        raise DataError(f"data folder not found: {data}")
    from riskscore.engines import sizing

    sizing.check_pandas_fits(data, len(dates) if dates else _default_date_count(data), max_memory_gib=max_memory)
    tables = datasets.read_tables(data)
    if dates is None:
        dates = features.default_as_of_dates(tables["students"]["school_year"].unique())
    calendar = SchoolCalendar.default()
    if not as_of:
        skipped = [d for d in dates if not calendar.covers(d)]
        dates = [d for d in dates if calendar.covers(d)]
        if skipped:
            typer.echo(f"skipping {len(skipped)} default as-of dates outside the school calendar", err=True)
    if not dates:
        raise DataError("no as-of date falls within the school calendar")
    with Progress(transient=True) as bar:
        task = bar.add_task("features", total=len(dates))
        table = features.build(tables, dates, calendar=calendar, rule_config=config,
                               progress=lambda _d: bar.advance(task))
    # with its sidecar: `riskscore train` reuses this table when data, dates and rules are the same
    rules_id = "default" if rules_config is None else f"sha256:{hashlib.sha256(rules_config.read_bytes()).hexdigest()}"
    features.save_table(table, out, fingerprint=datasets.fingerprint(tables), dates=dates, rules=rules_id)
    typer.echo(f"wrote {len(table):,} rows ({len(dates)} as-of dates) to {out}")


def _default_date_count(data: Path) -> int:
    from riskscore.engines import sizing

    path = data / "students.parquet" if (data / "students.parquet").exists() else data / "students"
    return 3 * sizing._school_years(path) if path.exists() else 3


def _features_spark(data: str, out: str, *, as_of: list[str] | None, rules_config: Path | None, master: str | None,
                    groups: int | None) -> None:
    import pandas as pd

    from riskscore import features
    from riskscore.calendar import SchoolCalendar
    from riskscore.engines import spark as engine
    from riskscore.rules import RuleConfig

    distributed = "://" in out
    if not distributed and not out.lower().endswith(".parquet"):
        raise DataError(f"--out must be a .parquet file, or a URI like s3a://bucket/features for a distributed write: {out}")
    config = RuleConfig.from_yaml(rules_config) if rules_config is not None else None
    dates = [pd.Timestamp(_parse_date(d)) for d in as_of] if as_of else None
    typer.echo("starting Spark …", err=True)
    spark = engine.session(master)
    calendar = SchoolCalendar.default()
    if dates is None:
        students = engine.read_table(spark, data, "students")
        assert students is not None
        years = [r[0] for r in students.select("school_year").distinct().collect()]
        dates = [d for d in features.default_as_of_dates(years) if calendar.covers(d)]
    if not dates:
        raise DataError("no as-of date falls within the school calendar")
    typer.echo(f"building features for {len(dates)} as-of date(s) on {spark.sparkContext.master} …", err=True)
    if distributed:
        engine.write_features(engine.build_features(spark, data, dates, calendar=calendar, rule_config=config,
                                                    groups=groups), out)
        typer.echo(f"wrote the feature table ({len(dates)} as-of dates) to {out}, partitioned by school_year")
        return
    from riskscore import datasets

    table = engine.features_frame(spark, data, dates, calendar=calendar, rule_config=config, groups=groups)
    target = Path(out)
    datasets.write_parquet_atomic(table, target)
    target.with_suffix(".json").unlink(missing_ok=True)  # no data fingerprint here: train rebuilds or uses --engine spark
    typer.echo(f"wrote {len(table):,} rows ({len(dates)} as-of dates) to {out}")

