"""Datasets (`/ui/datasets`): the project's datasets, one dataset's versions, one version's items (paged), an export
of a version as JSON Lines or CSV (what `GET /api/v1/datasets/{name}/export` answers), and changing the items:
add one, edit one, remove one after a confirmation step.

Versions are immutable, so every change goes through the datasets layer's editing service (as the API and the CLI
do) and saves a new version; the pages then show it. Only the latest version is edited: the forms carry the version
they were made from (`base`) and the service refuses the change, shown inline, when the dataset moved on meanwhile.
The service refuses a viewer (a 403 page) and audits each change (`dataset.add_item`, `update_item`, `remove_item`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.datasets import editing, importing, service
from stackwright.datasets.items import check_item_id
from stackwright.datasets.models import DatasetItem, DatasetVersionItem
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
DATASETS = "/ui/datasets"
add_nav(NavEntry("Datasets", DATASETS, 33))

PAGE_SIZE = 50
SHOWN_CHARS = 2000  # of one value in the items table; the edit page shows all of it
FIELDS = ("input", "expected", "metadata")
MAX_FIELD_CHARS = 1_000_000
DONE = {"added": "Item added", "updated": "Item changed", "removed": "Item removed", "unchanged": "Nothing changed"}


def _cursor(request: Request) -> str | None:
    return request.query_params.get("cursor") or None


@router.get(DATASETS)
def dataset_list(request: Request, user: UserDep) -> Response:
    problem: str | None = None
    rows: list[dict[str, Any]] = []
    next_cursor: str | None = None
    try:
        with get_db(request).read() as session:
            rows, next_cursor = service.list_datasets(session, user.project_id, cursor=_cursor(request), limit=PAGE_SIZE)
    except InvalidInput as exc:
        problem = exc.message
    return render(request, "datasets.html", user=user, page="list", rows=rows, next_cursor=next_cursor, problem=problem)


def _dataset_page(request: Request, user: WebUser, name: str, status: int = 200, **context: Any) -> Response:
    problem: str | None = None
    versions: list[dict[str, Any]] = []
    next_cursor: str | None = None
    with get_db(request).read() as session:
        dataset = service.describe(session, user.project_id, name, versions=1)
        try:
            versions, next_cursor = service.list_versions(session, user.project_id, name, cursor=_cursor(request), limit=PAGE_SIZE)
        except InvalidInput as exc:  # a cursor edited by hand
            problem = exc.message
    context.setdefault("values", {"input": "", "expected": "", "metadata": "", "message": ""})
    context.setdefault("errors", {})
    context.setdefault("problem", problem)
    context.setdefault("notice", None)
    return render(request, "datasets.html", status, user=user, page="dataset", dataset=dataset, versions=versions,
                  next_cursor=next_cursor, can_write=web_actor(request, user).has_scope("write"), **context)  # fmt: skip


@router.get(DATASETS + "/{name}")
def dataset_page(request: Request, name: str, user: UserDep) -> Response:
    return _dataset_page(request, user, name)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + " …"


def _version_number(name: str, version: str) -> int:
    if not (version.isascii() and version.isdigit() and len(version) < 10 and int(version) >= 1):
        raise NotFound(f"Dataset {name!r} has no version {version[:20]!r}.", hint="Versions are numbered 1, 2, 3...")
    return int(version)


def _summary(session: Any, project_id: str, name: str, version: int | None) -> dict[str, Any]:
    """The version's summary (``latest`` tells whether it is the one changes apply to); None: the latest."""
    dataset = service.get_dataset(session, project_id, name)
    return service.version_payload(dataset.name, service.version_row(session, dataset, version), dataset.latest_version)


