"""A release's automatic-rollback rules and promotion requirement (`POST /ui/releases/{route}/rules`).

The form edits what `stackwright releases rules` and `PUT /api/v1/releases/{route}/rules` edit, through the same
service call (`releases.service.set_rules`): it checks the role (members may set rules and add a requirement;
changing or removing an existing requirement needs admin) and audits the change. Margins are typed as people read
them: the error-rate margin in percentage points, p95 in milliseconds, score margins as ``name: margin`` lines.
Leaving every margin empty clears the rules; an empty requirement clears it.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.core.errors import Conflict, InvalidInput
from stackwright.releases import service
from stackwright.ui.pages import UserDep, page_router
from stackwright.ui.releases import RELEASES, apply_change, changed, form_revision, release_page
from stackwright.ui.settings import checked_form, web_actor

router = page_router()
FIELDS = ("error_rate", "p95_ms", "scores", "min_requests", "require_eval")
MAX_SCORE_LINES = 50


class _Bad(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _number(values: dict[str, str], field: str, what: str) -> float | None:
    text = values[field].strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise _Bad(field, f"{what}: give a number of 0 or more, or leave it empty for no such rule.")
    return number


def _scores(text: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_SCORE_LINES:
        raise _Bad("scores", f"At most {MAX_SCORE_LINES} score rules.")
    for line in lines:
        name, sep, raw = line.rpartition(":")
        try:
            margin = float(raw)
        except ValueError:
            margin = math.nan
        if not sep or not name.strip() or not math.isfinite(margin) or margin < 0:
            raise _Bad("scores", f"Score rule {line[:80]!r} is not 'name: margin' (e.g. 'helpfulness: 0.1').")
        scores[name.strip()] = margin
    return scores


def parse_rules_form(values: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """(rollback rules or None to clear them, required evaluation or None) from the form's text."""
    error_rate = _number(values, "error_rate", "Error-rate margin (percentage points)")
    p95 = _number(values, "p95_ms", "p95 margin (ms)")
    scores = _scores(values["scores"])
    raw_min = values["min_requests"].strip() or "100"
    if not raw_min.isdigit():
        raise _Bad("min_requests", "Minimum requests per arm: give a whole number of 1 or more.")
    rules = None
    if error_rate is not None or p95 is not None or scores:
        rules = {"error_rate_margin": None if error_rate is None else error_rate / 100, "p95_margin_ms": p95,
                 "scores": scores, "min_requests": int(raw_min)}  # fmt: skip
    return rules, values["require_eval"].strip() or None


def _field_of(message: str) -> str:
    for needle, field in (("error_rate_margin", "error_rate"), ("p95_margin_ms", "p95_ms"), ("min_requests", "min_requests"),
                          ("Score rule", "scores"), ("scores", "scores"), ("Evaluation name", "require_eval")):  # fmt: skip
        if needle in message:
            return field
    return "rules"


@router.post(RELEASES + "/{route}/rules")
async def set_rules(request: Request, route: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    env = form.get("env", "")
    values = {name: form.get(name, "")[:2000] for name in FIELDS}
    try:
        rules, required = parse_rules_form(values)
    except _Bad as bad:
        return release_page(request, user, route, env, 400, rules_values=values, errors={bad.field: bad.message})
    actor = web_actor(request, user)
    refused = apply_change(request, user, route, env, lambda session: service.set_rules(
        session, actor, user.project_id, route, env, rollback_rules=rules, require_eval=required,
        expected_revision=form_revision(form)))  # fmt: skip
    if isinstance(refused, Conflict):
        return release_page(request, user, route, env, 409, rules_values=values, problem=refused.message)
    if isinstance(refused, InvalidInput):
        return release_page(request, user, route, env, 400, rules_values=values, errors={_field_of(refused.message): refused.message})
    if refused is not None:
        return release_page(request, user, route, env, refused.status, rules_values=values, problem=refused.message)
    return changed(request, user.project_id, route, env, "rules")
