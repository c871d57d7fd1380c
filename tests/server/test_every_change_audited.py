"""Every change is audited (issue 13, item 8).

Every mutating operation in ``/openapi.json`` (POST, PUT, PATCH, DELETE) and every command of the
``stackwright`` CLI is either performed here once, with valid input, against a real SQLite database and must
leave an audit entry, or is on an exemption list with the reason it is not a change in the audit sense.
A route or command added later fails these tests until it gets a recipe (and writes its entry) or is
classified, and the failure names it.

API entries are found by the request id each recipe sends (the audit entry stores it); CLI entries are the
entries written while the command ran, by the CLI's actor (``cli:<user>``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import func, select

from stackwright.auth.models import AuditEntry
from stackwright.core.config import Settings
from stackwright.core.db import Database
from tests.cli.conftest import Cli
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_API_KEY
from tests.tracing.otlp_payloads import export_json, new_span_id, new_trace_id, span_json

THIS_FILE = "tests/server/test_every_change_audited.py"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")

# -- routes that are not changes in the audit sense -----------------------------------------------------------
EXEMPT_ROUTES: dict[tuple[str, str], str] = {
    # Traffic and telemetry: data the applications send, stored as traces/spans/scores, not configuration.
    ("POST", "/v1/chat/completions"): "model traffic (traced, not audited)",
    ("POST", "/v1/embeddings"): "model traffic (traced, not audited)",
    ("POST", "/v1/traces"): "OTLP span ingest (telemetry)",
    ("POST", "/api/v1/scores"): "score ingest (feedback and evaluator telemetry on traces; deleting one is audited)",
    ("POST", "/api/v1/evals/online/run"): "runs the project's (audited) online rules now; writes scores only, like the background pass",
    # Reads that take their input in a body.
    ("POST", "/api/v1/prompts/{name}/render"): "renders a template, stores nothing",
    ("POST", "/api/v1/collections/{name}/search"): "a search query",
    ("POST", "/api/v1/collections/{name}/context"): "a search query assembling context",
    ("POST", "/api/v1/collections/{name}/retrieval-eval"): "scores a search over labels, stores nothing",
    ("POST", "/api/v1/guardrails/check"): "runs checks on a text, stores nothing",
    ("POST", "/api/v1/gateway/test"): "one test call to a model (traced)",
    ("POST", "/api/v1/releases/{route}/check"): "compares arms; the rollback it may trigger is audited as release.rollback",
}

# Mutating routes kept out of /openapi.json (the web UI's forms) are classified the same way.
EXEMPT_PAGE_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/ui/sign-in"): "starts a browser session: a sign-in, not a change of data",
    ("POST", "/ui/sign-out"): "ends a browser session",
    ("POST", "/ui/project"): "picks the project a browser session shows (a view, not a change)",
    ("POST", "/ui/traces/{trace_id}/scores"): "score ingest from the trace page: the same service as POST /api/v1/scores (not audited)",
    ("POST", "/ui/gateway/test"): "one test call to a model through the gateway (traced), as POST /api/v1/gateway/test; stores no change",
    ("POST", "/ui/playground"): "model calls through the gateway, traced and counted as API calls are; no stored setting changes",
    ("POST", "/ui/playground/stream"): "one streamed model call through the gateway (as POST /v1/chat/completions); no stored setting changes",
    ("POST", "/ui/retrieval/{name}/eval"): "runs a retrieval evaluation and shows it; nothing is stored (as `retrieval eval`)",
    ("POST", "/ui/guardrails/try"): "runs a policy's checks on a text and shows the decision; nothing is stored",
}

# -- CLI commands ---------------------------------------------------------------------------------------------
READ_ONLY_COMMANDS = {
    "version", "serve", "audit list", "plugins list", "db current", "projects list", "users list", "keys list",
    "traces list", "traces show", "traces stats", "traces explain", "gateway models", "gateway test", "prompts diff", "prompts history",
    "prompts list", "prompts render", "prompts show", "prompts versions", "releases check", "releases history",
    "releases list", "releases status", "collections list", "collections show", "search", "retrieval eval",
    "datasets export", "datasets list", "datasets show", "datasets versions", "evals compare", "evals list", "evals show",
    "evals online list", "invitations list", "jobs list", "jobs schedules", "jobs show", "guardrails check", "guardrails list",
    "guardrails show", "demo accounts", "demo explain",
}  # fmt: skip
# `releases check` can roll back (audited as release.rollback); `gateway test` makes one traced model call.
EXEMPT_COMMANDS: dict[str, str] = {
    "db upgrade": "schema migrations of the whole database, not a project change",
    "db downgrade": "schema migrations of the whole database, not a project change",
    "init": "first start: migrations and the bootstrap admin, project and key, audited by the bootstrap as system",
    "traces purge": "the retention sweep; each project it purges is audited as system (traces.purge)",
    "evals online run": "runs the project's (audited) online rules now; writes scores only, like the background pass",
    "demo seed": "seeds the reference app through the audited services and API it drives",
    "demo traffic": "model traffic against a running server (traced, not audited)",
    "demo ask": "one question to a running server's reference app (traced, not audited)",
    "demo eval": "an eval run of the reference app: audited as eval_run.start by system",
}

POLICY = {"route": "*", "input": [{"check": "prompt_injection", "action": "block"}], "output": []}
PROMPT = {"name": "audited-prompt", "type": "text", "template": "Hello {{ who }}"}
LOCAL_MODEL = {"name": "audited-local", "deployments": [{"provider": "local", "model": "extractive"}]}


# -- the shared world: one app, one database, built once for the module ----------------------------------------


@dataclass
class World:
    app: Any
    db: Database
    api: httpx.Client
    cli: Cli
    tmp: Path
    ids: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The audited request of a recipe: a fresh request id, which its audit entry must carry."""
        self.request_id = f"audit-{uuid.uuid4().hex[:16]}"
        headers = {"x-request-id": self.request_id, **kwargs.pop("headers", {})}
        return self.api.request(method, url, headers=headers, **kwargs)

    def last_audit_id(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.max(AuditEntry.id))) or 0

    def entries(self, **where: Any) -> list[AuditEntry]:
        with self.db.read() as session:
            query = select(AuditEntry).order_by(AuditEntry.id)
            for name, value in where.items():
                query = query.where(AuditEntry.id > value) if name == "after_id" else query.where(getattr(AuditEntry, name) == value)
            return list(session.scalars(query))

    def trace(self, user_id: str = "audited-user") -> str:
        """Ingest one finished trace (setup for scores and datasets from traces); returns its id."""
        trace_id = new_trace_id()
        attributes = {"input.value": "a question", "output.value": "an answer", "user.id": user_id}
        span = span_json(trace_id, new_span_id(), "root", attributes=attributes)
        response = self.api.post("/v1/traces", json=export_json(span))
        assert response.status_code == 200, response.text
        return trace_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from stackwright.sdk.transport import InProcessTransport
    from stackwright.server.app import create_app
    from stackwright.server.startup import prepare

    tmp = tmp_path_factory.mktemp("audit")
    home, url = tmp / "home", f"sqlite:///{tmp / 'home' / 'stackwright.db'}"
    settings = Settings(home=home, database_url=url, init_api_key=TEST_API_KEY, init_admin_email=TEST_ADMIN_EMAIL,
                        init_admin_password=TEST_ADMIN_PASSWORD, log_format="text")  # fmt: skip
    db, _ = prepare(settings)
    app = create_app(settings, db)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    cli = Cli(home, url)
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=headers) as api:
        yield World(app, db, api, cli, tmp)
    cli.close()
    app.state.limits.close()
    db.dispose()


