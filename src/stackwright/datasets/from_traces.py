"""Building dataset items from production traces: each matching trace's root input becomes an item's
input, its root output the expected output, with personal data and secrets masked (datasets.pii). One trace
can be added by its id too (the trace page's "Add to dataset"). Both need the 'write' scope, whoever calls.

Filters are the trace list's (GET /api/v1/traces): start, end, name, status, model, prompt_name,
prompt_version, route, environment, user_id, session_id, min_cost, min_duration_ms, q (text in the
input or output). Items are appended to the dataset's latest version as one new version; traces already
copied (same masked content) are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth.actors import Actor
from stackwright.core.errors import InvalidInput

FILTER_KEYS = (
    "start", "end", "name", "status", "model", "prompt_name", "prompt_version", "route", "environment", "user_id",
    "session_id", "min_cost", "min_duration_ms", "q",
)  # fmt: skip
_NUMBERS = ("min_cost", "min_duration_ms")
MAX_LIMIT = 10_000
_PAGE = 500


def parse_filter_pairs(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (CLI ``--filter``) as a filter dict; InvalidInput naming a bad one."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--filter {pair!r} is not of the form KEY=VALUE.", hint="e.g. --filter route=support.answer --filter status=ok")
        out[key] = value
    return out


def check_filters(raw: dict[str, Any]) -> Any:
    """The trace list's TraceFilters for a filter dict; InvalidInput for an unknown key or bad value."""
    from stackwright.tracing import queries

    unknown = [key for key in raw if key not in FILTER_KEYS]
    if unknown:
        raise InvalidInput(f"Unknown trace filter {unknown[0]!r}.", hint=f"Filters: {', '.join(FILTER_KEYS)}.")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if key in _NUMBERS:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidInput(f"Filter {key} must be a number, not {str(value)[:40]!r}.") from None
            if isinstance(value, bool) or not math.isfinite(number):
                raise InvalidInput(f"Filter {key} must be a finite number, not {str(value)[:40]!r}.")
            values[key] = number
        elif not isinstance(value, str):
            raise InvalidInput(f"Filter {key} must be a string, not {type(value).__name__}.")
        else:
            values[key] = value
    return queries.parse_filters(**values)


def _json_or_text(text: str | None) -> Any:
    """A stored input/output: JSON objects and arrays are parsed back; anything else stays text."""
    if text is None or text == "":
        return None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
    return text


def _matching(session: Session, project_id: str, filters: Any, limit: int) -> list[dict[str, Any]]:
    from stackwright.tracing import queries

    rows: list[dict[str, Any]] = []
    cursor = None
    while len(rows) < limit:
        page, cursor = queries.list_traces(session, project_id, filters, sort="-start_time", limit=min(_PAGE, limit - len(rows)), cursor=cursor)
        rows.extend(page)
        if cursor is None:
            break
    return rows


def _root_bodies(session: Session, project_id: str, traces: list[dict[str, Any]]) -> dict[str, tuple[str | None, str | None]]:
    """trace id -> (input, output) of its root span, in full (trace rows keep only previews)."""
    from stackwright.tracing.models import Span

    wanted = [(t["trace_id"], t["root_span_id"]) for t in traces if t.get("root_span_id")]
    out: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), _PAGE):
        chunk = wanted[start : start + _PAGE]
        trace_ids = [trace_id for trace_id, _ in chunk]
        roots = dict(chunk)
        query = select(Span.trace_id, Span.span_id, Span.input, Span.output).where(Span.project_id == project_id, Span.trace_id.in_(trace_ids))
        query = query.where(Span.span_id.in_([span_id for _, span_id in chunk]))
        for trace_id, span_id, input_text, output_text in session.execute(query):
            if roots.get(trace_id) == span_id:
                out[trace_id] = (input_text, output_text)
    return out


