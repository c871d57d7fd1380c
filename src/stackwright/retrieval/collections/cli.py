"""`stackwright collections ...` and `stackwright ingest`, on the store directly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

collections_app = typer.Typer(help="Collections: create, list, show, delete.", no_args_is_help=True)
_COLUMNS = ["name", "embedder", "dimensions", "backend", "chunking", "document_count", "chunk_count", "updated_at"]


def _project_id(ctx: typer.Context, db: Any, project: str | None) -> str:
    with db.read() as session:
        return project_for(ctx, session, project).id


def _row(collection: dict[str, Any]) -> dict[str, Any]:
    chunking = collection["chunking"]
    return {**collection, "chunking": f"{chunking['strategy']} {chunking['size']}/{chunking['overlap']}"}


@collections_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection name, e.g. help-center."),
    embedder: str = typer.Option("local/wordllama", "--embedder", help="local/wordllama or an embeddings model of the gateway."),
    dimensions: int | None = typer.Option(None, "--dimensions", help="Vector size (default: the embedder's; wordllama: 64, 128 or 256)."),
    chunking: str = typer.Option("structure", "--chunking", help="fixed, structure (headings, paragraphs) or semantic."),
    chunk_size: int = typer.Option(256, "--chunk-size", help="Largest chunk, in tokens."),
    overlap: int = typer.Option(32, "--overlap", help="Tokens shared by neighbouring windows (fixed, and long paragraphs)."),
    ann: bool = typer.Option(False, "--ann", help="Also keep a usearch HNSW index for large collections (embedded backend)."),
    description: str = typer.Option("", "--description", help="What the collection holds."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create a collection with its embedder and chunking."""
    from stackwright.auth.actors import cli_actor
    from stackwright.retrieval.collections import service as collections
    from stackwright.retrieval.embedders import EmbedContext

    db = common.database(ctx)
    spec = {
        "name": name, "description": description, "embedder": embedder, "dimensions": dimensions, "ann": ann,
        "chunking": {"strategy": chunking, "size": chunk_size, "overlap": overlap},
    }  # fmt: skip
    created = collections.create(EmbedContext(db, _project_id(ctx, db, project)), cli_actor(), spec)
    if as_json:
        common.print_json(created)
        return
    typer.echo(f"Created collection {created['name']}: {created['embedder']} ({created['dimensions']} dimensions), "
               f"{created['backend']} backend, {_row(created)['chunking']} chunking.")  # fmt: skip


