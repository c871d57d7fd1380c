"""Automatic rollback: compare the candidate with stable over the traced requests since the candidate
started, and roll back when it is worse by a rule's margin with enough requests on both arms.

``check_release`` does one release now (the API's and CLI's ``check``); ``check_all`` every release with
a candidate and rules; ``RollbackTask`` runs ``check_all`` in the server every ``interval_s`` seconds.
The measurement is read first, then the rollback is written only if the release is still at the measured
revision (someone else's change in between wins, and the next pass measures again). A rollback writes
the history, an audit entry and an alert in one transaction.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select

from stackwright.auth.actors import SYSTEM, Actor
from stackwright.core.db import Database, plain_rows
from stackwright.core.errors import Conflict, NotFound
from stackwright.core.periodic import PeriodicTask
from stackwright.releases.models import Release

log = logging.getLogger("stackwright.releases")
CHECK_INTERVAL_S = 30.0


def evaluate(rules: dict[str, Any], stable: dict[str, Any], candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """("insufficient_data" | "healthy" | "breach", the rules the candidate breaks)."""
    need = rules.get("min_requests", 100)
    if stable["requests"] < need or candidate["requests"] < need:
        return "insufficient_data", []
    breaches = []
    margin = rules.get("error_rate_margin")
    if margin is not None and candidate["error_rate"] - stable["error_rate"] > margin:
        breaches.append({"rule": "error_rate", "stable": stable["error_rate"], "candidate": candidate["error_rate"], "margin": margin})
    margin = rules.get("p95_margin_ms")
    if margin is not None and candidate["p95_ms"] - stable["p95_ms"] > margin:
        breaches.append({"rule": "p95_ms", "stable": stable["p95_ms"], "candidate": candidate["p95_ms"], "margin": margin})
    for name, margin in (rules.get("scores") or {}).items():
        s, c = stable["scores"].get(name), candidate["scores"].get(name)
        if s is None or c is None or s["n"] < need or c["n"] < need:
            continue  # not enough scored requests for this rule yet
        if s["mean"] - c["mean"] > margin:
            breaches.append({"rule": f"score:{name}", "stable": s["mean"], "candidate": c["mean"], "margin": margin})
    return ("breach" if breaches else "healthy"), breaches


def describe(breach: dict[str, Any]) -> str:
    rule, s, c, m = breach["rule"], breach["stable"], breach["candidate"], breach["margin"]
    if rule == "error_rate":
        return f"error rate {c:.1%} vs stable {s:.1%} (margin {m:.1%})"
    if rule == "p95_ms":
        return f"p95 latency {c:.0f} ms vs stable {s:.0f} ms (margin {m:.0f} ms)"
    return f"{rule.removeprefix('score:')} mean {c:.3f} vs stable {s:.3f} (margin {m:.3f})"


def measure(session: Any, row: Release) -> dict[str, Any]:
    """The comparison for one release, without changing anything."""
    from stackwright.releases.traffic import arm_stats

    report: dict[str, Any] = {"route": row.route, "env": row.environment, "release_id": row.id, "revision": row.revision,
                              "rules": row.rollback_rules, "arms": None, "breaches": []}  # fmt: skip
    if row.candidate is None or row.candidate_started_at is None:
        return {**report, "verdict": "no_candidate"}
    rules = row.rollback_rules
    names = sorted((rules or {}).get("scores") or {})
    report["arms"] = arm_stats(session, row.project_id, row.route, row.environment, row.candidate_started_at, names)
    report["since"] = row.candidate_started_at.isoformat()
    if not rules:
        return {**report, "verdict": "no_rules"}
    verdict, breaches = evaluate(rules, report["arms"]["stable"], report["arms"]["candidate"])
    return {**report, "verdict": verdict, "breaches": breaches}


def _roll_back(db: Database, actor: Actor, project_id: str, report: dict[str, Any]) -> dict[str, Any]:
    from stackwright.monitoring.alerts import raise_alert
    from stackwright.releases.resolver import resolver_for
    from stackwright.releases.service import rollback

    route, env = report["route"], report["env"]
    reason = "candidate worse than stable: " + "; ".join(describe(b) for b in report["breaches"])
    details = {"breaches": report["breaches"], "arms": report["arms"], "since": report.get("since")}
    try:
        with db.write() as session:
            view = rollback(session, actor, project_id, route, env, reason=reason, automatic=True, details=details,
                            expected_revision=report["revision"])  # fmt: skip
            raise_alert(
                session, project_id, "release.auto_rollback", f"Rolled back the candidate of {route} in {env}",
                f"{route} ({env}): {reason}. The stable config {view['stable']['prompt']} on {view['stable']['model']} serves all traffic again.",
                severity="critical", object_type="release", object_id=view["id"],
                details={**details, "revision": view["revision"], "history_id": view["last_rollback"]["history_id"]},
            )  # fmt: skip
    except (Conflict, NotFound):
        return {**report, "verdict": "changed"}  # changed or deleted meanwhile: the next pass measures again
    resolver_for(db).forget(project_id, route, env)
    log.warning("release %s/%s rolled back automatically: %s", route, env, reason)
    return {**report, "verdict": "rolled_back", "reason": reason, "revision": view["revision"], "last_rollback": view["last_rollback"]}


def check_release(
    db: Database, actor: Actor, project_id: str, route: str, env: str, *, dry_run: bool = False
) -> dict[str, Any]:
    """Measure one release and roll its candidate back if a rule is breached (unless ``dry_run``).

    Verdicts: no_candidate, no_rules, insufficient_data, healthy, breach (dry run), rolled_back, changed.
    """
    from stackwright.releases.service import get_release

    with db.read() as session:
        report = measure(session, get_release(session, project_id, route, env))
    if report["verdict"] != "breach" or dry_run:
        return report
    return _roll_back(db, actor, project_id, report)


def check_all(db: Database, *, actor: Actor = SYSTEM, stop: threading.Event | None = None) -> list[dict[str, Any]]:
    """One pass over every release with a candidate and rollback rules; returns each release's report."""
    with db.read() as session:
        rows = list(plain_rows(session.execute(
            select(Release.project_id, Release.route, Release.environment, Release.rollback_rules).where(
                Release.candidate_mode.isnot(None)
            )
        )))
    reports = []
    for project_id, route, env, rules in rows:
        if stop is not None and stop.is_set():
            break
        if not rules:
            continue
        try:
            reports.append(check_release(db, actor, project_id, route, env))
        except NotFound:
            continue  # deleted meanwhile
        except Exception:
            log.exception("release check failed for %s/%s in project %s", route, env, project_id)
    return reports


class RollbackTask(PeriodicTask):
    """Runs ``check_all`` in a thread every ``interval_s`` seconds, from ``start()`` until ``stop()``."""

    name = "stackwright-release-guard"
    run_at_start = False

    def __init__(self, db: Database, interval_s: float = CHECK_INTERVAL_S):
        super().__init__(interval_s)
        self.db = db

    def run_pass(self) -> list[dict[str, Any]]:
        return check_all(self.db, stop=self.stopping)
