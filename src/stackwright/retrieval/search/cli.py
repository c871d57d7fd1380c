"""`stackwright search`: search a collection on the store directly, print a table or JSON hits."""

from __future__ import annotations

import time

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common


def search_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for, e.g. 'how do I reset my password'."),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection name."),
    k: int = typer.Option(5, "-k", "--k", min=1, max=100, help="How many hits."),
    filter_: str | None = typer.Option(
        None, "--filter", help="Metadata filter, e.g. 'lang=en', 'year>=2020 and (tier in (pro, team) or pinned=true)'."
    ),
    principals: list[str] = typer.Option(
        [], "--principal", "-p",
        help="Search as this principal (repeatable), e.g. group:support: public documents plus those its ACLs allow. "
        "Without --principal only public documents are searched; '*' searches every document.",
    ),  # fmt: skip
    mode: str | None = typer.Option(None, "--mode", help="hybrid, vector or keyword (default: the collection's, hybrid)."),
    mmr: float | None = typer.Option(None, "--mmr", min=0.0, max=1.0, help="MMR diversification lambda (1: relevance only)."),
    reranker: str | None = typer.Option(None, "--reranker", help="Reranker plugin (none, overlap, or an installed one)."),
    exact: bool = typer.Option(False, "--exact", help="Exact vector search (no ANN/HNSW index)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON: chunk_id, document_id, source, text, score..."),
) -> None:
    """Search a collection (hybrid, vector or keyword) with filters and ACLs; each search is traced."""
    from stackwright.retrieval.search.service import SearchOptions, search
    from stackwright.retrieval.search.spans import search_span, span_row, write_span_now

    db = common.database(ctx)
    with db.read() as session:
        project_id = project_for(ctx, session, project).id
    options = SearchOptions(query=query, k=k, mode=mode, filter=filter_, principals=principals, mmr_lambda=mmr,
                            reranker=reranker, exact=exact)  # fmt: skip
    start_ns = time.time_ns()
    result = search(db, project_id, collection, options, allow_all=True)
    span = search_span(result, project_id, None, start_ns)
    write_span_now(db, span_row(span, project_id, db.settings.max_attribute_chars))
    hits = result["data"]
    if as_json:
        common.print_json(hits)
        return
    rows = [
        {"#": i, "score": f"{h['score']:.4f}", "source": h["source"], "chunk_id": h["chunk_id"], "text": _preview(h["text"])}
        for i, h in enumerate(hits, 1)
    ]
    title = f"{collection}: {len(hits)} hits ({result['mode']}, {result['took_ms']:.1f} ms)"
    common.print_table(rows, ["#", "score", "source", "chunk_id", "text"], title=title)


def _preview(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add the top-level `search` command to the root app."""
    app.command("search")(search_command)
