"""Server-rendered pages for care teams (Jinja2 templates, one CSS file, no JavaScript), on the same
ServiceState and store as the API. Dutch by default, English via ?lang=en (remembered in a cookie)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    """Add the web pages' routes and static files to the app, and how people sign in (from the settings:
    a half-configured identity provider is a ConfigError here, before anything serves)."""
    from fastapi.staticfiles import StaticFiles

    from riskscore.web.admin import router as admin_router
    from riskscore.web.pupil import router as pupil_router
    from riskscore.web.rights import router as rights_router
    from riskscore.web.routes import router
    from riskscore.web.signin import router as signin_router
    from riskscore.web.signin import signin_state_from

    app.state.signin = signin_state_from(app.state.riskscore.settings)
    app.include_router(signin_router)  # sign in (OpenID Connect, demo people) and out
    app.include_router(router)
    app.include_router(pupil_router)  # the pupil page and the work after the signal (plan, report, letter)
    app.include_router(rights_router)  # privacy (objection, dossier, erasure) and impact pages
    app.include_router(admin_router)  # admin: people, API keys, sessions, audit log, model reload
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
