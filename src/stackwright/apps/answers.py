"""The eight questions (ARCHITECTURE.md), answered for one request from stored data only.

``explain(session, project_id, trace_id)`` reads the trace's spans (tree with self time, bodies and
attributes), its scores, the release of the route the request went through (stable and candidate
configs, history, last rollback and how fast it took effect) and the eval runs of those configs, and
returns one dict with the keys of ``KEYS``. Nothing is hard-coded: where the store holds no answer, the
value says so (``"explanation"``) instead of inventing one.

The CLI (``stackwright demo ask|explain``) and the API (``GET /api/v1/traces/{trace_id}/explain``) both
call this function, so they answer the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.apps.answers_release import config_prompt, eval_delta, rollback
from stackwright.core.errors import NotFound

KEYS = ("answer", "trace_id", "prompt_version", "model", "context", "failure", "eval_delta", "cost_usd", "slowest_step", "rollback")
MAX_SPANS = 5_000
MAX_TEXT = 4_000  # characters of a message, chunk or tool payload shown
_SPAN_COLUMNS = (
    "span_id", "parent_span_id", "name", "kind", "status", "status_message", "start_ns", "end_ns", "duration_ms",
    "model", "provider", "prompt_name", "prompt_version", "route", "environment", "release_arm", "cost",
    "input_tokens", "output_tokens", "input", "output", "documents", "attributes", "events",
)  # fmt: skip


# -- reading the trace ---------------------------------------------------------------------------------


def _spans(session: Session, project_id: str, trace_id: str) -> list[dict[str, Any]]:
    from stackwright.tracing.models import Span

    columns = [getattr(Span, name) for name in _SPAN_COLUMNS]
    query = (
        select(*columns)
        .where(Span.project_id == project_id, Span.trace_id == trace_id)
        .order_by(Span.start_ns + 0, Span.span_id)
        .limit(MAX_SPANS)
    )
    out = []
    for row in session.execute(query):
        span = dict(row._mapping)
        span["attributes"] = span["attributes"] or {}
        out.append(span)
    return out


def _json(value: Any) -> Any:
    """A JSON string attribute decoded (messages, findings, reasons); anything else as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + f"…[{len(value) - MAX_TEXT} more chars]"
    return value


def _is_call(span: dict[str, Any]) -> bool:
    """A model call (the gateway's call span, or an instrumented LLM span), not one of its attempts."""
    attrs = span["attributes"]
    return span["kind"] == "llm" and "stackwright.gateway.attempt" not in attrs


