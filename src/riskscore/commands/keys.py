"""`riskscore keys create | list | revoke`: manage API keys. The key is printed once and never stored."""

from __future__ import annotations

from typing import Annotated

import typer

from riskscore.commands.store_options import DbOption, open_store

keys_app = typer.Typer(help="Create, list and revoke API keys (only their sha256 is stored).", no_args_is_help=True)



def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")



@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="school | jeugdarts | leerplicht | rmc | data_team | admin")],
    scope: Annotated[str, typer.Option(help="school:BRIN1,BRIN2 | municipality:GM0363 | rmc_region:RMC27 | all")],
    label: Annotated[str, typer.Option(help="Who holds the key (shown in the audit log instead of the key).")],
    database_url: DbOption = None,
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    from riskscore.access import parse_scope, validate_role

    validate_role(role)
    kind, values = parse_scope(scope)  # validated before the database is touched
    from riskscore.store.keys import create_key

    engine, session = open_store(database_url)
    try:
        key_id, plaintext = create_key(session, role, kind, values, label)
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"key id: {key_id}  role: {role}  scope: {scope}  label: {label}", err=True)
    typer.echo("the key below is shown only this once:", err=True)
    typer.echo(plaintext)


@keys_app.command("list")
def list_(database_url: DbOption = None) -> None:
    """List keys (id, role, scope, label, created, revoked) — never the keys themselves."""
    from riskscore.store.keys import list_keys

    engine, session = open_store(database_url)
    try:
        rows = list_keys(session)
    finally:
        session.close()
        engine.dispose()
    if not rows:
        typer.echo("no keys")
        return
    for row in rows:
        scope = row.scope_kind if row.scope_kind == "all" else f"{row.scope_kind}:{','.join(row.scope_values)}"
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        typer.echo(f"{row.id}\t{row.role}\t{scope}\t{row.label}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `keys create` / `keys list`.")],
    database_url: DbOption = None,
) -> None:
    """Revoke a key at once; requests with it are refused from now on."""
    from riskscore.store.keys import revoke_key

    engine, session = open_store(database_url)
    try:
        revoke_key(session, key_id)
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"revoked {key_id}")
