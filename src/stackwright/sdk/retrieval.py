"""``client.collections`` and ``client.retrieval``: collections, ingestion of raw texts and records, search
and context assembly, written once for ``Client`` and ``AsyncClient`` (await the calls on the latter).

    client.collections.create("help-center")                      # default embedder local/wordllama
    client.retrieval.ingest("help-center", documents=[{"source": "faq/reset", "text": "To reset ...",
                                                       "metadata": {"lang": "en"}, "acl": ["group:support"]}])
    hits = client.retrieval.search("help-center", "how do I reset my password", k=5,
                                   filter="lang=en", principals=["group:support"])
    ctx = client.retrieval.context("help-center", "how do I reset my password", budget_tokens=800)
    prompt_context, citations = ctx["context"], ctx["citations"]

A search made inside ``stackwright.sdk.observe`` (an ``@observe`` function or ``with observe(...)``) sends
that span's trace context, so the server's retrieval span lands in the same trace, under it.
"""

from __future__ import annotations

from typing import Any

from stackwright.sdk.base import Call, compact, parse_data
from stackwright.sdk.resources import Resource, _path


def _traceparent() -> str | None:
    """The current SDK span as a W3C traceparent, or None outside a recording span."""
    try:
        from stackwright.sdk.observe.span import current_span

        span = current_span()
        if span.is_recording:
            return f"00-{span.trace_id_hex}-{span.span_id_hex}-01"
    except Exception:  # tracing never breaks a search
        return None
    return None


def _collection_path(name: str, tail: str = "") -> str:
    return _path("collections", name) + tail


class Collections(Resource):
    """Collections of the key's project (listing and reading need read scope; changes need write)."""

    def create(
        self,
        name: str,
        *,
        embedder: str | None = None,
        dimensions: int | None = None,
        description: str | None = None,
        chunking: dict[str, Any] | None = None,
        search: dict[str, Any] | None = None,
        ann: bool | None = None,
    ) -> Any:
        """Create a collection; ``embedder`` defaults to local/wordllama (or any gateway embeddings model)."""
        body = compact({"name": name, "embedder": embedder, "dimensions": dimensions, "description": description,
                        "chunking": chunking, "search": search, "ann": ann})  # fmt: skip
        return self._run(Call("POST", _path("collections"), body=body))

    def list(self) -> Any:
        return self._run(Call("GET", _path("collections"), parse=parse_data))

    def get(self, name: str) -> Any:
        return self._run(Call("GET", _collection_path(name)))

    def update(self, name: str, **changes: Any) -> Any:
        """Change description, chunking, search defaults or ann (embedder and dimensions are fixed)."""
        return self._run(Call("PATCH", _collection_path(name), body=changes))

    def delete(self, name: str) -> Any:
        """Delete the collection with its documents and chunks: ``{"deleted": True, "name", "documents", "chunks"}``."""
        return self._run(Call("DELETE", _collection_path(name)))


class Retrieval(Resource):
    """Ingest into, search and assemble context from a collection of the key's project."""

    def ingest(self, collection: str, documents: list[dict[str, Any]], **options: Any) -> Any:
        """Ingest raw documents (``source`` and ``text``, optional ``title``, ``metadata``, ``acl``); extra
        keyword arguments go into the request body as they are."""
        body = {"documents": documents, **options}
        return self._run(Call("POST", _collection_path(collection, "/documents"), body=body))

    def search(
        self,
        collection: str,
        query: str,
        k: int = 5,
        filter: str | dict[str, Any] | None = None,  # noqa: A002 - the API's name
        principals: list[str] | None = None,
        mode: str | None = None,
        **options: Any,
    ) -> Any:
        """The hits, best first: dicts with chunk_id, document_id, source, title, text, score, position,
        heading_path, metadata. ``mode`` None is the collection's default (hybrid); ``filter`` is a string
        ('lang=en and year>=2020') or JSON; ``principals`` None searches public documents only. Other
        options: rrf_k, weights, oversample, mmr_lambda, reranker, exact, ann, ef_search."""
        return self._run(Call("POST", _collection_path(collection, "/search"), body=self._body(query, k, filter, principals, mode, options),
                              parse=parse_data))  # fmt: skip

    def search_full(self, collection: str, query: str, k: int = 5, filter: str | dict[str, Any] | None = None,  # noqa: A002
                    principals: list[str] | None = None, mode: str | None = None, **options: Any) -> Any:  # fmt: skip
        """Like ``search`` but the whole answer: ``{"data": hits, "mode", "took_ms", "timings", "trace_id", "span_id"}``."""
        return self._run(Call("POST", _collection_path(collection, "/search"), body=self._body(query, k, filter, principals, mode, options)))

    def context(
        self,
        collection: str,
        query: str,
        budget_tokens: int = 1000,
        k: int = 10,
        filter: str | dict[str, Any] | None = None,  # noqa: A002
        principals: list[str] | None = None,
        mode: str | None = None,
        **options: Any,
    ) -> Any:
        """Search, then the best hits fitted into ``budget_tokens``: ``{"context": "[1] ...", "citations":
        [{"id": 1, "chunk_id", "document_id", "source", "title", ...}], "tokens", "dropped"}``. Options also
        take dedupe_threshold (0..1) and order ("score" or "document")."""
        body = self._body(query, k, filter, principals, mode, {**options, "budget_tokens": budget_tokens})
        return self._run(Call("POST", _collection_path(collection, "/context"), body=body))

    @staticmethod
    def _body(query: str, k: int, filter_: Any, principals: list[str] | None, mode: str | None, options: dict[str, Any]) -> dict[str, Any]:
        body = compact({"query": query, "k": k, "filter": filter_, "principals": principals, "mode": mode, **options})
        if "traceparent" not in body and (traceparent := _traceparent()):
            body["traceparent"] = traceparent
        return body
