"""Placeholder router (filled in by the monitoring work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
