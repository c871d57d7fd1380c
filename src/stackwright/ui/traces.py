"""The trace pages: the filtered, cursor-paged list (`/ui/traces?...`), one trace with its waterfall, a span
panel and the eight answers (`/ui/traces/{trace_id}?span={span_id}`), and sessions (`/ui/sessions`).

Filters live in the URL with the API's names, so a view can be shared; each one is checked on its own so
a value that cannot be parsed is shown beside its field. Every query runs in the session's current project:
another project's trace is a 404 page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.insights.render import LINES, QUESTIONS
from stackwright.insights.service import explain
from stackwright.tracing import queries
from stackwright.ui.answer_links import answer_links
from stackwright.ui.dataset_picker import added_notice, dataset_choices
from stackwright.ui.pages import UserDep, WebUser, cursor_page, page_router, render
from stackwright.ui.settings import web_actor
from stackwright.ui.span_panel import panel as span_panel
from stackwright.ui.waterfall import waterfall

router = page_router()

TEXT_FILTERS = ("name", "model", "route", "environment", "prompt_name", "prompt_version", "user_id", "session_id")
NUMBER_FILTERS = ("min_cost", "min_duration_ms")
FILTERS = ("start", "end", "status", *TEXT_FILTERS, *NUMBER_FILTERS, "q")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _parse_filters(values: dict[str, str]) -> tuple[queries.TraceFilters | None, dict[str, str]]:
    """The filters and, per field, what was wrong with its value (then no filters)."""
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name in FILTERS:
        raw = values.get(name, "").strip()
        if not raw:
            continue
        if name in NUMBER_FILTERS:
            try:
                parsed[name] = float(raw)
            except ValueError:
                errors[name] = f"{raw[:40]!r} is not a number."
                continue
        else:
            parsed[name] = raw
        try:
            queries.parse_filters(**{name: parsed[name]})
        except InvalidInput as exc:
            errors[name] = exc.message
    if errors:
        return None, errors
    return queries.parse_filters(**parsed), {}


@router.get("/ui/traces")
def trace_list(request: Request, user: UserDep) -> Response:
    values = {name: request.query_params.get(name, "") for name in (*FILTERS, "sort", "limit", "cursor")}
    filters, errors = _parse_filters(values)
    sort = values["sort"] or "-start_time"
    if sort not in queries.SORTS:
        errors["sort"] = f"Sort by one of {', '.join(queries.SORTS)}."
    limit = values["limit"]
    if limit and not (limit.isdigit() and 1 <= int(limit) <= MAX_PAGE_SIZE):
        errors["limit"] = f"Show between 1 and {MAX_PAGE_SIZE} traces per page."
    items: list[dict[str, Any]] = []
    next_cursor = None
    problem = None
    if not errors:
        try:
            with get_db(request).read() as session:
                items, next_cursor = queries.list_traces(
                    session, user.project_id, filters, sort=sort, limit=int(limit or PAGE_SIZE), cursor=values["cursor"] or None
                )
                scores = queries.score_summaries(session, user.project_id, [t["trace_id"] for t in items])
                items = [{**t, "scores": scores.get(t["trace_id"], [])} for t in items]
        except InvalidInput as exc:  # a cursor from another sort, or edited by hand
            problem = exc.message
    shared = {k: v for k, v in values.items() if v and k != "cursor"}
    return render(
        request, "traces.html", user=user, values=values, errors=errors, problem=problem, items=items,
        next_query={**shared, "cursor": next_cursor} if next_cursor else None, sorts=list(queries.SORTS),
        statuses=queries.STATUSES, text_filters=TEXT_FILTERS,
    )  # fmt: skip


def _answers(session: Any, project_id: str, trace_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """The answer text and the eight questions with their lines, or why there are none."""
    try:
        answers = explain(session, project_id, trace_id)
    except NotFound as exc:
        return None, [], exc.message
    sections = [
        {"number": n, "key": key, "question": question, "lines": LINES[key](answers[key]), "links": answer_links(key, answers[key])}
        for n, (key, question) in enumerate(QUESTIONS, 1)
    ]
    return answers, sections, None


@router.get("/ui/traces/{trace_id}")
def trace_page(request: Request, trace_id: str, user: UserDep) -> Response:
    return trace_view(request, user, trace_id)


def trace_view(
    request: Request, user: WebUser, trace_id: str, status: int = 200, score_form: dict[str, Any] | None = None,
    dataset_form: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    """The trace page; ``score_form`` and ``dataset_form`` carry a refused form's values and what was wrong with them."""
    project_id = user.project_id
    can_write = web_actor(request, user).has_scope("write")
    params = request.query_params
    with get_db(request).read() as session:
        view = queries.get_trace(session, project_id, trace_id)
        trace, spans = view["trace"], view["spans"]
        wanted = request.query_params.get("span") or trace.get("root_span_id") or (spans[0]["span_id"] if spans else None)
        selected = None
        if wanted:
            try:
                selected = queries.get_span(session, project_id, trace["trace_id"], wanted)
            except NotFound:
                selected = None
        answers, sections, no_answers = _answers(session, project_id, trace["trace_id"])
        datasets = dataset_choices(session, project_id) if can_write else []
        added = added_notice(session, project_id, params.get("added", ""), params.get("item", ""))
    open_all = request.query_params.get("open") == "all"
    rows, collapsed = waterfall(spans, trace, selected["span_id"] if selected else None, open_all)
    panel = span_panel(selected, request.query_params.get("full") == "1") if selected is not None else None
    return render(
        request, "trace.html", status, user=user, trace=trace, rows=rows, truncated=view["truncated"], scores=view["scores"],
        panel=panel, answers=answers, sections=sections, no_answers=no_answers, collapsed=collapsed, span_count=len(spans),
        open_all=open_all, can_write=can_write, scored=params.get("done") == "score",
        score_form=score_form or {"values": {"name": "", "value": "", "comment": ""}, "errors": {}},
        datasets=datasets, added=added, held=params.get("held") == "1",
        dataset_form=dataset_form or {"values": {"dataset": "", "new_dataset": ""}, "errors": {}},
    )  # fmt: skip


@router.get("/ui/sessions")
def session_list(request: Request, user: UserDep) -> Response:
    items, next_cursor, problem = cursor_page(
        request, lambda session, cursor: queries.list_sessions(session, user.project_id, limit=PAGE_SIZE, cursor=cursor)
    )
    return render(request, "sessions.html", user=user, items=items, next_cursor=next_cursor, problem=problem)


@router.get("/ui/sessions/{session_id:path}")
def session_page(request: Request, session_id: str, user: UserDep) -> Response:
    cursor = request.query_params.get("cursor") or None
    with get_db(request).read() as session:
        view = queries.get_session(session, user.project_id, session_id, limit=PAGE_SIZE, cursor=cursor)
    return render(request, "session.html", user=user, view=view)
