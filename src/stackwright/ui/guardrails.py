"""Guardrails (`/ui/guardrails`): the project's policies as YAML, an editor that validates before saving (YAML
syntax and policy errors shown at their line), recent decisions with their traces, and a try-it box.

Saving goes through the guardrails service the API's PUT calls (members and above; a stale revision is
refused); the try-it box runs a policy's checks on a text the way POST /api/v1/guardrails/check does.
Decisions are the guardrail spans the gateway writes into each request's trace, read newest first from
the project's span index, a bounded number per page.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select, tuple_

from stackwright.core.deps import get_db
from stackwright.core.errors import Conflict, Forbidden, InvalidInput
from stackwright.evals.spec import SpecError, SpecSource
from stackwright.guardrails import policy as policy_spec
from stackwright.guardrails import service
from stackwright.guardrails.api import forget_policies
from stackwright.tracing.models import Span
from stackwright.tracing.queries import iso
from stackwright.ui.nav import NavEntry, add_nav
from stackwright.ui.pages import UserDep, WebUser, page_router, render
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
GUARDRAILS = "/ui/guardrails"
add_nav(NavEntry("Guardrails", GUARDRAILS, 38))

MAX_YAML_CHARS = 100_000
MAX_TEXT_CHARS = 100_000
PAGE_SIZE = 50
SCAN = 1000  # guardrail spans read at most per decisions page (the outcome filter runs over them)
OUTCOMES = ("blocked", "redacted", "flagged", "fallback", "reasked", "passed")
DONE = {"saved": "Policy saved. The gateway applies it to new requests at once.", "created": "Policy created.",
        "unchanged": "Nothing changed: the policy is as it was.",
        "deleted": "Policy deleted. The gateway stops applying it to new requests at once."}  # fmt: skip
NEW_POLICY = """name: my-policy
route: "*"            # a release route (support.answer), a gateway model name, or * for every request
description: ""
input:
  - {check: pii, action: redact}
  - {check: prompt_injection, action: block}
output:
  - {check: secrets, action: redact}