def _answer_span(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model call that produced the answer: the last call served through a release route, else the last
    that used a stored prompt, else the last call (classifier or judge calls before it do not count)."""
    calls = [s for s in spans if _is_call(s) and s["release_arm"] != "shadow"]
    for chosen in ([s for s in calls if s["route"]], [s for s in calls if s["prompt_name"]], calls):
        if chosen:
            return max(chosen, key=lambda s: (s["end_ns"], s["start_ns"]))
    return None


def _root(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    ids = {s["span_id"] for s in spans}
    roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in ids]
    return min(roots, key=lambda s: s["start_ns"]) if roots else None


def _route_span(spans: list[dict[str, Any]], llm: dict[str, Any] | None) -> dict[str, Any] | None:
    if llm is not None and llm["route"]:
        return llm
    served = [s for s in spans if s["route"] and s["release_arm"] != "shadow"]
    return served[-1] if served else None


# -- 1. prompt version -----------------------------------------------------------------------------------


def prompt_version(llm: dict[str, Any] | None, release: Any) -> dict[str, Any]:
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


def _config_at(session: Session, release: Any, revision: Any, arm: str | None) -> dict[str, Any] | None:
    """The config an arm had at a release revision, from the release history."""
    from stackwright.releases.models import ReleaseChange

    if release is None or revision is None:
        return None
    try:
        revision = int(revision)
    except (TypeError, ValueError):
        return None
    change = session.scalar(
        select(ReleaseChange).where(ReleaseChange.release_id == release.id, ReleaseChange.revision == revision).limit(1)
    )
    if change is None:
        return None
    after = change.after or {}
    if arm in ("candidate", "shadow"):
        return (after.get("candidate") or {}).get("config")
    return after.get("stable")


def _prompt_params(session: Session, project_id: str, llm: dict[str, Any]) -> dict[str, Any] | None:
    """The model parameters the prompt version itself stores (the registry's copy), if the call used one."""
    from stackwright.prompts.service import find_version

    if not llm["prompt_name"] or not str(llm["prompt_version"] or "").isdigit():
        return None
    try:
        return dict(find_version(session, project_id, f"{llm['prompt_name']}@{llm['prompt_version']}").params or {})
    except Exception:  # the prompt was deleted since: its parameters are no longer stored
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
    invocation = _json(attrs.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        params.update(invocation)
        sources.append("span attribute llm.invocation_parameters")
    for key, value in attrs.items():
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model":
            params[key[len("gen_ai.request."):]] = value
            sources.append(f"span attribute {key}")
    return params, ", ".join(dict.fromkeys(sources)) or None


def model(session: Session, project_id: str, llm: dict[str, Any] | None, spans: list[dict[str, Any]], release: Any) -> dict[str, Any]:
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
    value = _json(llm["input"])
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list):
        return [{"role": m.get("role"), "content": _clip(m.get("content"))} if isinstance(m, dict) else {"content": _clip(m)} for m in value]
    return [{"role": "user", "content": _clip(value)}]


def _chunks(span: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for doc in span["documents"] or []:
        meta = _json(doc.get("metadata")) or {}
        meta = meta if isinstance(meta, dict) else {"metadata": meta}
        out.append(
            {
                "chunk_id": doc.get("id"), "score": doc.get("score"), "source": meta.get("source"), "title": meta.get("title"),
                "document_id": meta.get("document_id"), "text": _clip(doc.get("content")), "span_id": span["span_id"],
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
    out = {
        "rendered_messages": messages,
        "retrieved_chunks": chunks,
        "retrieval_queries": [{"span_id": s["span_id"], "name": s["name"], "query": _clip(s["input"]),
                               "collection": s["attributes"].get("stackwright.retrieval.collection")} for s in retrieval],  # fmt: skip
        "tool_results": [
            {"span_id": s["span_id"], "name": s["name"], "status": s["status"], "input": _clip(_json(s["input"])),
             "output": _clip(_json(s["output"])), "error": s["status_message"]}  # fmt: skip
            for s in tools
        ],
    }
    if llm is None and not chunks and not tools:
        out["explanation"] = "no model call, retrieval or tool span in this trace"
    return out


# -- 4. failure --------------------------------------------------------------------------------------------


def _decision(span: dict[str, Any]) -> dict[str, Any]:
    attrs = span["attributes"]
    return {
        "check": attrs.get("guardrail.check"), "action": attrs.get("guardrail.action"),
        "direction": attrs.get("guardrail.direction"), "triggered": attrs.get("guardrail.triggered"),
        "score": attrs.get("guardrail.score"), "reasons": _json(attrs.get("guardrail.reasons")),
        "findings": _json(attrs.get("guardrail.findings")), "reasks": attrs.get("guardrail.reasks"),
        "span_id": span["span_id"],
    }  # fmt: skip


def _guard_steps(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Workflow steps that ran a guardrail policy themselves and recorded its outcome on their span."""
    out = []
    for s in spans:
        attrs = s["attributes"]
        if "guardrail.policy" in attrs and "guardrail.check" not in attrs:
            triggered = attrs.get("guardrail.triggered")
            triggered = [t for t in triggered.split(",") if t] if isinstance(triggered, str) else triggered
            out.append({"span_id": s["span_id"], "name": s["name"], "policy": attrs.get("guardrail.policy"),
                        "blocked": bool(attrs.get("guardrail.blocked")), "triggered": triggered or []})  # fmt: skip
    return out


def failure(trace: dict[str, Any], spans: list[dict[str, Any]], scores: list[dict[str, Any]], root: dict[str, Any] | None,
            llm: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """Why the output failed or was changed: guardrail decisions (the gateway's decision spans and guard
    steps' records), errors (recovered or not), retries, fallbacks, and the scores stored on the trace."""
    decisions = [_decision(s) for s in spans if s["kind"] == "guardrail" or "guardrail.check" in s["attributes"]]
    guard_steps = _guard_steps(spans)
    triggered = [d for d in decisions if d["triggered"]]
    root_failed = root is not None and root["status"] == "error"
    call_failed = llm is not None and llm["status"] == "error"
    errors = [{"span_id": s["span_id"], "name": s["name"], "message": s["status_message"], "recovered": not (root_failed or s is llm)}
              for s in spans if s["status"] == "error"]  # fmt: skip
    retries, fallbacks = [], []
    for s in spans:
        attrs = s["attributes"]
        attempts = attrs.get("stackwright.gateway.attempts") or attrs.get("stackwright.step.attempts")
        if isinstance(attempts, int) and attempts > 1:
            retries.append({"span_id": s["span_id"], "name": s["name"], "attempts": attempts,
                            "last_error": attrs.get("stackwright.step.last_error")})  # fmt: skip
        gateway_fallbacks = _json(attrs.get("stackwright.gateway.fallbacks"))
        if gateway_fallbacks:
            fallbacks.append({"span_id": s["span_id"], "name": s["name"], "to": gateway_fallbacks})
        if attrs.get("stackwright.step.fallback"):
            fallbacks.append({"span_id": s["span_id"], "name": s["name"], "to": "the step's fallback",
                              "reason": attrs.get("stackwright.step.last_error")})  # fmt: skip
    blocked = any(d["action"] == "block" for d in triggered) or any(g["blocked"] for g in guard_steps)
    changed = [d for d in triggered if d["action"] in ("block", "redact", "reask", "fallback")]
    reasons = []
    for d in triggered:
        why = d["reasons"] if isinstance(d["reasons"], str) else "; ".join(map(str, d["reasons"] or []))
        reasons.append(f"guardrail {d['direction']} {d['check']} -> {d['action']}" + (f" ({why})" if why else ""))
    for g in guard_steps:
        if g["triggered"] or g["blocked"]:
            reasons.append(f"{g['name']} (policy {g['policy']}): {'blocked' if g['blocked'] else 'triggered'} {', '.join(g['triggered'])}".rstrip())
    reasons += [f"error in {e['name']}{' (recovered)' if e['recovered'] else ''}: {e['message']}" for e in errors if e["message"]]
    reasons += [f"{r['name']} took {r['attempts']} attempts" for r in retries]
    reasons += [f"{f['name']} fell back to {f['to']}" for f in fallbacks]
    failed = root_failed or call_failed or blocked
    if failed or reasons:
        summary = ("failed: " if failed else "changed: ") + "; ".join(reasons or [f"{trace['error_count']} span(s) failed"])
    else:
        summary = (f"nothing failed: {len(spans)} spans ok, {len(decisions) + len(guard_steps)} guardrail check(s) passed, "
                   "no error, retry or fallback")  # fmt: skip
    return {
        "failed": failed,
        "blocked": blocked,
        "changed_by_guardrails": bool(changed) or any(g["triggered"] for g in guard_steps),
        "summary": summary,
        "status": trace["status"],
        "guardrail_decisions": decisions,
        "guardrail_steps": guard_steps,
        "errors": errors,
        "retries": retries,
        "fallbacks": fallbacks,
        "scores": [{"name": s["name"], "value": s["value"], "string_value": s["string_value"], "source": s["source"],
                    "comment": s["comment"], "span_id": s["span_id"]} for s in scores],  # fmt: skip
    }


# -- 6. cost -------------------------------------------------------------------------------------------------


def _steps(tree: list[dict[str, Any]], step_ids: set[str]) -> list[dict[str, Any]]:
    """The workflow's top-level steps (flow step spans with no step above them), else the root's children."""
    by_id = {s["span_id"]: s for s in tree}
    top = []
    for s in tree:
        if s["span_id"] not in step_ids:
            continue
        parent, hops = by_id.get(s["parent_span_id"]), 0
        while parent is not None and parent["span_id"] not in step_ids and hops < len(tree):
            parent, hops = by_id.get(parent["parent_span_id"]), hops + 1
        if parent is None:
            top.append(s)
    return top or [s for s in tree if s["depth"] == 1] or tree[:1]


def _echoed(tree: list[dict[str, Any]], call_ids: set[str], field: str) -> dict[str, float]:
    """Spans whose own ``field`` (cost or total_tokens) repeats that of the traced gateway calls under them (a
    step that added a call's ``x-stackwright-cost-usd`` and usage to itself while the call's own span is in
    the same trace): counted once."""
    by_id = {s["span_id"]: s for s in tree}
    below: dict[str, float] = defaultdict(float)  # the field summed over the model-call spans strictly below each span
    for s in reversed(tree):
        parent = s["parent_span_id"]
        if parent in by_id and not s["orphan"]:
            below[parent] += below[s["span_id"]] + ((s[field] or 0) if s["span_id"] in call_ids else 0)
    echoed = {}
    for s in tree:
        own, calls = s[field] or 0, below[s["span_id"]]
        if own > 0 and s["span_id"] not in call_ids and calls > 0 and abs(own - calls) <= 1e-9 + 1e-6 * calls:
            echoed[s["span_id"]] = own
    return echoed


def cost(trace: dict[str, Any], tree: list[dict[str, Any]], step_ids: set[str], call_ids: set[str]) -> dict[str, Any]:
    """The trace's total, per model, and per step (a step's cost includes its sub-spans'); a gateway call's
    cost and tokens also recorded by the step that made it count once."""
    echoed = _echoed(tree, call_ids, "cost")
    echoed_tokens = _echoed(tree, call_ids, "total_tokens")
    repeats = set(echoed) | set(echoed_tokens)
    by_id = {s["span_id"]: s for s in tree}
    subtree: dict[str, float] = defaultdict(float)
    for s in reversed(tree):  # pre-order reversed: children before parents
        subtree[s["span_id"]] += 0.0 if s["span_id"] in repeats else (s["cost"] or 0.0)
        parent = s["parent_span_id"]
        if parent in by_id and not s["orphan"]:
            subtree[parent] += subtree[s["span_id"]]
    per_model: dict[str, float] = defaultdict(float)
    for s in tree:
        if s["cost"] is not None and s["model"] and s["span_id"] not in repeats:
            per_model[s["model"]] += s["cost"]
    steps = _steps(tree, step_ids)
    total = trace["cost"] - sum((s["cost"] or 0.0) for s in tree if s["span_id"] in repeats)
    tokens = trace["total_tokens"] - sum((s["total_tokens"] or 0) for s in tree if s["span_id"] in repeats)
    out = {
        "total": round(total, 10),
        "per_step": [{"name": s["name"], "span_id": s["span_id"], "cost_usd": round(subtree[s["span_id"]], 10)} for s in steps],
        "per_model": {m: round(v, 10) for m, v in sorted(per_model.items())},
        "per_span": [{"name": s["name"], "span_id": s["span_id"], "cost_usd": s["cost"], "model": s["model"],
                      "counted": s["span_id"] not in repeats} for s in tree if s["cost"]],  # fmt: skip
        "tokens": {"total": tokens, "stored_trace_total": trace["total_tokens"]},
        "stored_trace_cost": trace["cost"],
    }
    if repeats:
        names = ", ".join(sorted({by_id[i]["name"] for i in repeats}))
        out["note"] = (f"{names} also recorded the cost and tokens of the gateway calls under it; the stored trace totals "
                       f"(${trace['cost']:.8f}, {trace['total_tokens']} tokens) count them twice, these totals once")  # fmt: skip
    return out


# -- 7. slowest step ---------------------------------------------------------------------------------------


def slowest_step(trace: dict[str, Any], tree: list[dict[str, Any]]) -> dict[str, Any]:
    if not tree:
        return {"name": None, "explanation": "the trace has no spans"}
    ranked = sorted(tree, key=lambda s: s["self_time_ms"], reverse=True)
    top = ranked[0]
    total = trace["duration_ms"]

    def view(s: dict[str, Any]) -> dict[str, Any]:
        return {"name": s["name"], "span_id": s["span_id"], "kind": s["kind"], "self_time_ms": round(s["self_time_ms"], 3),
                "duration_ms": round(s["duration_ms"], 3), "share_of_trace": round(s["self_time_ms"] / total, 4) if total else None}  # fmt: skip

    return {**view(top), "trace_duration_ms": total, "top": [view(s) for s in ranked[:3]]}


# -- all eight --------------------------------------------------------------------------------------------


def _release(session: Session, project_id: str, route: str | None, env: str | None) -> Any:
    from stackwright.releases.service import find_release

    if not route or not env:
        return None
    try:
        return find_release(session, project_id, route, env)
    except Exception:  # a stored route name that is not a valid route today: no release
        return None


def explain(session: Session, project_id: str, trace_id: str) -> dict[str, Any]:
    """The eight answers for one trace of this project (NotFound for an unknown or another project's trace)."""
    from stackwright.tracing.queries import get_trace

    view = get_trace(session, project_id, trace_id, max_spans=MAX_SPANS)
    trace, tree = view["trace"], view["spans"]
    spans = _spans(session, project_id, trace["trace_id"])
    if not spans:
        raise NotFound(f"Trace {trace['trace_id']!r} has no stored spans.", hint="Spans may have been purged by retention.")
    llm = _answer_span(spans)
    routed = _route_span(spans, llm)
    route, env = (routed["route"], routed["environment"]) if routed else (None, None)
    release = _release(session, project_id, route, env)
    root = _root(spans)
    text = (root or {}).get("output") or trace["output"] or (llm or {}).get("output")
    return {
        "answer": _answer_text(text),
        "trace_id": trace["trace_id"],
        "prompt_version": prompt_version(llm, release),
        "model": model(session, project_id, llm, spans, release),
        "context": context(llm, spans),
        "failure": failure(trace, spans, view["scores"], root, llm),
        "eval_delta": eval_delta(session, project_id, release),
        "cost_usd": cost(trace, tree, {s["span_id"] for s in spans if "stackwright.step.name" in s["attributes"]},
                         {s["span_id"] for s in spans if _is_call(s)}),
        "slowest_step": slowest_step(trace, tree),
        "rollback": rollback(session, release, route, env),
    }


def _answer_text(text: Any) -> Any:
    """The final output; an app's structured output (``{"answer": ..., ...}``) gives its answer field."""
    value = _json(text)
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"]
    return text


def find_trace_project(session: Session, trace_id: str, project_ref: str | None = None) -> str:
    """The project holding this trace: the named one, else the first project that has it (CLI use)."""
    from stackwright.auth import service
    from stackwright.tracing.queries import find_trace

    if project_ref:
        return service.find_project(session, project_ref).id
    for project in service.list_projects(session):
        try:
            find_trace(session, project.id, trace_id)
        except NotFound:
            continue
        return project.id
    raise NotFound(f"No trace {trace_id.strip()[:80]!r} in any project.", hint="List traces with `stackwright traces list`.")
