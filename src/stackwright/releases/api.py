"""REST routes of the releases layer, under /api/v1/releases, scoped to the key's project.

Scopes: read to resolve, list, show status and history; write to set, canary, promote, roll back, check
and change rules; changing or clearing an existing promotion requirement needs admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.releases import service
from stackwright.releases.schemas import ActionIn, CanaryIn, CheckIn, RulesIn, SetIn

router = APIRouter(prefix="/api/v1", tags=["releases"])
Route = Annotated[str, Path(max_length=200, description="Route name, e.g. support.answer.")]
Env = Annotated[str, Query(min_length=1, max_length=64, description="Environment: dev, staging, production or custom.")]


def _changed(request: Request, project_id: str, route: str, env: str) -> None:
    from stackwright.releases.resolver import resolver_for

    resolver_for(request.app.state.db).forget(project_id, route, env)


@router.get("/releases", summary="Every release of the project (optionally one environment)")
def list_releases(
    caller: ReadCaller, session: SessionDep, env: Annotated[str | None, Query(max_length=64)] = None
) -> dict[str, Any]:
    return {"data": service.list_releases(session, caller.project_id, env)}


@router.get("/releases/{route}/resolve", summary="Which config serves this request: arm, config, shadow config")
def resolve(
    route: Route,
    env: Env,
    caller: ReadCaller,
    request: Request,
    subject: Annotated[str | None, Query(max_length=256, description="User or session id: the same one always gets the same arm.")] = None,
) -> dict[str, Any]:
    from stackwright.releases.resolver import resolver_for

    return resolver_for(request.app.state.db).resolve(caller.project_id, route, env, subject)


@router.get("/releases/{route}", summary="A release's stable and candidate configs, rules and last rollback")
def status(route: Route, env: Env, caller: ReadCaller, session: SessionDep) -> dict[str, Any]:
    return service.status_view(session, service.get_release(session, caller.project_id, route, env))


@router.get("/releases/{route}/history", summary="A release's changes, newest first")
def history(
    route: Route,
    env: Env,
    caller: ReadCaller,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    from stackwright.releases.history import change_view, list_changes

    row = service.get_release(session, caller.project_id, route, env)
    changes, next_cursor = list_changes(session, row, cursor=cursor, limit=limit)
    return {"data": [change_view(c) for c in changes], "next_cursor": next_cursor, "last_rollback": row.last_rollback}


@router.post("/releases/{route}/set", summary="Point the route at a stable config (creates the release)")
def set_stable(route: Route, body: SetIn, caller: WriteCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    result = service.set_stable(
        session, caller, caller.project_id, route, body.env, body.prompt, body.model, body.params, body.settings,
        expected_revision=body.expected_revision,
    )  # fmt: skip
    session.commit()
    _changed(request, caller.project_id, route, body.env)
    return result


@router.post("/releases/{route}/canary", summary="Start or adjust a candidate: canary, ab or shadow, with a share")
def canary(route: Route, body: CanaryIn, caller: WriteCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    given = body.model_fields_set
    result = service.start_candidate(
        session, caller, caller.project_id, route, body.env, body.prompt, share=body.share, mode=body.mode,
        model=body.model, params=body.params, settings=body.settings,
        require_eval=body.require_eval if "require_eval" in given else service.UNSET,
        rollback_rules=body.rollback_rules if "rollback_rules" in given else service.UNSET,
        expected_revision=body.expected_revision,
    )  # fmt: skip
    session.commit()
    _changed(request, caller.project_id, route, body.env)
    return result


@router.post("/releases/{route}/promote", summary="Make the candidate stable (if its required evaluation passed)")
def promote(route: Route, body: ActionIn, caller: WriteCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    result = service.promote(session, caller, caller.project_id, route, body.env, expected_revision=body.expected_revision)
    session.commit()
    _changed(request, caller.project_id, route, body.env)
    return result


@router.post("/releases/{route}/rollback", summary="Drop the candidate, or return to the previous stable config")
def rollback(route: Route, body: ActionIn, caller: WriteCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    result = service.rollback(
        session, caller, caller.project_id, route, body.env, reason=body.reason, expected_revision=body.expected_revision
    )
    session.commit()
    _changed(request, caller.project_id, route, body.env)
    return result


@router.put("/releases/{route}/rules", summary="Set or clear the automatic-rollback rules and the promotion requirement")
def rules(route: Route, body: RulesIn, caller: WriteCaller, session: SessionDep, request: Request) -> dict[str, Any]:
    given = body.model_fields_set  # a field sent as null clears it; a field left out stays as it is
    new_rules = body.rollback_rules if "rollback_rules" in given else service.UNSET
    new_eval = body.require_eval if "require_eval" in given else service.UNSET
    result = service.set_rules(
        session, caller, caller.project_id, route, body.env, rollback_rules=new_rules, require_eval=new_eval,
        expected_revision=body.expected_revision,
    )  # fmt: skip
    session.commit()
    _changed(request, caller.project_id, route, body.env)
    return result


@router.post("/releases/{route}/check", summary="Compare candidate and stable now; roll back if a rule is breached")
def check(route: Route, body: CheckIn, caller: WriteCaller, request: Request) -> dict[str, Any]:
    from stackwright.releases.guard import check_release

    return check_release(request.app.state.db, caller, caller.project_id, route, body.env, dry_run=body.dry_run)
