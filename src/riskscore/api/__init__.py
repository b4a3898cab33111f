"""The HTTP service. `create_app(settings=None, *, bundle_loader=None, engine=None)` builds it;
`uvicorn --factory riskscore.api:create_app` or `riskscore serve` runs it."""

from __future__ import annotations

from riskscore.api.app import create_app

__all__ = ["create_app"]