def _version_page(request: Request, user: WebUser, name: str, version: int | None, status: int = 200, **context: Any) -> Response:
    problem: str | None = None
    items: list[dict[str, Any]] = []
    next_cursor: str | None = None
    with get_db(request).read() as session:
        summary = _summary(session, user.project_id, name, version)
        try:
            _, items, next_cursor = service.items_page(session, user.project_id, summary["ref"], cursor=_cursor(request), limit=PAGE_SIZE)
        except InvalidInput as exc:  # a cursor edited by hand
            problem = exc.message
    rows = [{**item, "shown": {f: _shown(item[f]) for f in FIELDS}} for item in items]
    context.setdefault("values", {"input": "", "expected": "", "metadata": "", "message": ""})
    context.setdefault("errors", {})
    context.setdefault("problem", problem)
    notice = DONE.get(request.query_params.get("done", ""))
    editable = summary["latest"] and web_actor(request, user).has_scope("write")
    return render(request, "datasets.html", status, user=user, page="version", summary=summary, rows=rows, next_cursor=next_cursor,
                  notice=notice, editable=editable, **context)  # fmt: skip


@router.get(DATASETS + "/{name}/versions/{version}")
def version_page(request: Request, name: str, version: str, user: UserDep) -> Response:
    return _version_page(request, user, name, _version_number(name, version))


@router.get(DATASETS + "/{name}/versions/{version}/export")
def export_version(request: Request, name: str, version: str, user: UserDep) -> Response:
    """The version's items as a download, exactly as the API's export answers them."""
    fmt = importing.format_of("", request.query_params.get("format") or "jsonl")
    number = _version_number(name, version)
    with get_db(request).read() as session:
        view = service.get_dataset_version(session, user.project_id, f"{name}@{number}")
    text = importing.to_csv(view.items) if fmt == "csv" else importing.to_jsonl(view.items)
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    disposition = f'attachment; filename="{view.name}@{view.version}.{fmt}"'
    return Response(text, media_type=media, headers={"X-Dataset-Ref": view.ref, "Content-Disposition": disposition})


# -- changing items ----------------------------------------------------------------------------------------------


