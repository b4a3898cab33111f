"""The HTTP service. `create_app(settings=None, *, bundle_loader=None, engine=None)` builds it;
`riskscore serve` (or `uvicorn --factory riskscore.api:create_serving_app`) runs it."""

from __future__ import annotations

from riskscore.api.app import create_app, create_serving_app

__all__ = ["create_app", "create_serving_app"]