def mutating_routes(app: Any) -> set[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops if method.upper() in MUTATING}


def cli_commands() -> set[str]:
    """Every command under its plural group name; the hidden singular aliases (`eval`, `release`) are not in the tree."""
    from stackwright.cli.main import app

    def walk(command: Any, prefix: tuple[str, ...]) -> Iterator[str]:
        children = getattr(command, "commands", None)
        if children is None:
            yield " ".join(prefix)
            return
        for name, child in children.items():
            yield from walk(child, (*prefix, name))

    return set(walk(typer.main.get_command(app), ()))


# -- API recipes, performed in this order -----------------------------------------------------------------------

Recipe = Callable[[World], httpx.Response]
ROUTE_RECIPES: dict[tuple[str, str], Recipe] = {}


def route(method: str, path: str) -> Callable[[Recipe], Recipe]:
    def add(recipe: Recipe) -> Recipe:
        ROUTE_RECIPES[(method, path)] = recipe
        return recipe

    return add


@route("POST", "/api/v1/projects")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/projects", json={"name": "audited-project"})


@route("POST", "/api/v1/users")
def _(w: World) -> httpx.Response:
    response = w.call("POST", "/api/v1/users", json={"email": "audited@example.com", "password": "a long password", "role": "member"})
    w.ids["user"] = response.json().get("id")
    return response


@route("PATCH", "/api/v1/users/{user_id}")
def _(w: World) -> httpx.Response:
    return w.call("PATCH", f"/api/v1/users/{w.ids['user']}", json={"role": "viewer"})


@route("POST", "/api/v1/invitations")
def _(w: World) -> httpx.Response:
    w.ids["invitee_key"] = invitee_key(w, "invitee@example.com")
    response = w.call("POST", "/api/v1/invitations", json={"email": "invitee@example.com", "role": "member"})
    w.ids["invitation"] = response.json().get("id")
    return response


@route("POST", "/api/v1/me/invitations/{invitation_id}/decline")
def _(w: World) -> httpx.Response:
    as_invitee = {"Authorization": f"Bearer {w.ids['invitee_key']}"}
    return w.call("POST", f"/api/v1/me/invitations/{w.ids['invitation']}/decline", headers=as_invitee)


@route("POST", "/api/v1/me/invitations/{invitation_id}/accept")
def _(w: World) -> httpx.Response:
    invitation = w.api.post("/api/v1/invitations", json={"email": "invitee@example.com", "role": "viewer"}).json()["id"]
    as_invitee = {"Authorization": f"Bearer {w.ids['invitee_key']}"}
    return w.call("POST", f"/api/v1/me/invitations/{invitation}/accept", headers=as_invitee)


@route("DELETE", "/api/v1/invitations/{invitation_id}")
def _(w: World) -> httpx.Response:
    invitation = w.api.post("/api/v1/invitations", json={"email": "someone-else@example.com"}).json()["id"]
    return w.call("DELETE", f"/api/v1/invitations/{invitation}")


@route("POST", "/api/v1/keys")
def _(w: World) -> httpx.Response:
    response = w.call("POST", "/api/v1/keys", json={"name": "audited-key", "scopes": ["read"]})
    w.ids["key"] = response.json().get("id")
    return response


@route("PUT", "/api/v1/keys/{key_id}/limits")
def _(w: World) -> httpx.Response:
    return w.call("PUT", f"/api/v1/keys/{w.ids['key']}/limits", json={"daily_usd": 5, "rpm": 60})


