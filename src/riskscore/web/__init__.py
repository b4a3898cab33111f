"""Server-rendered pages for care teams (Jinja2 templates, one CSS file, no JavaScript), on the same
ServiceState and store as the API. Dutch by default, English via ?lang=en (remembered in a cookie)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    """Add the web pages' routes and static files to the app."""
    from fastapi.staticfiles import StaticFiles

    from riskscore.web.rights import router as rights_router
    from riskscore.web.routes import router

    app.include_router(router)
    app.include_router(rights_router)  # privacy (objection, dossier, erasure) and impact pages
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
