"""``client.guardrails``: run checks on a text and manage policies, for ``Client`` and ``AsyncClient``
(await the calls on the latter).

    result = client.guardrails.check("mail me at a@b.io", checks=[{"check": "pii", "action": "redact"}])
    result["text"], result["blocked"], result["decisions"]
    client.guardrails.put_policy("support-guard", route="support.answer",
                                 input=[{"check": "prompt_injection", "action": "block"}])

For checks without a server, ``stackwright.guardrails.check(text, checks=[...])`` runs them in process.
"""

from __future__ import annotations

from typing import Any

from stackwright.sdk.base import Call, compact, parse_data
from stackwright.sdk.resources import Resource, _path


class Guardrails(Resource):
    def check(self, text: str, *, checks: list[Any] | None = None, policy: str | None = None, direction: str = "input",
              context: str | None = None, canary: str | None = None) -> Any:  # fmt: skip
        """Decisions, the final text (redacted or fallback) and whether it is blocked."""
        body = compact({"text": text, "checks": checks, "policy": policy, "direction": direction, "context": context, "canary": canary})
        return self._run(Call("POST", _path("guardrails") + "/check", body=body))

    def put_policy(self, name: str, *, route: str = "*", input: list[Any] | None = None, output: list[Any] | None = None,
                   description: str | None = None) -> Any:  # fmt: skip
        body = compact({"route": route, "input": input, "output": output, "description": description})
        return self._run(Call("PUT", _path("guardrails") + "/policies/" + _segment(name), body=body))

    def list_policies(self) -> Any:
        return self._run(Call("GET", _path("guardrails") + "/policies", parse=parse_data))

    def get_policy(self, name: str) -> Any:
        return self._run(Call("GET", _path("guardrails") + "/policies/" + _segment(name)))

    def delete_policy(self, name: str) -> Any:
        return self._run(Call("DELETE", _path("guardrails") + "/policies/" + _segment(name)))


def _segment(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
