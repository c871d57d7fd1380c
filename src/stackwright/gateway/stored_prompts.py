"""`"model": "prompt:support-answer@production"`: the gateway renders a stored prompt with the
request's `variables` and calls the model the prompt names. The client's own fields (temperature,
max_tokens, ...) win over the prompt's parameters; messages the client sends are appended after the
rendered ones."""

from __future__ import annotations

import asyncio
from typing import Any

from stackwright.core.db import Database
from stackwright.core.errors import InvalidInput
from stackwright.gateway.hooks import gateway_hooks

PREFIX = "prompt:"


def is_prompt_ref(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(PREFIX)


async def expand(db: Database, project_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request to route (a plain chat request) and the prompt's span attributes."""
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidInput("`variables` must be an object of template variables.", details={"param": "variables"})
    rendered = await asyncio.to_thread(_render, db, project_id, body["model"], variables)
    if not rendered.get("model") and not body.get("_route_model"):
        raise InvalidInput(
            f"The prompt {body['model'][len(PREFIX):]} names no model.",
            hint="Add `model: {name: ...}` to the prompt file and push it again.",
        )
    messages = rendered.get("messages")
    if messages is None:
        messages = [{"role": "user", "content": rendered.get("text") or ""}]
    request = {**(rendered.get("params") or {}), **{k: v for k, v in body.items() if k not in ("variables", "messages", "_route_model")}}
    request["model"] = body.get("_route_model") or rendered["model"]  # a release's model wins over the prompt's
    request["messages"] = [*messages, *(body.get("messages") or [])]
    for field in ("tools", "response_format"):
        if rendered.get(field) and field not in body:
            request[field] = rendered[field]
    attributes = {"stackwright.prompt.name": rendered["prompt_name"], "stackwright.prompt.version": str(rendered["prompt_version"])}
    return request, attributes


def _render(db: Database, project_id: str, model: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The prompts layer renders (a gateway hook)."""
    return gateway_hooks().renderer()(db, project_id, model[len(PREFIX):], variables)
