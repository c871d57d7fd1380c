"""The in-process gateway client: a model call without the HTTP app is answered and traced as through the server."""

from __future__ import annotations

import asyncio

import orjson
from sqlalchemy import select

from stackwright.auth.actors import Actor, cli_actor
from stackwright.auth.service import create_project
from stackwright.gateway.client import GatewayClient
from stackwright.tracing.models import Trace


def test_call_is_answered_and_traced_once_closed(settings, prepared):
    with prepared.write() as session:
        project_id = create_project(session, cli_actor(), "client-test").id
    actor = Actor(label="test:client", project_id=project_id, scopes=("write",))
    body = {"model": "local/extractive", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Context: Refunds take 5 days.\n\nQuestion: How long do refunds take?"}]}  # fmt: skip

    async def call() -> tuple[dict, str]:
        async with GatewayClient(settings, prepared) as client:
            response = await client.gateway.chat(actor, body, {})
            return orjson.loads(response.body), response.headers["x-stackwright-trace-id"]

    answer, trace_id = asyncio.run(call())
    assert "5 days" in answer["choices"][0]["message"]["content"]
    with prepared.read() as session:
        trace = session.scalars(select(Trace).where(Trace.project_id == project_id, Trace.trace_id == trace_id)).one()
    assert trace.name == "gateway chat local/extractive"
    assert trace.input_tokens > 0
