"""What the trace page's span panel shows of one span: chat messages as messages (role, content, tool
calls), retrieved documents with their scores, and everything else as indented JSON.

Long values are cut (``MAX_BODY_CHARS`` for a body, ``MAX_ITEM_CHARS`` for one message or document) and
say how much is left; the panel's ``full`` form (``&full=1`` on the span's URL) cuts nothing. The
template escapes every value.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

MAX_BODY_CHARS = 20_000
MAX_ITEM_CHARS = 4_000


def _cut(text: str, limit: int | None) -> dict[str, Any]:
    """``text`` (its first ``limit`` characters) and how many characters were left out."""
    if limit is None or len(text) <= limit:
        return {"text": text, "more": 0}
    return {"text": text[:limit], "more": len(text) - limit}


def decoded(value: Any) -> Any:
    """A JSON string's value (attributes store structures as JSON text); anything else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def body(value: Any, full: bool) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    return _cut(_json(decoded(value)), None if full else MAX_BODY_CHARS)


def _content(content: Any) -> str:
    """A message's content: text, or the text parts of a multi-part content, or its JSON."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text") or "") for p in content)
    return _json(content)


def _tool_call(call: Any) -> dict[str, str]:
    function = call.get("function") if isinstance(call, dict) else None
    if isinstance(function, dict):
        return {"name": str(function.get("name") or "?"), "arguments": _json(decoded(function.get("arguments") or ""))}
    return {"name": "?", "arguments": _json(call)}


def messages(value: Any, full: bool) -> list[dict[str, Any]] | None:
    """The chat messages in an input or output (a list of ``{role, content}``, or one such message), or None."""
    found = decoded(value)
    if isinstance(found, dict):
        found = [found]
    if not (isinstance(found, list) and found and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in found)):
        return None
    limit = None if full else MAX_ITEM_CHARS
    return [
        {"role": m["role"], "name": m.get("name") or m.get("tool_call_id"), **_cut(_content(m.get("content")), limit),
         "tool_calls": [_tool_call(c) for c in m.get("tool_calls") or [] if c]}
        for m in found
    ]  # fmt: skip


def documents(value: Any, full: bool) -> list[dict[str, Any]]:
    """The retrieved documents a retrieval span carries (``retrieval.documents.N.document.*``), best first as stored."""
    if not isinstance(value, list):
        return []
    limit = None if full else MAX_ITEM_CHARS
    out = []
    for doc in value:
        if not isinstance(doc, dict):
            continue
        meta = decoded(doc.get("metadata"))
        meta = meta if isinstance(meta, dict) else {}
        score = doc.get("score")
        out.append({"id": doc.get("id"), "score": f"{score:.4f}" if isinstance(score, (int, float)) else "-",
                    "source": meta.get("source") or meta.get("title") or "", **_cut(str(doc.get("content") or ""), limit)})  # fmt: skip
    return out


def panel(span: dict[str, Any], full: bool) -> dict[str, Any]:
    """The span panel's parts; a part that was cut has ``more`` > 0 (then the page links to ``full``)."""
    parts: dict[str, Any] = {"span": span, "full": full}
    for name in ("input", "output"):
        parts[f"{name}_messages"] = messages(span.get(name), full)
        parts[name] = None if parts[f"{name}_messages"] is not None else body(span.get(name), full)
    parts["documents"] = documents(span.get("documents"), full)
    parts["attributes"] = body(span.get("attributes") or {}, full)
    parts["events"] = body(span.get("events") or None, full)
    cut = [parts[k] for k in ("input", "output", "attributes", "events") if parts[k]]
    cut += [*(parts["input_messages"] or []), *(parts["output_messages"] or []), *parts["documents"]]
    parts["cut"] = any(p["more"] for p in cut)
    parts["replay"] = replay_link(span, parts["input_messages"] is not None)
    return parts


def replay_link(span: dict[str, Any], has_messages: bool) -> str | None:
    """The playground prefilled with an LLM span's call (one with chat messages, or a model and an input)."""
    if not span.get("input") or not (has_messages or (span.get("kind") == "llm" and span.get("model"))):
        return None
    return f"/ui/playground?{urlencode({'trace': span['trace_id'], 'span': span['span_id']})}"
