"""Eval fixtures: the app with a gateway pointing at the fake upstream (models `fake-model` and `judge`),
spec files written to tmp_path, and a helper that runs a spec through the real runner and gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
from tests.gateway.helpers import apply, fake_model

CASES = [
    {"input": {"question": "refund policy"}, "expected": "refund", "metadata": {"topic": "billing"}},
    {"input": {"question": "reset password"}, "expected": "password", "metadata": {"topic": "account"}},
    {"input": {"question": "delete account"}, "expected": "nothing like this", "metadata": {"topic": "account"}},
    {"input": {"question": "shipping time"}, "expected": ["shipping", "time"], "metadata": {"topic": "orders"}},
]


def write_cases(path: Path, cases: list[dict[str, Any]] = CASES) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return path


def base_spec(**changes: Any) -> dict[str, Any]:
    spec = {"name": "support-regression", "dataset": "cases.jsonl", "target": {"model": "fake-model"},
            "scorers": ["contains"], "concurrency": 4, "timeout_s": 5, "retries": 1}  # fmt: skip
    spec.update(changes)
    return spec


def write_spec(tmp_path: Path, spec: dict[str, Any] | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    if not (tmp_path / "cases.jsonl").exists():
        write_cases(tmp_path / "cases.jsonl")
    return path


def project_id(app: Any) -> str:
    from stackwright.auth import service as auth_service

    with app.state.db.read() as session:
        return auth_service.find_project(session, "default").id


class Evals:
    """Runs specs through the runner with the app's gateway, in one event loop per run."""

    def __init__(self, app: Any, api: Any, fake: Any, tmp_path: Path):
        self.app, self.api, self.fake, self.tmp_path = app, api, fake, tmp_path
        self.project_id = project_id(app)
        self._portal: Any = None
        self._portal_cm: Any = None

    def prepare(self, spec: dict[str, Any], **kwargs: Any) -> Any:
        from stackwright.evals.runner import prepare_run
        from stackwright.evals.spec import load_file
        from stackwright.evals.trust import CodePolicy

        loaded = load_file(write_spec(self.tmp_path, spec), CodePolicy.operator())  # as the CLI does
        return prepare_run(self.app.state.db, self.project_id, loaded, **kwargs)

    def resume(self, run_id: str, progress: Any = None) -> dict[str, Any]:
        """Run in one event loop for the whole test (the gateway's connections and locks belong to it)."""
        from anyio.from_thread import start_blocking_portal

        from stackwright.evals.runner import run_cases
        from stackwright.evals.targets import GatewayCaller
        from stackwright.evals.trust import CodePolicy

        if self._portal is None:
            self._portal_cm = start_blocking_portal()
            self._portal = self._portal_cm.__enter__()

        async def go() -> dict[str, Any]:
            caller = GatewayCaller(self.app.state.gateway, self.project_id)
            return await run_cases(self.app.state.db, self.project_id, run_id, caller, progress, policy=CodePolicy.operator())

        return self._portal.call(go)

    def close(self) -> None:
        if self._portal is not None:
            self._portal.call(self.app.state.gateway.aclose)
            self._portal_cm.__exit__(None, None, None)
            self._portal = None

    def run(self, spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.resume(self.prepare(spec, **kwargs).run_id)

    def cases(self, run_id: str) -> list[dict[str, Any]]:
        from stackwright.evals import service

        with self.app.state.db.read() as session:
            return service.case_rows(session, run_id)


@pytest.fixture
def evals(app, api, fake_upstream, tmp_path) -> Iterator[Evals]:  # noqa: F811
    apply(api, fake_model(fake_upstream.base_url, "fake-model"), fake_model(fake_upstream.base_url, "judge-model", name="judge"),
          fake_model(fake_upstream.base_url, "slow-model", timeout_s=0.5))  # fmt: skip
    runner = Evals(app, api, fake_upstream, tmp_path)
    yield runner
    runner.close()
