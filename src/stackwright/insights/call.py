"""Answers 1 to 3 for one request: which prompt version it used (and which is live now), which model
handled it (provider, deployment, parameters as the gateway merged them), and what context the model
received (rendered messages, retrieved chunks, tool results)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackwright.core.errors import InvalidInput, NotFound
from stackwright.insights.spans import clip, decode_json
from stackwright.prompts.service import find_version
from stackwright.releases.history import change_at_revision
from stackwright.releases.models import Release


def config_prompt(config: dict[str, Any] | None) -> str | None:
    """The prompt version (``name@version``) a release config names."""
    return (config or {}).get("prompt")


# -- 1. prompt version -----------------------------------------------------------------------------------


def prompt_version(llm: dict[str, Any] | None, release: Release | None) -> dict[str, Any]:
    used = None
    if llm is not None and llm["prompt_name"]:
        used = f"{llm['prompt_name']}@{llm['prompt_version']}"
    out: dict[str, Any] = {
        "prompt": used,
        "name": llm["prompt_name"] if llm else None,
        "version": llm["prompt_version"] if llm else None,
        "span_id": llm["span_id"] if llm else None,
        "route": llm["route"] if llm else None,
        "environment": llm["environment"] if llm else None,
        "arm": llm["release_arm"] if llm else None,
        "release_revision": (llm["attributes"].get("stackwright.release.revision") if llm else None),
    }
    if release is not None:
        out["live"] = {
            "route": release.route,
            "environment": release.environment,
            "revision": release.revision,
            "stable": config_prompt(release.stable),
            "candidate": config_prompt(release.candidate),
            "candidate_mode": release.candidate_mode,
            "candidate_share": release.candidate_share,
        }
    if used is None:
        out["explanation"] = "no model call of this trace recorded a stored prompt (stackwright.prompt.name/version)"
    return out


# -- 2. model --------------------------------------------------------------------------------------------


def _config_at(session: Session, release: Release | None, revision: Any, arm: str | None) -> dict[str, Any] | None:
    """The config an arm had at a release revision, from the release history."""
    if release is None or revision is None:
        return None
    try:
        revision = int(revision)
    except (TypeError, ValueError):
        return None
    change = change_at_revision(session, release, revision)
    if change is None:
        return None
    after = change.after or {}
    if arm in ("candidate", "shadow"):
        return (after.get("candidate") or {}).get("config")
    return after.get("stable")


def _prompt_params(session: Session, project_id: str, llm: dict[str, Any]) -> dict[str, Any] | None:
    """The model parameters the prompt version itself stores (the registry's copy), if the call used one."""
    if not llm["prompt_name"] or not str(llm["prompt_version"] or "").isdigit():
        return None
    try:
        return dict(find_version(session, project_id, f"{llm['prompt_name']}@{llm['prompt_version']}").params or {})
    except (NotFound, InvalidInput):  # the prompt was deleted since, or its stored name is no longer valid
        return None


def _parameters(attrs: dict[str, Any], config: dict[str, Any] | None, prompt_params: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """The call's parameters as the gateway merges them: the prompt version's, then the release config's,
    then what the span itself recorded."""
    params: dict[str, Any] = {}
    sources = []
    if prompt_params:
        params.update(prompt_params)
        sources.append("the prompt version")
    if config and config.get("params"):
        params.update(config["params"])
        sources.append("the release config at the span's revision")
    invocation = decode_json(attrs.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        params.update(invocation)
        sources.append("span attribute llm.invocation_parameters")
    for key, value in attrs.items():
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model":
            params[key[len("gen_ai.request."):]] = value
            sources.append(f"span attribute {key}")
    return params, ", ".join(dict.fromkeys(sources)) or None


def model(session: Session, project_id: str, llm: dict[str, Any] | None, spans: list[dict[str, Any]], release: Release | None) -> dict[str, Any]:
    if llm is None:
        return {"asked": None, "served": None, "explanation": "this trace has no model call (no LLM span)"}
    attrs = llm["attributes"]
    attempts = [s for s in spans if s["parent_span_id"] == llm["span_id"] and "stackwright.gateway.attempt" in s["attributes"]]
    winner = next((a for a in reversed(attempts) if a["status"] != "error"), None)
    config = _config_at(session, release, attrs.get("stackwright.release.revision"), llm["release_arm"])
    params, source = _parameters(attrs, config, _prompt_params(session, project_id, llm))
    asked = attrs.get("gen_ai.request.model") or attrs.get("llm.request.model") or llm["model"]
    return {
        "asked": asked,
        "served": attrs.get("stackwright.gateway.served_model") or llm["model"],
        "upstream_model": attrs.get("gen_ai.response.model") or llm["model"],
        "provider": llm["provider"],
        "deployment": attrs.get("stackwright.gateway.deployment") or (winner or {}).get("attributes", {}).get("stackwright.gateway.deployment"),
        "parameters": params,
        "parameters_source": source,
        "release_config_model": (config or {}).get("model"),
        "attempts": attrs.get("stackwright.gateway.attempts", len(attempts) or None),
        "cache": attrs.get("stackwright.gateway.cache"),
        "span_id": llm["span_id"],
        "input_tokens": llm["input_tokens"],
        "output_tokens": llm["output_tokens"],
    }


# -- 3. context ------------------------------------------------------------------------------------------


def _messages(llm: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if llm is None or llm["input"] is None:
        return None
    value = decode_json(llm["input"])
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list):
        return [{"role": m.get("role"), "content": clip(m.get("content"))} if isinstance(m, dict) else {"content": clip(m)} for m in value]
    return [{"role": "user", "content": clip(value)}]


def _chunks(span: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for doc in span["documents"] or []:
        meta = decode_json(doc.get("metadata")) or {}
        meta = meta if isinstance(meta, dict) else {"metadata": meta}
        out.append(
            {
                "chunk_id": doc.get("id"), "score": doc.get("score"), "source": meta.get("source"), "title": meta.get("title"),
                "document_id": meta.get("document_id"), "text": clip(doc.get("content")), "span_id": span["span_id"],
            }
        )  # fmt: skip
    return out


def _merge_chunks(chunks: list[dict[str, Any]], messages: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One entry per chunk id (a chunk found by several searches, or recorded by a step and by its search,
    is one chunk): missing source and title filled from the other records, the longest text kept, every
    retrieval span that found it listed; ``in_prompt`` says whether its text reached the rendered messages."""
    merged: dict[Any, dict[str, Any]] = {}
    for i, chunk in enumerate(chunks):
        key = chunk["chunk_id"] or ("unnamed", i)
        seen = merged.get(key)
        if seen is None:
            merged[key] = {**chunk, "found_by": [chunk["span_id"]]}
            continue
        for field in ("source", "title", "document_id", "score"):
            if seen[field] is None:
                seen[field] = chunk[field]
        if len(chunk["text"] or "") > len(seen["text"] or ""):
            seen["text"] = chunk["text"]
        if chunk["span_id"] not in seen["found_by"]:
            seen["found_by"].append(chunk["span_id"])
    prompt = " ".join(" ".join(str(m.get("content") or "").split()) for m in messages or [])
    out = []
    for chunk in merged.values():
        chunk.pop("span_id", None)
        probe = " ".join(str(chunk["text"] or "").split())[:80]
        chunk["in_prompt"] = bool(probe) and probe in prompt if messages else None
        out.append(chunk)
    return out


def context(llm: dict[str, Any] | None, spans: list[dict[str, Any]]) -> dict[str, Any]:
    retrieval = [s for s in spans if s["kind"] == "retrieval" or s["documents"]]
    tools = [s for s in spans if s["kind"] == "tool"]
    messages = _messages(llm)
    chunks = _merge_chunks([c for s in retrieval for c in _chunks(s)], messages)
    out: dict[str, Any] = {
        "rendered_messages": messages,
        "retrieved_chunks": chunks,
        "retrieval_queries": [{"span_id": s["span_id"], "name": s["name"], "query": clip(s["input"]),
                               "collection": s["attributes"].get("stackwright.retrieval.collection")} for s in retrieval],  # fmt: skip
        "tool_results": [
            {"span_id": s["span_id"], "name": s["name"], "status": s["status"], "input": clip(decode_json(s["input"])),
             "output": clip(decode_json(s["output"])), "error": s["status_message"]}  # fmt: skip
            for s in tools
        ],
    }
    if llm is None and not chunks and not tools:
        out["explanation"] = "no model call, retrieval or tool span in this trace"
    return out
