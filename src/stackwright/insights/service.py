"""The eight questions (ARCHITECTURE.md), answered for one request from stored data only.

``explain(session, project_id, trace_id)`` reads the trace once (span tree with self time, span bodies and
attributes, scores), the release of the route the request went through (stable and candidate configs,
history, last rollback and how fast it took effect) and the eval runs of those configs, and returns one
dict with the keys of ``KEYS``. Nothing is hard-coded: where the store holds no answer, the value says so
(``"explanation"``) instead of inventing one. Only a missing trace is "not found": any other failure
(a database error, say) propagates as itself.

The CLI (``stackwright traces explain``, and ``demo ask|explain``), the API
(``GET /api/v1/traces/{trace_id}/explain``) and the SDK (``client.traces.explain``) all end here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackwright.auth.service import find_project
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.insights.call import context, model, prompt_version
from stackwright.insights.outcome import cost, failure, slowest_step
from stackwright.insights.release import eval_delta, rollback
from stackwright.insights.spans import answer_span, answer_text, is_call, root_span, route_span
from stackwright.releases.models import Release
from stackwright.releases.service import find_release
from stackwright.tracing.queries import get_trace_with_bodies, trace_project_id

KEYS = ("answer", "trace_id", "prompt_version", "model", "context", "failure", "eval_delta", "cost_usd", "slowest_step", "rollback")
MAX_SPANS = 5_000


def _release(session: Session, project_id: str, route: str | None, env: str | None) -> Release | None:
    if not route or not env:
        return None
    try:
        return find_release(session, project_id, route, env)
    except InvalidInput:  # a stored route name that is not a valid route today: no release
        return None


def explain(session: Session, project_id: str, trace_id: str) -> dict[str, Any]:
    """The eight answers for one trace of this project (NotFound for an unknown or another project's trace)."""
    view = get_trace_with_bodies(session, project_id, trace_id, max_spans=MAX_SPANS)
    trace, tree, spans = view["trace"], view["spans"], view["bodies"]
    if not spans:
        raise NotFound(f"Trace {trace['trace_id']!r} has no stored spans.", hint="Spans may have been purged by retention.")
    llm = answer_span(spans)
    routed = route_span(spans, llm)
    route, env = (routed["route"], routed["environment"]) if routed else (None, None)
    release = _release(session, project_id, route, env)
    root = root_span(spans)
    text = (root or {}).get("output") or trace["output"] or (llm or {}).get("output")
    return {
        "answer": answer_text(text),
        "trace_id": trace["trace_id"],
        "prompt_version": prompt_version(llm, release),
        "model": model(session, project_id, llm, spans, release),
        "context": context(llm, spans),
        "failure": failure(trace, spans, view["scores"], root, llm),
        "eval_delta": eval_delta(session, project_id, release),
        "cost_usd": cost(trace, tree, {s["span_id"] for s in spans if "stackwright.step.name" in s["attributes"]},
                         {s["span_id"] for s in spans if is_call(s)}),  # fmt: skip
        "slowest_step": slowest_step(trace, tree),
        "rollback": rollback(session, release, route, env),
    }


def find_trace_project(session: Session, trace_id: str, project_ref: str | None = None) -> str:
    """The project holding this trace: the named one, else the oldest project that has it (operator use)."""
    if project_ref:
        return find_project(session, project_ref).id
    project_id = trace_project_id(session, trace_id)
    if project_id is None:
        raise NotFound(f"No trace {trace_id.strip()[:80]!r} in any project.", hint="List traces with `stackwright traces list`.")
    return project_id
