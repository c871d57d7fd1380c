"""REST routes for collections and ingestion (owned by the ingest work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["retrieval"])
