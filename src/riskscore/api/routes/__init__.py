"""All routers, included in one place."""

from __future__ import annotations

from fastapi import APIRouter

from riskscore.api.routes import (
    admin,
    cases,
    health,
    models,
    monitoring,
    privacy,
    scores,
    students,
    worklists,
)

api_router = APIRouter()
for _module in (health, scores, students, models, admin, worklists, cases, monitoring, privacy):
    api_router.include_router(_module.router)
