"""Promotion gates: a release may require a passing evaluation before its candidate becomes stable.

The requirement (an evaluation name) is stored on the release now; judging it is the evaluations
layer's job. That layer registers a checker here::

    from stackwright.releases import gates

    def check(session, project_id, requirement, release) -> gates.GateResult | None:
        ...  # look up the newest run of `requirement` for release.candidate; None: no opinion

    gates.register_eval_checker(check)

Checkers are asked in registration order; the first answer wins. With a requirement set and no checker
answering, there is no passing result, so ``promote`` refuses with a message saying so.

The evaluations layer's own checker (``stackwright.evals.gates.check_release``) is built in: it is
registered on the first promotion check, whatever has been imported before (the CLI, the API, a job),
ahead of checkers registered at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from stackwright.evals.gates import GateResult

EvalChecker = Callable[[Session, str, str, Any], GateResult | None]
_checkers: list[EvalChecker] = []
_builtins_lock = threading.Lock()
_builtins_installed = False


def register_eval_checker(checker: EvalChecker) -> EvalChecker:
    """Add a checker (idempotent); returns it, so it can be used as a decorator."""
    if checker not in _checkers:
        _checkers.append(checker)
    return checker


def unregister_eval_checker(checker: EvalChecker) -> None:
    if checker in _checkers:
        _checkers.remove(checker)


def install_builtin_checkers() -> None:
    """Register the evaluations layer's checker first in line (once; safe from any thread or import order)."""
    global _builtins_installed
    if _builtins_installed:
        return
    with _builtins_lock:
        if _builtins_installed:
            return
        from stackwright.evals.gates import check_release  # evals sits below releases: a downward import

        if check_release not in _checkers:
            _checkers.insert(0, check_release)
        _builtins_installed = True


def check_promotion(session: Session, project_id: str, release: Any) -> GateResult:
    """Whether the release's candidate may be promoted now."""
    requirement = release.required_eval
    if not requirement:
        return GateResult(True, "No evaluation is required.")
    install_builtin_checkers()
    for checker in _checkers.copy():  # a checker may unregister itself
        result = checker(session, project_id, requirement, release)
        if result is not None:
            return result
    return GateResult(
        False,
        f"it requires a passing evaluation {requirement!r} of the candidate, and no passing result exists "
        f"(no evaluation results are available for it). Run the evaluation, or have an admin clear the "
        f"requirement with `stackwright releases rules {release.route} --env {release.environment} --clear-eval`.",
    )
