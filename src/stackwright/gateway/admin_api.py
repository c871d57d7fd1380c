"""REST routes to configure the gateway: apply/read the config, list models, manage provider secrets
(write-only), and test a model. All scoped to the key's project."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import AdminCaller, ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.gateway import secrets, service
from stackwright.gateway.catalog import describe
from stackwright.gateway.limits.stamps import wait_for_every_process

router = APIRouter(prefix="/api/v1/gateway", tags=["gateway"])
SecretName = Annotated[str, Path(max_length=128, description="Secret name, e.g. OPENAI_API_KEY.")]


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] = Field(description="The gateway.yaml content as JSON (`models`, `cache`, `retry`).")
    secrets: dict[str, str] = Field(default_factory=dict, description="Values for api_key_env names; stored encrypted.")


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=secrets.MAX_SECRET_CHARS)


class TestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    prompt: str = Field(default="Say hello in five words.", min_length=1, max_length=4000)


@router.get("/config", summary="The applied gateway config (secrets appear only by name)")
def get_config(caller: ReadCaller, session: SessionDep) -> dict[str, Any]:
    spec, revision = service.read_config(session, caller.project_id)
    return {"revision": revision, "config": spec.model_dump(mode="json")}


@router.put("/config", summary="Apply a gateway config (idempotent: the same content keeps its revision)")
def put_config(body: ConfigIn, caller: AdminCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    result = service.apply_config(session, request.app.state.settings, caller, caller.project_id, body.config, body.secrets)
    session.commit()
    wait_for_every_process(session)  # changed model limits apply on every replica before this answers
    request.app.state.gateway.catalog.forget(caller.project_id)
    return result


@router.get("/models", summary="Models this project serves, with deployments (no secrets)")
async def get_models(caller: ReadCaller, request: Request) -> list[dict[str, Any]]:
    project = await request.app.state.gateway.catalog.get(caller.project_id)
    return describe(project)


@router.get("/secrets", summary="Names of the stored provider secrets (values are never returned)")
def get_secrets(caller: AdminCaller, session: SessionDep) -> list[dict[str, Any]]:
    return secrets.list_secrets(session, caller.project_id)


@router.put("/secrets/{name}", status_code=204, summary="Store a provider secret (encrypted at rest; admin)")
def put_secret(name: SecretName, body: SecretIn, caller: ReadCaller, session: SessionDep, request: Request) -> Response:
    # the service checks the role (admin) and audits, for the API and the web UI alike
    secrets.store_secret(session, request.app.state.settings, caller, caller.project_id, name, body.value)
    session.commit()
    request.app.state.gateway.catalog.forget(caller.project_id)
    return Response(status_code=204)


@router.delete("/secrets/{name}", status_code=204, summary="Delete a provider secret (admin)")
def delete_secret(name: SecretName, caller: ReadCaller, session: SessionDep, request: Request) -> Response:
    secrets.delete_secret(session, caller, caller.project_id, name)  # checks the role, audits
    session.commit()
    request.app.state.gateway.catalog.forget(caller.project_id)
    return Response(status_code=204)


@router.post("/test", summary="Send one short chat request to a model and report what happened")
async def test_model(body: TestIn, caller: WriteCaller, request: Request) -> dict[str, Any]:
    return await run_test(request.app.state.gateway, caller, body.model, body.prompt)


async def run_test(gateway: Any, caller: Any, model: str, prompt: str) -> dict[str, Any]:
    """A chat call through the full gateway path; failures are reported, not raised. The caller needs the write
    scope (a member or above), as every model call does: the API, the CLI and the web UI's button call this."""
    import orjson

    from stackwright.core.errors import StackwrightError

    caller.require_scope("write", "Testing a model")

    started = time.perf_counter()
    payload = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    try:
        response = await gateway.chat(caller, payload, {})
    except StackwrightError as exc:
        return {"ok": False, "model": model, "error": exc.message, "code": exc.code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}  # fmt: skip
    result = orjson.loads(response.body)
    return {
        "ok": True,
        "model": model,
        "served_by": response.headers.get("x-stackwright-deployment"),
        "attempts": int(response.headers.get("x-stackwright-attempts", "1")),
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "output": ((result.get("choices") or [{}])[0].get("message") or {}).get("content"),
        "usage": result.get("usage"),
        "cost_usd": float(response.headers["x-stackwright-cost-usd"]) if "x-stackwright-cost-usd" in response.headers else None,
        "trace_id": response.headers.get("x-stackwright-trace-id"),
    }
