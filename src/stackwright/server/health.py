"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter

from stackwright import __version__
from stackwright.core import migrate
from stackwright.core.deps import DbDep
from stackwright.core.errors import StackwrightError
from stackwright.core.responses import JSONBody

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="The database is reachable and its schema is current")
def readyz(db: DbDep) -> JSONBody:
    try:
        db.check_connection()
        current = migrate.current_revisions(db)
    except StackwrightError as exc:
        return JSONBody({"status": "unavailable", "database": exc.message}, status_code=503)
    expected = migrate.head_revisions()
    if current != expected:
        return JSONBody(
            {
                "status": "unavailable",
                "database": "reachable",
                "migrations": f"at {sorted(current) or 'empty'}, expected {sorted(expected)}; run `stackwright db upgrade`",
            },
            status_code=503,
        )
    return JSONBody({"status": "ok", "database": "reachable", "migrations": sorted(current)})
