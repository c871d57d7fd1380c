"""Release test fixtures: prompt versions to release, spans for the rollback rules, a fingerprint of the tables."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import AuditEntry
from stackwright.core.db import Database
from stackwright.monitoring.alerts import Alert
from stackwright.releases.models import Release, ReleaseChange
from tests.auth.conftest import Ctx, OtherProject, client_for, default, make_key, other  # noqa: F401  (fixtures)

ROUTE = "support.answer"


def push_versions(db: Database, project_id: str, name: str, count: int) -> None:
    """Versions 1..count of a text prompt, through the prompt registry's own push."""
    from stackwright.prompts.push import push

    for n in range(1, count + 1):
        with db.write() as session:
            push(session, SYSTEM, project_id, {"name": name, "type": "text", "template": f"Version {n}: answer {{{{ question }}}}."})


@pytest.fixture
def prompts(prepared: Database, default: Ctx) -> str:  # noqa: F811
    """``support-answer`` versions 1-4 in the default project; returns the project id."""
    push_versions(prepared, default.project_id, "support-answer", 4)
    return default.project_id


@pytest.fixture
def other_prompt(prepared: Database, other: OtherProject) -> OtherProject:  # noqa: F811
    """``secret-prompt`` version 1 in the other project."""
    push_versions(prepared, other.project_id, "secret-prompt", 1)
    return other


def _release_row(r: Release) -> tuple:
    columns = (r.stable, r.candidate, r.candidate_share, r.candidate_mode, r.required_eval, r.rollback_rules, r.last_rollback)
    return (r.id, r.route, r.environment, r.revision, *map(repr, columns))


def release_state(db: Database) -> dict[str, Any]:
    """Everything a release change writes: compare before and after a refused change."""
    with db.read() as s:
        return {
            "releases": sorted(_release_row(r) for r in s.scalars(select(Release))),
            "history": s.scalar(select(func.count()).select_from(ReleaseChange)),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
            "alerts": s.scalar(select(func.count()).select_from(Alert)),
        }


@pytest.fixture
def unchanged(prepared: Database) -> Callable[[], None]:
    before = release_state(prepared)

    def check() -> None:
        assert release_state(prepared) == before

    return check


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def set_stable(api: httpx.Client, prompt: str = "support-answer@1", env: str = "production", **body: Any) -> dict[str, Any]:
    return ok(api.post(f"/api/v1/releases/{ROUTE}/set", json={"env": env, "prompt": prompt, "model": "gpt-4o-mini", **body}))


def start_canary(api: httpx.Client, prompt: str = "support-answer@2", share: float = 10, env: str = "production", **body: Any) -> dict[str, Any]:
    return ok(api.post(f"/api/v1/releases/{ROUTE}/canary", json={"env": env, "prompt": prompt, "share": share, **body}))


# -- synthetic traffic ----------------------------------------------------------------------------


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def request_span(arm: str, *, env: str = "production", error: bool = False, duration_ms: float = 100.0,
                 start_ns: int | None = None, route: str = ROUTE, extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One request's span (a new trace) of the route on ``arm``, as an OTLP JSON span, starting now."""
    start = start_ns if start_ns is not None else time.time_ns()
    attributes = {"stackwright.route": route, "stackwright.environment": env, "stackwright.release.arm": arm, **(extra or {})}
    span = {
        "traceId": secrets.token_hex(16),
        "spanId": secrets.token_hex(8),
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + int(duration_ms * 1e6)),
        "attributes": [_attr(k, v) for k, v in attributes.items()],
    }
    if error:
        span["status"] = {"code": 2, "message": "upstream failed"}
    return span


def send_spans(client: httpx.Client, spans: list[dict[str, Any]]) -> None:
    """Write spans through the real ingest endpoint (OTLP/HTTP JSON), in chunks."""
    for i in range(0, len(spans), 500):
        body = {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "support-app")]},
                                   "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans[i : i + 500]}]}]}  # fmt: skip
        response = client.post("/v1/traces", json=body)
        assert response.status_code == 200, response.text


def traffic(client: httpx.Client, arm: str, count: int, *, errors: int = 0, duration_ms: float = 100.0, **kwargs: Any) -> list[dict[str, Any]]:
    """``count`` requests on ``arm``, the first ``errors`` of them failed; returns the spans sent."""
    spans = [request_span(arm, error=i < errors, duration_ms=duration_ms, **kwargs) for i in range(count)]
    send_spans(client, spans)
    return spans
