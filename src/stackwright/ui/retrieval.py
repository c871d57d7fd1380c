"""Retrieval (`/ui/retrieval`): the project's collections with their settings and counts, a collection's
documents (paged) with their ACLs, one document's chunks, a search playground and the retrieval evaluation.

Everything goes through the retrieval layer's services, as the API does: a search is the API's search (the
same ACL rules: principals given here see public documents plus those whose ACL names them; ``*`` needs the
admin role, as it needs an admin key) and is traced like the API's; an evaluation is the CLI's
`stackwright retrieval eval` on a labelled set shipped with Stackwright or pasted as JSONL. Nothing here
changes stored data.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
from fastapi import BackgroundTasks, Request
from fastapi.responses import Response

from stackwright.core.deps import get_db
from stackwright.core.errors import Forbidden, InvalidInput
from stackwright.retrieval.collections import documents
from stackwright.retrieval.collections import service as collections
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, cursor_page, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
RETRIEVAL = "/ui/retrieval"
add_nav(NavEntry("Retrieval", RETRIEVAL, 36))

PAGE_SIZE = 50
MODES = ("hybrid", "vector", "keyword")
MAX_K = 100
MAX_LABEL_CHARS = 1_000_000
MAX_UI_LABELS = 500  # an evaluation runs while the page waits: a bounded set
SHOWN_MISSES = 10


def _tabs(name: str) -> list[tuple[str, str]]:
    base = f"{RETRIEVAL}/{quote(name, safe='')}"
    return [("Documents", base), ("Search", f"{base}/search"), ("Evaluate", f"{base}/eval")]


def _collection(request: Request, user: WebUser, name: str) -> Any:
    with get_db(request).read() as session:
        return collections.get_collection(session, user.project_id, name)


@router.get(RETRIEVAL)
def collection_list(request: Request, user: UserDep) -> Response:
    rows, next_cursor, problem = cursor_page(
        request, lambda session, cursor: collections.list_collections(session, user.project_id, cursor=cursor, limit=PAGE_SIZE)
    )
    return render(request, "retrieval.html", user=user, rows=rows, next_cursor=next_cursor, problem=problem)


@router.get(RETRIEVAL + "/{name}")
def collection_page(request: Request, name: str, user: UserDep) -> Response:
    collection = _collection(request, user, name)
    prefix = request.query_params.get("source_prefix", "")[:1000]
    rows, next_cursor, problem = cursor_page(
        request,
        lambda session, cursor: documents.list_documents(session, collection, cursor=cursor, limit=PAGE_SIZE, source_prefix=prefix or None),
    )
    next_query = {"source_prefix": prefix, "cursor": next_cursor} if next_cursor else None
    return render(request, "retrieval_collection.html", user=user, collection=collections.to_dict(collection), rows=rows,
                  prefix=prefix, next_query=next_query, problem=problem, tabs=_tabs(name))  # fmt: skip


@router.get(RETRIEVAL + "/{name}/documents/{document_id}")
def document_page(request: Request, name: str, document_id: str, user: UserDep) -> Response:
    collection = _collection(request, user, name)
    with get_db(request).read() as session:
        doc = documents.show_document(session, collection, document_id[:64])
    return render(request, "retrieval_document.html", user=user, collection=collections.to_dict(collection), doc=doc,
                  max_chunks=documents.MAX_CHUNKS_SHOWN, tabs=_tabs(name))  # fmt: skip


# -- the search playground -------------------------------------------------------------------------


def principals_of(raw: str) -> list[str]:
    """Principals as typed: separated by commas, spaces or new lines."""
    return [p for p in raw.replace(",", " ").split() if p]


def parse_filter(raw: str) -> str | dict[str, Any] | None:
    """The filter as the search takes it: a JSON object when it starts with ``{``, else the text form; InvalidInput
    saying what is wrong."""
    from stackwright.retrieval.filters import parse_any

    raw = raw.strip()
    if not raw:
        return None
    value: str | dict[str, Any] = raw
    if raw.startswith("{"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"The filter is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise InvalidInput("A JSON filter is an object, such as {\"lang\": {\"eq\": \"en\"}}.")
    parse_any(value)
    return value


def _search_values(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    values = {name: request.query_params.get(name, "") for name in ("q", "mode", "k", "filter", "principals")}
    values["mode"] = values["mode"] or "hybrid"
    values["k"] = values["k"].strip() or "5"
    errors: dict[str, str] = {}
    if len(values["q"]) > 8000:
        errors["q"] = "The query is longer than 8000 characters; shorten it."
    if values["mode"] not in MODES:
        errors["mode"] = f"Pick one of {', '.join(MODES)}."
    if not (values["k"].isdigit() and 1 <= int(values["k"]) <= MAX_K):
        errors["k"] = f"k is a whole number from 1 to {MAX_K}."
    try:
        parse_filter(values["filter"])
    except InvalidInput as exc:
        errors["filter"] = exc.message
    if len(principals_of(values["principals"])) > 100 or any(len(p) > 200 for p in principals_of(values["principals"])):
        errors["principals"] = "Give up to 100 principals of at most 200 characters each, such as group:support."
    return values, errors


@router.get(RETRIEVAL + "/{name}/search")
def search_page(request: Request, name: str, user: UserDep, background: BackgroundTasks) -> Response:
    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.search.service import SearchOptions, search
    from stackwright.retrieval.search.spans import search_span, span_row, submit_span

    collection = _collection(request, user, name)
    values, errors = _search_values(request)
    result: dict[str, Any] | None = None
    problem = None
    if values["q"].strip() and not errors:
        actor = web_actor(request, user)
        state = request.app.state
        options = SearchOptions(query=values["q"], k=int(values["k"]), mode=values["mode"], filter=parse_filter(values["filter"]),
                                principals=principals_of(values["principals"]), explain=True)  # fmt: skip
        context = EmbedContext(db=state.db, project_id=user.project_id, gateway=state.gateway, actor=actor)
        start_ns = time.time_ns()
        try:
            result = search(state.db, user.project_id, name, options, allow_all=actor.has_scope("admin"), embed_context=context)
        except Forbidden as exc:  # the principal * without the admin role
            errors["principals"] = exc.message
        except InvalidInput as exc:
            problem = exc.message
        if result is not None:  # traced like the API's search
            span = search_span(result, user.project_id, None, start_ns)
            background.add_task(submit_span, state.span_writer, span_row(span, user.project_id, state.settings.max_attribute_chars))
            result["trace_id"] = span["trace_id"]
    status = 400 if errors else 200
    return render(request, "retrieval_search.html", status, user=user, collection=collections.to_dict(collection), values=values,
                  errors=errors, problem=problem, result=result, modes=MODES, max_k=MAX_K, tabs=_tabs(name))  # fmt: skip


# -- retrieval evaluation --------------------------------------------------------------------------


def _eval_page(request: Request, user: WebUser, name: str, status: int = 200, **context: Any) -> Response:
    from stackwright.retrieval.sample import sample_names

    collection = _collection(request, user, name)
    context.setdefault("values", {"labels": sample_names()[0] if sample_names() else "", "jsonl": "", "k": "10",
                                  "modes": list(MODES), "granularity": "document", "filter": "", "principals": ""})  # fmt: skip
    context.setdefault("errors", {})
    context.setdefault("result", None)
    return render(request, "retrieval_eval.html", status, user=user, collection=collections.to_dict(collection), samples=sample_names(),
                  modes=MODES, tabs=_tabs(name), shown_misses=SHOWN_MISSES, problem=context.pop("problem", None), **context)  # fmt: skip


@router.get(RETRIEVAL + "/{name}/eval")
def eval_form(request: Request, name: str, user: UserDep) -> Response:
    return _eval_page(request, user, name)


def _labels(values: dict[str, Any]) -> list[Any]:
    from stackwright.retrieval.evaluation.service import parse_labels_jsonl
    from stackwright.retrieval.sample import load_labels, sample_names

    if values["labels"] == "pasted":
        if not values["jsonl"].strip():
            raise InvalidInput("Paste labelled queries, one JSON object a line: {\"query\": \"...\", \"relevant\": [\"doc.md\"]}.")
        if len(values["jsonl"]) > MAX_LABEL_CHARS:
            raise InvalidInput(f"The labelled queries are longer than {MAX_LABEL_CHARS} characters.")
        labels = parse_labels_jsonl(values["jsonl"], source="pasted labels")
    elif values["labels"] in sample_names():
        labels = load_labels(values["labels"])
    else:
        raise InvalidInput("Pick a shipped labelled set or paste your own.")
    if len(labels) > MAX_UI_LABELS:
        raise InvalidInput(f"The page evaluates at most {MAX_UI_LABELS} queries; use `stackwright retrieval eval` for more.")
    return labels


@router.post(RETRIEVAL + "/{name}/eval")
async def run_eval(request: Request, name: str, user: UserDep) -> Response:
    from starlette.concurrency import run_in_threadpool

    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.evaluation.service import evaluate

    form = await checked_form(request, user)
    ticked = parse_qs((await request.body()).decode("utf-8", errors="replace")).get("modes", [])
    values: dict[str, Any] = {key: form.get(key, "") for key in ("labels", "jsonl", "k", "granularity", "filter", "principals")}
    values["modes"] = [m for m in MODES if m in ticked]
    errors: dict[str, str] = {}
    labels: list[Any] = []
    try:
        labels = _labels(values)
    except InvalidInput as exc:
        errors["labels"] = exc.message
    k = values["k"].strip()
    if not (k.isdigit() and 1 <= int(k) <= MAX_K):
        errors["k"] = f"k is a whole number from 1 to {MAX_K}."
    if not values["modes"]:
        errors["modes"] = "Tick at least one search mode."
    if values["granularity"] not in ("document", "chunk"):
        errors["granularity"] = "Score documents or chunks."
    try:
        flt = parse_filter(values["filter"])
    except InvalidInput as exc:
        errors["filter"] = exc.message
    if errors:
        return _eval_page(request, user, name, 400, values=values, errors=errors)
    actor = web_actor(request, user)
    db = get_db(request)
    context = EmbedContext(db=db, project_id=user.project_id, gateway=request.app.state.gateway, actor=actor)
    try:
        result = await run_in_threadpool(
            evaluate, db, user.project_id, name, labels, k=int(k), modes=values["modes"], granularity=values["granularity"],
            filter=flt, principals=principals_of(values["principals"]) or None, allow_all=actor.has_scope("admin"),
            embed_context=context,
        )  # fmt: skip
    except Forbidden as exc:
        return _eval_page(request, user, name, 400, values=values, errors={"principals": exc.message})
    except InvalidInput as exc:
        return _eval_page(request, user, name, 400, values=values, problem=exc.message)
    return _eval_page(request, user, name, values=values, result=result)
