"""`riskscore import`: DUO files, school-system absence exports and raw-table exports into the raw store.

Every import is pseudonymised at the door, merged by natural key (weekly imports add, correct and
skip duplicates) and recorded in the ledger (`riskscore import --list`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from riskscore.clock import today as school_today
from riskscore.errors import ConfigError, DataError

MSG_NEEDS = "--source and --kind are needed (or --list to show the ledger)"


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)


def import_command(
    source: Annotated[Path | None, typer.Option("--source", help="File or folder to import.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="duo (DUO's A04/A14/A05/NRSP/NenR files) | absences (a school system's export, with --profile and --school) | tables (the project's own <table>.csv|.parquet).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Raw store folder (default <home>/data): what `riskscore features`/`score --data` read.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="absences: somtoday-json | somtoday-csv | magister | eduarte, or the path of your own profile YAML.")] = None,
    school: Annotated[Path | None, typer.Option("--school", help="absences: the school's YAML (BRIN, code table, lesson timetable, lessons|clock hours).")] = None,
    calendar_region: Annotated[str, typer.Option("--calendar-region", help="duo: holiday region of the pupils (noord|midden|zuid); DUO files do not say.")] = "midden",
    school_year: Annotated[str | None, typer.Option("--school-year", help="duo: school year (2023-24) of an NRSP/NenR file whose name lacks it.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Force the file encoding (utf-8, cp1252 …); default: detected.")] = None,
    student_number: Annotated[str, typer.Option("--student-number", help="tables: national (BSN/onderwijsnummer, joins DUO) | local (the schools' own pupil numbers, per school_id; joins absence exports whose profile says student_number: local).")] = "national",
    list_ledger: Annotated[bool, typer.Option("--list", help="Show the ledger of earlier imports into --out and stop.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    registrations: Annotated[bool, typer.Option("--registrations/--no-registrations", help="Also bring the pupils' registrations (where each belongs, and when: the only source of scope) into the service's database (RISKSCORE_DATABASE_URL, default <home>/riskscore.db), so the API and pages place them at once; `riskscore score` does it too.")] = True,
) -> None:
    """Import files into the raw store: identifiers dropped, pupil numbers pseudonymised, merged by natural key, ledgered.

    A missing pseudonym key stops with exit 2 (set RISKSCORE_PSEUDONYM_KEY). Bad input stops with exit 3 and one
    line naming file, line, column and value; nothing is written then. Importing the same file again changes nothing.
    """
    from riskscore.settings import get_settings

    settings = get_settings()
    store = out or settings.home / "data"
    if list_ledger:
        _print_ledger(store, as_json, max_age_days=settings.import_max_age_days)
        return
    if source is None or kind is None:
        raise ConfigError(MSG_NEEDS)
    if student_number not in ("national", "local"):
        raise ConfigError(f"--student-number must be national or local: {student_number!r}")
    if calendar_region not in ("noord", "midden", "zuid"):
        raise ConfigError(f"--calendar-region must be noord, midden or zuid: {calendar_region!r}")
    from riskscore.ingest.pseudonym import DEMO_WARNING, resolve_key

    secret = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key is not None else None
    key, demo = resolve_key(secret, demo_mode=settings.demo_mode_not_for_real_pupils)
    if demo:
        typer.echo(DEMO_WARNING, err=True)
    from rich.console import Console
    from rich.progress import Progress

    from riskscore.ingest.run import KINDS, run_import

    if kind not in KINDS:  # checked here: typer's own choice errors would print a traceback
        raise DataError(f"--kind must be one of {', '.join(KINDS)}: {kind!r}")
    console = Console(stderr=True)
    with Progress(transient=True, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("import", total=None)
        summary = run_import(source, kind=kind, out=store, key=key, profile=profile, school=school,
                             calendar_region=calendar_region, school_year=school_year, encoding=encoding,
                             demo_key=demo, student_number=student_number,
                             progress=lambda name: bar.update(task, description=f"import {name}"))
    _print_summary(summary, as_json)
    if registrations and summary.tables.get("students"):
        _sync_registrations(store, settings.resolved_database_url(), quiet=as_json)


def _sync_registrations(store: Path, database_url: str, *, quiet: bool) -> None:
    """The raw store's students rows and enrolments → the registrations in the database (a diff)."""
    import pandas as pd

    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.registrations import sync_registrations

    tables = {name: pd.read_parquet(store / f"{name}.parquet") for name in ("students", "enrolments")
              if (store / f"{name}.parquet").exists()}
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            done = sync_registrations(session, tables["students"], tables.get("enrolments"))
    finally:
        engine.dispose()
    if not quiet:
        typer.echo(f"registrations: {done.pupils:,} pupils · {done.added:,} added · {done.removed:,} removed · "
                   f"{done.unchanged:,} unchanged")