@route("PUT", "/api/v1/gateway/secrets/{name}")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/gateway/secrets/AUDITED_SECRET", json={"value": "not-a-real-key"})


@route("PUT", "/api/v1/gateway/config")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/gateway/config", json={"config": {"models": [LOCAL_MODEL]}})


@route("POST", "/api/v1/prompts")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/prompts", json=PROMPT)


@route("PUT", "/api/v1/prompts/{name}/labels/{label}")
def _(w: World) -> httpx.Response:
    return w.call("PUT", f"/api/v1/prompts/{PROMPT['name']}/labels/staging", json={"version": 1})


@route("PUT", "/api/v1/prompts/{name}/protected-labels")
def _(w: World) -> httpx.Response:
    return w.call("PUT", f"/api/v1/prompts/{PROMPT['name']}/protected-labels", json={"labels": ["production", "audited"]})


@route("POST", "/api/v1/releases/{route}/set")
def _(w: World) -> httpx.Response:
    body = {"env": "prod", "prompt": f"{PROMPT['name']}@1", "model": LOCAL_MODEL["name"]}
    return w.call("POST", "/api/v1/releases/audited.route/set", json=body)


@route("POST", "/api/v1/releases/{route}/canary")
def _(w: World) -> httpx.Response:
    body = {"env": "prod", "prompt": f"{PROMPT['name']}@staging", "share": 0.1}
    return w.call("POST", "/api/v1/releases/audited.route/canary", json=body)


@route("PUT", "/api/v1/releases/{route}/rules")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/releases/audited.route/rules", json={"env": "prod", "rollback_rules": {"error_rate_margin": 0.05}})


@route("POST", "/api/v1/releases/{route}/rollback")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/releases/audited.route/rollback", json={"env": "prod", "reason": "audit test"})


@route("POST", "/api/v1/releases/{route}/promote")
def _(w: World) -> httpx.Response:
    w.api.post("/api/v1/releases/audited.route/canary", json={"env": "prod", "prompt": f"{PROMPT['name']}@staging", "share": 0.1})
    return w.call("POST", "/api/v1/releases/audited.route/promote", json={"env": "prod"})


@route("DELETE", "/api/v1/prompts/{name}/labels/{label}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", f"/api/v1/prompts/{PROMPT['name']}/labels/staging")


@route("PUT", "/api/v1/guardrails/policies/{name}")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/guardrails/policies/audited-policy", json=POLICY)


@route("DELETE", "/api/v1/guardrails/policies/{name}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", "/api/v1/guardrails/policies/audited-policy")


@route("POST", "/api/v1/collections")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/collections", json={"name": "audited-docs"})


@route("PATCH", "/api/v1/collections/{name}")
def _(w: World) -> httpx.Response:
    return w.call("PATCH", "/api/v1/collections/audited-docs", json={"description": "changed"})


@route("POST", "/api/v1/collections/{name}/documents")
def _(w: World) -> httpx.Response:
    documents = [{"source": "doc-1", "text": "Refunds are possible within 30 days."}, {"source": "doc-2", "text": "Shipping takes a week."}]
    return w.call("POST", "/api/v1/collections/audited-docs/documents", json={"documents": documents})


@route("DELETE", "/api/v1/collections/{name}/documents/{document_id}")
def _(w: World) -> httpx.Response:
    listed = w.api.get("/api/v1/collections/audited-docs/documents").json()["data"]
    document_id = next(d["id"] for d in listed if d["source"] == "doc-1")
    return w.call("DELETE", f"/api/v1/collections/audited-docs/documents/{document_id}")


@route("DELETE", "/api/v1/collections/{name}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", "/api/v1/collections/audited-docs")


@route("POST", "/api/v1/datasets")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/datasets", json={"name": "audited-cases"})


@route("POST", "/api/v1/datasets/{name}/import")
def _(w: World) -> httpx.Response:
    items = [{"input": {"question": "refunds?"}, "expected": "30 days"}, {"input": {"question": "shipping?"}, "expected": "week"}]
    body = "".join(json.dumps(item) + "\n" for item in items)
    return w.call("POST", "/api/v1/datasets/audited-cases/import", content=body, headers={"content-type": "application/x-ndjson"})


@route("POST", "/api/v1/datasets/{name}/items")
def _(w: World) -> httpx.Response:
    response = w.call("POST", "/api/v1/datasets/audited-cases/items", json={"input": {"question": "hours?"}, "expected": "9 to 5"})
    w.ids["item"] = response.json().get("item_id")
    return response


@route("PATCH", "/api/v1/datasets/{name}/items/{item_id}")
def _(w: World) -> httpx.Response:
    response = w.call("PATCH", f"/api/v1/datasets/audited-cases/items/{w.ids['item']}", json={"expected": "9 to 6"})
    w.ids["item"] = response.json().get("item_id")  # a changed item is a new item
    return response


@route("DELETE", "/api/v1/datasets/{name}/items/{item_id}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", f"/api/v1/datasets/audited-cases/items/{w.ids['item']}")


@route("POST", "/api/v1/datasets/{name}/from-traces")
def _(w: World) -> httpx.Response:
    w.ids["trace"] = w.trace()
    return w.call("POST", "/api/v1/datasets/audited-cases/from-traces", json={"limit": 10})


@route("POST", "/api/v1/evals/runs")
def _(w: World) -> httpx.Response:
    spec = {"name": "audited-eval", "dataset": "audited-cases", "target": {"model": LOCAL_MODEL["name"]}, "scorers": ["contains"]}
    response = w.call("POST", "/api/v1/evals/runs", json={"spec": spec, "name": "audited-run"})
    w.ids["run"] = response.json().get("id")
    return response


