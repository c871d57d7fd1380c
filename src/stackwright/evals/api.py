"""REST routes of the evaluations layer: start a run (it runs in the background in this server, through
its gateway), resume one, list runs, one run with a page of cases, compare two runs.

Every route is scoped to the key's project: another project's run answers 404. Python targets and scorers
run only if the operator listed them in ``STACKWRIGHT_EVAL_PYTHON_ALLOW`` (``evals.trust``), whatever the
key: a spec naming other code answers 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import ReadCaller, WriteCaller
from stackwright.core.deps import SessionDep
from stackwright.core.responses import JSONBody
from stackwright.evals.trust import CodePolicy

router = APIRouter(prefix="/api/v1", tags=["evals"])

RunRef = Annotated[str, Path(max_length=200, description="Run id, or the name of the newest run with that name.")]
SPEC_EXAMPLE = {
    "name": "support-regression",
    "dataset": "support-cases@3",
    "target": {"prompt": "support-answer@staging"},
    "scorers": ["contains", {"type": "llm_judge", "rubric": "Answers only from the context", "model": "judge"}],
    "concurrency": 16,
    "gate": {"contains": {"min_mean": 0.9}},
}


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, Any] | str = Field(description="The eval spec: an object, or YAML text.", examples=[SPEC_EXAMPLE])
    name: str | None = Field(default=None, max_length=200, description="Run name (default: spec name + timestamp).")
    repeat: int | None = Field(default=None, ge=1, le=100, description="Run every case N times (overrides the spec).")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Seed (overrides the spec).")


@router.post("/evals/runs", summary="Start an eval run (runs in the background; poll GET /evals/runs/{id})", status_code=202)
async def start_run(request: Request, caller: WriteCaller, body: RunIn) -> JSONBody:
    from starlette.concurrency import run_in_threadpool

    from stackwright.evals import service
    from stackwright.evals.launch import launch
    from stackwright.evals.spec import from_payload

    spec = from_payload(body.spec, CodePolicy.server(request.app.state.settings))
    prepared = await launch(request.app.state, caller, caller.project_id, spec, name=body.name, repeat=body.repeat, seed=body.seed)

    def read() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            return service.run_payload(service.find_run(session, caller.project_id, prepared.run_id))

    return JSONBody(await run_in_threadpool(read), status_code=202)


@router.post("/evals/runs/{run}/resume", summary="Resume an interrupted run: only cases without a result run", status_code=202)
async def resume_run(request: Request, caller: WriteCaller, run: RunRef) -> JSONBody:
    from starlette.concurrency import run_in_threadpool

    from stackwright.core.errors import Conflict
    from stackwright.evals import service
    from stackwright.evals.launch import run_in_background
    from stackwright.evals.reaper import check_resumable
    from stackwright.evals.runner import spec_from_run

    def read() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            found = service.find_run(session, caller.project_id, run)
            spec_from_run(found, CodePolicy.server(request.app.state.settings))  # 403 for code the allow-list does not name (now)
            return service.run_payload(found)

    found = await run_in_threadpool(read)
    running = getattr(request.app.state, "eval_tasks", {}).get(found["id"])
    if running is not None and not running.done():
        raise Conflict(f"Run {found['id']} is running in this server.", hint="Wait for it to finish; resume is for runs that stopped.")

    def check_not_running_elsewhere() -> None:
        with request.app.state.db.read() as session:
            check_resumable(service.find_run(session, caller.project_id, found["id"]), request.app.state.settings.eval_stale_after_s)

    await run_in_threadpool(check_not_running_elsewhere)

    def audit_resume() -> None:
        with request.app.state.db.write() as session:
            service.record_resume(session, caller, service.find_run(session, caller.project_id, found["id"]))

    await run_in_threadpool(audit_resume)
    run_in_background(request.app.state, caller.project_id, found["id"], found["name"])
    return JSONBody(found, status_code=202)


@router.get("/evals/runs", summary="Eval runs of the project, newest first")
def list_runs(
    caller: ReadCaller,
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=200, description="Only runs of this name or spec name.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> JSONBody:
    from stackwright.evals import service

    data = service.list_runs(session, caller.project_id, name=name, limit=limit, offset=offset)
    return JSONBody({"data": data, "next_offset": offset + limit if len(data) == limit else None})


@router.get("/evals/runs/{run}", summary="One run: summary, gates, and a page of case results")
def get_run(
    caller: ReadCaller,
    session: SessionDep,
    run: RunRef,
    limit: Annotated[int, Query(ge=1, le=1000, description="Cases per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
    errors_only: Annotated[bool, Query(description="Only cases whose target failed.")] = False,
) -> JSONBody:
    from stackwright.evals import service

    found = service.find_run(session, caller.project_id, run)
    cases = service.cases_page(session, found.id, offset=offset, limit=limit, failed_only=errors_only)
    payload = service.run_payload(found, with_spec=True)
    payload["completed_cases"] = len(service.done_pairs(session, found.id))
    payload["cases"] = {"data": cases, "next_offset": offset + limit if len(cases) == limit else None}
    return JSONBody(payload)


@router.get("/evals/compare", summary="Compare two runs case by case (regressions, improvements, paired tests)")
def compare_runs(
    caller: ReadCaller,
    session: SessionDep,
    a: Annotated[str, Query(max_length=200, description="The baseline run (id or name).")],
    b: Annotated[str, Query(max_length=200, description="The new run (id or name).")],
    limit: Annotated[int, Query(ge=1, le=1000, description="Regressed/improved cases listed per scorer.")] = 50,
) -> JSONBody:
    from stackwright.evals.compare import compare_runs as compare

    return JSONBody(compare(session, caller.project_id, a, b, limit))


# -- online evaluation -------------------------------------------------------------------------------

RuleName = Annotated[str, Path(max_length=128, description="Rule name.")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: dict[str, str] = Field(default_factory=dict, description="Trace fields to match: model, route, environment, prompt_name, ...")
    sample_rate: float = Field(description="Share of matching traces to score, above 0 and at most 1.")
    scorers: list[Any] = Field(description="Scorer specs, as in an eval spec: `contains` or {type, ...params, name?}.")
    enabled: bool = True


@router.put("/evals/online/rules/{name}", summary="Create or replace an online evaluation rule")
def put_rule(request: Request, caller: WriteCaller, session: SessionDep, name: RuleName, body: RuleIn) -> JSONBody:
    from stackwright.evals import online

    result = online.save_rule(session, caller, caller.project_id, name, body.filter, body.sample_rate, body.scorers, enabled=body.enabled,
                              policy=CodePolicy.server(request.app.state.settings))  # fmt: skip
    session.commit()
    return JSONBody(result)


@router.get("/evals/online/rules", summary="Online evaluation rules of the project, with their counts")
def get_rules(caller: ReadCaller, session: SessionDep) -> JSONBody:
    from stackwright.evals import online

    return JSONBody({"data": online.list_rules(session, caller.project_id)})


@router.delete("/evals/online/rules/{name}", summary="Delete an online evaluation rule (its stored scores stay)")
def delete_rule(caller: WriteCaller, session: SessionDep, name: RuleName) -> JSONBody:
    from stackwright.evals import online

    online.delete_rule(session, caller, caller.project_id, name)
    session.commit()
    return JSONBody({"deleted": name})


@router.post("/evals/online/run", summary="Run the project's online evaluation rules now over the settled traces")
async def run_online(request: Request, caller: WriteCaller) -> JSONBody:
    from stackwright.evals import online
    from stackwright.evals.targets import GatewayCaller

    state = request.app.state
    totals = await online.run_pass(state.db, lambda project_id: GatewayCaller(state.gateway, project_id, label="eval:online"), caller.project_id)
    return JSONBody({"rules": totals})
