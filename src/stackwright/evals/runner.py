"""Running an eval: cases run concurrently (a semaphore of ``concurrency``), each with a per-attempt
timeout and retries with backoff on transient errors; a case that fails for good records its error and
the run goes on. Results are committed as cases complete (a writer task commits whatever finished since
its last commit, in one transaction), so a killed run resumes by running only the missing
(item, repeat) pairs, and its final summary equals an uninterrupted run's. With ``--executor ray`` the
same cases run in batches of Ray tasks (``stackwright.evals.distributed``), stored as each batch completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.auth.actors import SYSTEM, Actor
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.evals.scorers import Case, Score, build_all, is_async
from stackwright.evals.spec import EvalSpec, SpecSource, validate
from stackwright.evals.targets import TargetError, is_transient, make_target
from stackwright.evals.trust import CodePolicy

log = logging.getLogger("stackwright.evals")
FILE_SUFFIXES = (".jsonl", ".csv")
BACKOFF_S = 0.2
COMMIT_EVERY_S = 0.05  # finished cases are committed at most this long after they finish (fewer, larger commits)
MAX_BACKOFF_S = 5.0
MAX_CASES = 200_000  # items x repeat in one run: every case is a task in memory while the run goes
Progress = Callable[[int, int], None]


@dataclass
class Dataset:
    ref: str
    items: list[dict[str, Any]]
    path: str | None = None


def is_file_dataset(value: str) -> bool:
    return value.lower().endswith(FILE_SUFFIXES)


def load_dataset(session: Any, project_id: str, spec: EvalSpec, *, expect_ref: str | None = None) -> Dataset:
    """The spec's dataset: a stored version (``name``, ``name@N``) or a file (recorded as ``file:<sha256>``)."""
    if is_file_dataset(spec.dataset):
        from stackwright.datasets.importing import format_of, parse
        from stackwright.datasets.items import with_ids

        path = Path(spec.dataset)
        if not path.is_absolute() and spec.source.base_dir is not None:
            path = spec.source.base_dir / path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise spec.error(("dataset",), f"cannot read the dataset file {str(path)!r}: {exc.strerror or exc}.") from None
        ref = f"file:{hashlib.sha256(raw).hexdigest()}"
        if expect_ref is not None and ref != expect_ref:
            raise InvalidInput(f"The dataset file {path} changed since the run started ({expect_ref}, now {ref}).",
                               hint="A run stays on its dataset version: restore the file, or start a new run.")  # fmt: skip
        try:
            items, places = parse(raw.decode("utf-8"), format_of(str(path)), str(path))
        except (InvalidInput, UnicodeDecodeError) as exc:
            raise spec.error(("dataset",), getattr(exc, "message", str(exc))) from None
        return Dataset(ref, with_ids(items, places), str(path.resolve()))
    from stackwright.datasets.service import get_dataset_version

    try:
        view = get_dataset_version(session, project_id, expect_ref or spec.dataset)
    except (NotFound, InvalidInput) as exc:
        if expect_ref:
            raise
        raise spec.error(("dataset",), exc.message) from None
    return Dataset(view.ref, list(view.items))


def spec_from_run(run: Any, policy: CodePolicy) -> EvalSpec:
    """A stored run's spec, checked again under ``policy`` (whoever resumes it now, not who started it)."""
    return validate(dict(run.spec), SpecSource(f"<run {run.name}>", None), policy)


@dataclass
class Prepared:
    run_id: str
    name: str
    total: int


def prepare_run(db: Any, project_id: str, spec: EvalSpec, *, name: str | None = None, repeat: int | None = None,
                seed: int | None = None, actor: Actor = SYSTEM) -> Prepared:  # fmt: skip
    """Resolve the dataset (a spec error if it is missing) and store the run as running, audited as started by
    ``actor`` (the API's caller, the CLI's operator; the system for runs that jobs and the demo start)."""
    from stackwright.core.clock import utcnow
    from stackwright.evals import service

    if repeat is not None:
        spec.repeat = repeat
    if seed is not None:
        spec.seed = seed
    run_name = name or f"{spec.name}-{utcnow().strftime('%Y%m%d-%H%M%S-%f')}"
    with db.write() as session:
        dataset = load_dataset(session, project_id, spec)
        stored = spec.as_dict()
        if dataset.path:
            stored["dataset"] = dataset.path  # resume reads the same file (and checks its hash)
        total = len(dataset.items) * spec.repeat
        if total > MAX_CASES:
            raise spec.error(("repeat",), f"{len(dataset.items)} items x repeat {spec.repeat} is {total} cases; one run has at most {MAX_CASES}.",
                             hint="Lower repeat, or evaluate a smaller dataset.")  # fmt: skip
        run = service.create_run(session, actor, project_id, stored, spec.content_hash(), spec.name, run_name, dataset.ref, spec.seed, spec.repeat, total)
        return Prepared(run.id, run.name, total)


