"""The retrieval layer's registration: collections, documents, search and retrieval evaluation."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import Layer


def _routers() -> list[Any]:
    from stackwright.retrieval.collections.api import router as collections_router
    from stackwright.retrieval.evaluation.api import router as evaluation_router
    from stackwright.retrieval.search.api import router as search_router

    return [collections_router, search_router, evaluation_router]


def _commands(root: Any) -> None:
    from stackwright.retrieval.collections.cli import collections_app
    from stackwright.retrieval.collections.cli import register as register_ingest
    from stackwright.retrieval.evaluation.cli import retrieval_app
    from stackwright.retrieval.search.cli import register as register_search

    root.add_typer(collections_app, name="collections")
    root.add_typer(retrieval_app, name="retrieval")
    register_ingest(root)
    register_search(root)


def _schema_filter(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    from stackwright.retrieval.index_schema import include_object

    return include_object(obj, name, type_, reflected, compare_to)


layer = Layer(
    name="retrieval",
    rank=60,
    tables=("stackwright.retrieval.models",),
    routers=_routers,
    commands=_commands,
    schema_filter=_schema_filter,
)
