"""Eval cases on Ray (``stackwright evals run --executor ray``).

The driver (the CLI, or a job) keeps the run: it shuffles the missing (item, repeat) pairs with the run's
seed exactly like a local run, cuts them into batches and submits each batch as one Ray task, a few
batches per worker at a time. A task opens the database from the same settings, builds the target and
the scorers from the run's stored spec, runs its cases with ``runner.run_case`` (the code a local run
uses: per-attempt timeout, retries, scoring with the case's seed) ``concurrency`` at a time, and returns
the rows. The driver stores each batch's rows as the batch completes, through the same writer as a local
run, so a killed run resumes with only the missing pairs, on either executor. A case's result depends on
its item, its repeat and the seed, never on where or in which order it ran.

Workers must reach the database (a SQLite file on the same machine, or Postgres) and import the spec's
python targets and scorers: the driver's ``sys.path`` is added to the worker's.
"""

from __future__ import annotations

import asyncio
import math
import sys
from dataclasses import dataclass
from typing import Any

from stackwright.evals.trust import CodePolicy

MAX_BATCH = 32  # cases per Ray task at most: a killed run loses at most the batches in flight


@dataclass(frozen=True)
class BatchJob:
    """What every batch of one run needs, sent with each task (small: settings, ids, the stored spec)."""

    settings: Any
    project_id: str
    run_id: str
    run_name: str
    spec: dict[str, Any]
    sys_path: tuple[str, ...]
    policy: CodePolicy  # the driver's: a batch may run only the code the run itself may

    @classmethod
    def of(cls, settings: Any, project_id: str, run: Any, spec: Any) -> BatchJob:
        # absolute: a worker may start in another directory
        settings = settings.model_copy(update={"home": settings.home.resolve(), "database_url": settings.db_url})
        return cls(settings, project_id, run.id, run.name, spec.as_dict(), tuple(sys.path), spec.policy)


def batches(todo: list[tuple[dict[str, Any], int]], spec: Any) -> list[list[tuple[dict[str, Any], int]]]:
    """The pairs in their (seeded) order, cut into batches of a few times ``concurrency`` cases."""
    size = max(1, min(MAX_BATCH, 4 * spec.concurrency, math.ceil(len(todo) / 4) or 1))
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def in_flight_limit(executor: Any) -> int:
    """Batches submitted and not yet finished: two per worker CPU keeps every worker busy."""
    cpus = getattr(executor, "max_workers", None)
    if not cpus:
        try:
            import ray

            cpus = int(ray.cluster_resources().get("CPU", 2)) if ray.is_initialized() else 2
        except Exception:  # noqa: BLE001 - any answer will do: this only bounds the work in flight
            cpus = 2
    return max(2, 2 * int(cpus))


def run_batch(job: BatchJob, batch: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    """In a Ray worker: run one batch of cases; the rows to store, in the batch's order."""
    for entry in job.sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    return asyncio.run(_run_batch(job, batch))


async def _run_batch(job: BatchJob, batch: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    from stackwright.core.db import Database
    from stackwright.evals.runner import ScoreContext, run_case
    from stackwright.evals.scorers import build_all
    from stackwright.evals.spec import SpecSource, validate
    from stackwright.evals.targets import GatewayCaller, make_target
    from stackwright.gateway.client import GatewayClient

    spec = validate(dict(job.spec), SpecSource(f"<run {job.run_name}>", None), job.policy)
    db = Database(job.settings)
    client = GatewayClient(job.settings, db)
    target = None
    try:
        caller = GatewayCaller(client.gateway, job.project_id, label=f"eval:{job.run_name}")
        target = make_target(spec, caller)
        scorers = build_all(spec)
        contexts = {r: ScoreContext(caller, spec.seed + r) for r in {r for _, r in batch}}
        semaphore = asyncio.Semaphore(spec.concurrency)

        async def one(item: dict[str, Any], repeat: int) -> dict[str, Any]:
            async with semaphore:
                return await run_case(spec, scorers, target, contexts[repeat], item, repeat)

        return list(await asyncio.gather(*(one(item, repeat) for item, repeat in batch)))
    finally:
        closer = getattr(target, "aclose", None)
        if closer is not None:
            await closer()
        await client.aclose()  # the cases' traces are committed before the rows are returned
        db.dispose()
