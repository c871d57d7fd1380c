"""Prompt files used across the prompt tests, and small helpers to push them over the API."""

from __future__ import annotations

import copy
from typing import Any

import httpx

SUPPORT = {
    "name": "support-answer",
    "type": "chat",
    "messages": [
        {"role": "system", "content": "You are the support assistant for {{ product }}. Answer only from the context."},
        {"role": "user", "content": "Context:\n{{ context }}\n\nQuestion: {{ question }}"},
    ],
    "model": {"name": "gpt-4o-mini", "temperature": 0.2},
    "labels": ["staging"],
}
VARIABLES = {"product": "Acme", "context": "Refunds take 5 days.", "question": "How long do refunds take?"}
TONE = {"name": "tone", "type": "text", "template": "Be {{ mood | default('kind') }} and brief."}


def support(**changes: Any) -> dict[str, Any]:
    """A copy of SUPPORT with top-level fields replaced (``system=`` replaces the system message's text)."""
    data = copy.deepcopy(SUPPORT)
    system = changes.pop("system", None)
    if system is not None:
        data["messages"][0]["content"] = system
    data.update(changes)
    return data


def push(client: httpx.Client, body: dict[str, Any], status: int | None = None) -> dict[str, Any]:
    response = client.post("/api/v1/prompts", json=body)
    if status is not None:
        assert response.status_code == status, response.text
    else:
        assert response.status_code in (200, 201), response.text
    return response.json()
