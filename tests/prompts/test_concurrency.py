"""Concurrent pushes and label moves, on SQLite and Postgres: distinct numbers, no lost label move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from stackwright.auth.actors import Actor
from stackwright.auth.models import Project
from stackwright.prompts import labels, push, service
from tests.prompts.conftest import SUPPORT, support

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


def _project(db) -> str:
    with db.read() as session:
        return session.scalar(select(Project.id).where(Project.name == "default"))


def test_concurrent_pushes_of_new_content_get_distinct_versions(prepared):
    project_id = _project(prepared)

    def work(index: int) -> dict:
        with prepared.write() as session:
            return push.push(session, ADMIN, project_id, support(system=f"variant {index} {{{{ product }}}}", labels=["staging"]))

    results = _in_threads(8, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(r["version"] for r in results) == list(range(1, 9))
    with prepared.read() as session:
        assert service.find_version(session, project_id, "support-answer").version == 8
        history, _ = service.label_history(session, project_id, "support-answer", label="latest")
        staging, _ = service.label_history(session, project_id, "support-answer", label="staging")
    # every move of latest starts where the previous one ended: none was lost or applied out of order
    assert [(h["from_version"], h["to_version"]) for h in reversed(history)] == [(None, 1)] + [(n, n + 1) for n in range(1, 8)]
    chain = [(h["from_version"], h["to_version"]) for h in reversed(staging)]
    assert all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1)) and chain[-1][1] == 8


def test_concurrent_pushes_of_the_same_content_make_one_version(prepared):
    project_id = _project(prepared)

    def work(index: int) -> dict:
        with prepared.write() as session:
            return push.push(session, ADMIN, project_id, SUPPORT)

    results = _in_threads(6, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert {r["version"] for r in results} == {1} and sum(r["created"] for r in results) == 1
    with prepared.read() as session:
        versions, _ = service.list_versions(session, project_id, "support-answer")
    assert len(versions) == 1


def test_label_moves_racing_pushes_keep_a_consistent_history(prepared):
    project_id = _project(prepared)
    with prepared.write() as session:
        for index in range(3):
            push.push(session, ADMIN, project_id, support(system=f"base {index}", labels=[]))

    def work(index: int) -> dict:
        with prepared.write() as session:
            if index % 2:
                return labels.set_label(session, ADMIN, project_id, "support-answer", "production", 1 + index % 3)
            return push.push(session, ADMIN, project_id, support(system=f"racing {index}", labels=["production"]))

    results = _in_threads(8, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    with prepared.read() as session:
        history, _ = service.label_history(session, project_id, "support-answer", label="production", limit=100)
        final = service.find_version(session, project_id, "support-answer@production").version
    chain = [(h["from_version"], h["to_version"]) for h in reversed(history)]
    assert chain[0][0] is None and all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1))
    assert chain[-1][1] == final
    pushed = sorted(r["version"] for r in results if "created" in r)
    assert pushed == [4, 5, 6, 7]
