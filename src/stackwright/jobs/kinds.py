"""Job kinds: a registry (entry-point group ``stackwright.jobs``) of named functions with typed params.

    from pydantic import BaseModel
    from stackwright.jobs.kinds import job_kind

    class Params(BaseModel):
        days: int = 7

    @job_kind("reports.weekly", Params, "Mail the weekly report.")
    def weekly(ctx, params: Params) -> dict:
        ctx.log("collecting")
        ctx.progress(0.5)
        return {"sent": True}

Register it with ``[project.entry-points."stackwright.jobs"] "reports.weekly" = "pkg.mod:weekly"`` (or
``kinds.register(...)``). ``ctx`` is a ``JobContext``: ``project_id``, ``attempt``, ``db``, ``log()``,
``progress()``, ``check_cancelled()``. The returned value (JSON) is the job's result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stackwright.core.errors import InvalidInput, NotFound
from stackwright.core.plugins import Registry


class JobKind:
    """A kind of job: its name, a pydantic model for its params, and the function that runs it."""

    def __init__(self, name: str, run: Callable[[Any, Any], Any], params: type[BaseModel] | None = None, description: str = ""):
        self.name = name
        self.run = run
        self.params = params
        self.description = description or (run.__doc__ or "").strip().split("\n")[0]

    def validate(self, params: Any) -> dict[str, Any]:
        """The params as stored (defaults filled in), or InvalidInput naming the bad field."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidInput(f"Params of a {self.name!r} job must be a JSON object, not {type(params).__name__}.")
        if self.params is None:
            return params
        try:
            return self.params.model_validate(params).model_dump(mode="json")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()[:5])
            fields = ", ".join(self.params.model_fields) or "none"
            raise InvalidInput(f"Bad params for a {self.name!r} job: {problems}.", hint=f"Its params are: {fields}.") from None

    def parse(self, params: dict[str, Any]) -> Any:
        return self.params.model_validate(params) if self.params is not None else params


kinds: Registry[JobKind] = Registry("jobs", "Kinds of background jobs (retrieval.ingest, evals.run, ...).")


def job_kind(name: str, params: type[BaseModel] | None = None, description: str = "") -> Callable[[Callable[..., Any]], JobKind]:
    def wrap(fn: Callable[..., Any]) -> JobKind:
        return JobKind(name, fn, params, description)

    return wrap


def get_kind(name: str) -> JobKind:
    """The kind called ``name``; InvalidInput (400) listing the known kinds if there is none."""
    try:
        found = kinds.get(name)
    except NotFound:
        raise InvalidInput(f"Unknown job kind {name!r}.", hint=f"Known kinds: {', '.join(kinds.names()) or 'none'}.") from None
    if not isinstance(found, JobKind):
        raise InvalidInput(f"Job kind {name!r} is not a JobKind (make it with stackwright.jobs.kinds.job_kind).")
    return found


# -- built-ins ------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoopParams(_Strict):
    result: Any = Field(default=None, description="Returned as the job's result.")


@job_kind("noop", NoopParams, "Does nothing; returns params.result.")
def noop(ctx: Any, params: NoopParams) -> Any:
    ctx.log("noop")
    return {"result": params.result}


class SleepParams(_Strict):
    seconds: float = Field(default=1.0, ge=0, le=3600, description="How long to sleep.")
    ticks: int = Field(default=10, ge=1, le=1000, description="Progress reports (and cancel checks) along the way.")


@job_kind("sleep", SleepParams, "Sleeps, reporting progress; stops when cancelled.")
def sleep(ctx: Any, params: SleepParams) -> Any:
    import time

    for tick in range(params.ticks):
        ctx.check_cancelled()
        time.sleep(params.seconds / params.ticks)
        ctx.progress((tick + 1) / params.ticks)
    return {"slept_s": params.seconds}


class FailParams(_Strict):
    message: str = Field(default="failed on purpose", max_length=1000)
    attempts: int | None = Field(default=None, ge=1, description="Fail only the first N attempts (default: all).")


@job_kind("fail", FailParams, "Raises an error (for testing retries); succeeds after params.attempts failed attempts.")
def fail(ctx: Any, params: FailParams) -> Any:
    if params.attempts is None or ctx.attempt <= params.attempts:
        raise RuntimeError(params.message)
    return {"attempt": ctx.attempt}


class IngestDocument(_Strict):
    source: str = Field(min_length=1, max_length=2000)
    text: str
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    acl: list[str] | None = None
    format: str = Field(default="text", pattern="^(text|markdown|html)$")


class IngestParams(_Strict):
    collection: str = Field(min_length=1, max_length=200)
    documents: list[IngestDocument] = Field(min_length=1, max_length=100_000)
    acl: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


