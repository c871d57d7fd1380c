"""Collections (no HTTP): create, list, get, change, delete; their settings, validated.

A collection belongs to one project; every lookup is scoped by ``project_id`` so another project's
collection answers NotFound, never its data. Its embedder and dimensions are fixed at creation (the
stored vectors depend on them); its description, chunking and search defaults may change (a changed
chunking applies to documents ingested from then on: re-ingesting re-chunks them).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.retrieval.models import Collection

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHUNKING_STRATEGIES = ("fixed", "structure", "semantic")
SEARCH_MODES = ("hybrid", "vector", "keyword")
_SHOWN = 10


class ChunkingSpec(BaseModel):
    """How documents are cut: ``structure`` (headings, paragraphs), ``fixed`` (token windows) or
    ``semantic`` (where neighbouring sentences' similarity drops); sizes in tokens."""

    model_config = ConfigDict(extra="forbid")
    strategy: Literal["fixed", "structure", "semantic"] = "structure"
    size: int = Field(default=256, ge=16, le=8192, description="Largest chunk, in tokens.")
    overlap: int = Field(default=32, ge=0, le=4096, description="Tokens repeated between neighbouring windows.")

    @model_validator(mode="after")
    def _overlap_below_half(self) -> ChunkingSpec:
        if self.overlap > self.size // 2:
            raise ValueError(f"overlap ({self.overlap}) must be at most half the size ({self.size // 2})")
        return self


class SearchWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vector: float = Field(default=1.0, ge=0, le=100)
    keyword: float = Field(default=1.0, ge=0, le=100)


class SearchSpec(BaseModel):
    """Search defaults a query may override: every search option except ``k``, ``filter`` and
    ``principals``, with the same limits as a query's (``stackwright.retrieval.search.service.plan``)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    rrf_k: int = Field(default=60, ge=1, le=10_000, description="Reciprocal rank fusion constant.")
    weights: SearchWeights = Field(default_factory=SearchWeights)
    oversample: int = Field(default=4, ge=1, le=50, description="Candidates fused, diversified or reranked: k times this.")
    mmr_lambda: float | None = Field(default=None, ge=0, le=1, description="MMR diversification (1: relevance only); none: off.")
    reranker: str = Field(default="none", min_length=1, max_length=200, description="A registered reranker plugin.")
    ef_search: int = Field(default=100, ge=1, le=1000, description="pgvector: hnsw.ef_search for the vector part.")

    @field_validator("reranker")
    @classmethod
    def _known_reranker(cls, value: str) -> str:
        from stackwright.retrieval.rerankers import rerankers

        if value not in rerankers.names():
            raise ValueError(f"unknown reranker {value!r}; registered: {', '.join(rerankers.names())}")
        return value


class CollectionSpec(BaseModel):
    """What a caller gives to create a collection."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=128, description="Unique in the project: letters, digits, '.', '_', '-'.")
    description: str = Field(default="", max_length=2000)
    embedder: str = Field(default="local/wordllama", min_length=1, max_length=200)
    dimensions: int | None = Field(default=None, ge=1, le=65_536, description="Default: the embedder's own.")
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    ann: bool = Field(default=False, description="Also keep a usearch HNSW index (embedded backend).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. help-center)")
        return value


class CollectionPatch(BaseModel):
    """What may change after creation."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, max_length=2000)
    chunking: ChunkingSpec | None = None
    search: SearchSpec | None = None
    ann: bool | None = None


def parse_spec(raw: Any, model: type[BaseModel] = CollectionSpec) -> Any:
    """A validated spec, or InvalidInput naming each bad field and what is allowed."""
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        details = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"].removeprefix("Value error, ")}
                   for e in exc.errors()]  # fmt: skip
        problems = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise InvalidInput(f"Invalid collection settings: {problems}.", details=details) from None
    return spec


def get_collection(session: Session, project_id: str, name: str) -> Collection:
    """The project's collection called ``name``, or NotFound listing the ones that exist."""
    found = session.scalar(select(Collection).where(Collection.project_id == project_id, Collection.name == name))
    if found is None:
        known = list(session.scalars(
            select(Collection.name).where(Collection.project_id == project_id).order_by(Collection.name).limit(_SHOWN)
        ))  # fmt: skip
        hint = (
            f"Collections in this project: {', '.join(known)}."
            if known
            else "This project has no collections yet; create one with `stackwright collections create NAME`."
        )
        raise NotFound(f"No collection named {name!r}.", hint=hint, code="collection_not_found")
    return found


def lock_collection(session: Session, collection_id: str) -> Collection | None:
    """The collection row, locked until commit (Postgres FOR UPDATE; SQLite writers are serialised)."""
    query = select(Collection).where(Collection.id == collection_id).with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def backend_for(session: Session) -> str:
    """``pgvector`` on a Postgres database that has the vector column, else ``embedded``."""
    from stackwright.retrieval.index_schema import has_vector_column

    return "pgvector" if has_vector_column(session.connection()) else "embedded"


def create_collection(session: Session, actor: Actor, project_id: str, spec: CollectionSpec, dimensions: int) -> Collection:
    """Store a new collection (``dimensions`` already resolved with the embedder); Conflict if the name
    is taken. On Postgres with pgvector its HNSW index is created in the same transaction."""
    from stackwright.retrieval.index_schema import create_hnsw_index

    if session.scalar(select(Collection.id).where(Collection.project_id == project_id, Collection.name == spec.name)):
        raise Conflict(f"A collection named {spec.name!r} already exists.", hint="Pick another name or delete that one first.")
    now = utcnow()
    collection = Collection(
        id=uuid.uuid4().hex, project_id=project_id, name=spec.name, description=spec.description, embedder=spec.embedder,
        dimensions=dimensions, backend=backend_for(session), ann=spec.ann, chunking=spec.chunking.model_dump(),
        search=spec.search.model_dump(), index_version=0, document_count=0, chunk_count=0, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(collection)
    session.flush()
    if collection.backend == "pgvector":
        create_hnsw_index(session.connection(), collection.id, dimensions)
    audit.record(session, actor, "collection.create", "collection", collection.name, project_id=project_id, after=to_dict(collection))
    return collection


def update_collection(session: Session, actor: Actor, project_id: str, name: str, patch: CollectionPatch) -> Collection:
    collection = get_collection(session, project_id, name)
    before = to_dict(collection)
    if patch.description is not None:
        collection.description = patch.description
    if patch.chunking is not None:
        collection.chunking = patch.chunking.model_dump()
    if patch.search is not None:
        collection.search = patch.search.model_dump()
    if patch.ann is not None and patch.ann != collection.ann:
        collection.ann = patch.ann
        collection.index_version += 1  # the vector index is built differently now
    collection.updated_at = utcnow()
    after = to_dict(collection)
    if after != before:
        audit.record(session, actor, "collection.update", "collection", name, project_id=project_id, before=before, after=after)
    return collection


def delete_collection(session: Session, actor: Actor, project_id: str, name: str) -> dict[str, Any]:
    """Delete a collection with its documents and chunks (and its HNSW index on Postgres)."""
    from stackwright.retrieval.index_schema import drop_hnsw_index

    collection = get_collection(session, project_id, name)
    before = to_dict(collection)
    if collection.backend == "pgvector":
        drop_hnsw_index(session.connection(), collection.id)
    session.delete(collection)
    session.flush()
    audit.record(session, actor, "collection.delete", "collection", name, project_id=project_id, before=before)
    return before


def list_collections(session: Session, project_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """The project's collections by name; ``next_cursor`` continues after the last one."""
    query = select(Collection).where(Collection.project_id == project_id).order_by(Collection.name).limit(limit + 1)
    after = _decode_name_cursor(cursor)
    if after is not None:
        query = query.where(Collection.name > after)
    rows = list(session.scalars(query))
    next_cursor = f"n:{rows[limit - 1].name}" if len(rows) > limit else None
    return [to_dict(c) for c in rows[:limit]], next_cursor


def _decode_name_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    if not cursor.startswith("n:") or not NAME_PATTERN.match(cursor[2:]):
        raise InvalidInput(f"Cursor {cursor!r} is not valid.", hint="Pass the next_cursor value from the last page.")
    return cursor[2:]


def to_dict(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "embedder": collection.embedder,
        "dimensions": collection.dimensions,
        "backend": collection.backend,
        "ann": collection.ann,
        "chunking": dict(collection.chunking),
        "search": dict(collection.search),
        "document_count": collection.document_count,
        "chunk_count": collection.chunk_count,
        "index_version": collection.index_version,
        "created_at": collection.created_at,
        "updated_at": collection.updated_at,
    }


def create(context: Any, actor: Actor, raw: Any) -> dict[str, Any]:
    """Validate, resolve the embedder's dimensions (asking a gateway model once), store: the whole
    create path the API and CLI share. ``context`` is an ``embedders.EmbedContext``."""
    from stackwright.retrieval import embedders

    spec = raw if isinstance(raw, CollectionSpec) else parse_spec(raw)
    with context.db.read() as session:
        embedders.check_name(session, context.project_id, spec.embedder)
        if session.scalar(select(Collection.id).where(Collection.project_id == context.project_id, Collection.name == spec.name)):
            raise Conflict(f"A collection named {spec.name!r} already exists.", hint="Pick another name or delete that one first.")
    dimensions = embedders.probe_dimensions(context, spec.embedder, spec.dimensions)
    with context.db.write() as session:
        collection = create_collection(session, actor, context.project_id, spec, dimensions)
        return to_dict(collection)


def delete(db: Any, actor: Actor, project_id: str, name: str) -> dict[str, Any]:
    """Delete a collection (one transaction), then its embedded vector index files and the in-memory
    keyword index; returns what it held."""
    from stackwright.retrieval import keyword_index, vector_index

    with db.write() as session:
        before = delete_collection(session, actor, project_id, name)
    vector_index.forget(db.settings.home, before["id"])
    keyword_index.forget(before["id"])
    return {"deleted": True, "name": name, "documents": before["document_count"], "chunks": before["chunk_count"]}
