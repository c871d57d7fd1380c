"""REST routes of the prompts layer: push, list, show, versions, diff, render, labels, history.

Every route is scoped to the key's project: another project's prompt answers 404. Moving a protected
label (``production`` by default) needs the admin scope; everything else that changes needs write.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import AdminCaller, ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep, SettingsDep
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1", tags=["prompts"])

Name = Annotated[str, Path(max_length=128, description="Prompt name, e.g. support-answer.")]
LabelName = Annotated[str, Path(max_length=64, description="Label, e.g. production.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(description="next_cursor from the previous page.")]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A version number.")]
LabelQuery = Annotated[str | None, Query(max_length=64, description="A label (default: latest).")]

PUSH_EXAMPLE = {
    "name": "support-answer",
    "type": "chat",
    "messages": [
        {"role": "system", "content": "You are the support assistant for {{ product }}. Answer only from the context."},
        {"role": "user", "content": "Context:\n{{ context }}\n\nQuestion: {{ question }}"},
    ],
    "model": {"name": "gpt-4o-mini", "temperature": 0.2},
    "labels": ["staging"],
}


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31 - 1, description="The version the label should point at.")


class ProtectedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(max_length=50, description="Labels that only admin keys may move (replaces the list).")


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, max_length=64, description="Render the version this label points at.")
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Render this version.")
    variables: dict[str, Any] = Field(default_factory=dict, description="Template variables.")


@router.post("/prompts", summary="Push a prompt (idempotent: the same content keeps its version)", status_code=200)
def push_prompt(
    caller: WriteCaller,
    session: SessionDep,
    body: Annotated[dict[str, Any], Body(description="The prompt file's content as JSON.", examples=[PUSH_EXAMPLE])],
) -> JSONBody:
    from stackwright.prompts.push import push

    result = push(session, caller, caller.project_id, body, source="The prompt")
    session.commit()
    return JSONBody(result, status_code=201 if result["created"] else 200)


@router.get("/prompts", summary="Prompts of the project, newest first, with their labels")
def list_prompts(caller: ReadCaller, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    from stackwright.prompts import service

    data, next_cursor = service.list_prompts(session, caller.project_id, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/prompts/{name}", summary="One version (by label, default latest, or version) with its resolved includes")
async def get_prompt(request: Request, name: Name, label: LabelQuery = None, version: VersionQuery = None) -> JSONBody:
    """The SDK's fetch path, kept short: the key is checked like a model call (read scope, trusted for
    STACKWRIGHT_GATEWAY_KEY_CACHE_S). On SQLite the two indexed reads (tens of microseconds, no network)
    run on the event loop, cheaper than a worker-thread hop; on Postgres they run in one thread hop."""
    from starlette.concurrency import run_in_threadpool

    from stackwright.prompts import service
    from stackwright.prompts.refs import make_ref

    ref = make_ref(name, version=version, label=label)
    caller = await request.app.state.gateway.authenticate(request, scope="read")
    db = request.app.state.db

    def read() -> dict[str, Any]:
        with db.read() as session:
            return service.show(session, caller.project_id, ref)

    return JSONBody(read() if db.is_sqlite else await run_in_threadpool(read))


@router.get("/prompts/{name}/versions", summary="Versions of a prompt, newest first")
def list_versions(caller: ReadCaller, session: SessionDep, name: Name, limit: Limit = 50, cursor: Cursor = None) -> JSONBody:
    from stackwright.prompts import service

    data, next_cursor = service.list_versions(session, caller.project_id, name, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.get("/prompts/{name}/diff", summary="Unified diff of two versions' templates, and the fields that changed")
def diff_versions(
    caller: ReadCaller,
    session: SessionDep,
    name: Name,
    old: Annotated[str, Query(alias="from", max_length=64, description="Version number or label.")],
    new: Annotated[str, Query(alias="to", max_length=64, description="Version number or label.")],
) -> JSONBody:
    from stackwright.prompts.diff import diff

    return JSONBody(diff(session, caller.project_id, name, old, new))


@router.post("/prompts/{name}/render", summary="Render a version with variables: messages or text, plus the model config")
def render_prompt(caller: ReadCaller, session: SessionDep, settings: SettingsDep, name: Name, body: RenderIn) -> JSONBody:
    from stackwright.prompts import service
    from stackwright.prompts.refs import make_ref

    ref = make_ref(name, version=body.version, label=body.label)
    return JSONBody(service.render(session, caller.project_id, ref, body.variables, settings))


@router.put("/prompts/{name}/labels/{label}", summary="Point a label at a version (protected labels need admin)")
def put_label(caller: WriteCaller, session: SessionDep, name: Name, label: LabelName, body: LabelIn) -> JSONBody:
    from stackwright.prompts.labels import set_label

    result = set_label(session, caller, caller.project_id, name, label, body.version)
    session.commit()
    return JSONBody(result)


@router.delete("/prompts/{name}/labels/{label}", summary="Remove a label (not latest; protected labels need admin)")
def delete_label(caller: WriteCaller, session: SessionDep, name: Name, label: LabelName) -> JSONBody:
    from stackwright.prompts.labels import remove_label

    result = remove_label(session, caller, caller.project_id, name, label)
    session.commit()
    return JSONBody(result)


@router.get("/prompts/{name}/history", summary="Label moves of a prompt, newest first")
def label_history(
    caller: ReadCaller,
    session: SessionDep,
    name: Name,
    label: LabelQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONBody:
    from stackwright.prompts import service

    data, next_cursor = service.label_history(session, caller.project_id, name, label=label, cursor=cursor, limit=limit)
    return JSONBody({"data": data, "next_cursor": next_cursor})


@router.put("/prompts/{name}/protected-labels", summary="Set which labels only admin keys may move")
def put_protected(caller: AdminCaller, session: SessionDep, name: Name, body: ProtectedIn) -> JSONBody:
    from stackwright.prompts.labels import protect

    result = protect(session, caller, caller.project_id, name, body.labels)
    session.commit()
    return JSONBody(result)