def _items_of(session: Session, project_id: str, traces: list[dict[str, Any]], mask: bool) -> tuple[list[dict[str, Any]], list[str], list[Any], int]:
    """(items, their places, personal data found, traces without a root input) for these traces, masked if ``mask``."""
    from stackwright.datasets.items import normalize_item
    from stackwright.datasets.pii import mask_json

    bodies = _root_bodies(session, project_id, traces)
    items, places, findings, without_input = [], [], [], 0
    for trace in traces:
        input_text, output_text = bodies.get(trace["trace_id"], (trace.get("input"), trace.get("output")))
        value_in, value_out = _json_or_text(input_text), _json_or_text(output_text)
        if value_in is None:
            without_input += 1
            continue
        if mask:
            value_in, found_in = mask_json(value_in)
            value_out, found_out = mask_json(value_out)
            findings.extend(found_in + found_out)
        where = f"trace {trace['trace_id']}"
        items.append(normalize_item({"input": value_in, "expected": value_out, "metadata": {"trace_id": trace["trace_id"], "source": "trace"}}, where))
        places.append(where)
    return items, places, findings, without_input


def add_from_traces(
    session: Session,
    actor: Actor,
    project_id: str,
    name: str,
    filters: dict[str, Any],
    *,
    limit: int = 100,
    mask: bool = True,
    message: str = "",
) -> dict[str, Any]:
    """Append up to ``limit`` matching traces (newest first) to dataset ``name`` (created if needed); the caller commits.

    Returns {name, version, ref, created, matched, added, skipped (already in the dataset), without_input
    (traces with no root input, not copied), masked, pii (found, by kind: counts only)}.
    """
    from stackwright.datasets import editing, service
    from stackwright.datasets.items import check_name
    from stackwright.datasets.pii import count_kinds

    actor.require_scope("write", "Adding traces to a dataset")
    check_name(name)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}.")
    trace_filters = check_filters(filters)
    traces = _matching(session, project_id, trace_filters, limit)
    items, places, findings, without_input = _items_of(session, project_id, traces, mask)
    summary = {"matched": len(traces), "without_input": without_input, "masked": mask, "pii": count_kinds(findings)}
    if not items:
        from stackwright.datasets.models import Dataset

        dataset = session.scalar(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name))
        version = dataset.latest_version if dataset is not None and dataset.latest_version else None
        count = service.version_row(session, dataset, None).item_count if dataset is not None and version else 0
        return {"name": name, "version": version, "ref": f"{name}@{version}" if version else None, "created": False,
                "item_count": count, "added": 0, "skipped": 0, **summary}  # fmt: skip
    result = editing.import_items(
        session, actor, project_id, name, items, places, mode="append", message=message or "add from traces",
        action="dataset.add_from_traces",
    )  # fmt: skip
    return {**{k: v for k, v in result.items() if k not in ("imported", "mode")}, "added": result["imported"], **summary}


def add_trace(session: Session, actor: Actor, project_id: str, name: str, trace_id: str, *, mask: bool = True, message: str = "") -> dict[str, Any]:
    """Append one trace of the project to dataset ``name`` (created if needed), as ``add_from_traces`` copies it; the caller commits.

    Returns {name, version, ref, created, item_count, added (0 if the dataset already held it), item_id, masked,
    pii}. NotFound for a trace not in the project; InvalidInput when its root span has no input to copy.
    """
    from stackwright.datasets import editing
    from stackwright.datasets.items import check_name, item_id
    from stackwright.datasets.pii import count_kinds
    from stackwright.tracing import queries

    actor.require_scope("write", "Adding traces to a dataset")
    check_name(name)
    trace = queries.find_trace(session, project_id, trace_id)
    items, places, findings, _ = _items_of(session, project_id, [trace], mask)
    if not items:
        raise InvalidInput(f"Trace {trace['trace_id']} has no input on its root span, so there is nothing to copy.",
                           hint="Add traces whose root span records an input (input.value).")  # fmt: skip
    result = editing.import_items(session, actor, project_id, name, items, places, mode="append",
                                  message=message or f"add trace {trace['trace_id']}", action="dataset.add_from_traces")  # fmt: skip
    return {**{k: v for k, v in result.items() if k not in ("imported", "mode", "skipped")}, "added": result["imported"],
            "item_id": item_id(items[0]), "masked": mask, "pii": count_kinds(findings)}  # fmt: skip
