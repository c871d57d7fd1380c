"""Add a score to a trace from its page (`POST /ui/traces/{trace_id}/scores`): name, value, comment.

The form calls the tracing layer's score service, as `POST /api/v1/scores` does, with the signed-in user as the
actor: the service refuses a viewer (403 page), and, like the API's, does not audit a new score (scores are
feedback telemetry; deleting one is audited). A value that is a number or true/false is stored as such,
anything else as a category label; what the service refuses is shown beside its field.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from stackwright.core.deps import get_db
from stackwright.tracing.admin.schemas import ScoreCreate
from stackwright.tracing.admin.scores import create_score
from stackwright.ui.pages import UserDep, page_router
from stackwright.ui.settings import checked_form, web_actor
from stackwright.ui.traces import trace_view

router = page_router()
FIELDS = ("name", "value", "comment")


def _value(raw: str) -> bool | float | str:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return float(raw)
    except ValueError:
        return raw


@router.post("/ui/traces/{trace_id}/scores")
async def add_score(request: Request, trace_id: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = {name: form.get(name, "").strip() for name in FIELDS}
    errors = {name: f"Give the score a {name}." for name in ("name", "value") if not values[name]}
    try:
        body = ScoreCreate(trace_id=trace_id, name=values["name"], value=_value(values["value"]),
                           comment=values["comment"] or None, source="human")  # fmt: skip
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "value"
            errors.setdefault(field if field in FIELDS else "value", error["msg"].removeprefix("Value error, "))
    if errors:
        return trace_view(request, user, trace_id, 400, {"values": values, "errors": errors})
    with get_db(request).write() as session:
        score = create_score(session, web_actor(request, user), user.project_id, body)
        trace = score.trace_id
    return RedirectResponse(f"/ui/traces/{trace}?done=score#scores", status_code=303)
