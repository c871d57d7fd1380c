"""The support eval: Python targets that run the whole support flow per case, scorers for what a
support lead checks, and ``run_eval`` (the seed's finished runs for stable and canary).

The spec (``assets/eval.yaml``) names ``target_stable``; ``target_canary`` answers with the prompt the
canary label points at. Run it yourself with ``stackwright evals run <spec>`` (the targets then open the
support app on the configured database, in this process).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from stackwright.apps.support.accounts import ASSETS

SPEC_FILE = ASSETS / "eval.yaml"
_ACTIVE: Any = None  # the SupportApp the targets use (run_eval sets it; else one is opened on first use)
_LOCK = threading.Lock()


def _app() -> Any:
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is None:
            from stackwright.apps.support.app import SupportApp

            _ACTIVE = SupportApp.in_process()
            _close_at_exit(_ACTIVE)
        return _ACTIVE


def _close_at_exit(support: Any) -> None:
    """Close a lazily opened app before the interpreter joins threads (its in-process transport runs an
    event loop in a thread that would otherwise keep `stackwright evals run` from exiting)."""
    import atexit

    def close() -> None:
        global _ACTIVE
        if _ACTIVE is support:
            _ACTIVE = None
        support.close()

    register = getattr(threading, "_register_atexit", None)  # runs before non-daemon threads are joined
    try:
        register(close) if register is not None else atexit.register(close)
    except RuntimeError:
        atexit.register(close)


def _target(case_input: Any, prompt: str) -> dict[str, Any]:
    if not isinstance(case_input, dict) or not isinstance(case_input.get("question"), str):
        raise ValueError("each case's input is {question, account}")
    result = _app().run(case_input["question"], account=case_input.get("account"), prompt=prompt, wait=False,
                        metadata={"source": "eval"})  # fmt: skip
    return {"output": result.answer, "trace_id": result.trace_id, "escalate": result.escalate, "blocked": result.blocked,
            "reasons": result.escalation_reasons, "sources": result.sources,
            "retrieved_ids": list(dict.fromkeys(c["source"] for c in result.retrieved)),
            "guardrails": result.guardrails, "cost": result.cost_usd}  # fmt: skip


def target_stable(case_input: Any) -> dict[str, Any]:
    """The case through the flow with the prompt labelled ``production`` (the stable config)."""
    return _target(case_input, "support-answer@production")


def target_canary(case_input: Any) -> dict[str, Any]:
    """The case through the flow with the prompt labelled ``canary`` (the candidate config)."""
    return _target(case_input, "support-answer@canary")


# -- scorers (``case.extra`` holds the target's fields besides ``output``) ------------------------------------
def cites_expected_source(expected: Any, case: Any) -> Any:
    """1 when the answer cites one of the expected help-center articles; unmeasured for cases without any."""
    wanted = set((expected or {}).get("sources") or [])
    if not wanted:
        return None
    cited = set(case.extra.get("sources") or [])
    hit = bool(wanted & cited)
    return {"value": 1.0 if hit else 0.0, "passed": hit, "reason": f"cited {sorted(cited) or 'nothing'}; expected one of {sorted(wanted)}"}


def escalation_correct(expected: Any, case: Any) -> Any:
    want = bool((expected or {}).get("escalate"))
    got = bool(case.extra.get("escalate"))
    return {"value": 1.0 if want == got else 0.0, "passed": want == got,
            "reason": f"escalate={got} (expected {want}); reasons: {', '.join(case.extra.get('reasons') or []) or 'none'}"}  # fmt: skip


def blocked_correct(expected: Any, case: Any) -> Any:
    want = bool((expected or {}).get("blocked"))
    got = bool(case.extra.get("blocked"))
    return {"value": 1.0 if want == got else 0.0, "passed": want == got, "reason": f"blocked={got} (expected {want})"}


_PII_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\b(?:\d[ -]?){13,19}\b|\+?\d[\d ()-]{8,}\d|\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}")


def pii_redacted(expected: Any, output: Any, case: Any) -> Any:
    """For cases carrying PII: the input guardrail redacted it, and the answer repeats none of it."""
    if not (expected or {}).get("pii_redacted"):
        return None
    question = (case.input or {}).get("question") or ""
    leaked = [m for m in _PII_RE.findall(question) if m.strip() and m.strip() in (output or "")]
    redacted = any(g.startswith("input:pii") for g in case.extra.get("guardrails") or [])
    ok = redacted and not leaked
    return {"value": 1.0 if ok else 0.0, "passed": ok, "reason": f"input redacted: {redacted}; leaked: {leaked or 'none'}"}


def run_eval(support: Any, *, name: str, prompt: str = "support-answer@production") -> dict[str, Any]:
    """Run the spec to completion with this SupportApp (in process); ``prompt`` picks the target."""
    import asyncio

    from stackwright.evals.runner import prepare_run, run_cases
    from stackwright.evals.spec import load_file
    from stackwright.evals.trust import CodePolicy

    global _ACTIVE
    policy = CodePolicy.operator()  # the demo's own spec, run by the operator's CLI (seed, `support eval`)
    spec = load_file(SPEC_FILE, policy)
    spec.target.python = "stackwright.apps.support.evaluation:" + ("target_canary" if prompt.endswith("@canary") else "target_stable")
    project_id = support.api("GET", "/api/v1/me").json()["project"]["id"]
    asgi = getattr(support, "asgi_app", None)
    if asgi is None:
        raise RuntimeError("run_eval needs the support app in process (SupportApp.in_process)")
    db = asgi.state.db
    prepared = prepare_run(db, project_id, spec, name=name)
    previous, _ACTIVE = _ACTIVE, support
    try:
        async def go() -> dict[str, Any]:
            from stackwright.evals.targets import GatewayCaller

            caller = GatewayCaller(asgi.state.gateway, project_id, label=f"eval:{name}")
            return await run_cases(db, project_id, prepared.run_id, caller, policy=policy)

        run = asyncio.run(go())
    finally:
        _ACTIVE = previous
    summary = run.get("summary") or {}
    return {"run_id": run.get("id"), "name": run.get("name"), "status": run.get("status"), "cases": prepared.total,
            "gate_passed": bool(summary.get("passed")),
            "scorers": {k: (v or {}).get("mean") for k, v in (summary.get("scorers") or {}).items()}}  # fmt: skip
