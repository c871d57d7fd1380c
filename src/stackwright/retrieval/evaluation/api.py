"""REST route for retrieval evaluation: score a collection's search on labelled queries.

POST /api/v1/collections/{name}/retrieval-eval with ``{"labels": [{"query", "relevant"}...], "k",
"modes", "granularity", "filter", "principals"}`` answers ``{"modes": {"hybrid": {"hit_rate", "mrr",
"ndcg", "precision", "recall", "measured", "unmeasured"}, ...}, "queries": [...], ...}``. Read scope;
scoped to the key's project (another project's collection answers 404); nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import ReadCaller
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1", tags=["retrieval"])

CollectionName = Annotated[str, Path(max_length=128, description="Collection name, e.g. help-center.")]
Mode = Literal["vector", "keyword", "hybrid"]

EXAMPLE: dict[str, Any] = {
    "labels": [
        {"id": "q1", "query": "can I get my money back on a yearly plan", "relevant": ["billing-refunds-annual.md"]},
        {"query": "AUTH-423", "relevant": {"account-locked.md": 2, "troubleshooting-error-codes.md": 1}},
    ],
    "k": 10,
    "modes": ["vector", "keyword", "hybrid"],
    "granularity": "document",
}


class RetrievalEvalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    labels: list[Any] = Field(
        min_length=1,
        max_length=5000,
        description='Labelled queries: {"query": text, "relevant": [ids] or {id: gain}, "id"?: text}. An id is a '
        "document source (or an unambiguous path suffix such as the file name), a document id or a chunk id.",
    )
    k: int = Field(default=10, ge=1, le=100, description="Cut-off of every metric.")
    modes: list[Mode] = Field(default=["vector", "keyword", "hybrid"], min_length=1, max_length=3, description="Search modes to score.")
    granularity: Literal["document", "chunk"] = Field(default="document", description="Score documents or chunks.")
    filter: str | dict[str, Any] | None = Field(default=None, description="Metadata filter applied to every query, as in search.")
    principals: list[str] | None = Field(
        default=None, max_length=100, description="Search as these principals (ACL); '*' (everything) needs an admin key."
    )


@router.post("/collections/{name}/retrieval-eval", summary="Score search on labelled queries: hit rate, MRR, nDCG, precision, recall @k")
def retrieval_eval(request: Request, caller: ReadCaller, name: CollectionName, body: RetrievalEvalIn) -> JSONBody:
    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.evaluation.service import evaluate, parse_labels

    labels = parse_labels(body.labels, where="labels")
    db = request.app.state.db
    context = EmbedContext(db=db, project_id=caller.project_id, gateway=getattr(request.app.state, "gateway", None), actor=caller)
    result = evaluate(
        db,
        caller.project_id,
        name,
        labels,
        k=body.k,
        modes=body.modes,
        granularity=body.granularity,
        filter=body.filter,
        principals=body.principals,
        allow_all=caller.has_scope("admin"),
        embed_context=context,
    )
    return JSONBody(result)