def _parse_item(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """input (required), expected (empty: none) and metadata (empty: {}) parsed from their JSON text."""
    parsed: dict[str, Any] = {}
    for field in FIELDS:
        text = values[field].strip()
        if len(text) > MAX_FIELD_CHARS:
            errors[field] = f"{field} is {len(text):,} characters long; the limit here is {MAX_FIELD_CHARS:,}. Import large items from a file."
            continue
        if not text:
            if field == "input":
                errors[field] = 'The input is missing: write it as JSON, e.g. {"question": "..."} or "a text in quotes".'
            parsed[field] = {} if field == "metadata" else None
            continue
        try:
            parsed[field] = json.loads(text)
        except ValueError as exc:
            errors[field] = f"{field} is not valid JSON (line {getattr(exc, 'lineno', '?')}, column {getattr(exc, 'colno', '?')}): " \
                            "write text in double quotes, objects as {\"key\": \"value\"}."  # fmt: skip
    if len(values["message"]) > 2000:
        errors["message"] = f"The message is {len(values['message']):,} characters long; the limit is 2,000."
    if not errors and not isinstance(parsed["metadata"], dict):
        errors["metadata"] = 'metadata must be a JSON object, e.g. {"topic": "billing"}.'
    return parsed


def _field_of(message: str) -> str | None:
    return next((f for f in ("metadata", "expected", "input") if f in message), None)


def _base(form: dict[str, str]) -> int | None:
    raw = form.get("base", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _item_values(form: dict[str, str]) -> dict[str, str]:
    return {key: form.get(key, "") for key in (*FIELDS, "message")}


def _refused(exc: InvalidInput | Conflict, errors: dict[str, str]) -> str | None:
    """Where a refusal is shown: beside its field (the returned problem is None) or above the form."""
    field = _field_of(exc.message) if isinstance(exc, InvalidInput) else None
    if field:
        errors[field] = exc.message
        return None
    return exc.message


def _done(name: str, result: dict[str, Any], done: str) -> Response:
    query = urlencode({"done": done if result["created"] or done == "removed" else "unchanged"})
    return RedirectResponse(f"{DATASETS}/{name}/versions/{result['version']}?{query}", status_code=303)


@router.post(DATASETS + "/{name}/items")
async def add_item(request: Request, name: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values, errors = _item_values(form), dict[str, str]()
    item = _parse_item(values, errors)
    problem, status = None, 400
    if not errors:
        try:
            with get_db(request).write() as session:
                result = editing.add_item(session, web_actor(request, user), user.project_id, name, item,
                                          message=values["message"], expected_version=_base(form))  # fmt: skip
            return _done(name, result, "added")
        except (InvalidInput, Conflict) as exc:
            problem, status = _refused(exc, errors), exc.status
    if _base(form) is None:  # the form of a dataset with no version yet
        return _dataset_page(request, user, name, status, values=values, errors=errors, problem=problem)
    return _version_page(request, user, name, None, status, values=values, errors=errors, problem=problem)


def _find_item(request: Request, user: WebUser, name: str, item_id: str, version: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the version's summary, the item) for an item of version ``version`` (None: latest) of the dataset."""
    ident = check_item_id(item_id)
    with get_db(request).read() as session:
        summary = _summary(session, user.project_id, name, version)
        view = service.get_dataset_version(session, user.project_id, summary["ref"], with_items=False)
        row = session.execute(
            select(DatasetItem.input, DatasetItem.expected, DatasetItem.meta)
            .join(DatasetVersionItem, (DatasetVersionItem.dataset_id == DatasetItem.dataset_id) & (DatasetVersionItem.item_id == DatasetItem.item_id))
            .where(DatasetVersionItem.version_id == view.version_id, DatasetItem.item_id == ident)
            .limit(1)
        ).first()
    if row is None:
        raise NotFound(f"{summary['ref']} has no item {ident}.", hint=f"Open {DATASETS}/{name} and pick the version and item again.")
    return summary, {"id": ident, "input": row.input, "expected": row.expected, "metadata": row.meta or {}}


def _item_page(request: Request, user: WebUser, name: str, item_id: str, page: str, status: int = 200, **context: Any) -> Response:
    summary, item = _find_item(request, user, name, item_id, _base(dict(request.query_params)) or context.pop("base", None))
    if "values" not in context:
        context["values"] = {f: "" if item[f] is None and f == "expected" else json.dumps(item[f], ensure_ascii=False, indent=2) for f in FIELDS}
        context["values"]["message"] = ""
    context.setdefault("errors", {})
    context.setdefault("problem", None)
    context.setdefault("notice", None)
    can_write = web_actor(request, user).has_scope("write")
    return render(request, "datasets.html", status, user=user, page=page, summary=summary, item=item, can_write=can_write,
                  shown={f: json.dumps(item[f], ensure_ascii=False, indent=2, sort_keys=True) for f in FIELDS}, **context)  # fmt: skip


@router.get(DATASETS + "/{name}/items/{item_id}/edit")
def edit_form(request: Request, name: str, item_id: str, user: UserDep) -> Response:
    return _item_page(request, user, name, item_id, "edit")


@router.post(DATASETS + "/{name}/items/{item_id}/edit")
async def edit_item(request: Request, name: str, item_id: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values, errors = _item_values(form), dict[str, str]()
    item = _parse_item(values, errors)
    problem, status = None, 400
    if not errors:
        try:
            with get_db(request).write() as session:
                result = editing.update_item(session, web_actor(request, user), user.project_id, name, item_id, item,
                                             message=values["message"], expected_version=_base(form))  # fmt: skip
            return _done(name, result, "updated")
        except (InvalidInput, Conflict) as exc:
            problem, status = _refused(exc, errors), exc.status
    return _item_page(request, user, name, item_id, "edit", status, base=_base(form), values=values, errors=errors,
                      problem=problem)  # fmt: skip


@router.get(DATASETS + "/{name}/items/{item_id}/remove")
def remove_form(request: Request, name: str, item_id: str, user: UserDep) -> Response:
    """The confirmation step: the item, and the form that removes it."""
    return _item_page(request, user, name, item_id, "remove")


@router.post(DATASETS + "/{name}/items/{item_id}/remove")
async def remove_item(request: Request, name: str, item_id: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    try:
        with get_db(request).write() as session:
            result = editing.remove_item(session, web_actor(request, user), user.project_id, name, item_id,
                                         message=form.get("message", "")[:2000], expected_version=_base(form))  # fmt: skip
    except Conflict as exc:
        return _item_page(request, user, name, item_id, "remove", 409, base=_base(form), problem=exc.message)
    return _done(name, result, "removed")
