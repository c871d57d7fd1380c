"""`"model": "route:support.answer@production"`: the gateway resolves the release (sticky per subject:
the request's `user`, or the `X-Stackwright-Subject` header), renders the config's prompt with the
request's `variables` and calls the config's model with its parameters. In shadow mode the candidate
config also runs, in the background, on the same input: its answer is traced (arm `shadow`) and never
returned."""

from __future__ import annotations

from typing import Any

from stackwright.core.errors import InvalidInput
from stackwright.gateway.hooks import gateway_hooks

PREFIX = "route:"


def is_route_ref(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(PREFIX)


def parse(model: str) -> tuple[str, str]:
    route, _, env = model[len(PREFIX):].partition("@")
    if not route or not env:
        raise InvalidInput(
            f"{model!r} names no route and environment.", hint="Use route:ROUTE@ENV, e.g. route:support.answer@production."
        )
    return route, env


async def resolve(db: Any, project_id: str, body: dict[str, Any], headers: Any) -> dict[str, Any]:
    """The arm that answers, from the releases layer's resolver (a gateway hook)."""
    route, env = parse(body["model"])
    subject = headers.get("x-stackwright-subject") or (body.get("user") if isinstance(body.get("user"), str) else None)
    return await gateway_hooks().resolver()(db, project_id, route, env, subject)


def request_for(config: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The chat request one arm's config makes of the client's request."""
    request = {**(config.get("params") or {}), **{k: v for k, v in body.items() if k != "model"}}
    if config.get("prompt"):
        request["model"] = "prompt:" + config["prompt"]
        if config.get("model"):
            request["_route_model"] = config["model"]
    else:
        if not config.get("model"):
            raise InvalidInput("The release's config names neither a prompt nor a model.")
        request["model"] = config["model"]
    return request