def _print_summary(summary: Any, as_json: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps({
            "kind": summary.kind, "out": str(summary.out), "tables": summary.tables, "notes": summary.notes,
            "demo_key": summary.demo_key, "join": summary.join,
            "files": [{"file": f.file, "school_id": f.school_id, "status": f.status, "rows": f.rows,
                       **f.buckets(), "rejected_reasons": f.reasons(), "blank_rows": f.blank_rows,
                       "encoding": f.encoding, "dropped_columns": f.dropped_columns, "notes": f.notes,
                       "volume": f.volume} for f in summary.files],
        }, default=str))
        return
    for f in summary.files:
        if f.status == "unchanged":
            typer.echo(f"{f.file}: already imported, nothing changed")
            continue
        b = f.buckets()
        line = (f"{f.file}: {f.rows:,} rows read · {b['added']:,} added · {b['replaced']:,} replaced · "
                f"{b['duplicate']:,} duplicate · {b['rejected']:,} rejected")
        if b["outside_lesson_days"]:
            line += f" · {b['outside_lesson_days']:,} outside lesson days"
        if f.blank_rows:
            line += f" · {f.blank_rows:,} empty rows skipped"
        typer.echo(line + f"  [{f.encoding}]")
        for reason, n in f.reasons().items():
            typer.echo(f"  rejected {n:,}: {reason}")
        if f.dropped_columns:
            typer.echo(f"  columns dropped at the door: {', '.join(f.dropped_columns)}")
        for note in f.notes:
            typer.echo(f"  {note}")
        if f.volume and f.volume.get("incomplete"):
            typer.echo(f"  DATA INCOMPLETE for school {f.volume.get('school_id', '')}: {'; '.join(f.volume['reasons'])} "
                       "— `riskscore score` will mark its pupils 'data incomplete' / 'gegevens onvolledig'")
    for school, j in sorted(summary.join.items()):
        line = (f"join check {school}: {j['joined']:,} of {j['records']:,} absence days and sick reports belong to a pupil of "
                f"the students table ({100 * j['share']:.0f} %)")
        if j["low"]:
            line = (f"DATA INCOMPLETE for school {school}: " + line + f", below {100 * j['min_share']:.0f} % — pupil "
                    "numbers do not join (national vs the school's local numbers?); `riskscore score` will mark its "
                    "pupils 'data incomplete'")
        typer.echo(line)
    for note in summary.notes:
        typer.echo(f"note: {note}")
    if summary.tables:
        typer.echo("raw store " + str(summary.out) + ": " + ", ".join(f"{k} {v:,}" for k, v in summary.tables.items()))


def _print_ledger(store: Path, as_json: bool, *, max_age_days: dict[str, int]) -> None:
    """The ledger, then each school's state today: incomplete (volume, join, stale) or complete."""
    import json

    from riskscore.ingest.ledger import freshness, incomplete_reasons, read_ledger

    entries = read_ledger(store)
    today = school_today()  # the CLI is the door that reads the clock
    reasons = incomplete_reasons(store, today=today, max_age_days=max_age_days)
    if as_json:
        typer.echo(json.dumps({"entries": entries, "incomplete": reasons,
                               "freshness": list(freshness(entries, today=today, max_age_days=max_age_days).values())},
                              default=str))
        return
    if not entries:
        typer.echo(f"no imports recorded in {store}")
        return
    typer.echo(f"{'when':<25} {'file':<28} {'kind':<22} {'rows':>8} {'added':>8} {'replaced':>8} {'dup':>8} {'rejected':>8} {'no lesson':>9}  flags")
    for e in entries:
        flags = "INCOMPLETE" if e.get("incomplete") else ""
        if e.get("status") != "imported":
            flags = e.get("status", "")
        typer.echo(f"{e.get('at', ''):<25} {str(e.get('file', ''))[:28]:<28} {str(e.get('profile', ''))[:22]:<22} "
                   f"{e.get('rows', 0):>8} {e.get('added', 0):>8} {e.get('replaced', 0):>8} {e.get('duplicate', 0):>8} "
                   f"{e.get('rejected', 0):>8} {e.get('outside_lesson_days', 0):>9}  {flags}")
    typer.echo("")
    for school, why in sorted(reasons.items()):
        for code, text in why.items():
            typer.echo(f"DATA INCOMPLETE {school} ({code}): {text}")
    if not reasons:
        typer.echo(f"no school marked 'data incomplete' on {today.isoformat()}")
