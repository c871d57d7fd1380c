"""Starting a run in a server: check the spec for this server (egress, stored datasets only, the run name),
store the run as started by the actor (``service.create_run`` refuses viewers and audits), then run its cases
as a background task of this server's event loop, through its gateway. The REST API and the web UI both
start runs here, so they obey the same rules."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from stackwright.auth.actors import Actor
from stackwright.core.egress import EgressPolicy
from stackwright.core.errors import InvalidInput
from stackwright.evals.runner import Prepared
from stackwright.evals.spec import EvalSpec
from stackwright.evals.trust import CodePolicy

log = logging.getLogger("stackwright.evals")


def run_in_background(state: Any, project_id: str, run_id: str, run_name: str) -> None:
    """Run (or resume) a stored run as a task of this server; ``state.eval_tasks`` maps run id -> task."""
    from stackwright.evals.runner import run_cases
    from stackwright.evals.targets import GatewayCaller

    tasks: dict[str, asyncio.Task] = getattr(state, "eval_tasks", None) or {}
    state.eval_tasks = tasks

    async def work() -> None:
        try:
            caller = GatewayCaller(state.gateway, project_id, label=f"eval:{run_name}")
            await run_cases(state.db, project_id, run_id, caller, policy=CodePolicy.server(state.settings))
        except Exception:  # the run row says failed, with the error; the server goes on
            log.exception("eval run %s failed", run_id)

    task = asyncio.get_running_loop().create_task(work())
    tasks[run_id] = task
    task.add_done_callback(lambda _: tasks.pop(run_id, None))


async def launch(state: Any, actor: Actor, project_id: str, spec: EvalSpec, *, name: str | None = None, repeat: int | None = None,
                 seed: int | None = None) -> Prepared:  # fmt: skip
    """Store the run (audited as eval_run.start) and start it in the background; 403 for a viewer."""
    from starlette.concurrency import run_in_threadpool

    from stackwright.evals import service
    from stackwright.evals.runner import is_file_dataset, prepare_run
    from stackwright.evals.spec import NAME_RE

    service.check_can_start(actor)
    if spec.target.http:  # a literal blocked address fails now; the egress policy is enforced again at every connect
        EgressPolicy.from_settings(state.settings).check_url(spec.target.http)
    if is_file_dataset(spec.dataset):
        raise spec.error(("dataset",), "dataset files are read by the CLI only; over the API, name a stored dataset (NAME or NAME@VERSION).",
                         hint="Import the file first: `stackwright datasets import NAME FILE`.")  # fmt: skip
    if name is not None and not NAME_RE.match(name):
        raise InvalidInput(f"Run name {name!r} is not valid.", hint="Use letters, digits, '.', '_' or '-'.")
    prepared = await run_in_threadpool(prepare_run, state.db, project_id, spec, name=name, repeat=repeat, seed=seed, actor=actor)
    run_in_background(state, project_id, prepared.run_id, prepared.name)
    return prepared