@route("POST", "/api/v1/evals/runs/{run}/resume")
def _(w: World) -> httpx.Response:
    wait_for_run(w, w.ids["run"])
    return w.call("POST", f"/api/v1/evals/runs/{w.ids['run']}/resume")


@route("PUT", "/api/v1/evals/online/rules/{name}")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/evals/online/rules/audited-rule", json={"sample_rate": 0.5, "scorers": ["contains"]})


@route("DELETE", "/api/v1/evals/online/rules/{name}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", "/api/v1/evals/online/rules/audited-rule")


@route("POST", "/api/v1/jobs")
def _(w: World) -> httpx.Response:
    response = w.call("POST", "/api/v1/jobs", json={"kind": "noop", "params": {}})
    w.ids["job"] = response.json().get("id")
    return response


@route("POST", "/api/v1/jobs/{job_id}/cancel")
def _(w: World) -> httpx.Response:
    return w.call("POST", f"/api/v1/jobs/{w.ids['job']}/cancel")


@route("POST", "/api/v1/jobs/schedules")
def _(w: World) -> httpx.Response:
    return w.call("POST", "/api/v1/jobs/schedules", json={"name": "audited-nightly", "cron": "0 3 * * *", "kind": "noop"})


@route("DELETE", "/api/v1/jobs/schedules/{name}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", "/api/v1/jobs/schedules/audited-nightly")


@route("PUT", "/api/v1/traces/settings")
def _(w: World) -> httpx.Response:
    return w.call("PUT", "/api/v1/traces/settings", json={"retention_days": 30})


@route("DELETE", "/api/v1/scores/{score_id}")
def _(w: World) -> httpx.Response:
    created = w.api.post("/api/v1/scores", json={"trace_id": w.ids["trace"], "name": "helpful", "value": 1.0})
    assert created.status_code in (200, 201), created.text
    return w.call("DELETE", f"/api/v1/scores/{created.json()['id']}")


@route("DELETE", "/api/v1/traces")
def _(w: World) -> httpx.Response:
    w.trace(user_id="forget-me")
    return w.call("DELETE", "/api/v1/traces", params={"user_id": "forget-me"})


@route("DELETE", "/api/v1/gateway/secrets/{name}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", "/api/v1/gateway/secrets/AUDITED_SECRET")


@route("DELETE", "/api/v1/keys/{key_id}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", f"/api/v1/keys/{w.ids['key']}")


@route("DELETE", "/api/v1/users/{user_id}")
def _(w: World) -> httpx.Response:
    return w.call("DELETE", f"/api/v1/users/{w.ids['user']}")


def invitee_key(w: World, email: str) -> str:
    """A user of another project with a key of their own there (setup through the CLI, as an operator would)."""
    w.cli.ok("projects", "create", f"home-of-{email.split('@')[0]}")
    w.cli.ok("users", "create", email, "--no-password", "--project", f"home-of-{email.split('@')[0]}")
    return w.cli.json("keys", "create", "--project", f"home-of-{email.split('@')[0]}", "--user", email)["key"]


def wait_for_run(w: World, run_id: str, timeout_s: float = 30.0) -> None:
    """The run started by the API has stopped in the background (resume is for runs that stopped)."""
    import time

    deadline = time.monotonic() + timeout_s
    while w.api.get(f"/api/v1/evals/runs/{run_id}", params={"limit": 1}).json().get("status") == "running":
        assert time.monotonic() < deadline, f"eval run {run_id} still running after {timeout_s} s"
        time.sleep(0.05)


# -- web UI form recipes (routes outside /openapi.json that change data), performed in this order ------------------

PAGE_RECIPES: dict[tuple[str, str], Recipe] = {}
PAGE_PASSWORD = "a page member's password"


def page_route(method: str, path: str) -> Callable[[Recipe], Recipe]:
    def add(recipe: Recipe) -> Recipe:
        PAGE_RECIPES[(method, path)] = recipe
        return recipe

    return add


def page_post(w: World, url: str, data: dict[str, Any]) -> httpx.Response:
    """The audited form post of a recipe, by the first-start admin signed in to the web UI."""
    from stackwright.sdk.transport import InProcessTransport
    from tests.ui.conftest import csrf_of, sign_in

    if "browser" not in w.ids:
        w.ids["browser"] = httpx.Client(transport=InProcessTransport(w.app), base_url="http://stackwright.test", headers={"Accept": "text/html"})
        assert sign_in(w.ids["browser"]).status_code == 303
    browser: httpx.Client = w.ids["browser"]
    token = csrf_of(browser.get("/ui/settings/password"))
    w.request_id = f"audit-{uuid.uuid4().hex[:16]}"
    return browser.post(url, data={"csrf_token": token, **data}, headers={"x-request-id": w.request_id})


def page_member(w: World) -> str:
    if "page_member" not in w.ids:
        from stackwright.auth import service
        from stackwright.auth.actors import SYSTEM

        with w.db.write() as session:
            user = service.create_user(session, SYSTEM, "page-member@example.com", PAGE_PASSWORD)
            service.add_member(session, SYSTEM, service.find_project(session, "default").id, user.id, "member")
            w.ids["page_member"] = user.id
    return w.ids["page_member"]


@page_route("POST", "/ui/settings/members/invite")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/settings/members/invite", {"email": "page-invitee@example.com", "role": "member"})


