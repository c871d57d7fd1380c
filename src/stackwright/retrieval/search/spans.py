"""Every search is a retrieval span: OpenInference ``RETRIEVER`` kind, the query, the retrieved chunks
(``retrieval.documents.N.document.id/score/content/metadata``), filter, principals, mode, k, collection
and latency. The tracing layer stores the documents as the span's ``documents`` column.

From the server the span goes through the app's span writer after the response is sent (the caller
never waits for it); from the CLI it is written straight into the store in its own short transaction.
A ``traceparent`` (W3C header, or the SDK's current span) puts the span inside the caller's trace.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import orjson

log = logging.getLogger("stackwright.retrieval")
SERVICE_NAME = "stackwright-retrieval"


def _never_priced(*args: Any) -> None:
    return None


def search_span(result: dict[str, Any], project_id: str, traceparent: str | None, start_ns: int, end_ns: int | None = None,
                error: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The span (decoded form, as tracing.mapping.to_row takes it) of one search ``result``."""
    from stackwright.gateway.spans import trace_context
    from stackwright.retrieval.filters import to_text

    trace_id, parent = trace_context(traceparent)
    plan = result.get("plan")
    collection = result.get("collection") or {}
    attrs: dict[str, Any] = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": getattr(plan, "query", None),
        "stackwright.retrieval.collection": collection.get("name"),
        "stackwright.retrieval.collection_id": collection.get("id"),
        "stackwright.retrieval.backend": collection.get("backend"),
        "stackwright.retrieval.mode": result.get("mode"),
        "stackwright.retrieval.k": getattr(plan, "k", None),
        "stackwright.retrieval.filter": to_text(getattr(plan, "filter_expr", None)) or None,
        "stackwright.retrieval.principals": orjson.dumps(getattr(plan, "principals", []) or []).decode(),
        "stackwright.retrieval.reranker": getattr(plan, "reranker", None),
        "stackwright.retrieval.took_ms": result.get("took_ms"),
        "stackwright.retrieval.chunk_ids": orjson.dumps([h["chunk_id"] for h in result.get("data", [])]).decode(),
    }
    if plan is not None and plan.mmr_lambda is not None:
        attrs["stackwright.retrieval.mmr_lambda"] = plan.mmr_lambda
    for i, hit in enumerate(result.get("data", [])):
        prefix = f"retrieval.documents.{i}.document"
        attrs[f"{prefix}.id"] = hit["chunk_id"]
        attrs[f"{prefix}.score"] = hit["score"]
        attrs[f"{prefix}.content"] = hit["text"]
        attrs[f"{prefix}.metadata"] = orjson.dumps(
            {"document_id": hit["document_id"], "source": hit["source"], "title": hit["title"], "position": hit["position"]}
        ).decode()
    end_ns = end_ns or time.time_ns()
    return {
        "trace_id": trace_id,
        "span_id": os.urandom(8).hex(),
        "parent_span_id": parent,
        "name": f"retrieval search {collection.get('name') or ''}".strip(),
        "start_ns": start_ns,
        "end_ns": max(start_ns, end_ns),
        "status_code": 2 if error else 1,
        "status_message": error,
        "attributes": {k: v for k, v in attrs.items() if v is not None},
        "events": [],
        "resource": {"service.name": SERVICE_NAME},
    }


def span_row(span: dict[str, Any], project_id: str, max_chars: int) -> dict[str, Any]:
    from stackwright.tracing.mapping import to_row

    return to_row(span, 0, project_id, max_chars, _never_priced)


async def submit_span(span_writer: Any, row: dict[str, Any]) -> None:
    """Background task of the API: store the span; a failure is logged, never raised."""
    try:
        await span_writer.submit([row])
    except Exception as exc:
        log.warning("could not store a retrieval span: %s", exc)


def write_span_now(db: Any, row: dict[str, Any]) -> None:
    """The CLI's path: the span in its own transaction (a failure is logged; the search still answers)."""
    from stackwright.tracing.store import write_spans

    try:
        with db.write() as session:
            write_spans(session.connection(), [[row]])
    except Exception as exc:
        log.warning("could not store a retrieval span: %s", exc)
