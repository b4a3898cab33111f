"""`riskscore serve`: run the HTTP service under uvicorn (the app factory, so each worker builds its own)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from riskscore.settings import Settings, get_settings

FACTORY = "riskscore.api:create_serving_app"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 behind a reverse proxy in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    bundle: Annotated[str | None, typer.Option(
        help="A model bundle folder, or a registry alias (champion, challenger). Default: RISKSCORE_BUNDLE_PATH, "
             "else the alias RISKSCORE_MODEL_ALIAS (champion).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes; use PostgreSQL when more than 1.")] = 1,
    database_url: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL, e.g. postgresql://user:pw@host/riskscore (default: RISKSCORE_DATABASE_URL or <home>/riskscore.db).")] = None,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error")] = "info",
) -> None:
    """Serve the API: /v1/scores, /v1/students/{id}/score, /v1/models/current, /healthz, /readyz, /metrics."""
    import uvicorn

    from riskscore.errors import ConfigError

    # Options travel to every worker process as RISKSCORE_* variables, read by create_app().
    if bundle is not None:
        if Path(bundle).is_dir():
            os.environ["RISKSCORE_BUNDLE_PATH"] = str(Path(bundle).resolve())
        elif "/" in bundle or bundle.startswith("."):
            raise ConfigError(f"--bundle {bundle}: no such folder")
        else:
            os.environ.pop("RISKSCORE_BUNDLE_PATH", None)
            os.environ["RISKSCORE_MODEL_ALIAS"] = bundle
    if database_url is not None:
        os.environ["RISKSCORE_DATABASE_URL"] = database_url
    os.environ["RISKSCORE_LOG_LEVEL"] = log_level.upper()
    get_settings.cache_clear()
    settings = get_settings()
    _check_sign_in(settings)
    if workers > 1 and settings.resolved_database_url().startswith("sqlite"):
        typer.echo("warning: several workers on SQLite serialise writes; use PostgreSQL for production", err=True)
    # access_log off: uvicorn's access log writes raw paths, which hold student ids.
    # Forwarding headers only from configured proxies: otherwise any client could pick its address.
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    uvicorn.run(FACTORY, factory=True, host=host, port=port, workers=workers, access_log=False,
                log_level=log_level.lower(), proxy_headers=bool(proxies),
                forwarded_allow_ips=",".join(proxies) or None)


def _check_sign_in(settings: Settings) -> None:
    """Before anything serves: a session secret (exit 2 without one, outside demo mode) and a complete
    identity-provider configuration. In demo mode without a secret one random secret is made here and
    handed to every worker, so a session opened in one worker is accepted by the others."""
    from riskscore.access.signin import SECRET_ENV, oidc_config, resolve_session_secret

    secret = settings.session_secret.get_secret_value() if settings.session_secret is not None else None
    key, throwaway = resolve_session_secret(secret, demo_mode=settings.demo_mode_not_for_real_pupils)
    if throwaway:
        os.environ[SECRET_ENV] = key.decode("ascii")
        get_settings.cache_clear()
        typer.echo("DEMO MODE: a random session secret for this run; sessions end when the service stops", err=True)
    oidc = oidc_config(
        issuer=settings.oidc_issuer, discovery_url=settings.oidc_discovery_url, client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        scopes=settings.oidc_scopes, redirect_uri=settings.oidc_redirect_uri)
    if oidc is None and not settings.demo_mode_not_for_real_pupils:
        typer.echo("warning: no identity provider (RISKSCORE_OIDC_ISSUER): nobody can sign in on the web pages; "
                   "the API (keys) works", err=True)