@page_route("POST", "/ui/settings/invitations/{invitation_id}/revoke")
def _(w: World) -> httpx.Response:
    from stackwright.auth.models import Invitation

    with w.db.read() as session:
        invitation = session.scalar(select(Invitation.id).where(Invitation.email == "page-invitee@example.com"))
    return page_post(w, f"/ui/settings/invitations/{invitation}/revoke", {})


@page_route("POST", "/ui/settings/members/{user_id}/role")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/settings/members/{page_member(w)}/role", {"role": "viewer"})


@page_route("POST", "/ui/settings/password-reset")
def _(w: World) -> httpx.Response:
    page_member(w)
    return page_post(w, "/ui/settings/password-reset", {"email": "page-member@example.com", "new_password": PAGE_PASSWORD + "!"})


@page_route("POST", "/ui/settings/members/{user_id}/remove")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/settings/members/{page_member(w)}/remove", {})


@page_route("POST", "/ui/settings/keys")
def _(w: World) -> httpx.Response:
    response = page_post(w, "/ui/settings/keys", {"name": "page-key", "scope": "read"})
    w.ids["page_key"] = response.headers.get("location", "").split("/")[-2]
    return response


@page_route("POST", "/ui/settings/keys/{key_id}/revoke")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/settings/keys/{w.ids['page_key']}/revoke", {})


@page_route("POST", "/ui/settings/project/retention")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/settings/project/retention", {"retention_days": "90"})


@page_route("POST", "/ui/settings/project/prices")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/settings/project/prices", {"model": "page-model", "input_per_mtok": "1", "output_per_mtok": "2"})


@page_route("POST", "/ui/settings/project/prices/remove")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/settings/project/prices/remove", {"model": "page-model"})


@page_route("POST", "/ui/traces/{trace_id}/datasets")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/traces/{w.trace()}/datasets", {"new_dataset": "page-cases"})


def page_item(w: World, name: str) -> str:
    """The first item of the latest version of the default project's dataset ``name``."""
    items = w.api.get(f"/api/v1/datasets/{name}").json()["latest"]["version"]
    return w.api.get(f"/api/v1/datasets/{name}/versions/{items}/items").json()["data"][0]["id"]


@page_route("POST", "/ui/datasets/{name}/items")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/datasets/page-items/items", {"input": '{"question": "hours?"}', "expected": '"9 to 5"'})


@page_route("POST", "/ui/datasets/{name}/items/{item_id}/edit")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/datasets/page-items/items/{page_item(w, 'page-items')}/edit", {"input": '{"question": "opening hours?"}', "base": "1"})


@page_route("POST", "/ui/datasets/{name}/items/{item_id}/remove")
def _(w: World) -> httpx.Response:
    return page_post(w, f"/ui/datasets/page-items/items/{page_item(w, 'page-items')}/remove", {"base": "2"})


@page_route("POST", "/ui/jobs/{job_id}/cancel")
def _(w: World) -> httpx.Response:
    job = w.api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"seconds": 60, "ticks": 1000}}).json()["id"]
    return page_post(w, f"/ui/jobs/{job}/cancel", {})


@page_route("POST", "/ui/jobs/enqueue")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/jobs/enqueue", {"kind": "noop", "params": "{}", "max_attempts": "1"})


@page_route("POST", "/ui/jobs/schedules")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/jobs/schedules", {"name": "page-nightly", "cron": "0 3 * * *", "kind": "noop", "params": "{}", "max_attempts": "1"})


@page_route("POST", "/ui/jobs/schedules/{name}/delete")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/jobs/schedules/page-nightly/delete", {})


@page_route("POST", "/ui/prompts")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/prompts", {"name": "page-edited-prompt", "type": "text", "template": "Hi {{ who }}", "action": "save"})


@page_route("POST", "/ui/prompts/{name}/edit")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/prompts/page-edited-prompt/edit", {"type": "text", "template": "Hello {{ who }}", "latest": "1", "action": "save"})


@page_route("POST", "/ui/prompts/{name}/labels")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/prompts/page-edited-prompt/labels", {"label": "staging", "version": "1", "expected": "0"})


@page_route("POST", "/ui/prompts/{name}/protected")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/prompts/page-edited-prompt/protected", {"protected": "production staging"})


@page_route("POST", "/ui/prompts/{name}/labels/{label}/remove")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/prompts/page-edited-prompt/labels/staging/remove", {"expected": "1"})


@page_route("POST", "/ui/guardrails/new")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/guardrails/new", {"policy": "name: page-guard\nroute: page.route\ninput: [pii]\n", "revision": "0"})


@page_route("POST", "/ui/guardrails/policies/{name}")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/guardrails/policies/page-guard", {"policy": "name: page-guard\nroute: page.route\ninput: [secrets]\n", "revision": "1"})


@page_route("POST", "/ui/guardrails/policies/{name}/delete")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/guardrails/policies/page-guard/delete", {"revision": "2"})


@page_route("POST", "/ui/gateway/secrets")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/gateway/secrets", {"name": "PAGE_SECRET", "value": "not-a-real-key"})


@page_route("POST", "/ui/gateway/secrets/{name}/delete")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/gateway/secrets/PAGE_SECRET/delete", {})


def page_release(w: World) -> str:
    """A release of its own for the release pages' recipes: page-prompt v1 and v2, v1 stable on page.route in prod."""
    if "page_release" not in w.ids:
        for template in ("Hi {{ who }}", "Hello there {{ who }}"):
            assert w.api.post("/api/v1/prompts", json={"name": "page-prompt", "type": "text", "template": template}).is_success
        body = {"env": "prod", "prompt": "page-prompt@1", "model": LOCAL_MODEL["name"]}
        assert w.api.post("/api/v1/releases/page.route/set", json=body).is_success
        w.ids["page_release"] = "/ui/releases/page.route"
    return w.ids["page_release"]


