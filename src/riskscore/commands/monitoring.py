"""`riskscore monitor`: drift, score drift and fairness of the latest scoring run against the reference.

Exit codes: 0 nothing crossed (warnings may be printed), 10 at least one alert (listed with what to do),
and the error family's codes (2 bad config, 3 bad data, 9 disk full) as one line on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_BREACH = 10


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def read_frame(path: Path):  # type: ignore[no-untyped-def]
    """A scored frame from Parquet or CSV; any read problem is a DataError naming the file."""
    import pandas as pd

    from riskscore.errors import DataError

    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pyarrow and pandas raise many kinds
        raise DataError(f"{path} cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def monitor(
    config: Annotated[Path, typer.Option("--config", "-c", help="Monitoring configuration (YAML).")] = Path("monitoring/config.yaml"),
    reference: Annotated[Path | None, typer.Option(help="Reference scored frame (Parquet/CSV); overrides the config.")] = None,
    current: Annotated[Path | None, typer.Option(help="Current scored frame (Parquet/CSV); overrides the config.")] = None,
    outcomes: Annotated[Path | None, typer.Option(help="Outcomes (student_id + vsv_date or label); optional.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Reports folder; overrides output_dir of the config.")] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the report to MLflow.")] = False,
) -> None:
    """Compare the current scores with the reference; exit 10 and say what to do when a threshold is crossed."""
    from riskscore.errors import ConfigError
    from riskscore.monitoring import load_config

    cfg = load_config(config)  # validated before anything runs
    ref_path = reference or cfg.reference
    cur_path = current or cfg.current
    if ref_path is None or cur_path is None:
        raise ConfigError(f"config {config}: give reference and current (in the config or as --reference/--current)")
    out_dir = out or cfg.output_dir
    out_path = outcomes or cfg.outcomes

    from riskscore.monitoring import run_monitoring
    from riskscore.monitoring_report import log_to_mlflow, write_reports

    ref_df, cur_df = read_frame(ref_path), read_frame(cur_path)
    outcomes_df = read_frame(out_path) if out_path is not None else None
    verdict = run_monitoring(ref_df, cur_df, config=cfg, outcomes=outcomes_df)
    paths = write_reports(verdict, out_dir)
    if mlflow:
        from riskscore.settings import get_settings

        settings = get_settings()
        run_id = log_to_mlflow(verdict, paths, tracking_uri=settings.resolved_tracking_uri(),
                               artifact_root=settings.resolved_artifact_root())
        typer.echo(f"mlflow run: {run_id}")

    s = verdict.summary
    typer.echo(f"status: {verdict.status.upper()}   reference {s['n_reference']} · current {s['n_current']} pupils")
    typer.echo(f"{'check':<22}{'value':>12}")
    typer.echo(f"{'score PSI':<22}{s['score_drift']['psi']:>12.3f}")
    typer.echo(f"{'flag rate ref → cur':<22}{s['flag_rate_reference']:>6.1%} → {s['flag_rate_current']:.1%}")
    fd = s["feature_drift"]
    if fd.get("share_drifted") is not None:
        typer.echo(f"{'features drifted':<22}{fd['share_drifted']:>12.0%}")
    typer.echo(f"{'fairness groups tested':<22}{s['fairness']['tested_groups']:>12}")
    typer.echo(f"report: {paths['report']}")
    typer.echo(f"summary: {paths['summary']}")
    for b in verdict.breaches:
        typer.echo(f"[{b.severity}] {b.check} · {b.subject}: {b.message}\n    → {b.action}")
    if verdict.alerts:
        typer.echo(f"{len(verdict.alerts)} alert(s): see above for what to do", err=True)
        # SystemExit, not typer.Exit: cli.main runs the app with standalone_mode=False, where click turns
        # Exit into a return value that main() drops (exit code 0).
        raise SystemExit(EXIT_BREACH)
