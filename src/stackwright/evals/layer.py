"""The evaluations layer's registration: runs, comparisons and gates; online scoring and the reaper of
runs whose process died."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer


def _routers() -> list[Any]:
    from stackwright.evals.api import router

    return [router]


def _commands(root: Any) -> None:
    from stackwright.evals.cli import eval_app

    root.add_typer(eval_app, name="evals")


def _setup(ctx: AppContext) -> None:
    from stackwright.evals.online import OnlineEvaluator
    from stackwright.evals.reaper import ReaperTask

    settings = ctx.settings
    ctx.tasks.append(ctx.publish("online_evaluator", OnlineEvaluator(ctx.db, ctx.state.gateway, settings.online_eval_interval_s)))
    ctx.tasks.append(ctx.publish("eval_reaper", ReaperTask(ctx.db, settings.eval_stale_after_s)))


layer = Layer(
    name="evals", rank=80, tables=("stackwright.evals.models",), routers=_routers, commands=_commands, setup=_setup
)
