"""`riskscore users add | list | deactivate | activate`: the people who may sign in on the web (with their
institution's identity over OpenID Connect; demo people in demo mode only)."""

from __future__ import annotations

from typing import Annotated

import typer

from riskscore.commands.store_options import DbOption, open_store

users_app = typer.Typer(help="People who may sign in on the web: role and scope per person.", no_args_is_help=True)

MSG_DEMO_ONLY = ("--demo people sign in without an identity provider: only with "
                 "RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS=1 (synthetic pupils)")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")



def _scope_text(kind: str, values: list[str]) -> str:
    return kind if kind == "all" else f"{kind}:{','.join(values)}"


@users_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Display name, shown in case histories and the pupil's access log.")],
    role: Annotated[str, typer.Option(help="school | jeugdarts | leerplicht | rmc | data_team | admin")],
    scope: Annotated[str, typer.Option(help="school:BRIN1,BRIN2 | municipality:GM0363 | rmc_region:RMC27 | all")],
    email: Annotated[str | None, typer.Option(help="Matched at the first sign-in (then the account is bound).")] = None,
    groups: Annotated[str, typer.Option(help="Mentor groups, comma-separated (optional: narrows a school scope).")] = "",
    issuer: Annotated[str | None, typer.Option(help="Bind to this issuer + --subject now instead of by e-mail.")] = None,
    subject: Annotated[str | None, typer.Option(help="The person's subject ('sub') at --issuer.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="A demo person (demo mode only): signs in without a provider.")] = False,
    database_url: DbOption = None,
) -> None:
    """Add a person; prints their id."""
    from riskscore.access import parse_scope, validate_role
    from riskscore.access.signin import parse_groups
    from riskscore.errors import ConfigError
    from riskscore.settings import get_settings

    validate_role(role)
    kind, values = parse_scope(scope)  # validated before the database is touched
    if demo and not get_settings().demo_mode_not_for_real_pupils:
        raise ConfigError(MSG_DEMO_ONLY)
    if bool(issuer) != bool(subject):
        raise ConfigError("--issuer and --subject go together")
    from riskscore.store.users import create_user

    engine, session = open_store(database_url)
    try:
        user = create_user(session, display_name=name, email=email, role=role, scope_kind=kind, scope_values=values,
                           groups=parse_groups(groups), issuer=issuer, subject=subject, demo=demo)
    finally:
        session.close()
        engine.dispose()
    typer.echo(user.id)


@users_app.command("list")
def list_(database_url: DbOption = None) -> None:
    """People: id, name, e-mail, role, scope, groups, bound or not, active or not."""
    from riskscore.store.users import list_users

    engine, session = open_store(database_url)
    try:
        rows = list_users(session)
    finally:
        session.close()
        engine.dispose()
    if not rows:
        typer.echo("no users")
        return
    for u in rows:
        state = f"deactivated {u.deactivated_at:%Y-%m-%d %H:%M}" if u.deactivated_at else "active"
        bound = "bound" if u.subject else ("demo" if u.demo else "not bound yet")
        typer.echo(f"{u.id}\t{u.display_name}\t{u.email or '-'}\t{u.role}\t{_scope_text(u.scope_kind, u.scope_values)}"
                   f"\t{','.join(u.groups or []) or '-'}\t{bound}\t{state}")


@users_app.command("deactivate")
def deactivate(
    user_id: Annotated[str, typer.Argument(help="The user id shown by `users add` / `users list`.")],
    database_url: DbOption = None,
) -> None:
    """Deactivate a person: their web sessions end at once and they cannot sign in again."""
    from riskscore.store.users import get_user, set_active

    engine, session = open_store(database_url)
    try:
        get_user(session, user_id)
        set_active(session, user_id, False)
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"deactivated {user_id}")


@users_app.command("activate")
def activate(
    user_id: Annotated[str, typer.Argument(help="The user id shown by `users list`.")],
    database_url: DbOption = None,
) -> None:
    """Let a deactivated person sign in again."""
    from riskscore.store.users import get_user, set_active

    engine, session = open_store(database_url)
    try:
        get_user(session, user_id)
        set_active(session, user_id, True)
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"activated {user_id}")
