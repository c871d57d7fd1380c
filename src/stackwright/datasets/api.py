"""REST routes of the datasets layer: create, list, show, versions, items, import, export, edit, add from traces.

Every route is scoped to the key's project: another project's dataset answers 404. Changes need the
write scope, reads the read scope. Every change saves a new immutable version and answers with its
number and ``ref`` (``name@N``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1", tags=["datasets"])

Name = Annotated[str, Path(max_length=128, description="Dataset name, e.g. support-cases.")]
ItemId = Annotated[str, Path(max_length=64, description="Item id (32 hex characters).")]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page.")]
Message = Annotated[str, Query(max_length=2000, description="A note stored with the new version.")]
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines", "text/plain")
CSV_TYPES = ("text/csv",)


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=128, description="Letters, digits, '.', '_' or '-'.", examples=["support-cases"])
    description: str = Field(default="", max_length=10_000)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Any = Field(description="The case's input: any JSON except null.", examples=[{"question": "How long do refunds take?"}])
    expected: Any = Field(default=None, description="The expected output (any JSON).", examples=["5 days"])
    metadata: dict[str, Any] = Field(default_factory=dict)
    message: str = Field(default="", max_length=2000, description="A note stored with the new version.")


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: Any = None
    expected: Any = None
    metadata: dict[str, Any] | None = None
    message: str = Field(default="", max_length=2000)


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(description="Items: {input, expected, metadata}.")
    mode: str = Field(default="replace", description="replace (these items are the new content) or append.")
    message: str = Field(default="", max_length=2000)


class FromTracesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, Any] = Field(default_factory=dict, description="Trace filters, as GET /api/v1/traces takes them.", examples=[{"route": "support.answer", "status": "ok"}])
    limit: int = Field(default=100, ge=1, le=10_000, description="At most this many traces, newest first.")
    mask: bool = Field(default=True, description="Mask personal data and secrets (emails, cards, keys...).")
    message: str = Field(default="", max_length=2000)


@router.post("/datasets", summary="Create an empty dataset (items arrive by import, add or from traces)", status_code=201)
def create_dataset(caller: WriteCaller, session: SessionDep, body: DatasetIn) -> JSONBody:
    from stackwright.datasets import service

    result = service.create_dataset(session, caller, caller.project_id, body.name, body.description)
    session.commit()
    return JSONBody(result, status_code=201)


@router.get("/datasets", summary="Datasets of the project, newest first, with their latest version")
def list_datasets(caller: ReadCaller, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    from stackwright.datasets import service

    data, next_cursor = service.list_datasets(session, caller.project_id, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/datasets/{name}", summary="One dataset: its latest version and newest versions")
def get_dataset(caller: ReadCaller, session: SessionDep, name: Name) -> JSONBody:
    from stackwright.datasets import service

    return JSONBody(service.describe(session, caller.project_id, name))


@router.get("/datasets/{name}/versions", summary="Versions of a dataset, newest first")
def list_versions(caller: ReadCaller, session: SessionDep, name: Name, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    from stackwright.datasets import service

    data, next_cursor = service.list_versions(session, caller.project_id, name, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/datasets/{name}/versions/{version}/items", summary="One version's items in order, paged")
def list_items(caller: ReadCaller, session: SessionDep, name: Name, version: VersionNumber, limit: Limit = 100, cursor: Cursor = None) -> JSONBody:
    from stackwright.datasets import service

    summary, data, next_cursor = service.items_page(session, caller.project_id, f"{name}@{version}", cursor=cursor, limit=limit)
    return JSONBody({"version": summary, "data": data, "next_cursor": next_cursor})


@router.get("/datasets/{name}/export", summary="A version's items as JSON Lines or CSV (the import formats)")
def export_dataset(
    caller: ReadCaller,
    session: SessionDep,
    name: Name,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A version number (default: latest).")] = None,
    format: Annotated[str, Query(description="jsonl or csv.")] = "jsonl",
) -> Response:
    from stackwright.datasets import importing, service

    fmt = importing.format_of("", format)
    view = service.get_dataset_version(session, caller.project_id, f"{name}@{version}" if version else name)
    text = importing.to_csv(view.items) if fmt == "csv" else importing.to_jsonl(view.items)
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return Response(text, media_type=media, headers={"X-Dataset-Ref": view.ref, "Content-Disposition": f'attachment; filename="{view.name}@{view.version}.{fmt}"'})


def _parse_body(raw: bytes, content_type: str) -> tuple[list[Any], list[str], str | None, str | None]:
    """(items, places, mode, message) from a JSONL, CSV or JSON {"items": [...]} body."""
    import orjson
    from pydantic import ValidationError

    from stackwright.core.errors import InvalidInput
    from stackwright.datasets import importing
    from stackwright.datasets.items import normalize_item

    media = content_type.split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The body is not UTF-8 text (byte {exc.start}).") from None
    if media in CSV_TYPES:
        items, places = importing.parse_csv(text, "The body")
        return items, places, None, None
    if media in JSONL_TYPES:
        items, places = importing.parse_jsonl(text, "The body")
        return items, places, None, None
    if media != "application/json":
        raise InvalidInput(
            f"Content type {media or 'none'!r} is not supported here.",
            hint="Send JSON Lines (application/x-ndjson), CSV (text/csv) or JSON {\"items\": [...]} (application/json).",
        )
    try:
        body = ImportIn.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}.") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInput(f"The body's {where}: {first['msg']}.", hint='Send {"items": [...], "mode": "replace" or "append", "message": "..."}.') from None
    if not body.items:
        raise InvalidInput("items is empty.", hint="Send at least one item.")
    places = [f"items[{index}]" for index in range(len(body.items))]
    return [normalize_item(item, place) for item, place in zip(body.items, places, strict=True)], places, body.mode, body.message


@router.post("/datasets/{name}/import", summary="Import items (JSON Lines, CSV or JSON): a new version, or the same one for the same content")
async def import_dataset(
    request: Request,
    caller: WriteCaller,
    name: Name,
    mode: Annotated[str | None, Query(description="replace (default: the items are the new content) or append.")] = None,
    message: Message = "",
) -> JSONBody:
    from starlette.concurrency import run_in_threadpool

    from stackwright.datasets import editing

    raw = await request.body()

    def work() -> dict[str, Any]:
        items, places, body_mode, body_message = _parse_body(raw, request.headers.get("content-type", ""))
        with request.app.state.db.write() as session:
            return editing.import_items(session, caller, caller.project_id, name, items, places, mode=mode or body_mode or "replace",
                                        message=message or body_message or "")  # fmt: skip

    result = await run_in_threadpool(work)
    return JSONBody(result, status_code=201 if result["created"] else 200)


@router.post("/datasets/{name}/items", summary="Add one item: a new version", status_code=201)
def add_item(caller: WriteCaller, session: SessionDep, name: Name, body: ItemIn) -> JSONBody:
    from stackwright.datasets import editing

    raw = {"input": body.input, "expected": body.expected, "metadata": body.metadata}
    result = editing.add_item(session, caller, caller.project_id, name, raw, message=body.message)
    session.commit()
    return JSONBody(result, status_code=201)


@router.patch("/datasets/{name}/items/{item_id}", summary="Change an item's input, expected or metadata: a new version")
def update_item(caller: WriteCaller, session: SessionDep, name: Name, item_id: ItemId, body: ItemPatch) -> JSONBody:
    from stackwright.datasets import editing

    changes = {key: getattr(body, key) for key in ("input", "expected", "metadata") if key in body.model_fields_set}
    result = editing.update_item(session, caller, caller.project_id, name, item_id, changes, message=body.message)
    session.commit()
    return JSONBody(result)


@router.delete("/datasets/{name}/items/{item_id}", summary="Remove an item: a new version (older versions keep it)")
def remove_item(caller: WriteCaller, session: SessionDep, name: Name, item_id: ItemId, message: Message = "") -> JSONBody:
    from stackwright.datasets import editing

    result = editing.remove_item(session, caller, caller.project_id, name, item_id, message=message)
    session.commit()
    return JSONBody(result)


@router.post("/datasets/{name}/from-traces", summary="Append matching traces' inputs and outputs (PII masked) as items")
def from_traces(caller: WriteCaller, session: SessionDep, name: Name, body: FromTracesIn) -> JSONBody:
    from stackwright.datasets.from_traces import add_from_traces

    result = add_from_traces(session, caller, caller.project_id, name, body.filter, limit=body.limit, mask=body.mask, message=body.message)
    session.commit()
    return JSONBody(result, status_code=201 if result["created"] else 200)
