"""All routers, included in one place."""

from __future__ import annotations

from fastapi import APIRouter

from riskscore.api.routes import admin, health, models, scores, students

api_router = APIRouter()
for _module in (health, scores, students, models, admin):
    api_router.include_router(_module.router)
