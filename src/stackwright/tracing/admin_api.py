"""REST routes for trace stats, scores, privacy deletes and retention settings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["tracing"])
