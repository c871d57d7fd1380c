"""Online evaluation: rules sample production traces (a filter on the trace's model, route, environment,
prompt, release arm, status or name, and a sample rate) and score them with the same scorer plugins as
offline runs. Scores are stored on the traces (source ``eval``, named after the scorer), so they show in
trace stats per group and time bucket and can drive a release's automatic rollback (``--rollback-score``).

Sampling is deterministic: a trace is sampled when the hash of (rule id, trace id) falls under the rate.
Each rule keeps a watermark (the last trace it examined); a pass reads traces after it that ended at
least ``SETTLE_S`` seconds ago (their spans are in), oldest first. Unmeasured scores are counted, not stored.
``OnlineEvaluator`` runs passes in the background of a server; ``run_pass`` runs one now.

Rules run in the server whoever saved them (the API or the CLI), so their python scorers are held to the
operator's allow-list (``CodePolicy.server``) when saved and when run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import new_id, utcnow
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stackwright.core.periodic import PeriodicTask
from stackwright.evals.models import OnlineRule
from stackwright.evals.trust import CodePolicy

log = logging.getLogger("stackwright.evals.online")
FILTER_FIELDS = ("model", "route", "environment", "prompt_name", "prompt_version", "release_arm", "status", "name", "service_name")
SETTLE_S = 2.0
BATCH = 200
MAX_SCORERS = 50  # as in an eval spec: every sampled trace runs each of them


def check_rule(name: str, filter_: dict[str, Any], sample_rate: float, scorers: list[Any], policy: CodePolicy) -> list[dict[str, Any]]:
    """Normalized scorer specs; InvalidInput naming what is wrong, Forbidden for python code ``policy`` does not allow."""
    from pydantic import ValidationError

    from stackwright.evals.scorers import build
    from stackwright.evals.spec import NAME_RE, ScorerSpec

    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(f"Rule name {name!r} is not valid.", hint="Use letters, digits, '.', '_' or '-' (at most 128).")
    unknown = sorted(set(filter_ or {}) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown filter field {', '.join(unknown)}.", hint=f"Filter on: {', '.join(FILTER_FIELDS)}.")
    if any(not isinstance(v, (str, int)) or isinstance(v, bool) for v in (filter_ or {}).values()):
        raise InvalidInput("Filter values must be strings, e.g. route=support.answer.")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 0 < sample_rate <= 1:
        raise InvalidInput(f"sample_rate must be above 0 and at most 1, not {sample_rate!r}.", hint="0.1 scores one trace in ten.")
    if not scorers:
        raise InvalidInput("Give at least one scorer, e.g. contains or {type: llm_judge, rubric: ..., model: ...}.")
    if len(scorers) > MAX_SCORERS:
        raise InvalidInput(f"scorers: {len(scorers)} scorers; a rule runs at most {MAX_SCORERS}.", hint="Split them over several rules.")
    normalized = []
    for index, raw in enumerate(scorers):
        try:
            spec = ScorerSpec.model_validate(raw)
            build(spec, policy)
        except (ValidationError, ValueError, TypeError, NotFound) as exc:
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            raise InvalidInput(f"scorers[{index}]: {message}") from None
        normalized.append(spec.model_dump(exclude_none=True))
    return normalized


def save_rule(session: Session, actor: Actor, project_id: str, name: str, filter_: dict[str, Any], sample_rate: float, scorers: list[Any],
              *, enabled: bool = True, policy: CodePolicy) -> dict[str, Any]:  # fmt: skip
    """Create or replace a rule (a replaced rule keeps its watermark: traces already examined are not rescored); audited."""
    specs = check_rule(name, filter_, sample_rate, scorers, policy)
    rule = session.scalar(select(OnlineRule).where(OnlineRule.project_id == project_id, OnlineRule.name == name).with_for_update())
    now = utcnow()
    before = _audited(rule) if rule is not None else None
    if rule is None:
        rule = OnlineRule(id=new_id("orule"), project_id=project_id, name=name, created_at=now, watermark_ns=time.time_ns(),
                          watermark_trace_id="", examined=0, scored=0, unmeasured=0)  # fmt: skip
        session.add(rule)
    rule.filter, rule.sample_rate, rule.scorers, rule.enabled, rule.updated_at = dict(filter_ or {}), float(sample_rate), specs, enabled, now
    session.flush()
    audit.record(session, actor, "online_rule.set", "online_rule", name, project_id=project_id, before=before, after=_audited(rule))
    return rule_payload(rule)


def _audited(rule: OnlineRule) -> dict[str, Any]:
    """What the audit entry keeps of a rule: filter, rate, scorer types, enabled (no scorer parameters)."""
    return {"filter": rule.filter, "sample_rate": rule.sample_rate, "scorers": [s["type"] for s in rule.scorers], "enabled": rule.enabled}


def rule_payload(rule: OnlineRule) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "filter": rule.filter, "sample_rate": rule.sample_rate, "scorers": rule.scorers,
            "enabled": rule.enabled, "examined": rule.examined, "scored": rule.scored, "unmeasured": rule.unmeasured,
            "created_at": rule.created_at, "updated_at": rule.updated_at}  # fmt: skip


def list_rules(session: Session, project_id: str) -> list[dict[str, Any]]:
    return [rule_payload(r) for r in session.scalars(select(OnlineRule).where(OnlineRule.project_id == project_id).order_by(OnlineRule.name))]


def delete_rule(session: Session, actor: Actor, project_id: str, name: str) -> None:
    rule = session.scalar(select(OnlineRule).where(OnlineRule.project_id == project_id, OnlineRule.name == name))
    if rule is None:
        raise NotFound(f"No online evaluation rule {name!r} in this project.", hint="See `stackwright evals online list`.")
    audit.record(session, actor, "online_rule.delete", "online_rule", name, project_id=project_id, before=_audited(rule))
    session.delete(rule)


def sampled(rule_id: str, trace_id: str, rate: float) -> bool:
    digest = hashlib.blake2b(f"{rule_id}:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _pending(session: Session, rule: OnlineRule) -> list[Any]:
    from stackwright.tracing.models import Trace

    settled = time.time_ns() - int(SETTLE_S * 1e9)
    query = select(Trace).where(
        Trace.project_id == rule.project_id,
        or_(Trace.start_ns > rule.watermark_ns, and_(Trace.start_ns == rule.watermark_ns, Trace.trace_id > rule.watermark_trace_id)),
        Trace.end_ns <= settled,
    )
    for field, value in (rule.filter or {}).items():
        query = query.where(getattr(Trace, field) == str(value))
    return list(session.scalars(query.order_by(Trace.start_ns, Trace.trace_id).limit(BATCH)))


async def _score_trace(scorers: dict[str, Any], trace: Any, ctx: Any) -> dict[str, Any]:
    from stackwright.evals.runner import Runner
    from stackwright.evals.scorers import Case

    metadata = {f: getattr(trace, f) for f in FILTER_FIELDS}
    case = Case(trace.trace_id, _text(trace.input), None, metadata, output=_text(trace.output), latency_ms=trace.duration_ms,
                cost=trace.cost, trace_id=trace.trace_id, error="the traced request failed" if trace.status == "error" and trace.output is None else None)  # fmt: skip
    return {name: await Runner._score(scorer, case, ctx) for name, scorer in scorers.items()}


async def run_rule(db: Any, rule_id: str, caller: Any = None) -> dict[str, int]:
    """One batch of a rule: examine traces after its watermark, score the sampled ones, store the scores."""
    from stackwright.evals.runner import ScoreContext
    from stackwright.evals.scorers import build
    from stackwright.evals.spec import ScorerSpec

    def load() -> tuple[OnlineRule, list[Any]]:
        with db.read() as session:
            rule = session.get(OnlineRule, rule_id)
            return rule, (_pending(session, rule) if rule is not None and rule.enabled else [])

    rule, traces = await asyncio.to_thread(load)
    if rule is None or not traces:
        return {"examined": 0, "scored": 0, "unmeasured": 0}
    policy = CodePolicy.server(db.settings)  # rules run in the server, whoever saved them
    try:
        scorers = {s.key: build(s, policy) for s in (ScorerSpec.model_validate(raw) for raw in rule.scorers)}
    except Forbidden as exc:  # the allow-list no longer names its code: the rule waits, the other rules run
        log.warning("online rule %s of project %s is skipped: %s", rule.name, rule.project_id, exc.message)
        return {"examined": 0, "scored": 0, "unmeasured": 0}
    ctx = ScoreContext(caller, 0)
    chosen = [t for t in traces if sampled(rule.id, t.trace_id, rule.sample_rate)]
    results = await asyncio.gather(*(_score_trace(scorers, t, ctx) for t in chosen))
    counts = {"examined": len(traces), "scored": 0, "unmeasured": 0}
    rows = []
    for trace, scores in zip(chosen, results, strict=True):
        for name, score in scores.items():
            if score.value is None:
                counts["unmeasured"] += 1
                continue
            counts["scored"] += 1
            rows.append({"project_id": rule.project_id, "trace_id": trace.trace_id, "span_id": trace.root_span_id, "name": name[:200],
                         "data_type": "numeric", "value": score.value, "string_value": None, "comment": (score.reason or "")[:2000] or None,
                         "source": "eval", "author": f"eval-rule:{rule.name}"[:200], "created_at": utcnow()})  # fmt: skip
    last = traces[-1]

    def store() -> None:
        from sqlalchemy import insert, update

        from stackwright.tracing.models import Score

        with db.write() as session:
            current = session.get(OnlineRule, rule.id)
            if current is None or (current.watermark_ns, current.watermark_trace_id) != (rule.watermark_ns, rule.watermark_trace_id):
                raise Conflict("another pass moved this rule's watermark first")  # the other pass stored these scores
            if rows:
                session.execute(insert(Score.__table__), rows)
            session.execute(update(OnlineRule).where(OnlineRule.id == rule.id).values(
                watermark_ns=last.start_ns, watermark_trace_id=last.trace_id, examined=OnlineRule.examined + counts["examined"],
                scored=OnlineRule.scored + counts["scored"], unmeasured=OnlineRule.unmeasured + counts["unmeasured"]))  # fmt: skip

    try:
        await asyncio.to_thread(store)
    except Conflict:
        return {"examined": 0, "scored": 0, "unmeasured": 0}
    return counts


async def run_pass(db: Any, caller_for: Any = None, project_id: str | None = None) -> dict[str, dict[str, int]]:
    """Every enabled rule (of one project, or all) until each has no settled trace left; totals per rule name."""

    def rule_ids() -> list[tuple[str, str, str]]:
        with db.read() as session:
            query = select(OnlineRule.id, OnlineRule.name, OnlineRule.project_id).where(OnlineRule.enabled.is_(True))
            if project_id:
                query = query.where(OnlineRule.project_id == project_id)
            return list(session.execute(query))

    totals: dict[str, dict[str, int]] = {}
    for rule_id, name, rule_project in await asyncio.to_thread(rule_ids):
        total = totals.setdefault(name, {"examined": 0, "scored": 0, "unmeasured": 0})
        caller = caller_for(rule_project) if caller_for else None
        while True:
            counts = await run_rule(db, rule_id, caller)
            for key, value in counts.items():
                total[key] += value
            if counts["examined"] < BATCH:
                break
    return totals


class OnlineEvaluator(PeriodicTask):
    """Runs ``run_pass`` every ``interval_s`` seconds in a server's event loop, from ``start()`` until
    ``stop()``; ``interval_s`` 0 turns it off. The first pass comes one interval after the start, so a
    starting server does no work for it; a pass with no enabled rule is one small query."""

    name = "stackwright-online-eval"
    run_at_start = False

    def __init__(self, db: Any, gateway: Any = None, interval_s: float = 30.0):
        super().__init__(interval_s)
        self.db, self.gateway = db, gateway

    def caller_for(self, project_id: str) -> Any:
        from stackwright.evals.targets import GatewayCaller

        return GatewayCaller(self.gateway, project_id, label="eval:online") if self.gateway is not None else None

    async def run_once(self) -> dict[str, dict[str, int]]:
        """One pass over every project's enabled rules, now."""
        return await run_pass(self.db, self.caller_for)

    def report(self, result: dict[str, dict[str, int]]) -> None:
        scored = sum(t["scored"] for t in result.values())
        if scored:
            log.info("online evaluation stored %d scores", scored)