"""


def _can_edit(request: Request, user: WebUser) -> bool:
    return web_actor(request, user).has_scope("write")


def policy_yaml(data: dict[str, Any]) -> str:
    shown = {key: data[key] for key in policy_spec.TOP_KEYS if data.get(key) not in (None, "")}
    return str(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True, width=120))


@router.get(GUARDRAILS)
def guardrails_home(request: Request, user: UserDep) -> Response:
    with get_db(request).read() as session:
        policies = service.list_policies(session, user.project_id)
        decisions, _ = recent_decisions(session, user.project_id, None, None, 10)
    return render(request, "guardrails.html", user=user, policies=policies, decisions=decisions, editor=_can_edit(request, user),
                  notice=DONE.get(request.query_params.get("done", "")))  # fmt: skip


# -- the editor ------------------------------------------------------------------------------------


def _editor(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    context.setdefault("problems", [])
    context.setdefault("bad_lines", set())
    lines = context["text"].split("\n")
    return render(request, "guardrails_policy.html", status, user=user, editor=_can_edit(request, user), lines=lines,
                  notice=DONE.get(request.query_params.get("done", "")), **context)  # fmt: skip


@router.get(GUARDRAILS + "/new")
def new_policy_form(request: Request, user: UserDep) -> Response:
    return _editor(request, user, name=None, revision=0, text=NEW_POLICY, stored=None)


@router.get(GUARDRAILS + "/policies/{name}")
def policy_page(request: Request, name: str, user: UserDep) -> Response:
    with get_db(request).read() as session:
        stored = service.payload(service.get_row(session, user.project_id, name[:128]))
    return _editor(request, user, name=stored["name"], revision=stored["revision"], text=policy_yaml(stored), stored=stored)


def _checked_policy(text: str, name: str | None) -> policy_spec.Policy:
    """The policy in ``text``, validated as the API validates it; SpecError (with its line) otherwise."""
    if len(text) > MAX_YAML_CHARS:
        raise SpecError(f"The policy is longer than {MAX_YAML_CHARS} characters.", details={"line": None})
    policy = policy_spec.parse_text(text, "policy")
    if name is not None and policy.name != name:
        source = SpecSource("policy", yaml.compose(text, Loader=yaml.SafeLoader))
        raise source.error(("name",), f"this page edits the policy {name!r}; to make another policy use New policy")
    return policy


async def _save(request: Request, user: WebUser, name: str | None) -> Response:
    form = await checked_form(request, user)
    if not _can_edit(request, user):  # the service refuses too; this spares a viewer the validation of a form they cannot submit
        raise Forbidden("Changing guardrail policies needs the member role or above in the project.")
    text = form.get("policy", "").replace("\r\n", "\n")
    revision_raw = form.get("revision", "")
    revision = int(revision_raw) if revision_raw.isdigit() else -1
    stored = None
    if name is not None:
        with get_db(request).read() as session:
            stored = service.payload(service.get_row(session, user.project_id, name[:128]))
    context = {"name": name, "revision": revision, "text": text, "stored": stored}
    try:
        policy = _checked_policy(text, name)
        with get_db(request).write() as session:
            _, state = service.put_policy(session, web_actor(request, user), user.project_id, policy, expected_revision=revision)
    except SpecError as exc:
        line = (exc.details or {}).get("line")
        return _editor(request, user, 400, problems=[exc.message], bad_lines={line} if line else set(), **context)
    except Conflict as exc:
        return _editor(request, user, 409, problems=[exc.message], **context)
    forget_policies(request, user.project_id)  # this process applies the change at once, as after the API's PUT
    done = "unchanged" if state == "unchanged" else "created" if name is None else "saved"
    return RedirectResponse(f"{GUARDRAILS}/policies/{policy.name}?done={done}", status_code=303)


@router.post(GUARDRAILS + "/new")
async def create_policy(request: Request, user: UserDep) -> Response:
    return await _save(request, user, None)


@router.post(GUARDRAILS + "/policies/{name}")
async def save_policy(request: Request, name: str, user: UserDep) -> Response:
    return await _save(request, user, name)


# -- recent decisions ------------------------------------------------------------------------------


def outcome_of(attrs: dict[str, Any]) -> str:
    if not attrs.get("guardrail.triggered"):
        return "passed"
    return {"block": "blocked", "redact": "redacted", "flag": "flagged", "fallback": "fallback", "reask": "reasked"}.get(
        str(attrs.get("guardrail.action")), "flagged")  # fmt: skip


def _decision(row: Any) -> dict[str, Any]:
    import orjson

    attrs = row.attributes or {}
    try:
        reasons = orjson.loads(attrs.get("guardrail.reasons") or "[]")
    except orjson.JSONDecodeError:
        reasons = []
    return {
        "trace_id": row.trace_id, "span_id": row.span_id, "time": iso(row.start_ns), "check": attrs.get("guardrail.check", ""),
        "direction": attrs.get("guardrail.direction", ""), "action": attrs.get("guardrail.action", ""), "outcome": outcome_of(attrs),
        "score": attrs.get("guardrail.score"), "reasons": [str(r) for r in reasons][:5] if isinstance(reasons, list) else [],
    }  # fmt: skip


def recent_decisions(session: Any, project_id: str, outcome: str | None, cursor: tuple[int, int] | None,
                     limit: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:  # fmt: skip
    """Up to ``limit`` decisions (newest first) among the next SCAN guardrail spans before ``cursor``; the cursor
    of the next page, or None at the end."""
    query = (select(Span.id, Span.trace_id, Span.span_id, Span.start_ns, Span.attributes)
             .where(Span.project_id == project_id, Span.kind == "guardrail")
             .order_by(Span.start_ns.desc(), Span.id.desc()).limit(SCAN))  # fmt: skip
    if cursor is not None:
        query = query.where(tuple_(Span.start_ns, Span.id) < tuple_(*cursor))
    rows = list(session.execute(query))
    found: list[dict[str, Any]] = []
    for row in rows:
        decision = _decision(row)
        if outcome is None or decision["outcome"] == outcome:
            found.append(decision)
            if len(found) == limit:
                return found, (row.start_ns, row.id)
    return found, (rows[-1].start_ns, rows[-1].id) if len(rows) == SCAN else None


@router.get(GUARDRAILS + "/decisions")
def decisions_page(request: Request, user: UserDep) -> Response:
    outcome = request.query_params.get("outcome", "")
    raw_cursor = request.query_params.get("cursor", "")
    errors: dict[str, str] = {}
    if outcome and outcome not in OUTCOMES:
        errors["outcome"] = f"Pick one of {', '.join(OUTCOMES)}."
    cursor = None
    if raw_cursor:
        parts = raw_cursor.split("-")
        if len(parts) != 2 or not all(p.isdigit() and len(p) < 20 for p in parts):
            errors["cursor"] = "That page link is not valid; start again from the first page."
        else:
            cursor = (int(parts[0]), int(parts[1]))
    decisions: list[dict[str, Any]] = []
    next_cursor = None
    if not errors:
        with get_db(request).read() as session:
            decisions, next_cursor = recent_decisions(session, user.project_id, outcome or None, cursor, PAGE_SIZE)
    next_query = {"outcome": outcome, "cursor": f"{next_cursor[0]}-{next_cursor[1]}"} if next_cursor else None
    return render(request, "guardrails_decisions.html", 400 if errors else 200, user=user, decisions=decisions, outcome=outcome,
                  outcomes=OUTCOMES, errors=errors, next_query=next_query, scan=SCAN)  # fmt: skip


# -- try it ----------------------------------------------------------------------------------------


def _try_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    with get_db(request).read() as session:
        names = [p["name"] for p in service.list_policies(session, user.project_id)]
    context.setdefault("values", {"policy": request.query_params.get("policy", "") or (names[0] if names else ""),
                                  "direction": "input", "text": ""})  # fmt: skip
    context.setdefault("errors", {})
    context.setdefault("result", None)
    return render(request, "guardrails_try.html", status, user=user, names=names, **context)


@router.get(GUARDRAILS + "/try")
def try_form(request: Request, user: UserDep) -> Response:
    return _try_page(request, user)


@router.post(GUARDRAILS + "/try")
async def try_policy(request: Request, user: UserDep) -> Response:
    from starlette.concurrency import run_in_threadpool

    from stackwright.guardrails import acheck_text
    from stackwright.guardrails.api import judge_llm

    form = await checked_form(request, user)
    values = {key: form.get(key, "") for key in ("policy", "direction", "text")}
    errors: dict[str, str] = {}
    if values["direction"] not in ("input", "output"):
        errors["direction"] = "Check an input (a user message) or an output (an answer)."
    if not values["text"].strip():
        errors["text"] = "Type a text to check."
    elif len(values["text"]) > MAX_TEXT_CHARS:
        errors["text"] = f"The text is longer than {MAX_TEXT_CHARS} characters."
    policy = None
    if not errors:

        def load() -> Any:
            with get_db(request).read() as session:
                return service.get_policy(session, user.project_id, values["policy"][:128])

        policy = await run_in_threadpool(load)
    result = None
    if policy is not None:
        specs = policy.input if values["direction"] == "input" else policy.output
        if not specs:
            errors["direction"] = f"The policy {policy.name!r} has no {values['direction']} checks."
        else:
            try:
                llm = await judge_llm(request, user.project_id)
                result = await acheck_text(specs, values["text"], values["direction"], None, llm)
            except InvalidInput as exc:  # a check that cannot run here (e.g. its judge model is unknown)
                errors["policy"] = exc.message
    return _try_page(request, user, 400 if errors else 200, values=values, errors=errors, result=result)
