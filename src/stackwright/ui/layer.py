"""The web UI's registration: its pages under /ui (and the browser's way in from /)."""

from __future__ import annotations

from typing import Any

from stackwright.core.layers import AppContext, Layer

HOME = "/ui/dashboard"


def _routers() -> list[Any]:
    from stackwright.ui.account import router as account_router
    from stackwright.ui.dashboard import router as dashboard_router
    from stackwright.ui.datasets import router as datasets_router
    from stackwright.ui.eval_compare import router as eval_compare_router
    from stackwright.ui.eval_start import router as eval_start_router
    from stackwright.ui.evals import router as evals_router
    from stackwright.ui.gateway import router as gateway_router
    from stackwright.ui.gateway_secrets import router as gateway_secrets_router
    from stackwright.ui.guardrail_delete import router as guardrail_delete_router
    from stackwright.ui.guardrails import router as guardrails_router
    from stackwright.ui.job_forms import router as job_forms_router
    from stackwright.ui.jobs import router as jobs_router
    from stackwright.ui.pages import fallback_router, static_router
    from stackwright.ui.playground import router as playground_router
    from stackwright.ui.prompt_editor import router as prompt_editor_router
    from stackwright.ui.prompt_labels import router as prompt_labels_router
    from stackwright.ui.prompt_pages import router as prompt_pages_router
    from stackwright.ui.release_rules import router as release_rules_router
    from stackwright.ui.releases import router as releases_router
    from stackwright.ui.retrieval import router as retrieval_router
    from stackwright.ui.settings import router as settings_router
    from stackwright.ui.settings_audit import router as settings_audit_router
    from stackwright.ui.settings_keys import router as settings_keys_router
    from stackwright.ui.settings_password import router as settings_password_router
    from stackwright.ui.settings_project import router as settings_project_router
    from stackwright.ui.trace_datasets import router as trace_datasets_router
    from stackwright.ui.trace_scores import router as trace_scores_router
    from stackwright.ui.traces import router as traces_router
    from stackwright.ui.usage import router as usage_router
    from stackwright.ui.users import router as users_router

    return [static_router, account_router, traces_router, trace_scores_router, trace_datasets_router, dashboard_router, users_router, usage_router,
            settings_router, settings_keys_router, settings_audit_router, settings_password_router, settings_project_router,
            datasets_router, gateway_router, gateway_secrets_router, jobs_router, job_forms_router, releases_router, release_rules_router, prompt_pages_router, prompt_editor_router, prompt_labels_router,
            retrieval_router, guardrails_router, guardrail_delete_router, playground_router,
            eval_start_router, eval_compare_router, evals_router, fallback_router]


def _setup(ctx: AppContext) -> None:
    ctx.publish("browser_home", HOME)  # the server's `/` sends browsers here


layer = Layer(name="ui", rank=140, routers=_routers, setup=_setup)