@job_kind("retrieval.ingest", IngestParams, "Ingest documents into a collection.")
def retrieval_ingest(ctx: Any, params: IngestParams) -> Any:
    from stackwright.auth.actors import SYSTEM
    from stackwright.retrieval.collections.service import get_collection
    from stackwright.retrieval.ingest import (
        DocumentInput,
        ingest_documents,
        record_ingest,
    )

    with ctx.db.read() as session:
        collection = get_collection(session, ctx.project_id, params.collection)
    docs = [DocumentInput(source=d.source, text=d.text, title=d.title, metadata=d.metadata, acl=d.acl, format=d.format) for d in params.documents]
    ctx.log(f"ingesting {len(docs)} documents into {collection.name}")

    def progress(done: int, total: int | None) -> None:
        ctx.progress(done / total if total else 1.0)

    report = ingest_documents(ctx.db, collection, docs, acl=params.acl, metadata=params.metadata, progress=progress, total=len(docs))
    record_ingest(ctx.db, SYSTEM, collection, report)
    return report.to_dict()


class FromTracesParams(_Strict):
    name: str = Field(min_length=1, max_length=128, description="Dataset to append to (created if needed).")
    filters: dict[str, Any] = Field(default_factory=dict, description="Trace filters, as in `datasets from-traces`.")
    limit: int = Field(default=100, ge=1, le=10_000, description="At most this many traces, newest first.")
    mask: bool = True
    message: str = Field(default="", max_length=2000)


@job_kind("datasets.from_traces", FromTracesParams, "Append matching traces to a dataset.")
def datasets_from_traces(ctx: Any, params: FromTracesParams) -> Any:
    from stackwright.auth.actors import SYSTEM
    from stackwright.datasets.from_traces import add_from_traces

    with ctx.db.write() as session:
        result = add_from_traces(session, SYSTEM, ctx.project_id, params.name, params.filters, limit=params.limit,
                                 mask=params.mask, message=params.message)  # fmt: skip
    ctx.log(f"added {result.get('added')} of {result.get('matched')} matching traces to {result.get('ref')}")
    return result


class EvalRunParams(_Strict):
    spec: dict[str, Any] | str = Field(description="The eval spec: an object, or YAML text.")
    name: str | None = Field(default=None, max_length=200)
    repeat: int | None = Field(default=None, ge=1, le=100)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


@job_kind("evals.run", EvalRunParams, "Run an eval spec over a stored dataset (through this process' gateway).")
def evals_run(ctx: Any, params: EvalRunParams) -> Any:
    import asyncio

    from stackwright.evals.runner import is_file_dataset, prepare_run, run_cases
    from stackwright.evals.spec import from_payload
    from stackwright.evals.targets import GatewayCaller
    from stackwright.evals.trust import CodePolicy
    from stackwright.gateway.client import GatewayClient

    policy = CodePolicy.server(ctx.db.settings)  # a job runs in the server: python code only from the operator's allow-list
    spec = from_payload(params.spec, policy)
    if is_file_dataset(spec.dataset):
        raise InvalidInput("An evals.run job needs a stored dataset (NAME or NAME@VERSION), not a file.")
    prepared = prepare_run(ctx.db, ctx.project_id, spec, name=params.name, repeat=params.repeat, seed=params.seed)
    ctx.log(f"eval run {prepared.name} ({prepared.run_id}): {prepared.total} cases")

    async def run() -> dict[str, Any]:
        async with GatewayClient(ctx.db.settings, ctx.db) as client:
            caller = GatewayCaller(client.gateway, ctx.project_id, label=f"eval:{prepared.name}")
            return await run_cases(ctx.db, ctx.project_id, prepared.run_id, caller, lambda done, total: ctx.progress(done / total if total else 1.0),
                                   policy=policy)  # fmt: skip

    summary = asyncio.run(run())
    return {"run_id": prepared.run_id, "name": prepared.name, "summary": summary}


def validate_evals_params(params: dict[str, Any], settings: Any) -> None:
    """Check an evals.run spec when the job is enqueued, so a bad spec is a 400 (python code off the operator's
    allow-list a 403), not a failed job. Without ``settings`` no python code is allowed."""
    from stackwright.evals.spec import from_payload
    from stackwright.evals.trust import CodePolicy

    from_payload(params["spec"], CodePolicy.server(settings) if settings is not None else CodePolicy(False))


# checks that need more than the params: (params, the server's settings or None)
EXTRA_CHECKS: dict[str, Callable[[dict[str, Any], Any], None]] = {"evals.run": validate_evals_params}
