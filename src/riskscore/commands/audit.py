"""`riskscore audit verify`: check that the audit log's hash chain is intact."""

from __future__ import annotations

from typing import Annotated

import typer

audit_app = typer.Typer(help="Audit log tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLAlchemy URL (default: RISKSCORE_DATABASE_URL or <home>/riskscore.db)."),
    ] = None,
) -> None:
    """Walk the chain; exit 0 when intact, 10 with the first bad entry otherwise."""
    from riskscore.store.audit import verify_chain
    from riskscore.store.db import make_engine, migrate, session_factory

    if database_url is None:
        from riskscore.settings import get_settings

        database_url = get_settings().resolved_database_url()
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            result = verify_chain(session)
    finally:
        engine.dispose()
    if result.ok:
        erased = f" ({result.erased} with content erased under AVG art. 17 / retention)" if result.erased else ""
        typer.echo(f"audit log intact: {result.checked} entries checked{erased}")
        return
    typer.echo(f"audit log BROKEN at entry {result.first_bad_id}: {result.problem} "
               f"({result.checked} entries verified before it)", err=True)
    raise typer.Exit(10)
