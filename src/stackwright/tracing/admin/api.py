"""REST routes for trace stats, scores, privacy deletes and retention settings (all scoped to the key's project)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from stackwright.auth.deps import AdminCaller, ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.core.schemas import Page
from stackwright.tracing.admin import retention, scores, stats
from stackwright.tracing.admin.schemas import (
    DeletedTraces,
    GroupBy,
    ScoreCreate,
    ScoreOut,
    ScoreSource,
    StatsOut,
    TraceSettingsIn,
    TraceSettingsOut,
)

router = APIRouter(prefix="/api/v1", tags=["tracing"])
TimeParam = Annotated[str | None, Query(max_length=64, description="ISO 8601 time (naive is UTC) or unix nanoseconds.")]
Text = Annotated[str | None, Query(max_length=256)]


@router.get("/traces/stats", response_model=StatsOut, summary="Count, errors, latency percentiles, tokens, cost, scores")
def trace_stats(
    caller: ReadCaller,
    session: SessionDep,
    start: TimeParam = None,
    end: TimeParam = None,
    model: Text = None,
    route: Text = None,
    environment: Text = None,
    prompt_name: Text = None,
    prompt_version: Text = None,
    status: Literal["ok", "error", "unset"] | None = None,
    group_by: GroupBy = "none",
    bucket: Annotated[str | None, Query(max_length=16, description="Time bucket width: 1m, 5m, 1h, 1d, ...")] = None,
) -> StatsOut:
    query = stats.StatsQuery(
        group_by=group_by,
        bucket=bucket or None,
        start_ns=stats.parse_time(start, "start"),
        end_ns=stats.parse_time(end, "end"),
        model=model,
        route=route,
        environment=environment,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        status=status,
    )
    return StatsOut.model_validate(stats.compute_stats(session, caller.project_id, query))


@router.post("/scores", response_model=ScoreOut, status_code=201, summary="Score a trace or span (numeric, boolean, categorical)")
def create_score(body: ScoreCreate, caller: WriteCaller, session: SessionDep) -> ScoreOut:
    score = scores.create_score(session, caller, caller.project_id, body)
    session.commit()
    return ScoreOut.model_validate(score)


@router.get("/scores", response_model=Page[ScoreOut], summary="Scores of the project, newest first")
def list_scores(
    caller: ReadCaller,
    session: SessionDep,
    trace_id: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    source: ScoreSource | None = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[ScoreOut]:
    rows, next_cursor = scores.list_scores(
        session, caller.project_id, trace_id=trace_id, name=name, source=source, cursor=cursor, limit=limit
    )
    return Page(data=[ScoreOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.delete("/scores/{score_id}", status_code=204, summary="Delete a score (audited)")
def delete_score(score_id: Annotated[int, Path(ge=1, le=2**63 - 1)], caller: WriteCaller, session: SessionDep) -> Response:
    scores.delete_score(session, caller, caller.project_id, score_id)
    session.commit()
    return Response(status_code=204)


@router.delete("/traces", response_model=DeletedTraces, summary="Privacy request: delete every trace of one end user")
def delete_user_traces(
    caller: AdminCaller,
    session: SessionDep,
    user_id: Annotated[str, Query(min_length=1, max_length=256, description="The end user's id (span attribute user.id).")],
) -> DeletedTraces:
    result = retention.delete_user_traces(session, caller, caller.project_id, user_id)
    session.commit()
    return DeletedTraces(**result)


@router.get("/traces/settings", response_model=TraceSettingsOut, summary="Retention and price overrides of the project")
def get_trace_settings(caller: AdminCaller, session: SessionDep) -> TraceSettingsOut:
    return TraceSettingsOut.model_validate(retention.get_settings(session, caller.project_id))


@router.put("/traces/settings", response_model=TraceSettingsOut, summary="Set retention and price overrides (fields sent are replaced)")
def put_trace_settings(body: TraceSettingsIn, caller: AdminCaller, session: SessionDep, request: Request) -> TraceSettingsOut:
    changes: dict[str, Any] = {}
    if "retention_days" in body.model_fields_set:
        changes["retention_days"] = body.retention_days
    if "prices" in body.model_fields_set:
        changes["prices"] = {model: price.model_dump() for model, price in (body.prices or {}).items()}
    result = retention.update_settings(session, caller, caller.project_id, **changes)
    session.commit()
    request.app.state.pricers.forget(caller.project_id)
    return TraceSettingsOut.model_validate(result)