@collections_app.command("list")
def list_(
    ctx: typer.Context,
    project: str | None = common.PROJECT_OPTION,
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="How many rows."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List the project's collections."""
    from stackwright.retrieval.collections import service as collections

    db = common.database(ctx)
    project_id = _project_id(ctx, db, project)
    with db.read() as session:
        rows, _ = collections.list_collections(session, project_id, limit=limit)
    if as_json:
        common.print_json(rows)
        return
    common.print_table([_row(r) for r in rows], _COLUMNS, title="collections")


@collections_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection name."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show a collection's settings and counts."""
    from stackwright.retrieval.collections import service as collections

    db = common.database(ctx)
    project_id = _project_id(ctx, db, project)
    with db.read() as session:
        shown = collections.to_dict(collections.get_collection(session, project_id, name))
    if as_json:
        common.print_json(shown)
        return
    search = shown["search"]
    typer.echo(f"{shown['name']} ({shown['id']})  {shown['description']}".rstrip())
    typer.echo(f"embedder: {shown['embedder']} ({shown['dimensions']} dimensions)  backend: {shown['backend']}  ann: {shown['ann']}")
    typer.echo(f"chunking: {_row(shown)['chunking']} (strategy size/overlap in tokens)")
    typer.echo(f"search: {search.get('mode')} (rrf_k {search.get('rrf_k')}, weights {search.get('weights')})")
    typer.echo(f"documents: {shown['document_count']}  chunks: {shown['chunk_count']}  index version: {shown['index_version']}")


@collections_app.command("delete")
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Collection name."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: the documents and chunks are deleted too."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Delete a collection with its documents and chunks."""
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput
    from stackwright.retrieval.collections import service as collections

    db = common.database(ctx)
    project_id = _project_id(ctx, db, project)
    if not yes:
        with db.read() as session:
            found = collections.get_collection(session, project_id, name)
        raise InvalidInput(f"Deleting {name!r} removes its {found.document_count} documents and {found.chunk_count} chunks.",
                           hint="Pass --yes to confirm.")  # fmt: skip
    result = collections.delete(db, cli_actor(), project_id, name)
    if as_json:
        common.print_json(result)
        return
    typer.echo(f"Deleted collection {name} ({result['documents']} documents, {result['chunks']} chunks).")


def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files and folders: txt, md, html, pdf, json, jsonl."),
    collection: str = typer.Option(..., "--collection", "-c", help="The collection to ingest into."),
    acl: list[str] = typer.Option([], "--acl", help="A principal that may read these documents (repeat); none: public."),
    meta: list[str] = typer.Option([], "--meta", help="key=value metadata on every document (repeat)."),
    text_field: str = typer.Option("text", "--text-field", help="JSON/JSONL records: the field holding the text."),
    id_field: str | None = typer.Option(None, "--id-field", help="JSON/JSONL records: a field naming each record (its source is file#id)."),
    no_sync: bool = typer.Option(False, "--no-sync", help="Keep documents of a folder whose files are gone (default: delete them)."),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Ingest files and folders into a collection; only what changed is re-chunked and embedded.

    Unless --no-sync, documents of an ingested folder whose files are gone are deleted.
    """
    from stackwright.auth.actors import cli_actor
    from stackwright.retrieval.collections import service
    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.ingest import check_principals, ingest_documents, parse_meta, record_ingest
    from stackwright.retrieval.parsing import collect_files

    principals, metadata = check_principals(acl), parse_meta(meta)
    files, prefixes = collect_files(paths)
    settings = common.settings(ctx)
    db = common.database(ctx)
    project_id = _project_id(ctx, db, project)
    with db.read() as session:
        target = service.get_collection(session, project_id, collection)
    items = _documents(files, int(settings.retrieval_max_file_mb * 1_000_000), text_field, id_field)
    total = len(files) if not any(f.path.suffix.lower() in (".json", ".jsonl", ".ndjson") for f in files) else None
    with _progress(enabled=not as_json and sys.stderr.isatty(), total=total) as progress:
        report = ingest_documents(db, target, items, acl=principals, metadata=metadata, sync_prefixes=[] if no_sync else prefixes,
                                  progress=progress, total=total, context=EmbedContext(db, project_id))  # fmt: skip
    record_ingest(db, cli_actor(), target, report)
    _print_report(report.to_dict(), as_json)
    if report.failures:
        typer.echo(f"error: {len(report.failures)} source(s) could not be ingested (listed above); the rest was ingested.", err=True)
        raise typer.Exit(1)


def _documents(files: list[Any], max_bytes: int, text_field: str, id_field: str | None) -> Any:
    from stackwright.retrieval.ingest import DocumentInput
    from stackwright.retrieval.parsing import ParsedDocument, parse_file

    for file in files:
        for item in parse_file(file.path, file.source, max_bytes=max_bytes, text_field=text_field, id_field=id_field):
            if isinstance(item, ParsedDocument):
                yield DocumentInput(item.source, item.text, item.title, item.metadata, None, item.format, item.blocks)
            else:
                yield item


class _progress:
    """A rich progress bar on stderr (documents done), or nothing."""

    def __init__(self, *, enabled: bool, total: int | None):
        self.enabled = enabled
        self.total = total
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)  # fmt: skip
        self._bar.__enter__()
        self._task = self._bar.add_task("ingest", total=self.total)
        return self.update

    def update(self, done: int, total: int | None) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        common.print_json(report)
        return
    typer.echo(
        f"{report['collection']}: documents {report['documents_added']} added, {report['documents_updated']} updated, "
        f"{report['documents_unchanged']} unchanged, {report['documents_deleted']} deleted; chunks {report['chunks_added']} added, "
        f"{report['chunks_kept']} kept, {report['chunks_deleted']} deleted ({report['chunks_embedded']} embedded)."
    )
    for item in report["duplicates"]:
        typer.echo(f"duplicate {item['source']}: same text as {item['duplicate_of']}, not stored twice")
    for item in report["skipped"]:
        typer.echo(f"skipped {item['source']}: {item['reason']}")
    for item in report["failures"]:
        typer.echo(f"failed {item['source']}: {item['reason']}")


def register(app: typer.Typer) -> None:
    """Add the top-level `ingest` command to the root app."""
    app.command("ingest")(ingest)
