"""Liveness, readiness and Prometheus metrics: unauthenticated, no personal data."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from riskscore.api.schemas import Health, Readiness
from riskscore.service.deps import StateDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers.")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="Readiness: a model is loaded and the database answers and takes writes.",
            responses={503: {"model": Readiness}})
def readyz(state: StateDep) -> Response:
    from riskscore.store.db import database_writable

    loaded = state.loaded
    db_ok = state.database_ok()
    reasons = []
    if loaded is None:
        reasons.append(f"no model loaded ({state.load_error or 'not loaded yet'})")
    if not db_ok:
        reasons.append("database unavailable" if state.db_migrated else "database unavailable or not migrated")
    elif not database_writable(state.engine):  # reviewers could read but every save would fail
        db_ok = False
        reasons.append("database is read-only")
    body = Readiness(status="ready" if loaded and db_ok else "not_ready", model_loaded=loaded is not None,
                     database=db_ok, model_version=loaded.bundle.version if loaded else None,
                     reason="; ".join(reasons) or None)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503,
                        headers=None if body.status == "ready" else {"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics.", response_class=Response)
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
