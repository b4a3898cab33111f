"""The `--database-url` option and the store session shared by `riskscore keys`, `users` and `privacy`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

DbOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: RISKSCORE_DATABASE_URL or <home>/riskscore.db)."),
]


def open_store(database_url: str | None) -> tuple[sa.Engine, Session]:
    """Open a session on a migrated database; the URL comes from the option or the settings. The caller
    closes the session and disposes the engine."""
    from riskscore.store.db import make_engine, migrate, session_factory

    if database_url is None:
        from riskscore.settings import get_settings

        database_url = get_settings().resolved_database_url()
    engine = make_engine(database_url)
    migrate(engine)
    return engine, session_factory(engine)()
