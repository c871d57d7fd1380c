"""Ingestion (no HTTP): documents in, chunks with embeddings out, only what changed.

Per document (identified by collection and source):

* its ``content_hash`` covers the text and the collection's chunking, so an unchanged document
  that is ``ready`` is skipped without being chunked; a changed title, metadata or ACL is updated in
  place;
* a changed document is chunked again; chunks whose ``chunk_id`` (document, text, occurrence) is
  unchanged keep their row and embedding, vanished ones are deleted, only new ones are embedded;
* with ``sync_prefixes`` (a folder ingest), documents under those source prefixes that were not
  seen are deleted at the end.

Work is committed in slices of at most ``SLICE_CHUNKS`` new chunks: embeddings are computed before
the slice's transaction opens, and a document spread over several slices is ``pending`` until its
last one. If the embedder fails half way, what was committed stays and a rerun resumes: ids are
derived from content, so nothing is duplicated. The collection's counters and ``index_version`` are
updated in the same transactions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from stackwright.core.clock import utcnow
from stackwright.core.db import plain_rows, rowcount
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.retrieval.chunk_rows import insert_chunk_rows
from stackwright.retrieval.chunking import Block, Chunk, chunk_documents
from stackwright.retrieval.models import Collection, RetrievalChunk, RetrievalDocument, RetrievalDocumentAcl
from stackwright.retrieval.parsing import ParseError, SourceFailure, parse_text

if TYPE_CHECKING:
    from stackwright.core.db import Database
    from stackwright.retrieval.embedders import EmbedContext, Embedder

CHUNKER_VERSION = 1  # bump when chunking changes its output: every document is re-chunked once
GROUP_DOCUMENTS = 256  # documents looked up and chunked together
SLICE_CHUNKS = 2048  # new chunks embedded and written per transaction
PRINCIPAL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}:\S{1,160}$")
MAX_SOURCE_CHARS = 1000
MAX_METADATA_BYTES = 65_536
_IN_BATCH = 500  # ids per IN (...) list

Progress = Callable[[int, int | None], None]


@dataclass
class DocumentInput:
    """A document to ingest. ``blocks`` is its structure (from a parser); without it, ``format``
    (text, markdown, html) says how to read ``text``. ``acl`` None: the ingest's ACL applies."""

    source: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    acl: list[str] | None = None
    format: str = "text"
    blocks: list[Block] | None = None


@dataclass
class IngestReport:
    collection: str
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_deleted: int = 0
    chunks_added: int = 0
    chunks_kept: int = 0
    chunks_deleted: int = 0
    chunks_embedded: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def document_id(collection_id: str, source: str) -> str:
    return hashlib.sha256(f"{collection_id}\0{source}".encode()).hexdigest()[:32]


def chunk_ids(doc_id: str, texts: list[str]) -> list[str]:
    """Stable chunk ids: the document, the chunk's text, and how many identical texts came before it."""
    seen: dict[str, int] = {}
    out = []
    for chunk_text in texts:
        digest = hashlib.sha256(chunk_text.encode()).hexdigest()
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        out.append(hashlib.sha256(f"{doc_id}\0{digest}\0{n}".encode()).hexdigest()[:32])
    return out


def check_principals(principals: Iterable[str]) -> list[str]:
    """Sorted, unique principals; InvalidInput for one that is not ``kind:name``."""
    out = set()
    for principal in principals:
        if not isinstance(principal, str) or not PRINCIPAL_PATTERN.match(principal):
            raise InvalidInput(
                f"ACL principal {principal!r} is not valid.",
                hint="Use kind:name without spaces, e.g. group:support or user:alice@example.com ('*' is not allowed in an ACL).",
            )
        out.add(principal)
    return sorted(out)


