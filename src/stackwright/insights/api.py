"""`GET /api/v1/traces/{trace_id}/explain`: the eight answers for one trace of the caller's project
(another project's trace answers 404, as every trace route does)."""

from __future__ import annotations

from fastapi import APIRouter

from stackwright.auth.deps import ReadCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody
from stackwright.insights.service import explain

router = APIRouter(prefix="/api/v1", tags=["tracing"])


@router.get(
    "/traces/{trace_id}/explain",
    summary="The eight answers for one request: answer, prompt version, model, context, failure, eval delta, cost, "
    "slowest step, rollback (all read from stored data)",
)
def explain_trace(trace_id: str, caller: ReadCaller, session: SessionDep) -> JSONBody:
    return JSONBody(explain(session, caller.project_id, trace_id))
