"""Placeholder router (filled in by the worklists work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
