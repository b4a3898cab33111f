"""`riskscore impact` (did a flag help? regression discontinuity at the capacity cut-offs) and
`riskscore impact simulate` (does that estimate find a planted effect, and no effect when there is none?)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

impact_app = typer.Typer(help="Impact evaluation at each team's capacity cut-off (regression discontinuity).",
                         invoke_without_command=True)

MSG_NO_DATA = "--data: folder with the raw tables (absences, outcomes, students) is required"


def register(app: typer.Typer) -> None:
    app.add_typer(impact_app, name="impact")


@impact_app.callback()
def impact(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with the raw tables (absences, outcomes, students).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default <reports>/impact/<UTC time>).")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", help="Only these roles (repeat); default all with cases.")] = None,
    data_until: Annotated[str | None, typer.Option("--data-until", help="Last date the data covers (YYYY-MM-DD); "
                                                   "default the newest absence.")] = None,
    min_per_side: Annotated[int, typer.Option("--min-per-side", min=5, help="Fewer pupils than this on a side "
                                              "within the bandwidth: 'too small' instead of a number.")] = 30,
    running: Annotated[str, typer.Option("--running", help="Running variable: rank (places to the team's cut-off; "
                                         "the validated default) or score (probability minus the team's threshold; "
                                         "not validated, see monitoring/README.md).")] = "rank",
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log the report to MLflow.")] = False,
    database_url: Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL (default from settings).")] = None,
) -> None:
    """Estimate, per role, the jump at the capacity cut-off in unauthorised absence (next 8 lesson weeks)
    and VSV (12 months), with the first stage (case opened / reviewed each side) and a density test.
    Writes impact.json and impact.html and logs them to MLflow."""
    if ctx.invoked_subcommand is not None:
        return
    from riskscore import datasets
    from riskscore.errors import DataError
    from riskscore.monitoring.impact import (
        ImpactConfig,
        attach_outcomes,
        evaluate,
        from_store,
        running_frame,
        write_report,
    )
    from riskscore.settings import get_settings
    from riskscore.store.cases import action_counts
    from riskscore.store.db import make_engine, migrate, session_factory

    if data is None:
        raise DataError(MSG_NO_DATA)
    from riskscore.monitoring.impact import TEAM_UNITS

    unknown = sorted(set(role or ()) - set(TEAM_UNITS))
    if unknown:
        raise DataError(f"--role: unknown role(s) {', '.join(unknown)}; choose from {', '.join(TEAM_UNITS)}")
    until = None
    if data_until is not None:
        try:
            until = dt.date.fromisoformat(data_until)
        except ValueError as exc:
            raise DataError(f"--data-until: not a date (YYYY-MM-DD): {data_until!r}") from exc
    if running not in ("rank", "score"):
        raise DataError(f"--running: choose rank or score, not {running!r}")
    settings = get_settings()
    cfg = ImpactConfig(min_per_side=min_per_side, running=running)
    typer.echo("reading tables ...", err=True)
    tables = datasets.read_tables(data)
    engine = make_engine(database_url or settings.resolved_database_url())
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            scores, cases = from_store(session)
            follow_up = action_counts(session)
    finally:
        engine.dispose()
    typer.echo(f"{scores['run_id'].nunique()} runs, {len(scores)} scores; building the running variable ...", err=True)
    frame = attach_outcomes(running_frame(scores, cases), tables, config=cfg, data_until=until)
    typer.echo("estimating (rdrobust, rddensity) ...", err=True)
    report = evaluate(frame, roles=role or None, config=cfg)
    report.follow_up = follow_up
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out or settings.resolved_reports_dir() / "impact" / stamp
    paths = write_report(report, folder)
    if not no_mlflow:
        from riskscore import registry

        registry.configure(settings.resolved_tracking_uri(), settings.resolved_artifact_root())
        run_id = registry.log_impact({k: v for k, v in paths.items()}, report.metrics(),
                                     params={"runs": len(report.runs), "min_per_side": min_per_side,
                                             "running": running})
        typer.echo(f"logged to MLflow run {run_id}", err=True)
    for e in report.estimates:
        value = "too small" if e.status != "ok" else f"{e.estimate:+.3f} [{e.ci_low:+.3f}, {e.ci_high:+.3f}]"
        typer.echo(f"{e.role:<10} {e.outcome:<11} {value:<28} {e.conclusion.get('en', '')}", err=True)
    typer.echo(json.dumps({k: str(v) for k, v in paths.items()}))


@impact_app.command("simulate")
def simulate_cmd(
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=500, help="Number of seeds (1..N).")] = 20,
    first_seed: Annotated[int, typer.Option("--first-seed", help="Seeds run from here.")] = 1,
    students: Annotated[int, typer.Option("--students", min=2000, max=500_000, help="Pupils per cohort.")] = 60_000,
    absence_reduction: Annotated[float, typer.Option(help="A conversation removes this share of later unauthorised absence.")] = 1.0,
    vsv_reduction: Annotated[float, typer.Option(help="A conversation lowers the VSV hazard by this share.")] = 1.0,
    acted_share: Annotated[float, typer.Option(help="Share of opened cases that lead to a conversation.")] = 0.9,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Model bundle to score with (default: a tiny "
                                                "deterministic test model, trained in seconds).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write per-seed rows (CSV) and the summary (Markdown) here.")] = None,
    running: Annotated[str, typer.Option("--running", help="Running variable: rank (places to the cut-off; the "
                                         "validated default) or score (probability minus the team's threshold; "
                                         "not validated, see monitoring/README.md).")] = "rank",
    capacity: Annotated[int, typer.Option("--capacity", min=1, max=5000, help="Schools' capacity: cases per 10,000 "
                                          "pupils (smaller: more pupils below each cut-off).")] = 300,
) -> None:
    """Over many seeds: a planted effect (the synthetic intervention knob) and none; coverage of the
    95 % interval and how often it excludes zero. Prints the summary table as Markdown."""
    import tempfile

    from riskscore.commands.impact_sim import simulate, summary, to_markdown
    from riskscore.errors import DataError
    from riskscore.monitoring.impact import ImpactConfig
    from riskscore.synthetic import Intervention

    if running not in ("rank", "score"):
        raise DataError(f"--running: choose rank or score, not {running!r}")
    knob = Intervention(absence_reduction=absence_reduction, vsv_reduction=vsv_reduction, acted_share=acted_share)
    knob.check()
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = bundle
        if bundle_dir is None:
            from riskscore.testing import tiny_bundle

            typer.echo("training the tiny test model ...", err=True)
            bundle_dir = tiny_bundle(Path(tmp) / "bundle", card=False)
        results = simulate(list(range(first_seed, first_seed + seeds)), bundle_dir=bundle_dir, n_students=students,
                           planted=knob, config=ImpactConfig(running=running), capacity_per_10k=capacity,
                           progress=lambda m: typer.echo(m, err=True))
    table = to_markdown(summary(results))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        results.to_csv(out / "impact_simulation.csv", index=False)
        (out / "impact_simulation.md").write_text(table + "\n", encoding="utf-8")
    typer.echo(table)