def parse_meta(pairs: Iterable[str]) -> dict[str, str]:
    """``key=value`` options (CLI ``--meta``) as a dict; InvalidInput naming a malformed one."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", key):
            raise InvalidInput(f"--meta {pair!r} is not key=value.", hint="Use e.g. --meta lang=en (keys: letters, digits, '_', '.', '-').")
        out[key] = value
    return out


@dataclass
class _Doc:
    """One document through the pipeline."""

    input: DocumentInput
    id: str
    text_hash: str
    content_hash: str
    acl: list[str]
    metadata: dict[str, Any]
    title: str
    existing: Any = None  # row of the stored document
    existing_acl: list[str] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rechunk: bool = False
    inserts: list[int] = field(default_factory=list)  # indexes into chunks
    deletes: list[int] = field(default_factory=list)  # row ids
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Part:
    """A document's share of one slice: its first part writes the document row, its last marks it ready."""

    doc: _Doc
    inserts: list[int]
    first: bool
    last: bool


class _Ingest:
    def __init__(self, db: Database, collection: Collection, context: EmbedContext | None, embedder: Embedder | None,
                 acl: list[str], metadata: dict[str, Any], progress: Progress | None, total: int | None,
                 chunking: dict[str, Any] | None = None):  # fmt: skip
        self.db = db
        self.collection = collection
        self.context = context
        self.embedder = embedder
        self._opened: Any = None
        self.acl = acl
        self.metadata = metadata
        self.progress = progress
        self.total = total
        self.report = IngestReport(collection=collection.name)
        self.seen: set[str] = set()
        self.kept_prefixes: set[str] = set()  # sources of failed files: their records are kept
        self.text_hashes: dict[tuple[str, tuple[str, ...]], str] = {}
        self.done = 0
        self.chunking = dict(chunking or collection.chunking)
        self.fingerprint = _fingerprint(self.chunking)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, items: Iterable[DocumentInput | SourceFailure], sync_prefixes: list[str]) -> IngestReport:
        try:
            for group in _groups(items, GROUP_DOCUMENTS):
                self._group(group)
            for prefix in sync_prefixes:
                self._sync(prefix)
        finally:
            if self._opened is not None:
                self._opened.__exit__(None, None, None)
        if self.report.chunks_added or self.report.chunks_deleted:
            self._refresh_index()
        return self.report

    def _refresh_index(self) -> None:
        """Bring an ANN collection's graph up to date now (embedded backend), so that building it, tens of
        seconds for 100k chunks, is part of the ingest and not of the next search. The files are shared:
        a server in another process loads the saved graph."""
        from stackwright.retrieval.models import Collection
        from stackwright.retrieval.vector_index import embedded_index

        if self.collection.backend != "embedded" or not self.collection.ann:
            return
        with self.db.read() as session:
            collection = session.get(Collection, self.collection.id)
            if collection is None:
                return
            index = embedded_index(self.db.settings.home, collection.id, collection.dimensions)
            index.current(session, collection.index_version, ann=True)

    def _tick(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _group(self, items: list[DocumentInput | SourceFailure]) -> None:
        docs: list[_Doc] = []
        for item in items:
            doc = self._prepare(item)
            if doc is not None:
                docs.append(doc)
        self._tick(len(items) - len(docs))
        if not docs:
            return
        self._load_existing(docs)
        docs = [d for d in docs if not self._duplicate(d)]
        changed = [d for d in docs if self._classify(d)]
        self._tick(len(docs) - len(changed))
        self._chunk([d for d in changed if d.rechunk])
        self._diff([d for d in changed if d.rechunk and d.existing is not None])
        for parts in _slices(changed, SLICE_CHUNKS):
            self._write(parts)
            self._tick(sum(1 for p in parts if p.last))

    def _prepare(self, item: DocumentInput | SourceFailure) -> _Doc | None:
        if isinstance(item, SourceFailure):
            self.seen.add(item.source)
            self.kept_prefixes.add(item.source + "#")
            (self.report.skipped if item.skipped else self.report.failures).append(item.to_dict())
            return None
        source = item.source
        try:
            if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE_CHARS or "\x00" in source:
                raise ParseError(f"the source must be 1 to {MAX_SOURCE_CHARS} characters")
            if source in self.seen:
                raise ParseError("the same source appears twice in this ingest; the first one was used")
            self.seen.add(source)
            if item.blocks is None:
                item = _parsed(item)
            acl = check_principals(item.acl) if item.acl is not None else self.acl
            metadata = {**(item.metadata or {}), **self.metadata}
            if len(_json(metadata)) > MAX_METADATA_BYTES:
                raise ParseError(f"its metadata is larger than {MAX_METADATA_BYTES // 1024} KB")
        except ParseError as exc:
            self.report.failures.append({"source": str(source)[:MAX_SOURCE_CHARS], "reason": str(exc)})
            return None
        except InvalidInput as exc:
            self.report.failures.append({"source": source, "reason": exc.message})
            return None
        text_hash = hashlib.sha256(item.text.encode()).hexdigest()
        content_hash = hashlib.sha256(f"{self.fingerprint}\0{text_hash}".encode()).hexdigest()
        return _Doc(item, document_id(self.collection.id, source), text_hash, content_hash, acl, metadata, item.title[:500])

    def _load_existing(self, docs: list[_Doc]) -> None:
        by_id = {d.id: d for d in docs}
        table = RetrievalDocument.__table__
        with self.db.read() as session:
            for ids in _batches(list(by_id), _IN_BATCH):
                for row in session.execute(select(table).where(table.c.id.in_(ids))):
                    by_id[row.id].existing = row
                acl_rows = session.execute(select(RetrievalDocumentAcl.document_id, RetrievalDocumentAcl.principal)
                                           .where(RetrievalDocumentAcl.document_id.in_(ids)))  # fmt: skip
                for doc_id, principal in acl_rows:
                    by_id[doc_id].existing_acl.append(principal)
        for doc in docs:
            doc.existing_acl.sort()

    def _duplicate(self, doc: _Doc) -> bool:
        """A new source whose text (and ACL) an earlier document of this ingest already has."""
        first = self.text_hashes.setdefault((doc.text_hash, tuple(doc.acl)), doc.input.source)
        if first == doc.input.source or doc.existing is not None:
            return False
        self.report.duplicates.append({"source": doc.input.source, "duplicate_of": first})
        self._tick(1)
        return True

    def _classify(self, doc: _Doc) -> bool:
        """Whether the document needs writing; sets ``rechunk`` when its chunks must be recomputed."""
        old = doc.existing
        if old is None or old.content_hash != doc.content_hash or old.status != "ready":
            doc.rechunk = True
            return True
        if old.title == doc.title and (old.metadata or {}) == doc.metadata and doc.existing_acl == doc.acl:
            self.report.documents_unchanged += 1
            return False
        return True

    def _chunk(self, docs: list[_Doc]) -> None:
        results = chunk_documents([(d.input.text, d.input.blocks) for d in docs], self.chunking)
        for doc, chunks in zip(docs, results, strict=True):
            doc.chunks = chunks
            doc.ids = chunk_ids(doc.id, [c.text for c in chunks])
            doc.inserts = list(range(len(chunks)))

    def _diff(self, docs: list[_Doc]) -> None:
        """For re-chunked documents that exist: which chunks stay (kept rows), go, or are new."""
        if not docs:
            return
        by_id = {d.id: d for d in docs}
        stored: dict[str, dict[str, Any]] = {d.id: {} for d in docs}
        t = RetrievalChunk.__table__
        columns = [t.c.document_id, t.c.chunk_id, t.c.row_id, t.c.position, t.c.heading_path, t.c.start_char, t.c.end_char, t.c.token_count]
        with self.db.read() as session:
            for ids in _batches(list(by_id), _IN_BATCH):
                for row in session.execute(select(*columns).where(t.c.document_id.in_(ids))):
                    stored[row.document_id][row.chunk_id] = row
        for doc in docs:
            old = stored[doc.id]
            wanted = set(doc.ids)
            doc.deletes = [row.row_id for chunk_id, row in old.items() if chunk_id not in wanted]
            doc.inserts = []
            for index, (chunk, chunk_id) in enumerate(zip(doc.chunks, doc.ids, strict=True)):
                kept = old.get(chunk_id)
                if kept is None:
                    doc.inserts.append(index)
                    continue
                self.report.chunks_kept += 1
                values = _chunk_place(chunk)
                if any(getattr(kept, k) != v for k, v in values.items()):
                    doc.updates.append({"b_row_id": kept.row_id, **{f"v_{k}": v for k, v in values.items()}})

    # -- writing -----------------------------------------------------------------------------------

    def _embed(self, texts: list[str], token_ids: list[list[int]] | None) -> Any:
        if self.embedder is None:
            from stackwright.retrieval.embedders import EmbedContext, open_embedder

            context = self.context or EmbedContext(self.db, self.collection.project_id)
            self._opened = open_embedder(context, self.collection.embedder, self.collection.dimensions)
            self.embedder = self._opened.__enter__()
        vectors = self.embedder.embed(texts, token_ids)
        self.report.chunks_embedded += len(texts)
        return vectors

    def _write(self, parts: list[_Part]) -> None:
        from stackwright.retrieval.embedders import EmbedderFailed

        chunks = [p.doc.chunks[i] for p in parts for i in p.inserts]
        token_ids = [c.token_ids for c in chunks if c.token_ids is not None]
        all_tokenized = len(token_ids) == len(chunks)
        try:
            vectors = self._embed([c.text for c in chunks], token_ids if all_tokenized else None) if chunks else None
        except EmbedderFailed as exc:
            stored = self.report.documents_added + self.report.documents_updated
            raise EmbedderFailed(
                f"{exc.message} {stored} document(s) were stored before the failure; run the same ingest again "
                "to resume (nothing is duplicated).",
                details={**(exc.details or {}), "report": self.report.to_dict()},
            ) from None
        with self.db.write() as session:
            collection = self._lock(session)
            new_docs, deleted = self._write_documents(session, [p for p in parts if p.first])
            inserted = self._insert_chunks(session, parts, vectors)
            for part in parts:
                if part.last and not part.first:
                    self._finish_document(session, part.doc)
            collection.document_count += new_docs
            collection.chunk_count += inserted - deleted
            collection.index_version += 1
            collection.updated_at = utcnow()
        self.report.chunks_added += inserted
        self.report.chunks_deleted += deleted

    def _lock(self, session: Any) -> Collection:
        from stackwright.retrieval.collections.service import lock_collection

        collection = lock_collection(session, self.collection.id)
        if collection is None:
            raise NotFound(f"The collection {self.collection.name!r} was deleted during the ingest.", code="collection_not_found")
        return collection

    def _write_documents(self, session: Any, parts: list[_Part]) -> tuple[int, int]:
        """Insert or update the documents' rows and ACLs, delete their vanished chunks and move kept
        ones; returns (new documents, chunks deleted)."""
        if not parts:
            return 0, 0
        t = RetrievalDocument.__table__
        docs = [p.doc for p in parts]
        present = set()
        for ids in _batches([d.id for d in docs], _IN_BATCH):
            present.update(session.scalars(select(t.c.id).where(t.c.id.in_(ids))))
        now = utcnow()
        rows = [self._document_row(p.doc, status="ready" if p.last else "pending", now=now) for p in parts]
        new_rows = [r for r in rows if r["id"] not in present]
        old_rows = [{"b_id": r["id"], **{f"v_{k}": v for k, v in r.items() if k != "id"}} for r in rows if r["id"] in present]
        if new_rows:
            session.execute(insert(t), [{**r, "created_at": now} for r in new_rows])
        if old_rows:
            values: dict[str, Any] = {k[2:]: bindparam(k) for k in old_rows[0] if k != "b_id"}
            session.execute(update(t).where(t.c.id == bindparam("b_id")).values(values), old_rows)
        for doc in docs:
            if doc.existing is None:
                self.report.documents_added += 1
            else:
                self.report.documents_updated += 1
        self._write_acl(session, [d for d in docs if d.acl != d.existing_acl or d.id not in present])
        deleted = 0
        row_ids = [r for d in docs for r in d.deletes]
        c = RetrievalChunk.__table__
        for batch in _batches(row_ids, _IN_BATCH):
            deleted += rowcount(session.execute(delete(c).where(c.c.row_id.in_(batch), c.c.collection_id == self.collection.id)))
        moves = [u for d in docs for u in d.updates]
        if moves:
            values = {k[2:]: bindparam(k) for k in moves[0] if k != "b_row_id"}
            session.execute(update(c).where(c.c.row_id == bindparam("b_row_id")).values(values), moves)
        return len(new_rows), deleted

    def _document_row(self, doc: _Doc, *, status: str, now: Any) -> dict[str, Any]:
        return {
            "id": doc.id, "collection_id": self.collection.id, "project_id": self.collection.project_id,
            "source": doc.input.source, "title": doc.title, "content_hash": doc.content_hash, "metadata": doc.metadata,
            "public": not doc.acl, "status": status, "chunk_count": len(doc.chunks) if doc.rechunk else doc.existing.chunk_count,
            "updated_at": now,
        }  # fmt: skip

    def _write_acl(self, session: Any, docs: list[_Doc]) -> None:
        if not docs:
            return
        t = RetrievalDocumentAcl.__table__
        for ids in _batches([d.id for d in docs], _IN_BATCH):
            session.execute(delete(t).where(t.c.document_id.in_(ids)))
        rows = [{"document_id": d.id, "principal": p} for d in docs for p in d.acl]
        if rows:
            session.execute(insert(t), rows)

    def _insert_chunks(self, session: Any, parts: list[_Part], vectors: Any) -> int:
        """Insert the slice's new chunks (skipping any a concurrent or earlier run stored); returns how many."""
        import numpy as np

        if vectors is None:
            return 0
        c = RetrievalChunk.__table__
        wanted = [(p.doc, i) for p in parts for i in p.inserts]
        present: set[str] = set()
        for ids in _batches([d.ids[i] for d, i in wanted], _IN_BATCH):
            present.update(session.scalars(select(c.c.chunk_id).where(c.c.collection_id == self.collection.id, c.c.chunk_id.in_(ids))))
        now = utcnow()
        rows = []
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        for (doc, index), vector in zip(wanted, vectors, strict=True):
            if doc.ids[index] in present:
                continue
            chunk = doc.chunks[index]
            rows.append({
                "chunk_id": doc.ids[index], "collection_id": self.collection.id, "document_id": doc.id, "text": chunk.text,
                "embedding": vector.tobytes(), "created_at": now, **_chunk_place(chunk), "_vector": vector,
            })  # fmt: skip
        if not rows:
            return 0
        insert_chunk_rows(session, self.collection.backend, rows)
        return len(rows)

    def _finish_document(self, session: Any, doc: _Doc) -> None:
        t = RetrievalDocument.__table__
        session.execute(update(t).where(t.c.id == doc.id).values(status="ready", chunk_count=len(doc.chunks) if doc.rechunk
                                                                  else doc.existing.chunk_count))  # fmt: skip

    # -- sync --------------------------------------------------------------------------------------

    def _sync(self, prefix: str) -> None:
        """Delete the collection's documents under ``prefix`` that this ingest did not see."""
        t = RetrievalDocument.__table__
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.db.read() as session:
            rows = session.execute(select(t.c.id, t.c.source).where(t.c.collection_id == self.collection.id,
                                                                    t.c.source.like(pattern, escape="\\")))  # fmt: skip
            gone = [doc_id for doc_id, source in plain_rows(rows) if source not in self.seen and not self._kept(source)]
        for ids in _batches(gone, _IN_BATCH):
            self._delete_documents(ids)

    def _kept(self, source: str) -> bool:
        return any(source.startswith(p) for p in self.kept_prefixes)

    def _delete_documents(self, ids: list[str]) -> None:
        c = RetrievalChunk.__table__
        t = RetrievalDocument.__table__
        with self.db.write() as session:
            collection = self._lock(session)
            chunks = session.scalar(select(func.count()).select_from(c).where(c.c.document_id.in_(ids))) or 0
            count = rowcount(session.execute(delete(t).where(t.c.id.in_(ids), t.c.collection_id == self.collection.id)))
            collection.document_count -= count
            collection.chunk_count -= chunks
            collection.index_version += 1
            collection.updated_at = utcnow()
        self.report.documents_deleted += count
        self.report.chunks_deleted += chunks


def _chunk_place(chunk: Chunk) -> dict[str, Any]:
    return {"position": chunk.position, "heading_path": chunk.heading_path, "start_char": chunk.start_char,
            "end_char": chunk.end_char, "token_count": chunk.token_count}  # fmt: skip


def _parsed(item: DocumentInput) -> DocumentInput:
    """Structure for a raw-text input (``format`` text, markdown or html)."""
    if item.format not in ("text", "markdown", "html"):
        raise ParseError(f"format {item.format!r} is not one of text, markdown, html")
    if not isinstance(item.text, str) or not item.text.strip():
        raise ParseError("empty: no text to index")
    doc = parse_text(item.source, item.text, item.format, item.title)
    return DocumentInput(item.source, doc.text, doc.title, {**doc.metadata, **(item.metadata or {})}, item.acl, item.format, doc.blocks)


def _fingerprint(chunking: dict[str, Any]) -> str:
    return _json({"chunker": CHUNKER_VERSION, **{k: chunking.get(k) for k in ("strategy", "size", "overlap")}})


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _groups(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    group: list[Any] = []
    for item in items:
        group.append(item)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _batches(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _slices(docs: list[_Doc], capacity: int) -> Iterator[list[_Part]]:
    """Parts of at most ``capacity`` new chunks per slice; a document with more spans several."""
    parts: list[_Part] = []
    room = capacity
    for doc in docs:
        pending = list(doc.inserts)
        first = True
        while True:
            take, pending = pending[:room], pending[room:]
            parts.append(_Part(doc, take, first, last=not pending))
            room -= len(take)
            first = False
            if room <= 0 or len(parts) >= GROUP_DOCUMENTS:
                yield parts
                parts, room = [], capacity
            if not pending:
                break
    if parts:
        yield parts


def ingest_documents(
    db: Database,
    collection: Collection,
    docs: Iterable[DocumentInput | SourceFailure],
    *,
    acl: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
    sync_prefixes: Iterable[str] = (),
    progress: Progress | None = None,
    total: int | None = None,
    context: EmbedContext | None = None,
    embedder: Embedder | None = None,
    chunking: dict[str, Any] | None = None,
) -> IngestReport:
    """Ingest ``docs`` into ``collection`` (a row from ``collections.get_collection``) and report.

    ``acl`` and ``metadata`` apply to every document (a document's own ``acl`` replaces the ACL; the
    call's metadata wins over a document's). ``sync_prefixes``: delete documents under these source
    prefixes that are not in ``docs``. ``progress(done, total)`` is called as documents finish.
    ``context`` says where gateway embedders run (default: a private gateway); ``embedder`` overrides
    the collection's (tests); ``chunking`` ({strategy, size, overlap}, validated) replaces the
    collection's chunking for this call. Raises EmbedderFailed (with the report so far in its details) when the
    embedder fails: everything committed before stays; a rerun resumes.
    """
    job = _Ingest(db, collection, context, embedder, check_principals(acl), dict(metadata or {}), progress, total, chunking)
    return job.run(docs, list(sync_prefixes))


def record_ingest(db: Database, actor: Any, collection: Collection, report: IngestReport) -> None:
    """One audit entry per ingest call, with its counts (not per document)."""
    from stackwright.auth import audit

    counts = {k: v for k, v in report.to_dict().items() if isinstance(v, int)}
    counts["failures"] = len(report.failures)
    with db.write() as session:
        audit.record(session, actor, "collection.ingest", "collection", collection.name, project_id=collection.project_id, after=counts)
