"""`riskscore features`: the point-in-time feature table (imports: commands/ingest.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from riskscore.errors import DataError


def register(app: typer.Typer) -> None:
    app.command("features")(features_command)


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DataError(f"--as-of: not a date like 2024-05-01: {value!r}") from None


def features_command(
    data: Annotated[Path, typer.Option("--data", help="Folder of raw tables (<table>.parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Feature table to write (.parquet).")],
    as_of: Annotated[
        list[str] | None,
        typer.Option("--as-of", help="As-of date (YYYY-MM-DD); repeat for more. Default: 1 Oct, 1 Feb, 1 May of every school year in the data."),
    ] = None,
    rules_config: Annotated[Path | None, typer.Option("--rules-config", help="Rule thresholds (YAML); default: DOMAIN.md's.")] = None,
) -> None:
    """Build the point-in-time feature table: one row per enrolled student per as-of date."""
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
