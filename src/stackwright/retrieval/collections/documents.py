"""A collection's documents (no HTTP): list, show with chunks, delete.

Callers pass a collection row already looked up within their project (``collections.get_collection``),
so another project's documents are never reached.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.retrieval.models import Collection, RetrievalChunk, RetrievalDocument, RetrievalDocumentAcl

MAX_CHUNKS_SHOWN = 1000


def _acl_map(session: Session, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(RetrievalDocumentAcl.document_id, RetrievalDocumentAcl.principal)
            .where(RetrievalDocumentAcl.document_id.in_(ids))
            .order_by(RetrievalDocumentAcl.principal)
        )
        for doc_id, principal in rows:
            out[doc_id].append(principal)
    return out


def to_dict(doc: RetrievalDocument, acl: list[str]) -> dict[str, Any]:
    return {
        "id": doc.id,
        "source": doc.source,
        "title": doc.title,
        "metadata": doc.metadata_ or {},
        "public": doc.public,
        "acl": acl,
        "status": doc.status,
        "chunk_count": doc.chunk_count,
        "content_hash": doc.content_hash,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    }


def list_documents(session: Session, collection: Collection, *, cursor: str | None = None, limit: int = 50,
                   source_prefix: str | None = None) -> tuple[list[dict[str, Any]], str | None]:  # fmt: skip
    """Documents by source; ``next_cursor`` continues after the last one."""
    query = select(RetrievalDocument).where(RetrievalDocument.collection_id == collection.id)
    if source_prefix:
        escaped = source_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(RetrievalDocument.source.like(escaped + "%", escape="\\"))
    after = _decode_cursor(cursor)
    if after is not None:
        query = query.where(RetrievalDocument.source > after)
    rows = list(session.scalars(query.order_by(RetrievalDocument.source).limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1].source) if len(rows) > limit else None
    rows = rows[:limit]
    acl = _acl_map(session, [d.id for d in rows])
    return [to_dict(d, acl[d.id]) for d in rows], next_cursor


def _encode_cursor(source: str) -> str:
    return "s" + base64.urlsafe_b64encode(source.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        if not cursor.startswith("s"):
            raise ValueError
        raw = cursor[1:]
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"Cursor {cursor!r} is not valid.", hint="Pass the next_cursor value from the last page.") from None


def get_document(session: Session, collection: Collection, document_id: str) -> RetrievalDocument:
    doc = session.scalar(
        select(RetrievalDocument).where(RetrievalDocument.collection_id == collection.id, RetrievalDocument.id == document_id)
    )
    if doc is None:
        raise NotFound(
            f"No document {document_id!r} in collection {collection.name!r}.",
            hint="List its documents with GET /api/v1/collections/{name}/documents (ids are 32 hex characters).",
            code="document_not_found",
        )
    return doc


def show_document(session: Session, collection: Collection, document_id: str, *, chunks: bool = True) -> dict[str, Any]:
    """The document, its ACL and (up to MAX_CHUNKS_SHOWN) its chunks in order, without embeddings."""
    doc = get_document(session, collection, document_id)
    out = to_dict(doc, _acl_map(session, [doc.id])[doc.id])
    if chunks:
        c = RetrievalChunk.__table__
        rows = session.execute(
            select(c.c.chunk_id, c.c.position, c.c.text, c.c.heading_path, c.c.start_char, c.c.end_char, c.c.token_count)
            .where(c.c.document_id == doc.id)
            .order_by(c.c.position)
            .limit(MAX_CHUNKS_SHOWN)
        )
        out["chunks"] = [dict(row._mapping) for row in rows]
    return out


def delete_document(session: Session, actor: Actor, collection_id: str, document_id: str) -> dict[str, Any]:
    """Delete one document with its chunks; the collection's counters and index_version follow. Audited."""
    from stackwright.retrieval.collections.service import lock_collection

    collection = lock_collection(session, collection_id)
    if collection is None:
        raise NotFound("The collection was deleted.", code="collection_not_found")
    doc = get_document(session, collection, document_id)
    c = RetrievalChunk.__table__
    chunks = session.scalar(select(func.count()).select_from(c).where(c.c.document_id == doc.id)) or 0
    source = doc.source
    session.execute(delete(RetrievalDocument.__table__).where(RetrievalDocument.__table__.c.id == doc.id))
    session.expunge(doc)
    collection.document_count -= 1
    collection.chunk_count -= chunks
    collection.index_version += 1
    collection.updated_at = utcnow()
    audit.record(session, actor, "document.delete", "document", document_id, project_id=collection.project_id,
                 before={"collection": collection.name, "source": source, "chunks": chunks})  # fmt: skip
    return {"deleted": True, "id": document_id, "source": source, "chunks_deleted": chunks}