class ScoreContext:
    """What async scorers get: model calls through the gateway (traced in the case's trace) and the seed."""

    def __init__(self, caller: Any, seed: int):
        self.caller = caller
        self.seed = seed

    async def chat(self, body: dict[str, Any], case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.caller is None:
            raise InvalidInput("This scorer calls a model through the gateway, and no gateway is available here.")
        return await self.caller.chat(body, trace_id=case.trace_id)


async def run_case(spec: EvalSpec, scorers: dict[str, Any], target: Any, ctx: ScoreContext, item: dict[str, Any], repeat: int) -> dict[str, Any]:
    """One (item, repeat): the target with a per-attempt timeout and retries, then every scorer; the row
    to store. The same code runs here and in a Ray worker, so a case's result does not depend on where."""
    result, error, latency_ms = None, None, None
    for attempt in range(spec.retries + 1):
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(target(item["input"], item["id"], spec.seed + repeat), spec.timeout_s)
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            break
        except TimeoutError:
            exc: BaseException = TargetError(f"the target timed out after {spec.timeout_s:g} s", transient=True)
        except Exception as raised:  # noqa: BLE001 - any target failure is this case's error, never the run's
            exc = raised
        if not is_transient(exc) or attempt == spec.retries:
            tries = f" (after {attempt + 1} attempts)" if attempt else ""
            error = f"{getattr(exc, 'message', None) or f'{type(exc).__name__}: {exc}'}{tries}"
            break
        await asyncio.sleep(min(MAX_BACKOFF_S, BACKOFF_S * 2**attempt) * (0.5 + random.random() / 2))
    case = Case(item["id"], item["input"], item.get("expected"), item.get("metadata") or {},
                output=result.output if result else None, error=error, latency_ms=latency_ms,
                cost=result.cost if result else None, trace_id=result.trace_id if result else None,
                extra=result.extra if result else {})  # fmt: skip
    scores = {name: (await Runner._score(scorer, case, ctx)).as_dict() for name, scorer in scorers.items()}
    return {
        "item_id": item["id"], "repeat_index": repeat, "input": item["input"], "expected": item.get("expected"),
        "output": case.output, "trace_id": case.trace_id, "latency_ms": latency_ms, "cost": case.cost, "error": error,
        "input_tokens": result.input_tokens if result else None, "output_tokens": result.output_tokens if result else None,
        "scores": scores,
    }  # fmt: skip


class Runner:
    def __init__(self, db: Any, project_id: str, run: Any, spec: EvalSpec, caller: Any, progress: Progress | None = None,
                 executor: Any = None):  # fmt: skip
        self.db, self.project_id, self.run, self.spec, self.caller = db, project_id, run, spec, caller
        self.executor = executor  # None: cases run here (asyncio); else batches are submitted to it (Ray)
        self.scorers = build_all(spec)
        self.progress = progress
        self.pending_rows: list[dict[str, Any]] = []
        self.wake = asyncio.Event()
        self.closed = asyncio.Event()
        self.done = 0

    async def execute(self, items: list[dict[str, Any]], done: set[tuple[str, int]]) -> None:
        spec = self.spec
        todo = [(item, r) for r in range(spec.repeat) for item in items if (item["id"], r) not in done]
        random.Random(spec.seed).shuffle(todo)
        self.done = len(done)
        total = len(items) * spec.repeat
        if self.progress:
            self.progress(self.done, total)
        target = make_target(spec, self.caller) if self.executor is None else None
        semaphore = asyncio.Semaphore(spec.concurrency)
        contexts = [ScoreContext(self.caller, spec.seed + r) for r in range(spec.repeat)]  # each repeat samples the judge anew
        writer = asyncio.create_task(self._writer())
        finished = False
        if self.executor is None:
            tasks = [asyncio.ensure_future(self._case(target, semaphore, contexts[r], item, r, total)) for item, r in todo]
        else:
            tasks = [asyncio.ensure_future(self._remote(todo, total))]
        try:
            await asyncio.gather(*tasks)
            finished = True
        finally:
            for task in tasks:  # a failure or an interrupt stops the other cases too; they rerun on resume
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.closing = True
            self.closed.set()  # the writer commits what finished, then ends (also after a failure or an interrupt)
            self.wake.set()
            try:
                await writer
            except Exception:
                if finished:
                    raise
                log.exception("could not store the last finished cases of run %s", self.run.id)
            closer = getattr(target, "aclose", None)
            if closer is not None:
                await closer()

    async def _case(self, target: Any, semaphore: asyncio.Semaphore, ctx: ScoreContext, item: dict[str, Any], repeat: int, total: int) -> None:
        async with semaphore:
            row = await run_case(self.spec, self.scorers, target, ctx, item, repeat)
        self._finished([row], total)

    def _finished(self, rows: list[dict[str, Any]], total: int) -> None:
        """Cases done: queued for the writer's next commit, counted for the progress bar."""
        self.pending_rows.extend(rows)
        self.wake.set()
        self.done += len(rows)
        if self.progress:
            self.progress(self.done, total)

    async def _remote(self, todo: list[tuple[dict[str, Any], int]], total: int) -> None:
        """The cases in batches on the executor (Ray tasks); each batch's rows are stored as it completes."""
        from stackwright.evals import distributed

        batches = distributed.batches(todo, self.spec)
        job = distributed.BatchJob.of(self.db.settings, self.project_id, self.run, self.spec)
        in_flight: set[asyncio.Future] = set()
        limit = distributed.in_flight_limit(self.executor)
        try:
            for batch in batches:
                if len(in_flight) >= limit:
                    finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for future in finished:
                        self._finished(future.result(), total)
                in_flight.add(asyncio.wrap_future(self.executor.submit(distributed.run_batch, job, batch)))
            while in_flight:
                finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    self._finished(future.result(), total)
        finally:
            for future in in_flight:  # an unfinished batch stores nothing: its cases rerun on resume
                future.cancel()

    @staticmethod
    async def _score(scorer: Any, case: Case, ctx: ScoreContext) -> Score:
        if case.error is not None:
            return Score.unmeasured(f"the target failed: {case.error}")
        try:
            return await scorer.ascore(case, ctx) if is_async(scorer) else scorer.score(case)
        except Exception as exc:  # noqa: BLE001 - a scorer bug leaves this case unmeasured, with why
            return Score.unmeasured(f"the scorer raised {type(exc).__name__}: {exc}")

    closing = False

    async def _writer(self) -> None:
        while True:
            await self.wake.wait()
            if not self.closing:  # gather the cases finishing meanwhile into one commit (the end of the run does not wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.closed.wait(), COMMIT_EVERY_S)
            self.wake.clear()
            if self.pending_rows:
                rows, self.pending_rows = self.pending_rows, []
                await asyncio.to_thread(self._write, rows)
            if self.closing and not self.pending_rows:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        from stackwright.evals import service

        if rows:
            with self.db.write() as session:
                service.write_cases(session, self.run.id, rows)


def finalize(db: Any, project_id: str, run_id: str, policy: CodePolicy) -> dict[str, Any]:
    """Summarize the stored cases, judge the gate, mark the run completed; returns the run payload."""
    from stackwright.evals import gates, service
    from stackwright.evals.stats import summarize

    with db.write() as session:
        run = service.find_run(session, project_id, run_id)
        spec = spec_from_run(run, policy)
        summary = summarize(service.case_rows(session, run.id), [s.key for s in spec.scorers], run.seed)
        summary["gates"] = gates.evaluate(session, project_id, spec, summary, run)
        summary["passed"] = all(g["passed"] for g in summary["gates"])
        service.finish(session, run.id, "completed", summary)
    with db.read() as session:
        return service.run_payload(service.find_run(session, project_id, run_id))


async def run_cases(db: Any, project_id: str, run_id: str, caller: Any, progress: Progress | None = None,
                    executor: Any = None, *, policy: CodePolicy) -> dict[str, Any]:  # fmt: skip
    """Run (or resume) a stored run to the end: only missing (item, repeat) pairs run, here or, with an
    ``executor`` (the Ray executor), in batches of Ray tasks. ``policy`` decides which python targets and
    scorers may run: ``CodePolicy.operator()`` from the CLI, ``CodePolicy.server(settings)`` for the rest."""
    from stackwright.evals import reaper, service

    with db.read() as session:
        run = service.find_run(session, project_id, run_id)
        spec = spec_from_run(run, policy)
        dataset = load_dataset(session, project_id, spec, expect_ref=run.dataset_ref)
        done = service.done_pairs(session, run.id)
    stale_after_s = db.settings.eval_stale_after_s
    with db.write() as session:
        owner = reaper.claim(session, run, stale_after_s)  # 409 while a live process runs it
    runner = Runner(db, project_id, run, spec, caller, progress, executor)
    beat = asyncio.create_task(reaper.heartbeat(db, run.id, owner, stale_after_s / 4))
    try:
        await runner.execute(dataset.items, done)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)) else "failed"
        with db.write() as session:
            service.set_status(session, run.id, status, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        raise
    finally:
        beat.cancel()
    return await asyncio.to_thread(finalize, db, project_id, run.id, policy)


def check_executor(name: str) -> None:
    """``local`` runs here, ``ray`` on Ray (the ray extra); anything else is refused with what to do."""
    import importlib.util

    from stackwright.core.plugins import executors

    if name == "local":
        return
    if name == "ray":
        if importlib.util.find_spec("ray") is None:
            raise InvalidInput("The ray executor needs Ray, which is not installed.", hint="Install the ray extra: pip install 'stackwright[ray]'.")
        return
    try:
        executors.get(name)
    except NotFound as exc:
        raise InvalidInput(exc.message) from None
    raise InvalidInput(f"Eval runs on the {name!r} executor are not supported.", hint="Use --executor local (the default) or ray.")


def open_executor(name: str) -> Any:
    """The executor cases are submitted to: None for ``local`` (asyncio here), else the registered one
    (``ray``: joins the cluster at ``RAY_ADDRESS`` if set, else starts a local Ray)."""
    from stackwright.core.plugins import executors

    check_executor(name)
    return None if name == "local" else executors.get(name)()
