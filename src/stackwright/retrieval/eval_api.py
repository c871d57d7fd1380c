"""REST routes for retrieval evaluation (owned by the retrieval-eval work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["retrieval"])
