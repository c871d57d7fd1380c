"""Settings: the project's audit log (`/ui/settings/audit?actor=&action=&since=&until=&cursor=`), newest first,
paged by cursor. Admins and owners only, like GET /api/v1/audit; filters live in the URL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from stackwright.auth import audit
from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput
from stackwright.ui.pages import UserDep, page_router
from stackwright.ui.settings import SETTINGS, settings_page, web_actor

router = page_router()
FILTERS = ("actor", "action", "since", "until")
PAGE_SIZE = 50


def _time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{raw[:40]!r} is not a time: use ISO 8601, e.g. 2026-05-01 or 2026-05-01T12:00Z.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _change(entry: Any) -> str:
    if entry.before is None and entry.after is None:
        return ""
    return json.dumps({"before": entry.before, "after": entry.after}, indent=2, ensure_ascii=False, default=str)[:5000]


@router.get(f"{SETTINGS}/audit")
def audit_page(request: Request, user: UserDep) -> Response:
    values = {name: request.query_params.get(name, "").strip()[:200] for name in FILTERS}
    manager = web_actor(request, user).has_scope("admin")
    errors: dict[str, str] = {}
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name in times:
        if values[name]:
            try:
                times[name] = _time(values[name])
            except InvalidInput as exc:
                errors[name] = exc.message
    rows: list[Any] = []
    next_cursor = problem = None
    if manager and not errors:
        try:
            with get_db(request).read() as session:
                rows, next_cursor = audit.list_entries(
                    session, user.project_id, actor=values["actor"] or None, action=values["action"] or None,
                    since=times["since"], until=times["until"], cursor=request.query_params.get("cursor") or None, limit=PAGE_SIZE,
                )  # fmt: skip
        except InvalidInput as exc:
            problem = exc.message
    shared = {k: v for k, v in values.items() if v}
    return settings_page(
        request, "settings_audit.html", user, manager=manager, values=values, errors=errors, problem=problem,
        rows=[{"entry": e, "change": _change(e)} for e in rows],
        next_query={**shared, "cursor": next_cursor} if next_cursor else None,
    )  # fmt: skip
