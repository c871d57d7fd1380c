"""REST routes for reading traces: list, one trace as a span tree, span bodies, sessions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["tracing"])
