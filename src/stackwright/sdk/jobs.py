"""``client.jobs``: enqueue, list, read and cancel background jobs, and manage their cron schedules, written once
for ``Client`` and ``AsyncClient`` (await the calls on the latter).

    job = client.jobs.enqueue("datasets.from_traces", {"name": "prod-failures", "filters": {"status": "error"}})
    client.jobs.get(job["id"])["status"]         # queued, running, succeeded, failed or cancelled
    client.jobs.set_schedule("nightly", "0 2 * * *", "datasets.from_traces", {"name": "prod-failures"})
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact, parse_data
from stackwright.sdk.resources import Resource, _path


def _job_path(job_id: str, tail: str = "") -> str:
    return _path("jobs", job_id) + tail


class Jobs(Resource):
    """Jobs of the key's project (reading needs read scope, changes write)."""

    def enqueue(self, kind: str, params: dict[str, Any] | None = None, *, max_attempts: int = 1) -> Any:
        """Queue a job of ``kind`` (noop, sleep, retrieval.ingest, evals.run, datasets.from_traces or a plugin's);
        its ``params`` are checked now (a bad field raises InvalidRequestError). Returns the job (202 accepted)."""
        body = {"kind": kind, "params": params or {}, "max_attempts": max_attempts}
        return self._run(Call("POST", _path("jobs"), body=body))

    def list(self, *, status: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0) -> Any:
        """``{"data": [jobs, newest first], "next_offset"}`` (None on the last page)."""
        params = compact({"status": status, "kind": kind, "limit": limit, "offset": offset})
        return self._run(Call("GET", _path("jobs"), params=params))

    def get(self, job_id: str, *, logs: bool = True) -> Any:
        """One job, with its log lines unless ``logs=False``."""
        return self._run(Call("GET", _job_path(job_id), params={"logs": logs}))

    def cancel(self, job_id: str) -> Any:
        """Cancel a job: a queued one stops now, a running one at its next progress report."""
        return self._run(Call("POST", _job_path(job_id, "/cancel")))

    def list_schedules(self) -> Any:
        return self._run(Call("GET", _path("jobs") + "/schedules", parse=parse_data))

    def set_schedule(self, name: str, cron: str, kind: str, params: dict[str, Any] | None = None, *,
                     max_attempts: int = 1, enabled: bool = True) -> Any:  # fmt: skip
        """Create the schedule, or replace the one with this name; ``cron`` is five fields in UTC."""
        body = {"name": name, "cron": cron, "kind": kind, "params": params or {}, "max_attempts": max_attempts, "enabled": enabled}
        return self._run(Call("POST", _path("jobs") + "/schedules", body=body))

    def delete_schedule(self, name: str) -> Any:
        """Delete a schedule (the jobs it enqueued stay)."""
        return self._run(Call("DELETE", _path("jobs") + "/schedules/" + quote(name, safe="")))
