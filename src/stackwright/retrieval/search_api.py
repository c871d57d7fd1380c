"""REST routes for search and context assembly (owned by the search work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["retrieval"])