@page_route("POST", "/ui/releases/{route}/canary")
def _(w: World) -> httpx.Response:
    return page_post(w, page_release(w) + "/canary", {"env": "prod", "prompt": "page-prompt@2", "share": "10", "mode": "canary"})


@page_route("POST", "/ui/releases/{route}/share")
def _(w: World) -> httpx.Response:
    return page_post(w, page_release(w) + "/share", {"env": "prod", "share": "30"})


@page_route("POST", "/ui/releases/{route}/promote")
def _(w: World) -> httpx.Response:
    return page_post(w, page_release(w) + "/promote", {"env": "prod"})


@page_route("POST", "/ui/releases/{route}/rules")
def _(w: World) -> httpx.Response:
    return page_post(w, page_release(w) + "/rules", {"env": "prod", "error_rate": "5", "min_requests": "20"})


@page_route("POST", "/ui/releases/{route}/rollback")
def _(w: World) -> httpx.Response:
    return page_post(w, page_release(w) + "/rollback", {"env": "prod", "reason": "audit test"})


@page_route("POST", "/ui/playground/save")
def _(w: World) -> httpx.Response:
    return page_post(w, "/ui/playground/save", {"role-0": "user", "content-0": "Hi {{ who }}", "templated": "1", "model-0": "local/extractive",
                                                "save_name": "page-playground", "save_message": "from the playground"})  # fmt: skip


@page_route("POST", "/ui/evals/new")
def _(w: World) -> httpx.Response:
    assert w.api.post("/api/v1/datasets", json={"name": "page-eval-cases"}).is_success
    body = json.dumps({"input": {"question": "refunds?"}, "expected": "30 days"}) + "\n"
    assert w.api.post("/api/v1/datasets/page-eval-cases/import", content=body, headers={"content-type": "application/x-ndjson"}).is_success
    return page_post(w, "/ui/evals/new", {"dataset": "page-eval-cases", "model": "local/extractive", "scorers": "contains", "name": "page-run"})


@page_route("POST", "/ui/settings/password")
def _(w: World) -> httpx.Response:
    new = TEST_ADMIN_PASSWORD + " changed"
    response = page_post(w, "/ui/settings/password", {"current_password": TEST_ADMIN_PASSWORD, "new_password": new, "confirm_password": new})
    back = {"current_password": new, "new_password": TEST_ADMIN_PASSWORD, "confirm_password": TEST_ADMIN_PASSWORD}
    assert page_post(w, "/ui/settings/password", back).status_code == 303  # other tests sign in with the first password
    return response


# -- CLI recipes, performed in this order (arguments after `stackwright`) ------------------------------------------


def cli_invitation(w: World, email: str) -> str:
    return w.cli.json("invitations", "create", email, "--project", "default")["id"]


