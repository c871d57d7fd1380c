"""Fixtures for the retrieval tests (SQLite and Postgres through the `backend` param).

* ``project_id``: the default project of the prepared database (the one TEST_API_KEY belongs to).
* ``make_collection(name="help-center", **spec)``: a collection created through the service (same path
  as the API and CLI); ``spec`` is the API body (embedder, dimensions, chunking, search, ann...).
* ``ingest_texts(collection, docs, **options)``: ingest through ``ingest_documents`` and return its
  IngestReport. ``collection`` is a Collection or a name; ``docs`` a {source: text} dict or a list of
  DocumentInput / dicts with source, text, title, metadata, acl, format. Options are those of
  ``ingest_documents`` (acl, metadata, sync_prefixes, chunking, embedder...).
* ``reload_collection(collection_or_name)``: the collection row as stored now (counts, index_version).
* ``counting_embedder``: registers the embedder plugin ``test/counting`` (WordLlama underneath); its
  ``.texts`` lists every text it was asked to embed.
* ``flaky_embedder``: registers ``test/flaky``, which fails on the call number ``.fail_on`` (1-based;
  None: never) and counts calls and texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackwright.core.db import Database


@pytest.fixture
def project_id(prepared: Database) -> str:
    from stackwright.auth import service as auth_service

    with prepared.read() as session:
        return auth_service.find_project(session, "default").id


@pytest.fixture
def reload_collection(prepared: Database, project_id: str) -> Callable[[Any], Any]:
    from stackwright.retrieval.collections.service import get_collection

    def reload(collection: Any) -> Any:
        name = collection if isinstance(collection, str) else collection.name
        with prepared.read() as session:
            return get_collection(session, project_id, name)

    return reload


@pytest.fixture
def make_collection(prepared: Database, project_id: str, reload_collection: Callable[[Any], Any]) -> Callable[..., Any]:
    from stackwright.auth.actors import cli_actor
    from stackwright.retrieval.collections import service as collections
    from stackwright.retrieval.embedders import EmbedContext

    def make(name: str = "help-center", **spec: Any) -> Any:
        collections.create(EmbedContext(prepared, project_id), cli_actor(), {"name": name, **spec})
        return reload_collection(name)

    return make


def as_inputs(docs: Any) -> list[Any]:
    """{source: text}, or a list of DocumentInput / dicts, as DocumentInput objects."""
    from stackwright.retrieval.ingest import DocumentInput

    if isinstance(docs, dict):
        return [DocumentInput(source=source, text=text) for source, text in docs.items()]
    return [d if not isinstance(d, dict) else DocumentInput(**d) for d in docs]


@pytest.fixture
def ingest_texts(prepared: Database, reload_collection: Callable[[Any], Any]) -> Callable[..., Any]:
    from stackwright.retrieval.ingest import ingest_documents

    def ingest(collection: Any, docs: Any, **options: Any) -> Any:
        return ingest_documents(prepared, reload_collection(collection), as_inputs(docs), **options)

    return ingest


class CountingEmbedder:
    """WordLlama (64 dimensions by default), recording what it embeds; ``fail_on`` makes call N raise."""

    texts: list[str] = []
    calls = 0
    fail_on: int | None = None
    allowed_dimensions = (64, 128, 256)
    default_dimensions = 64

    def __init__(self, dimensions: int | None = None):
        self.dimensions = dimensions or self.default_dimensions

    def embed(self, texts: list[str]) -> Any:
        from stackwright.local.embedder import embed

        cls = type(self)
        cls.calls += 1
        if cls.fail_on is not None and cls.calls == cls.fail_on:
            raise ConnectionError("the embedding service went away")
        cls.texts.extend(texts)
        return embed(texts, self.dimensions)


def _register(name: str, base: type) -> Iterator[type]:
    from stackwright.core import plugins

    embedder = type(base.__name__, (base,), {"texts": [], "calls": 0, "fail_on": None})
    plugins.embedders.register(name, embedder, replace=True)
    try:
        yield embedder
    finally:
        plugins.embedders.unregister(name)


@pytest.fixture
def counting_embedder() -> Iterator[type]:
    yield from _register("test/counting", CountingEmbedder)


@pytest.fixture
def flaky_embedder() -> Iterator[type]:
    yield from _register("test/flaky", CountingEmbedder)
