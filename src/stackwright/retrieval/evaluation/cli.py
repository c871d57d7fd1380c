"""`stackwright retrieval eval`: score a collection's search on labelled queries, on the store directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from stackwright.auth.commands import project_for
from stackwright.core import command_helpers as common

retrieval_app = typer.Typer(help="Retrieval quality: evaluate a collection on labelled queries.", no_args_is_help=True)

_SHOWN_MISSES = 10


@retrieval_app.command("eval")
def eval_command(
    ctx: typer.Context,
    labels_file: Path = typer.Argument(
        ...,
        metavar="LABELS.jsonl",
        help='Labelled queries, one JSON object a line: {"query": "...", "relevant": ["doc.md", ...]} or graded '
        '{"relevant": {"doc.md": 2, "other.md": 1}}. Ids are document sources (or their file name), document ids or chunk ids.',
    ),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection name."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=100, help="Cut-off of every metric."),
    modes: list[str] = typer.Option([], "--mode", help="vector, keyword or hybrid (repeatable; default: all three)."),
    granularity: str = typer.Option("document", "--granularity", help="document (a document counts at its best chunk) or chunk."),
    filter_: str | None = typer.Option(None, "--filter", help="Metadata filter applied to every query, e.g. 'lang=en'."),
    principals: list[str] = typer.Option(
        [], "--principal", "-p", help="Search as this principal (repeatable); without it only public documents; '*' sees all."
    ),
    project: str | None = common.PROJECT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON: per-mode metrics and per-query rows."),
) -> None:
    """Evaluate retrieval: hit rate, MRR, nDCG, precision and recall @k per search mode."""
    from stackwright.core.errors import InvalidInput
    from stackwright.retrieval.evaluation.service import MODES, evaluate, parse_labels_jsonl

    try:
        text = labels_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{labels_file}: no such file.", hint="Give the path of a JSONL file of labelled queries.") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{labels_file}: cannot be read as UTF-8 text ({type(exc).__name__}).") from None
    labels = parse_labels_jsonl(text, source=str(labels_file))
    db = common.database(ctx)
    with db.read() as session:
        project_id = project_for(ctx, session, project).id
    result = evaluate(db, project_id, collection, labels, k=k, modes=modes or list(MODES), granularity=granularity,
                      filter=filter_, principals=principals or None, allow_all=True)  # fmt: skip
    if as_json:
        common.print_json(result)
        return
    print_report(result)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_report(result: dict[str, Any]) -> None:
    """The per-mode metrics table, then each mode's missed queries and the ids that matched nothing."""
    k = result["k"]
    rows = [
        {"mode": mode, f"hit@{k}": _fmt(m["hit_rate"]), f"MRR@{k}": _fmt(m["mrr"]), f"nDCG@{k}": _fmt(m["ndcg"]),
         f"P@{k}": _fmt(m["precision"]), f"R@{k}": _fmt(m["recall"]), "measured": m["measured"], "unmeasured": m["unmeasured"]}
        for mode, m in result["modes"].items()
    ]  # fmt: skip
    title = f"{result['collection']}: {result['labels']} queries, {result['granularity']} granularity"
    common.print_table(rows, list(rows[0]), title=title)
    for mode in result["modes"]:
        misses = [q for q in result["queries"] if not q["unmeasured"] and q["modes"][mode]["hit_rate"] == 0]
        if not misses:
            continue
        table = [
            {"query": q["query"], "id": q["id"], "relevant": ", ".join(q["relevant"]),
             "retrieved": ", ".join(str(r["source"] or r["id"]) for r in q["modes"][mode]["retrieved"][:3])}
            for q in misses[:_SHOWN_MISSES]
        ]  # fmt: skip
        more = f" (first {_SHOWN_MISSES}; --json for all)" if len(misses) > _SHOWN_MISSES else ""
        common.print_table(table, ["query", "id", "relevant", "retrieved"], title=f"{mode}: {len(misses)} missed in the top {k}{more}")
    unknown = [(q, u) for q in result["queries"] for u in q["unknown_ids"]]
    for q, u in unknown[:_SHOWN_MISSES]:
        typer.echo(f"warning: {q['id'] or q['query']!r}: relevant id {u['id']!r}: {u['reason']}", err=True)
    if len(unknown) > _SHOWN_MISSES:
        typer.echo(f"warning: {len(unknown) - _SHOWN_MISSES} more relevant ids matched nothing (see --json).", err=True)
    unmeasured = [q for q in result["queries"] if q["unmeasured"]]
    if unmeasured:
        typer.echo(f"{len(unmeasured)} queries were not measured (no relevant id in the collection); see --json.", err=True)
