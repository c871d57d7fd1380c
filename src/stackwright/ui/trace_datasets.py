"""Add a trace to a dataset from its page (`POST /ui/traces/{trace_id}/datasets`): pick one of the project's
datasets or type a new name.

The form calls the datasets layer's `add_trace`, the one-trace form of the service behind
`POST /api/v1/datasets/{name}/from-traces`, with the signed-in user as the actor: the root span's input and output
become the item, personal data and secrets masked as the API masks them; the service refuses a viewer (403 page)
and audits the new version (`dataset.add_from_traces`). A bad name is shown beside its field. The confirmation
on the trace page links to the version's items (`/ui/datasets/{name}/versions/{version}`).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput
from stackwright.datasets.from_traces import add_trace
from stackwright.datasets.items import check_name
from stackwright.ui.pages import UserDep, page_router
from stackwright.ui.settings import checked_form, web_actor
from stackwright.ui.traces import trace_view

router = page_router()
MAX_NAME = 128


def _name_error(name: str) -> str | None:
    if not name:
        return "Choose a dataset or type a new name."
    if len(name) > MAX_NAME:
        return f"A dataset name has at most {MAX_NAME} characters; this one has {len(name)}."
    try:
        check_name(name)
    except InvalidInput as exc:
        return exc.message
    return None


@router.post("/ui/traces/{trace_id}/datasets")
async def add_to_dataset(request: Request, trace_id: str, user: UserDep) -> Response:
    form = await checked_form(request, user)
    values = {"dataset": form.get("dataset", "").strip(), "new_dataset": form.get("new_dataset", "").strip()}
    field = "new_dataset" if values["new_dataset"] else "dataset"
    name = values[field]
    problem = _name_error(name)
    if problem:
        return trace_view(request, user, trace_id, 400, dataset_form={"values": values, "errors": {field: problem}})
    try:
        with get_db(request).write() as session:
            result = add_trace(session, web_actor(request, user), user.project_id, name, trace_id)
    except InvalidInput as exc:  # e.g. a trace whose root span has no input
        return trace_view(request, user, trace_id, 400, dataset_form={"values": values, "errors": {field: exc.message}})
    trace = trace_id.strip().lower()  # found by the service, so 32 hex characters
    query = {"added": result["ref"], "item": result["item_id"], **({"held": "1"} if not result["added"] else {})}
    return RedirectResponse(f"/ui/traces/{trace}?{urlencode(query)}#dataset", status_code=303)
