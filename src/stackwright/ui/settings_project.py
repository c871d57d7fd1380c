"""Settings: the project's trace retention and model price overrides (`/ui/settings/project`).

Every change goes through the tracing service the API's PUT /api/v1/traces/settings calls, which refuses anyone
below admin; a viewer or member sees the values read-only. Prices are USD per million tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from stackwright.core.deps import get_db
from stackwright.core.errors import InvalidInput
from stackwright.tracing.admin import retention
from stackwright.ui.pages import UserDep, WebUser, page_router
from stackwright.ui.settings import SETTINGS, checked_form, settings_page, web_actor

router = page_router()
PROJECT = f"{SETTINGS}/project"
MAX_RETENTION_DAYS = 3650
MAX_MODEL_CHARS = 200
DONE = {  # ?done= codes: fixed texts, never echoed input
    "retention": "Retention saved.",
    "price": "Price saved. New spans of that model are priced with it.",
    "price-removed": "Price override removed; that model's catalog price applies again.",
}


def _project_page(request: Request, user: WebUser, status: int = 200, **context: Any) -> Response:
    with get_db(request).read() as session:
        current = retention.get_settings(session, user.project_id)
    context.setdefault("errors", {})
    blank = {"retention_days": current["retention_days"] or "", "model": "", "input_per_mtok": "", "output_per_mtok": ""}
    context["values"] = {**blank, **context.get("values", {})}  # what was typed into the failed form, else the stored values
    return settings_page(
        request, "settings_project.html", user, status, manager=web_actor(request, user).has_scope("admin"),
        current=current, prices=sorted(current["prices"].items()), max_days=MAX_RETENTION_DAYS,
        notice=DONE.get(request.query_params.get("done", "")), **context,
    )  # fmt: skip


@router.get(PROJECT)
def project_page(request: Request, user: UserDep) -> Response:
    return _project_page(request, user)


def _retention_days(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"Give a whole number of days from 1 to {MAX_RETENTION_DAYS}, or leave it empty to keep traces forever."
        )
    return int(raw)


def _price(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidInput("Give a price in USD per million tokens: a number of 0 or more, e.g. 2.5.")
    return value


def _save(request: Request, user: WebUser, changes: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Apply ``changes`` (the current settings -> the fields to replace) in one transaction, through the service."""
    with get_db(request).write() as session:
        current = retention.get_settings(session, user.project_id)
        retention.update_settings(session, web_actor(request, user), user.project_id, **changes(current))
    request.app.state.pricers.forget(user.project_id)  # new spans use the new prices at once


@router.post(f"{PROJECT}/retention")
async def set_retention(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    raw = form.get("retention_days", "")[:20]
    try:
        days = _retention_days(raw)
    except InvalidInput as exc:
        return _project_page(request, user, 400, values={"retention_days": raw}, errors={"retention_days": exc.message})
    _save(request, user, lambda _: {"retention_days": days})
    return RedirectResponse(f"{PROJECT}?done=retention", status_code=303)


@router.post(f"{PROJECT}/prices")
async def set_price(request: Request, user: UserDep) -> Response:
    """Add a model's price override, or replace the one it has."""
    form = await checked_form(request, user)
    values = {name: form.get(name, "")[: MAX_MODEL_CHARS + 1] for name in ("model", "input_per_mtok", "output_per_mtok")}
    errors: dict[str, str] = {}
    model = values["model"].strip()
    if not model or len(model) > MAX_MODEL_CHARS or "\x00" in model:
        errors["model"] = f"Give the model's name as spans report it: 1 to {MAX_MODEL_CHARS} characters."
    prices: dict[str, float] = {}
    for name in ("input_per_mtok", "output_per_mtok"):
        try:
            prices[name] = _price(values[name])
        except InvalidInput as exc:
            errors[name] = exc.message
    if errors:
        return _project_page(request, user, 400, values=values, errors=errors)
    _save(request, user, lambda current: {"prices": {**current["prices"], model: prices}})
    return RedirectResponse(f"{PROJECT}?done=price", status_code=303)


@router.post(f"{PROJECT}/prices/remove")
async def remove_price(request: Request, user: UserDep) -> Response:
    form = await checked_form(request, user)
    model = form.get("model", "")

    def without(current: dict[str, Any]) -> dict[str, Any]:
        if model not in current["prices"]:
            raise InvalidInput("That model has no price override in this project; reload the page to see the current list.")
        return {"prices": {m: p for m, p in current["prices"].items() if m != model}}

    _save(request, user, without)
    return RedirectResponse(f"{PROJECT}?done=price-removed", status_code=303)
