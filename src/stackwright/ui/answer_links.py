"""Links from the eight answers to what they name: the prompt version and the route (the trace list filtered
by them), the slowest spans (``?span=`` on the same trace page) and the eval runs (their ids; they have no
page yet). Each link is ``{"label", "href"}``; ``href`` is None for plain text. The template escapes both."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def _traces(**filters: Any) -> str:
    return "/ui/traces?" + urlencode({k: v for k, v in filters.items() if v})


def _route(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace list of the route (and environment) an answer names, if it names one."""
    route, environment = answer.get("route"), answer.get("environment")
    if not route:
        return []
    return [{"label": f"traces of route {route}@{environment or '-'}", "href": _traces(route=route, environment=environment)}]


def _prompt(p: dict[str, Any]) -> list[dict[str, Any]]:
    links = []
    if p.get("name"):
        href = _traces(prompt_name=p["name"], prompt_version=p.get("version"))
        links.append({"label": f"traces of prompt {p['prompt']}", "href": href})
    return links + _route(p)


def _evals(e: dict[str, Any]) -> list[dict[str, Any]]:
    links = _route(e)
    for arm, run in (e.get("runs") or {}).items():
        links.append({"label": f"eval run {run.get('name')} ({arm}): {run.get('id')}", "href": None})
    return links


def _slowest(s: dict[str, Any]) -> list[dict[str, Any]]:
    top = [t for t in s.get("top") or [] if t.get("span_id")]
    return [{"label": f"span {t['name']}", "href": "?" + urlencode({"span": t["span_id"]})} for t in top]


BUILDERS = {"prompt_version": _prompt, "eval_delta": _evals, "slowest_step": _slowest, "rollback": _route}


def answer_links(key: str, answer: Any) -> list[dict[str, Any]]:
    """The links for one of the eight answers (none for the answers that name nothing with a page)."""
    build = BUILDERS.get(key)
    return build(answer) if build and isinstance(answer, dict) else []
