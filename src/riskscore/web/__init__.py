"""Server-rendered web pages (placeholder until the web work lands)."""

from __future__ import annotations

from fastapi import FastAPI


def mount_web(app: FastAPI) -> None:
    """Add the web pages' routes and static files to the app."""