def cli_recipes(w: World) -> dict[str, list[str] | Callable[[], list[str]]]:
    """Arguments after `stackwright`, or a function giving them after its setup; ``{name}`` is an id an earlier recipe kept."""
    files = w.tmp / "cli-files"
    files.mkdir(exist_ok=True)
    (files / "policy.yaml").write_text(json.dumps({"name": "cli-policy", **POLICY}))
    (files / "prompt.yaml").write_text(json.dumps({**PROMPT, "name": "cli-prompt"}))
    (files / "gateway.yaml").write_text(json.dumps({"models": [LOCAL_MODEL]}))
    (files / "items.jsonl").write_text(json.dumps({"input": {"question": "refunds?"}, "expected": "30 days"}) + "\n")
    (files / "doc.md").write_text("# Refunds\n\nRefunds are possible within 30 days.\n")
    spec = {"name": "cli-eval", "dataset": "cli-cases", "target": {"model": LOCAL_MODEL["name"]}, "scorers": ["contains"]}
    (files / "spec.yaml").write_text(json.dumps(spec))

    def invitations_create() -> list[str]:
        w.cli.ok("users", "create", "cli-invitee@example.com", "--no-password", "--project", "cli-project")  # a user elsewhere
        return ["invitations", "create", "cli-invitee@example.com", "--project", "default"]

    return {
        "projects create": ["projects", "create", "cli-project"],
        "users create": ["users", "create", "cli-user@example.com", "--no-password", "--project", "default"],
        "users add": ["users", "add", "cli-user@example.com", "--project", "cli-project", "--role", "viewer"],
        "users set-password": ["users", "set-password", "cli-user@example.com", "--password-stdin"],
        "invitations create": invitations_create,
        "invitations decline": ["invitations", "decline", "{invitation}", "--user", "cli-invitee@example.com"],
        "invitations accept": lambda: ["invitations", "accept", cli_invitation(w, "cli-invitee@example.com"), "--user", "cli-invitee@example.com"],
        "invitations revoke": lambda: ["invitations", "revoke", cli_invitation(w, "cli-other@example.com"), "--project", "default"],
        "keys create": ["keys", "create", "--project", "default", "--name", "cli-key"],
        "keys limits": ["keys", "limits", "cli-key", "--rpm", "60"],
        "keys budget": ["keys", "budget", "cli-key", "--daily", "5"],
        "keys revoke": ["keys", "revoke", "{key}"],
        "gateway apply": ["gateway", "apply", str(files / "gateway.yaml")],
        "prompts push": ["prompts", "push", str(files / "prompt.yaml")],
        "prompts label": ["prompts", "label", "cli-prompt", "staging", "1"],
        "prompts protect": ["prompts", "protect", "cli-prompt", "production", "audited"],
        "releases set": ["releases", "set", "cli.route", "--env", "prod", "--prompt", "cli-prompt@1", "--model", LOCAL_MODEL["name"]],
        "releases canary": ["releases", "canary", "cli.route", "--env", "prod", "--prompt", "cli-prompt@staging", "--share", "0.1"],
        "releases rules": ["releases", "rules", "cli.route", "--env", "prod", "--rollback-error-rate-margin", "0.05"],
        "releases promote": ["releases", "promote", "cli.route", "--env", "prod"],
        "releases rollback": ["releases", "rollback", "cli.route", "--env", "prod", "--reason", "audit test"],
        "prompts unlabel": ["prompts", "unlabel", "cli-prompt", "staging"],
        "guardrails apply": ["guardrails", "apply", str(files / "policy.yaml")],
        "guardrails delete": ["guardrails", "delete", "cli-policy", "--yes"],
        "collections create": ["collections", "create", "cli-docs"],
        "ingest": ["ingest", str(files / "doc.md"), "--collection", "cli-docs"],
        "collections delete": ["collections", "delete", "cli-docs", "--yes"],
        "datasets import": ["datasets", "import", "cli-cases", str(files / "items.jsonl")],
        "datasets add-item": ["datasets", "add-item", "cli-cases", "--input", '{"question": "hours?"}'],
        "datasets update-item": ["datasets", "update-item", "cli-cases", "{item}", "--expected", '"9 to 5"'],
        "datasets remove-item": ["datasets", "remove-item", "cli-cases", "{item}"],
        "datasets add-from-traces": ["datasets", "add-from-traces", "cli-cases", "--limit", "5"],
        "evals run": ["evals", "run", str(files / "spec.yaml"), "--name", "cli-run"],
        "evals resume": ["evals", "resume", "cli-run"],
        "evals online set": ["evals", "online", "set", "cli-rule", "--scorer", "contains", "--rate", "0.5"],
        "evals online remove": ["evals", "online", "remove", "cli-rule"],
        "jobs run": ["jobs", "run", "--kind", "noop"],
        "jobs cancel": ["jobs", "cancel", "{job}"],
        "jobs schedule": ["jobs", "schedule", "cli-nightly", "--cron", "0 3 * * *", "--kind", "noop"],
        "jobs unschedule": ["jobs", "unschedule", "cli-nightly"],
        "traces settings": ["traces", "settings", "--retention-days", "30"],
        "traces delete": ["traces", "delete", "--user-id", "cli-forget-me", "--yes"],
    }


# -- the tests ------------------------------------------------------------------------------------------------------


def test_every_mutating_route_has_a_recipe_or_an_exemption(world: World) -> None:
    routes = mutating_routes(world.app)
    unknown = sorted(routes - set(ROUTE_RECIPES) - set(EXEMPT_ROUTES))
    stale = sorted((set(ROUTE_RECIPES) | set(EXEMPT_ROUTES)) - routes)
    both = sorted(set(ROUTE_RECIPES) & set(EXEMPT_ROUTES))
    problems = [f"{m} {p}: no recipe; add one to ROUTE_RECIPES in {THIS_FILE} (or, if it changes nothing, to EXEMPT_ROUTES with why)"
                for m, p in unknown]  # fmt: skip
    problems += [f"{m} {p}: listed in {THIS_FILE} but no longer in /openapi.json; remove it" for m, p in stale]
    problems += [f"{m} {p}: both a recipe and an exemption" for m, p in both]
    assert not problems, "\n".join(problems)


def test_every_mutating_route_outside_the_schema_is_classified(world: World) -> None:
    from fastapi.routing import APIRoute

    from stackwright.core.layers import routers_in_mount_order

    routes = [r for router in routers_in_mount_order() for r in router.routes if isinstance(r, APIRoute)]
    hidden = {(m, r.path) for r in routes if not r.include_in_schema for m in r.methods if m in MUTATING}
    problems = [f"{m} {p}: not in /openapi.json and not classified; give it an audit recipe or add it to EXEMPT_PAGE_ROUTES "
                f"in {THIS_FILE} with why" for m, p in sorted(hidden - set(EXEMPT_PAGE_ROUTES) - set(PAGE_RECIPES))]  # fmt: skip
    problems += [f"{m} {p}: listed in EXEMPT_PAGE_ROUTES or PAGE_RECIPES but no longer served; remove it"
                 for m, p in sorted((set(EXEMPT_PAGE_ROUTES) | set(PAGE_RECIPES)) - hidden)]  # fmt: skip
    problems += [f"{m} {p}: both a page recipe and an exemption" for m, p in sorted(set(PAGE_RECIPES) & set(EXEMPT_PAGE_ROUTES))]
    assert not problems, "\n".join(problems)


