"""Budgets and rate limits of API keys over HTTP (filled in by gateway/limits.py's owner)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["gateway"])
