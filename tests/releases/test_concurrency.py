"""Concurrent changes on SQLite and Postgres: none is lost, revisions form one chain, a stale revision is refused."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from stackwright.auth.actors import Actor
from stackwright.core.errors import Conflict
from stackwright.releases import service
from stackwright.releases.history import change_view, list_changes
from tests.releases.conftest import ROUTE, client_for, default, make_key, set_stable  # noqa: F401

ADMIN = Actor(label="test", scopes=("admin",))


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def _history(db, project_id: str) -> list[dict[str, Any]]:
    with db.read() as session:
        row = service.get_release(session, project_id, ROUTE, "production")
        return [change_view(c) for c in reversed(list_changes(session, row, limit=500)[0])]


def _assert_one_chain(changes: list[dict[str, Any]]) -> None:
    """Every change starts from the state the previous one left: nothing was lost or overwritten."""
    assert [c["revision"] for c in changes] == list(range(1, len(changes) + 1))
    for previous, change in itertools.pairwise(changes):
        assert change["before"] == previous["after"], (previous, change)


def test_concurrent_first_sets_create_one_release_and_keep_every_change(prepared, prompts):
    def work(index: int) -> dict:
        with prepared.write() as session:
            return service.set_stable(session, ADMIN, prompts, ROUTE, "production", f"support-answer@{index % 4 + 1}", f"model-{index}")

    results = _in_threads(8, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r["id"] for r in results}) == 1
    changes = _history(prepared, prompts)
    assert len(changes) == 8 and changes[0]["before"] is None
    _assert_one_chain(changes)
    assert {c["after"]["stable"]["model"] for c in changes} == {f"model-{i}" for i in range(8)}


def test_concurrent_canaries_rollbacks_and_rules_form_one_chain(prepared, prompts):
    with prepared.write() as session:
        service.set_stable(session, ADMIN, prompts, ROUTE, "production", "support-answer@1", "m")

    def work(index: int) -> dict:
        with prepared.write() as session:
            if index % 3 == 0:
                return service.rollback(session, ADMIN, prompts, ROUTE, "production") if index else {}
            if index % 3 == 1:
                return service.start_candidate(session, ADMIN, prompts, ROUTE, "production", "support-answer@2", share=index)
            return service.set_rules(session, ADMIN, prompts, ROUTE, "production", rollback_rules={"p95_margin_ms": index})

    results = _in_threads(9, work)
    # A rollback may find neither a candidate nor an earlier stable config (409); anything else must succeed.
    assert all(not isinstance(r, BaseException) or isinstance(r, Conflict) for r in results), results
    changes = _history(prepared, prompts)
    _assert_one_chain(changes)
    assert len(changes) == 1 + sum(not isinstance(r, BaseException) and bool(r) for r in results)


def test_two_changes_from_the_same_revision_one_wins(prompts, api, make_key, client_for):  # noqa: F811
    set_stable(api)
    clients = [client_for(make_key(["write"])[1]) for _ in range(4)]

    def work(index: int) -> int:
        body = {"env": "production", "prompt": "support-answer@2", "share": 10 + index, "expected_revision": 1}
        return clients[index].post(f"/api/v1/releases/{ROUTE}/canary", json=body).status_code

    statuses = _in_threads(4, work)
    assert sorted(statuses) == [200, 409, 409, 409], statuses
    status = api.get(f"/api/v1/releases/{ROUTE}", params={"env": "production"}).json()
    assert status["revision"] == 2
