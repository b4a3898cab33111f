"""`riskscore monitor`: drift, score drift and fairness of the latest scoring run against the reference.

With no --reference/--current (and none in the config) it monitors the real pipeline:
reference = the serving champion's `reference.parquet` (RISKSCORE_BUNDLE_PATH, else the registry alias)
with its `reference_groups.parquet` (audit groups as counts; any reference file's neighbour of that name
serves the fairness columns its rows lack),
current = the latest complete batch scoring run (`batch.latest_scored_frame`), outcomes = the data's
outcomes table once the current as-of is a label horizon old, reviews = the store's review outcomes.

Exit codes: 0 nothing crossed (warnings may be printed), 10 at least one alert (listed with what to do),
and the error family's codes (2 bad config or no input, 3 bad data, 4 registry, 9 disk full) as one line
on stderr."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from riskscore.clock import today as school_today

if TYPE_CHECKING:
    import pandas as pd

    from riskscore.monitoring.config import MonitoringConfig
    from riskscore.settings import Settings

EXIT_BREACH = 10
MSG_NO_CHAMPION = ("no reference: no model behind '{name}@{alias}' in the registry and RISKSCORE_BUNDLE_PATH is not set; "
                   "train and promote a model first (riskscore train; riskscore promote), or give --reference")
MSG_NO_REFERENCE_FILE = ("no reference: the champion bundle {folder} has no reference.parquet (trained before monitoring "
                         "existed?); retrain it, or give --reference")
MSG_NO_GROUP_COUNTS = ("fairness: {columns} not compared — the reference has no such column and there is no "
                       "{file} next to it (a bundle trained before it was written: retrain, or give --reference with "
                       "these columns)")
MSG_GROUPS_LACK = ("fairness: {columns} not compared — neither the reference rows nor {file} have them (was there an "
                   "audit table at training?)")
MSG_NO_BATCH = "no current scores: the batch scoring job (riskscore score) is not installed; give --current"
MSG_NO_RUN = ("no current scores: no complete scoring run in {home}/runs yet; run `riskscore score --as-of DATE --data DIR` "
              "first, or give --current")


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


@dataclass
class Inputs:
    """What a monitoring run compares, and where each piece came from (shown and kept in the summary)."""

    reference: Path
    current: Path
    reference_groups: Path | None = None  # counts per audit group next to the reference, when there are any
    model_version: str | None = None
    from_registry: bool = False
    current_frame: Any = None  # the current frame when batch handed it over already read
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str | None] = field(default_factory=dict)


def champion_reference(settings: Settings) -> tuple[Path, str | None, bool]:
    """(reference.parquet of the serving champion, its model version, whether it came from the registry)."""
    from riskscore.errors import ConfigError, DataError
    from riskscore.training.pipeline import REFERENCE_FILE

    if settings.bundle_path is not None:
        folder = Path(settings.bundle_path)
        version = None
        with contextlib.suppress(OSError, ValueError):  # the version is a label; its absence is no error
            version = json.loads((folder / "bundle.json").read_text(encoding="utf-8")).get("version")
        if not (folder / REFERENCE_FILE).is_file():
            raise DataError(MSG_NO_REFERENCE_FILE.format(folder=folder))
        return folder / REFERENCE_FILE, version, False
    from riskscore import registry

    registry.configure(settings.resolved_tracking_uri(), settings.resolved_artifact_root())
    version = registry.get_alias_version(settings.model_alias, model_name=settings.model_name)
    if version is None:
        raise ConfigError(MSG_NO_CHAMPION.format(name=settings.model_name, alias=settings.model_alias))
    dst = settings.home / "cache" / "monitoring" / f"{settings.model_name}-v{version}"
    cached = sorted(dst.rglob(REFERENCE_FILE)) if dst.is_dir() else []  # versions are immutable: reuse
    folder = cached[0].parent if cached else registry.download_bundle(settings.model_alias, model_name=settings.model_name, dst=dst)
    if not (folder / REFERENCE_FILE).is_file():
        raise DataError(MSG_NO_REFERENCE_FILE.format(folder=f"{settings.model_name} v{version}"))
    return folder / REFERENCE_FILE, str(version), True


def latest_current(settings: Settings) -> tuple[Path, pd.DataFrame | None]:
    """The scored frame of the latest complete batch scoring run (batch.py's contract): its path, and the
    frame itself when batch already read it (it checks the file belongs to the run's committed attempt)."""
    import pandas as pd

    from riskscore.errors import ConfigError

    try:
        from riskscore import batch
    except ModuleNotFoundError as exc:
        if exc.name == "riskscore.batch":
            raise ConfigError(MSG_NO_BATCH) from None
        raise
    found = batch.latest_scored_frame(settings)
    if isinstance(found, pd.DataFrame):
        run_id = (found.attrs.get(getattr(batch, "RUN_META_KEY", "riskscore_run")) or {}).get("run_id")
        path = batch.scored_frame_path(settings, run_id) if run_id is not None else Path("<latest run>")
        return Path(path), found
    if found is None or not Path(found).is_file():
        raise ConfigError(MSG_NO_RUN.format(home=settings.home))
    return Path(found), None


def resolve_inputs(cfg: MonitoringConfig, settings: Settings, *, reference: Path | None,
                   current: Path | None) -> Inputs:
    from riskscore.training.pipeline import REFERENCE_GROUPS_FILE

    ref_path, version, from_registry = reference or cfg.reference, cfg.model_version, False
    ref_source = "given"
    if ref_path is not None and version is None:  # a reference inside a bundle folder names its model
        with contextlib.suppress(OSError, ValueError, AttributeError):
            version = json.loads((Path(ref_path).parent / "bundle.json").read_text(encoding="utf-8")).get("version")
    if ref_path is None:
        ref_path, found, from_registry = champion_reference(settings)
        version = version or found
        ref_source = (f"registry {settings.model_name}@{settings.model_alias} (v{found})" if from_registry
                      else f"RISKSCORE_BUNDLE_PATH ({found})")
    cur_path = current or cfg.current
    cur_source, cur_frame = "given", None
    if cur_path is None:
        cur_path, cur_frame = latest_current(settings)
        cur_source = "latest complete scoring run"
    groups = Path(ref_path).parent / REFERENCE_GROUPS_FILE
    sources: dict[str, str | None] = {"reference": f"{ref_path} [{ref_source}]", "current": f"{cur_path} [{cur_source}]"}
    if groups.is_file():
        sources["reference_groups"] = str(groups)
    return Inputs(reference=Path(ref_path), current=Path(cur_path), model_version=version, from_registry=from_registry,
                  current_frame=cur_frame, reference_groups=groups if groups.is_file() else None, sources=sources)


def reference_groups(cfg: MonitoringConfig, inputs: Inputs, ref_df: pd.DataFrame,
                     cur_df: pd.DataFrame) -> pd.DataFrame | None:
    """The reference's counts per audit group, needed only for the fairness columns its rows lack (a
    row-level reference with audit columns is used as it is). A lacking column is a note, not an error:
    drift and the other checks still run."""
    from riskscore.training.pipeline import REFERENCE_GROUPS_FILE

    lacking = [c for c in cfg.fairness.groups if c in cur_df and c not in ref_df]
    if not lacking:
        return None
    if inputs.reference_groups is None:
        inputs.notes.append(MSG_NO_GROUP_COUNTS.format(columns=", ".join(lacking), file=REFERENCE_GROUPS_FILE))
        return None
    frame = read_frame(inputs.reference_groups)
    have = set(frame["column"].astype(str)) if "column" in frame else set()
    if [c for c in lacking if c not in have]:
        inputs.notes.append(MSG_GROUPS_LACK.format(columns=", ".join(c for c in lacking if c not in have),
                                                   file=inputs.reference_groups))
    return frame


def load_outcomes(cfg: MonitoringConfig, settings: Settings, current: pd.DataFrame, *, given: Path | None,
                  inputs: Inputs) -> pd.DataFrame | None:
    """The outcomes table, but only when the current as-of is a full label horizon old: before that most
    pupils who will leave have not left yet, and recall and calibration would look falsely bad."""
    import pandas as pd

    path = given or cfg.outcomes
    if path is None:
        default = settings.home / "data" / "outcomes.parquet"
        if not default.is_file():
            return None
        path = default
    frame = read_frame(Path(path))
    if "vsv_date" not in frame or "as_of" not in current:
        inputs.sources["outcomes"] = str(path)
        return frame
    as_of = pd.Timestamp(pd.to_datetime(current["as_of"]).max())
    known = pd.to_datetime(frame["vsv_date"]).max() if len(frame) else pd.NaT
    today = pd.Timestamp(school_today())
    known_until = min(today, known) if pd.notna(known) else today
    window_end = as_of + pd.Timedelta(days=cfg.outcome_checks.horizon_days)
    if window_end > known_until:
        inputs.notes.append(f"outcomes: not used yet — labels for as-of {as_of.date()} need outcomes up to "
                            f"{window_end.date()}, {path} reaches {known_until.date()}")
        return None
    inputs.sources["outcomes"] = str(path)
    return frame


def load_reviews(cfg: MonitoringConfig, settings: Settings, inputs: Inputs) -> pd.DataFrame | None:
    """Review outcomes recorded in the last review_window_days, from the store; None (with a note) when
    there is no store or nothing was reviewed — drift and fairness do not wait for reviewers."""
    from riskscore.errors import StoreError

    url = settings.resolved_database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        inputs.notes.append("reviews: no store yet (no review outcomes to check)")
        return None
    from riskscore.store.db import make_engine, session_factory
    from riskscore.store.outcomes_read import review_outcomes

    since = datetime.now(UTC) - timedelta(days=cfg.outcome_checks.review_window_days)
    try:
        engine = make_engine(url)
        try:
            with session_factory(engine)() as session:
                frame = review_outcomes(session, since=since)
        finally:
            engine.dispose()
    except StoreError as exc:
        inputs.notes.append(f"reviews: skipped — {exc}")
        return None
    if frame.empty:
        inputs.notes.append(f"reviews: none recorded in the last {cfg.outcome_checks.review_window_days} days")
        return None
    inputs.sources["reviews"] = f"store, {len(frame)} reviewed case(s) since {since.date()}"
    return frame


def monitor(
    config: Annotated[Path, typer.Option("--config", "-c", help="Monitoring configuration (YAML).")] = Path("monitoring/config.yaml"),
    reference: Annotated[Path | None, typer.Option(help="Reference scored frame (Parquet/CSV). Default: the champion's reference.parquet.")] = None,
    current: Annotated[Path | None, typer.Option(help="Current scored frame (Parquet/CSV). Default: the latest complete scoring run.")] = None,
    outcomes: Annotated[Path | None, typer.Option(help="Outcomes (student_id + vsv_date or label). Default: <home>/data/outcomes.parquet once mature.")] = None,
    reviews: Annotated[bool, typer.Option("--reviews/--no-reviews", help="Check the store's review outcomes (worth a conversation).")] = True,
    out: Annotated[Path | None, typer.Option("--out", help="Reports folder. Default: <home>/reports/monitoring.")] = None,
    mlflow: Annotated[bool | None, typer.Option("--mlflow/--no-mlflow", help="Log the report to MLflow against the model version (default: on when the champion comes from the registry).")] = None,
) -> None:
    """Compare the current scores with the reference; exit 10 and say what to do when a threshold is crossed."""
    from riskscore.monitoring.checks import load_config
    from riskscore.settings import get_settings

    cfg = load_config(config)  # validated before anything runs
    settings = get_settings()
    inputs = resolve_inputs(cfg, settings, reference=reference, current=current)
    if inputs.model_version and not cfg.model_version:
        cfg = cfg.model_copy(update={"model_version": inputs.model_version})

    from riskscore.monitoring import report as monitoring_report
    from riskscore.monitoring import status as monitoring_status
    from riskscore.monitoring.checks import run_monitoring

    ref_df = read_frame(inputs.reference)
    cur_df = inputs.current_frame if inputs.current_frame is not None else read_frame(inputs.current)
    groups_df = reference_groups(cfg, inputs, ref_df, cur_df)
    outcomes_df = load_outcomes(cfg, settings, cur_df, given=outcomes, inputs=inputs)
    reviews_df = load_reviews(cfg, settings, inputs) if reviews else None
    verdict = run_monitoring(ref_df, cur_df, config=cfg, outcomes=outcomes_df, reviews=reviews_df,
                             reference_groups=groups_df)
    verdict.summary["sources"] = dict(inputs.sources)
    verdict.summary["notes"] = list(inputs.notes)
    out_dir = out or cfg.output_dir or monitoring_status.default_reports_dir(settings.resolved_reports_dir())
    paths = monitoring_report.write_reports(verdict, out_dir)
    _print(verdict, paths, inputs)
    if inputs.from_registry if mlflow is None else mlflow:
        from riskscore.errors import RiskscoreError

        try:
            run_id = monitoring_report.log_to_mlflow(verdict, paths, tracking_uri=settings.resolved_tracking_uri(),
                                                     artifact_root=settings.resolved_artifact_root())
            typer.echo(f"mlflow:  run {run_id}, logged against model version {cfg.model_version or 'unknown'}")
        except RiskscoreError as exc:  # the report is on disk; say so rather than lose the verdict
            typer.echo(f"warning: the report was written but not logged to MLflow: {exc}", err=True)
    if verdict.alerts:
        typer.echo(f"{len(verdict.alerts)} alert(s) — work through 'what to do' above; report: {paths['report']}", err=True)
        # SystemExit, not typer.Exit: cli.main runs the app with standalone_mode=False, where click turns
        # Exit into a return value that main() drops (exit code 0).
        raise SystemExit(EXIT_BREACH)


def _print(verdict: Any, paths: dict[str, Path], inputs: Inputs) -> None:
    s = verdict.summary
    echo = typer.echo
    mark = {"ok": "OK", "warn": "WARN", "alert": "ALERT"}[verdict.status]
    echo(f"monitoring · model {s.get('model_version') or 'unknown'} · reference {s.get('as_of_reference') or '?'} "
         f"({s['n_reference']} pupils) → current {s.get('as_of_current') or '?'} ({s['n_current']} pupils)")
    echo(f"  reference: {inputs.sources.get('reference')}")
    echo(f"  current:   {inputs.sources.get('current')}")
    echo(f"status: {mark}")
    echo(f"  {'score PSI':<24}{s['score_drift']['psi']:.3f}")
    echo(f"  {'flag rate ref → cur':<24}{s['flag_rate_reference']:.1%} → {s['flag_rate_current']:.1%}")
    fd = s["feature_drift"]
    if fd.get("share_drifted") is not None:
        n_cols = len(fd.get("columns", []))
        n_drift = sum(1 for c in fd.get("columns", []) if c.get("drifted"))
        echo(f"  {'features drifted':<24}{n_drift} of {n_cols} ({fd['share_drifted']:.0%})")
    echo(f"  {'fairness groups tested':<24}{s['fairness']['tested_groups']} ({s['fairness']['alerts']} alert(s))")
    if "outcomes" in s:
        o = s["outcomes"]
        echo(f"  {'with outcomes':<24}precision {o.get('precision') or 0:.1%}, recall {o.get('tpr') or 0:.1%}")
    if "reviews" in s:
        r = s["reviews"]
        echo(f"  {'review outcomes':<24}{r['n']} reviewed, {r.get('worth_conversation') or 0:.0%} worth a conversation")
    small = s["fairness"].get("too_small_in_reference") or []
    if small:
        echo(f"  note: fairness: {', '.join(small)} too small in the reference (its counts are suppressed there); not compared")
    for note in inputs.notes:
        echo(f"  note: {note}")
    if verdict.breaches:
        echo("findings:")
        for b in verdict.breaches:
            echo(f"  [{b.severity}] {b.check} · {b.subject}: {b.message}\n      → {b.action}")
    if s.get("actions"):
        echo("what to do / wat te doen:")
        for i, a in enumerate(s["actions"], 1):
            echo(f"  {i}. {a['text_en']}\n     {a['text_nl']}")
    echo(f"report:  {paths['report']}")
    echo(f"summary: {paths['summary']}")
