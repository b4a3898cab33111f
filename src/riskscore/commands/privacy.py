"""`riskscore privacy export | object | withdraw | erase | retain`: the pupil's rights (AVG art. 15, 17, 21)
from the command line. The operator is recorded in the audit log as cli:<user name>."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from riskscore.commands.store_options import DbOption, open_store

privacy_app = typer.Typer(help="A pupil's rights: see the file (inzage), object, erase; and retention.",
                          no_args_is_help=True)

StudentOption = Annotated[str, typer.Option("--student", help="The pupil's pseudonymous student id.")]
ConfigOption = Annotated[
    Path, typer.Option("--config", help="Privacy settings (retention periods, contact text).")
]
DEFAULT_CONFIG = Path("serving/privacy.yaml")
MSG_NOTHING_STORED = "nothing is stored about student {sid}"


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"



def _check_id(student_id: str) -> str:
    from riskscore.errors import DataError

    sid = student_id.strip()
    if not sid or len(sid) > 64:
        raise DataError("--student: give the pupil's pseudonymous id (1-64 characters)")
    return sid


@privacy_app.command("export")
def export(
    student: StudentOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for dossier-<id>.json and .html (nl and en).")] = Path("."),
    config: ConfigOption = DEFAULT_CONFIG,
    database_url: DbOption = None,
) -> None:
    """Everything stored about one pupil, as JSON and as printable pages (Dutch and English) for the
    pupil and parent. The export itself is written to the audit log."""
    from riskscore.datasets import write_atomic
    from riskscore.errors import NotFoundError
    from riskscore.rules import RULES
    from riskscore.store.audit import append_audit
    from riskscore.store.privacy import dossier
    from riskscore.web.dossier import load_contact, render

    sid = _check_id(student)
    contact = load_contact(config)
    engine, session = open_store(database_url)
    try:
        data = dossier(session, sid, rule_sources={k: r.source for k, r in RULES.items()})
        append_audit(session, actor=_actor(), role="admin", action="privacy.export", resource=f"student:{sid}",
                     outcome="allowed" if data is not None else "not_found", purpose="avg-15")
    finally:
        session.close()
        engine.dispose()
    if data is None:
        raise NotFoundError(MSG_NOTHING_STORED.format(sid=sid))
    written = [write_atomic(out / f"dossier-{sid}.json",
                            lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, ensure_ascii=False),
                                                             encoding="utf-8"), suffix=".json")]
    for lang in ("nl", "en"):
        html = render(data, lang=lang, contact=contact)
        def write_page(tmp: str, body: str = html) -> None:
            Path(tmp).write_text(body, encoding="utf-8")

        written.append(write_atomic(out / f"dossier-{sid}.{lang}.html", write_page, suffix=".html"))
    for path in written:
        typer.echo(str(path))


@privacy_app.command("object")
def object_(
    student: StudentOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (in a few words); kept with the mark.")],
    database_url: DbOption = None,
) -> None:
    """Mark a pupil as objecting (AVG art. 21): the model no longer scores them; the legal rules still run."""
    from riskscore.store.privacy import set_objection

    sid = _check_id(student)
    engine, session = open_store(database_url)
    try:
        row = set_objection(session, sid, reason=reason, actor=_actor(), role="admin")
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"objection recorded for {sid} at {row.recorded_at.isoformat(timespec='seconds')}: the model will "
               "not score this pupil; legal rules still apply")


@privacy_app.command("withdraw")
def withdraw(student: StudentOption, database_url: DbOption = None) -> None:
    """Remove a pupil's objection mark (they withdrew it)."""
    from riskscore.store.privacy import withdraw_objection

    sid = _check_id(student)
    engine, session = open_store(database_url)
    try:
        withdraw_objection(session, sid, actor=_actor(), role="admin")
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"objection withdrawn for {sid}")


@privacy_app.command("erase")
def erase(
    student: StudentOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. 'verzoek ouders 2026-11-30'); audited.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database_url: DbOption = None,
) -> None:
    """Erase everything about a pupil (AVG art. 17), by key, in every store of the registry (`riskscore
    privacy stores`): scores, cases, notes, outcomes, the objection mark, the content of audit entries
    about them, and their rows in raw tables, scored frames, reports, caches and scratch stores. The
    audit chain stays verifiable. An id that is not a pseudonym is refused (exit 3) before anything is
    touched. Prints a receipt number to give to the pupil or parent."""
    from riskscore.ingest.pseudonym import check_pseudonym
    from riskscore.settings import get_settings
    from riskscore.store.erasure import registry
    from riskscore.store.privacy import _reason, erase_student

    sid = check_pseudonym(student.strip(), field="--student")
    _reason(reason, "erasure")  # before asking anything
    if not yes:
        typer.confirm(f"erase everything about {sid}? this cannot be undone", abort=True)
    stores = registry(get_settings().erasure_roots())
    engine, session = open_store(database_url)
    try:
        report = erase_student(session, sid, reason=reason, actor=_actor(), role="admin", stores=stores)
    finally:
        session.close()
        engine.dispose()
    typer.echo(json.dumps(report.to_dict(), indent=2))
    for path in report.failed:
        typer.echo(f"warning: could not erase in {path} (unreadable or not writable); it was left as it was: "
                   "check it by hand, then erase again", err=True)
    typer.echo(f"erased; receipt {report.receipt}. If the school's source systems still deliver this pupil, the next "
               "run scores them again: erase at the source too.", err=True)


@privacy_app.command("stores")
def stores_() -> None:
    """The registry of stores erasure reaches (AVG art. 17): where each is and what it holds."""
    from riskscore.settings import get_settings
    from riskscore.store.erasure import registry

    for row in registry(get_settings().erasure_roots()).describe():
        typer.echo(f"{row['store']}\t{row['where']}\t{row['kinds']}\t{row['holds']}")


@privacy_app.command("retain")
def retain(
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")] = False,
    database_url: DbOption = None,
) -> None:
    """Delete what is older than each table's retention period (safe to run nightly: idempotent, one
    transaction per table, audited with counts only). Without the config file: two school years."""
    from riskscore.settings import get_settings
    from riskscore.store.retention import RetentionConfig
    from riskscore.store.retention import retain as do_retain

    cfg = RetentionConfig.from_yaml(config) if config.is_file() else RetentionConfig()
    engine, session = open_store(database_url)
    try:
        result: dict[str, Any] = do_retain(session, cfg, actor=_actor(), runs_dir=get_settings().home / "runs",
                                           dry_run=dry_run)
    finally:
        session.close()
        engine.dispose()
    typer.echo(json.dumps({"dry_run": dry_run, **result}, indent=2))
