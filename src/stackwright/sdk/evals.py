"""``client.evals``: start, read, compare and resume eval runs, written once for ``Client`` and ``AsyncClient``
(await the calls on the latter).

    run = client.evals.run({"name": "smoke", "dataset": "support-cases@3",
                            "target": {"model": "local/extractive"}, "scorers": ["contains"]})
    client.evals.get(run["id"])["status"]        # queued/running, then completed (or failed)
    client.evals.compare("smoke-baseline", run["id"])

A run works in the server's background; poll ``get`` until its ``status`` is final.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact
from stackwright.sdk.resources import Resource, _path


def _run_path(run: str, tail: str = "") -> str:
    return _path("evals") + "/runs/" + quote(run, safe="") + tail


class Evals(Resource):
    """Eval runs of the key's project (reading needs read scope, starting and resuming write)."""

    def run(self, spec: dict[str, Any] | str, *, name: str | None = None, repeat: int | None = None,
            seed: int | None = None) -> Any:  # fmt: skip
        """Start a run of ``spec`` (a dict, or YAML text) over a stored dataset; returns the run (202 accepted)."""
        body = compact({"spec": spec, "name": name, "repeat": repeat, "seed": seed})
        return self._run(Call("POST", _path("evals") + "/runs", body=body))

    def get(self, run: str, *, limit: int = 100, offset: int = 0, errors_only: bool = False) -> Any:
        """One run (id, or the newest run of that name): summary, gates, and ``cases`` (a page of
        ``limit`` case results from ``offset``, with ``next_offset``)."""
        params = {"limit": limit, "offset": offset, "errors_only": errors_only}
        return self._run(Call("GET", _run_path(run), params=params))

    def list(self, *, name: str | None = None, limit: int = 50, offset: int = 0) -> Any:
        """``{"data": [runs, newest first], "next_offset"}`` (None on the last page)."""
        params = compact({"name": name, "limit": limit, "offset": offset})
        return self._run(Call("GET", _path("evals") + "/runs", params=params))

    def compare(self, a: str, b: str, *, limit: int = 50) -> Any:
        """Run ``b`` against baseline ``a`` case by case: regressions, improvements and paired tests per scorer."""
        return self._run(Call("GET", _path("evals") + "/compare", params={"a": a, "b": b, "limit": limit}))

    def resume(self, run: str) -> Any:
        """Resume an interrupted run: only cases without a result run (409 while it is still running)."""
        return self._run(Call("POST", _run_path(run, "/resume")))
