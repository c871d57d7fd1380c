"""Answers 4, 6 and 7 for one request: why its output failed or was changed (guardrails, errors,
retries, fallbacks, scores), what it cost (total, per step, per model; a gateway call's cost recorded
again by the step that made it counts once), and which step took the most time of its own."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from stackwright.insights.spans import decode_json

# -- 4. failure --------------------------------------------------------------------------------------------


def _decision(span: dict[str, Any]) -> dict[str, Any]:
    attrs = span["attributes"]
    return {
        "check": attrs.get("guardrail.check"), "action": attrs.get("guardrail.action"),
        "direction": attrs.get("guardrail.direction"), "triggered": attrs.get("guardrail.triggered"),
        "score": attrs.get("guardrail.score"), "reasons": decode_json(attrs.get("guardrail.reasons")),
        "findings": decode_json(attrs.get("guardrail.findings")), "reasks": attrs.get("guardrail.reasks"),
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
        gateway_fallbacks = decode_json(attrs.get("stackwright.gateway.fallbacks"))
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
