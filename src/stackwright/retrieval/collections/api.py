"""REST routes for collections and their documents (create, list, show, change, delete; ingest raw text
and records).

Every route is scoped to the key's project: another project's collection answers 404. Listing and
reading need the read scope; creating, changing, ingesting and deleting need write.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import DbDep
from stackwright.core.responses import JSONBody
from stackwright.retrieval.collections.service import ChunkingSpec, CollectionPatch, CollectionSpec

router = APIRouter(prefix="/api/v1", tags=["retrieval"])

MAX_DOCUMENTS_PER_REQUEST = 1000
Name = Annotated[str, Path(max_length=128, description="Collection name, e.g. help-center.")]
DocumentId = Annotated[str, Path(max_length=64, description="Document id (32 hex characters).")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=3000, description="next_cursor from the previous page.")]

CREATE_EXAMPLE = {"name": "help-center", "description": "Help center articles", "chunking": {"strategy": "structure", "size": 256}}
INGEST_EXAMPLE = {
    "documents": [
        {"source": "kb/reset-password", "title": "Reset your password", "format": "markdown",
         "text": "# Reset your password\n\nOpen Settings > Security and click Reset.", "metadata": {"lang": "en"}},
        {"source": "kb/refunds", "text": "Refunds take 5 days.", "acl": ["group:support"]},
    ],
}  # fmt: skip


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(default=None, min_length=1, max_length=1000, description="Stable id of the document (default: from its text).")
    text: str = Field(min_length=1, description="The document's text.")
    title: str = Field(default="", max_length=500)
    format: Literal["text", "markdown", "html"] = Field(default="text", description="How to read the text: headings become structure.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Fields for search filters, e.g. {\"lang\": \"en\"}.")
    acl: list[str] | None = Field(default=None, max_length=100, description="Principals that may read it (default: the request's acl).")


class IngestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST)
    acl: list[str] = Field(default_factory=list, max_length=100, description="Principals for documents without their own acl; none: public.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Merged into every document's metadata (wins on conflicts).")
    chunking: ChunkingSpec | None = Field(default=None, description="Chunking for this request instead of the collection's.")


def _context(request: Request, db: Any, caller: Any) -> Any:
    from stackwright.retrieval.embedders import EmbedContext

    return EmbedContext(db=db, project_id=caller.project_id, gateway=request.app.state.gateway, actor=caller)


def _collection(db: Any, project_id: str, name: str) -> Any:
    from stackwright.retrieval.collections.service import get_collection

    with db.read() as session:
        return get_collection(session, project_id, name)


@router.post("/collections", summary="Create a collection (embedder and dimensions are fixed from then on)", status_code=201)
def create_collection(request: Request, caller: WriteCaller, db: DbDep, body: Annotated[CollectionSpec, Body(examples=[CREATE_EXAMPLE])]) -> JSONBody:
    from stackwright.retrieval.collections import service as collections

    return JSONBody(collections.create(_context(request, db, caller), caller, body), status_code=201)


@router.get("/collections", summary="Collections of the project, by name")
def list_collections(caller: ReadCaller, db: DbDep, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    from stackwright.retrieval.collections import service as collections

    with db.read() as session:
        data, next_cursor = collections.list_collections(session, caller.project_id, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/collections/{name}", summary="One collection with its settings and counts")
def get_collection(caller: ReadCaller, db: DbDep, name: Name) -> JSONBody:
    from stackwright.retrieval.collections import service as collections

    return JSONBody(collections.to_dict(_collection(db, caller.project_id, name)))


@router.patch("/collections/{name}", summary="Change description, chunking, search defaults or ann")
def update_collection(caller: WriteCaller, db: DbDep, name: Name, body: CollectionPatch) -> JSONBody:
    from stackwright.retrieval.collections import service as collections

    with db.write() as session:
        return JSONBody(collections.to_dict(collections.update_collection(session, caller, caller.project_id, name, body)))


@router.delete("/collections/{name}", summary="Delete a collection with all its documents and chunks")
def delete_collection(caller: WriteCaller, db: DbDep, name: Name) -> JSONBody:
    from stackwright.retrieval.collections import service as collections

    return JSONBody(collections.delete(db, caller, caller.project_id, name))


@router.post("/collections/{name}/documents", summary="Ingest raw texts and records (only what changed is re-chunked and embedded)")
def ingest(request: Request, caller: WriteCaller, db: DbDep, name: Name, body: Annotated[IngestIn, Body(examples=[INGEST_EXAMPLE])]) -> JSONBody:
    """Answers the ingest report. Documents that could not be used are listed in ``failures`` (the rest
    is stored); an embedder failure answers 502 and keeps what was stored before it."""
    import hashlib

    from stackwright.retrieval.ingest import DocumentInput, ingest_documents, record_ingest

    collection = _collection(db, caller.project_id, name)
    docs = [
        DocumentInput(
            source=d.source or f"text:{hashlib.sha256(d.text.encode()).hexdigest()[:16]}", text=d.text, title=d.title,
            metadata=d.metadata, acl=d.acl, format=d.format,
        )
        for d in body.documents
    ]  # fmt: skip
    chunking = body.chunking.model_dump() if body.chunking else None
    report = ingest_documents(db, collection, docs, acl=body.acl, metadata=body.metadata, context=_context(request, db, caller),
                              chunking=chunking)  # fmt: skip
    record_ingest(db, caller, collection, report)
    return JSONBody(report.to_dict())


@router.get("/collections/{name}/documents", summary="Documents of a collection, by source")
def list_documents(
    caller: ReadCaller,
    db: DbDep,
    name: Name,
    limit: Limit = 50,
    cursor: Cursor = None,
    source_prefix: Annotated[str | None, Query(max_length=1000, description="Only sources starting with this.")] = None,
) -> JSONBody:
    from stackwright.retrieval.collections import documents

    with db.read() as session:
        collection = _collection(db, caller.project_id, name)
        data, next_cursor = documents.list_documents(session, collection, cursor=cursor, limit=limit, source_prefix=source_prefix)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/collections/{name}/documents/{document_id}", summary="One document with its ACL and chunks")
def get_document(
    caller: ReadCaller,
    db: DbDep,
    name: Name,
    document_id: DocumentId,
    chunks: Annotated[bool, Query(description="Include the chunks (up to 1000, in order).")] = True,
) -> JSONBody:
    from stackwright.retrieval.collections import documents

    with db.read() as session:
        collection = _collection(db, caller.project_id, name)
        return JSONBody(documents.show_document(session, collection, document_id, chunks=chunks))


@router.delete("/collections/{name}/documents/{document_id}", summary="Delete one document and its chunks")
def delete_document(caller: WriteCaller, db: DbDep, name: Name, document_id: DocumentId) -> JSONBody:
    from stackwright.retrieval.collections import documents

    collection = _collection(db, caller.project_id, name)
    with db.write() as session:
        return JSONBody(documents.delete_document(session, caller, collection.id, document_id))
