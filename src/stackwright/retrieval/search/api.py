"""REST routes for search and context assembly.

``POST /api/v1/collections/{name}/search`` and ``POST /api/v1/collections/{name}/context`` need the read
scope; the principal ``*`` (every document, whatever its ACL) needs admin. The collection is looked up
in the key's project: another project's collection answers 404 like a missing one. Each search is
traced as a retrieval span (joining the caller's trace when a ``traceparent`` header or body field is sent).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import ReadCaller
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1", tags=["retrieval"])

Name = Annotated[str, Path(max_length=128, description="Collection name, e.g. help-center.")]

SEARCH_EXAMPLE = {
    "query": "how do I reset my password",
    "k": 5,
    "mode": "hybrid",
    "filter": "lang=en and year>=2020",
    "principals": ["group:support"],
}


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=8000, description="What to look for.")
    k: int = Field(default=5, ge=1, le=100, description="How many hits.")
    mode: Literal["hybrid", "vector", "keyword"] | None = Field(default=None, description="Default: the collection's (hybrid).")
    filter: str | dict[str, Any] | None = Field(
        default=None,
        description="Metadata filter: 'lang=en and (year>=2020 or pinned=true)', or JSON such as "
        '{"and": [{"lang": {"eq": "en"}}, {"year": {"gte": 2020}}]}. Fields: metadata keys, source, document_id, title.',
    )
    principals: list[str] = Field(
        default_factory=list, max_length=100,
        description="Who is asking (group:support, user:alice): public documents plus those whose ACL names one of "
        "them. None: public documents only. '*': everything (admin keys only).",
    )  # fmt: skip
    rrf_k: int | None = Field(default=None, ge=0, le=10_000, description="Reciprocal rank fusion constant (hybrid).")
    weights: dict[str, float] | None = Field(default=None, description='Per-mode fusion weights, e.g. {"vector": 1, "keyword": 0.5}.')
    oversample: int | None = Field(default=None, ge=1, le=50, description="Candidates per list: k times this (hybrid, MMR, rerank).")
    mmr_lambda: float | None = Field(default=None, ge=0, le=1, description="MMR diversification: 1 relevance only, lower more diverse.")
    reranker: str | None = Field(default=None, max_length=200, description="Reranker plugin: none, overlap, or an installed one.")
    exact: bool = Field(default=False, description="Exact vector search (no ANN/HNSW): the same ranking on every backend.")
    ann: bool | None = Field(default=None, description="Embedded backend: use the usearch index (default: the collection's).")
    ef_search: int | None = Field(default=None, ge=1, le=1000, description="pgvector: hnsw.ef_search.")
    traceparent: str | None = Field(default=None, max_length=128, description="W3C trace context: the span joins this trace.")


class ContextIn(SearchIn):
    k: int = Field(default=10, ge=1, le=100, description="How many hits to choose from.")
    budget_tokens: int = Field(default=1000, ge=1, le=1_000_000, description="Largest context, in tokens.")
    dedupe_threshold: float = Field(default=0.9, gt=0, le=1, description="Text similarity (0..1) at which a hit counts as a duplicate.")
    order: Literal["score", "document"] = Field(default="score", description="score: best first; document: by document and position.")


def _options(body: SearchIn) -> Any:
    from stackwright.retrieval.search.service import SearchOptions

    return SearchOptions(
        query=body.query, k=body.k, mode=body.mode, filter=body.filter, principals=body.principals, rrf_k=body.rrf_k,
        weights=body.weights, oversample=body.oversample, mmr_lambda=body.mmr_lambda, reranker=body.reranker,
        exact=body.exact, ann=body.ann, ef_search=body.ef_search,
    )  # fmt: skip


async def _search(request: Request, caller: Any, name: str, body: SearchIn, traceparent: str | None,
                  background: BackgroundTasks) -> dict[str, Any]:  # fmt: skip
    from starlette.concurrency import run_in_threadpool

    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.search.service import search
    from stackwright.retrieval.search.spans import search_span, span_row, submit_span

    state = request.app.state
    context = EmbedContext(db=state.db, project_id=caller.project_id, gateway=state.gateway, actor=caller)
    start_ns = time.time_ns()
    result = await run_in_threadpool(
        search, state.db, caller.project_id, name, _options(body), allow_all=caller.has_scope("admin"), embed_context=context
    )
    span = search_span(result, caller.project_id, body.traceparent or traceparent, start_ns)
    background.add_task(submit_span, state.span_writer, span_row(span, caller.project_id, state.settings.max_attribute_chars))
    result["trace_id"] = span["trace_id"]
    result["span_id"] = span["span_id"]
    return result


@router.post("/collections/{name}/search", summary="Search a collection: hybrid, vector or keyword, with filters and ACLs")
async def search_collection(
    request: Request,
    caller: ReadCaller,
    name: Name,
    body: Annotated[SearchIn, Body(examples=[SEARCH_EXAMPLE])],
    background: BackgroundTasks,
    traceparent: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONBody:
    result = await _search(request, caller, name, body, traceparent, background)
    keep = ("data", "mode", "took_ms", "timings", "trace_id", "span_id")
    return JSONBody({key: result[key] for key in keep}, background=background)


@router.post("/collections/{name}/context", summary="Search, then fit the best hits into a token budget with citation ids")
async def assemble(
    request: Request,
    caller: ReadCaller,
    name: Name,
    body: ContextIn,
    background: BackgroundTasks,
    traceparent: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONBody:
    from starlette.concurrency import run_in_threadpool

    from stackwright.retrieval.context import assemble_context

    result = await _search(request, caller, name, body, traceparent, background)
    assembled = await run_in_threadpool(
        assemble_context, result["data"], body.budget_tokens, dedupe_threshold=body.dedupe_threshold, order=body.order
    )
    payload = {**assembled, "mode": result["mode"], "took_ms": result["took_ms"], "trace_id": result["trace_id"], "span_id": result["span_id"]}
    return JSONBody(payload, background=background)
