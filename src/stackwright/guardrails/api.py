"""REST routes of the guardrails layer: policies (put, list, show, delete) and ad-hoc checks.

Every route is scoped to the key's project: another project's policy answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody

router = APIRouter(prefix="/api/v1/guardrails", tags=["guardrails"])
Name = Annotated[str, Path(max_length=128, description="Policy name, e.g. support-guard.")]

POLICY_EXAMPLE = {
    "route": "support.answer",
    "input": [{"check": "pii", "action": "redact"}, {"check": "prompt_injection", "action": "block"}],
    "output": [{"check": "json_schema", "action": "reask", "schema": {"type": "object", "required": ["answer"]},
                "max_reasks": 2, "fallback": "Sorry, I could not answer that."}],
}  # fmt: skip


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=1_000_000, description="The text to check.")
    direction: Literal["input", "output"] = Field(default="input", description="input (a user message) or output (an answer).")
    checks: list[Any] | None = Field(default=None, max_length=50, description="Check names or {check, action, ...params}.")
    policy: str | None = Field(default=None, max_length=128, description="Run this policy's checks for the direction instead.")
    context: str | None = Field(default=None, max_length=1_000_000, description="Grounding context (groundedness).")
    canary: str | None = Field(default=None, max_length=200, description="The canary token planted on input (output checks).")


def forget_policies(request: Request, project_id: str) -> None:
    """This process applies a change to the project's policies at once (the API and the web UI call this)."""
    gateway = getattr(request.app.state, "gateway", None)
    guard = getattr(gateway, "guard", None)
    if guard is not None:
        guard.forget(project_id)


@router.put("/policies/{name}", summary="Create or replace a policy (idempotent)")
def put_policy(
    request: Request, caller: WriteCaller, session: SessionDep, name: Name,
    body: Annotated[dict[str, Any], Body(description="The policy: route, input, output.", examples=[POLICY_EXAMPLE])],
) -> JSONBody:  # fmt: skip
    from stackwright.core.errors import InvalidInput
    from stackwright.guardrails import policy as policy_spec
    from stackwright.guardrails import service

    if body.get("name", name) != name:
        raise InvalidInput(f"The body names policy {body.get('name')!r} but the path says {name!r}.", hint="Make them match or drop `name` from the body.")
    policy = policy_spec.from_payload({"name": name, **{k: v for k, v in body.items() if k != "name"}})
    data, state = service.put_policy(session, caller, caller.project_id, policy)
    session.commit()
    forget_policies(request, caller.project_id)
    return JSONBody({**data, "state": state}, status_code=201 if state == "created" else 200)


@router.get("/policies", summary="The project's policies, by name")
def list_policies(caller: ReadCaller, session: SessionDep) -> JSONBody:
    from stackwright.guardrails import service

    return JSONBody({"data": service.list_policies(session, caller.project_id)})


@router.get("/policies/{name}", summary="One policy")
def get_policy(caller: ReadCaller, session: SessionDep, name: Name) -> JSONBody:
    from stackwright.guardrails import service

    return JSONBody(service.payload(service.get_row(session, caller.project_id, name)))


@router.delete("/policies/{name}", summary="Delete a policy", status_code=204)
def delete_policy(request: Request, caller: WriteCaller, session: SessionDep, name: Name) -> Response:
    from stackwright.guardrails import service

    service.delete_policy(session, caller, caller.project_id, name)
    session.commit()
    forget_policies(request, caller.project_id)
    return Response(status_code=204)


@router.post("/check", summary="Run checks (or a policy's checks) on a text: decisions, final text, blocked")
async def check(request: Request, caller: ReadCaller, body: CheckIn) -> JSONBody:
    from starlette.concurrency import run_in_threadpool

    from stackwright.core.errors import InvalidInput
    from stackwright.guardrails import acheck_text
    from stackwright.guardrails.policy import checks_from_list

    if (body.checks is None) == (body.policy is None):
        raise InvalidInput("Give either `checks` (a list) or `policy` (a policy name), not both and not neither.")
    if body.policy is not None:
        from stackwright.guardrails import service

        policy_name = body.policy

        def load() -> Any:
            with request.app.state.db.read() as session:
                return service.get_policy(session, caller.project_id, policy_name)

        policy = await run_in_threadpool(load)
        specs = policy.input if body.direction == "input" else policy.output
    else:
        specs = checks_from_list(body.checks, body.direction)
    llm = await judge_llm(request, caller.project_id)
    result = await acheck_text(specs, body.text, body.direction, body.context, llm, body.canary)
    return JSONBody({"direction": body.direction, **result})


async def judge_llm(request: Request, project_id: str) -> Any:
    """The judge model checks such as prompt injection call: the project's gateway, as the API uses it."""
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is None:
        return None
    project = await gateway.catalog.get(project_id)

    async def llm(model: str, messages: list[dict[str, Any]]) -> str:
        from stackwright.guardrails.hook import _answer

        project.model(model)
        result, _, _ = await gateway.router.call(project, model, "chat", {"model": model, "messages": messages, "temperature": 0}, [])
        return _answer(result) or ""

    return llm