def test_every_mutating_page_route_writes_an_audit_entry(world: World) -> None:
    problems = []
    for (method, path), recipe in PAGE_RECIPES.items():
        response = recipe(world)
        if response.status_code != 303:  # a done form redirects; anything else is its error page
            problems.append(f"{method} {path}: the recipe's form answered {response.status_code}: {response.text[:300]}")
            continue
        entries = world.entries(request_id=world.request_id)
        if not entries:
            problems.append(f"{method} {path}: answered {response.status_code} but wrote no audit entry (request id {world.request_id})")
        problems += [f"{method} {path}: audit entry {e.action!r} by {e.actor!r}, not the signed-in user" for e in entries
                     if e.actor != f"web:{TEST_ADMIN_EMAIL}"]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_every_mutating_route_writes_an_audit_entry(world: World) -> None:
    problems = []
    for (method, path), recipe in ROUTE_RECIPES.items():
        response = recipe(world)
        if not response.is_success:
            problems.append(f"{method} {path}: the recipe's request answered {response.status_code}: {response.text[:300]}")
            continue
        entries = world.entries(request_id=world.request_id)
        if not entries:
            problems.append(f"{method} {path}: answered {response.status_code} but wrote no audit entry (request id {world.request_id})")
            continue
        for entry in entries:
            if not entry.actor.startswith("key:") or not entry.action or not entry.object_type or not entry.object_id:
                problems.append(f"{method} {path}: incomplete audit entry {entry.action!r} by {entry.actor!r} on {entry.object_type}:{entry.object_id}")
    assert not problems, "\n".join(problems)


def test_every_cli_command_is_classified(world: World) -> None:
    commands = cli_commands()
    mutating = set(cli_recipes(world))
    unknown = sorted(commands - mutating - READ_ONLY_COMMANDS - set(EXEMPT_COMMANDS))
    stale = sorted((mutating | READ_ONLY_COMMANDS | set(EXEMPT_COMMANDS)) - commands)
    problems = [f"`stackwright {c}`: not classified; add a recipe to cli_recipes in {THIS_FILE}, or list it in READ_ONLY_COMMANDS "
                f"or EXEMPT_COMMANDS with why" for c in unknown]  # fmt: skip
    problems += [f"`stackwright {c}`: classified in {THIS_FILE} but no longer a command; remove it" for c in stale]
    assert not problems, "\n".join(problems)


def test_every_mutating_cli_command_writes_an_audit_entry(world: World) -> None:
    world.trace(user_id="cli-forget-me")  # for datasets add-from-traces and traces delete
    problems = []
    for command, recipe in cli_recipes(world).items():
        args = [world.ids.get(a[1:-1], a) if a.startswith("{") else a for a in (recipe() if callable(recipe) else recipe)]
        before = world.last_audit_id()
        extra = ("--json",) if command in JSON_OUTPUT else ()
        result = world.cli(*args, *extra, input=CLI_INPUT.get(command))
        if result.exit_code != 0:
            problems.append(f"`stackwright {command}` exited {result.exit_code}: {(result.stderr or result.stdout)[:300]}")
            continue
        remember(world, command, result.stdout)
        entries = [e for e in world.entries(after_id=before) if e.actor.startswith("cli:")]
        if not entries:
            problems.append(f"`stackwright {command}` succeeded but wrote no audit entry by the CLI's actor")
    assert not problems, "\n".join(problems)


CLI_INPUT = {"users set-password": "a new long password\n"}  # what a command reads from stdin
JSON_OUTPUT = {"invitations create": ("invitation", "id"), "keys create": ("key", "id"), "datasets add-item": ("item", "item_id"), "datasets update-item": ("item", "item_id"),
               "jobs run": ("job", "id")}  # fmt: skip


def remember(w: World, command: str, stdout: str) -> None:
    """Ids a later recipe needs, from a command's --json output."""
    if command in JSON_OUTPUT:
        name, key = JSON_OUTPUT[command]
        w.ids[name] = json.loads(stdout)[key]


def test_entries_of_formerly_unaudited_changes_say_what_changed(world: World) -> None:
    """Guardrail policies and online rules: create/update/delete with before and after, no check parameters."""
    secret_fallback = "a fallback text that stays out of the audit log"
    first = {"route": "r", "input": [{"check": "pii", "action": "redact"}], "output": []}
    second = {**first, "output": [{"check": "json_schema", "action": "block", "schema": {"type": "object"}, "fallback": secret_fallback}]}
    for body in (first, first, second):  # the repeat changes nothing and is not audited
        assert world.call("PUT", "/api/v1/guardrails/policies/detail-policy", json=body).is_success
    assert world.call("DELETE", "/api/v1/guardrails/policies/detail-policy").is_success
    policy = [(e.action, e.before, e.after) for e in world.entries(object_type="guardrail_policy", object_id="detail-policy")]
    created = {"route": "r", "revision": 1, "input": ["pii:redact"], "output": []}
    updated = {**created, "revision": 2, "output": ["json_schema:block"]}
    assert policy == [("guardrail_policy.create", None, created), ("guardrail_policy.update", created, updated),
                      ("guardrail_policy.delete", updated, None)]  # fmt: skip
    assert secret_fallback not in json.dumps([e.after for e in world.entries(object_type="guardrail_policy")])

    rule = {"sample_rate": 0.25, "scorers": ["contains"], "filter": {"route": "r"}}
    assert world.call("PUT", "/api/v1/evals/online/rules/detail-rule", json=rule).is_success
    assert world.call("DELETE", "/api/v1/evals/online/rules/detail-rule").is_success
    entries = world.entries(object_type="online_rule", object_id="detail-rule")
    stored = {"filter": {"route": "r"}, "sample_rate": 0.25, "scorers": ["contains"], "enabled": True}
    assert [(e.action, e.before, e.after) for e in entries] == [("online_rule.set", None, stored), ("online_rule.delete", stored, None)]
    project_id = world.api.get("/api/v1/me").json()["project"]["id"]
    assert {e.project_id for e in [*entries, *world.entries(object_id="detail-policy")]} == {project_id}
