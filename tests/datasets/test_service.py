"""get_dataset_version (what evaluation runs use), version immutability under edits, concurrent changes."""

from __future__ import annotations

import threading

import pytest

from stackwright.auth.actors import SYSTEM
from stackwright.core.errors import InvalidInput, NotFound
from stackwright.datasets import editing, importing, service
from tests.datasets.conftest import CASES, OtherProject, default, jsonl, other  # noqa: F401  (fixtures)


def _import(db, project_id, name, items, **kw):
    parsed, places = importing.parse_jsonl(jsonl(items), "test")
    with db.write() as session:
        return editing.import_items(session, SYSTEM, project_id, name, parsed, places, **kw)


def test_get_dataset_version(prepared, default, other):  # noqa: F811
    _import(prepared, default.project_id, "cases", CASES)
    _import(prepared, default.project_id, "cases", CASES[:2])
    with prepared.read() as session:
        latest = service.get_dataset_version(session, default.project_id, "cases")
        assert (latest.name, latest.version, latest.ref, latest.item_count, latest.parent_version) == ("cases", 2, "cases@2", 2, 1)
        assert [sorted(i) for i in latest.items] == [["expected", "id", "input", "metadata"]] * 2
        first = service.get_dataset_version(session, default.project_id, "cases@1")
        assert [i["input"] for i in first.items] == [c["input"] for c in CASES] and first.items[2]["metadata"] == {}
        assert service.get_dataset_version(session, default.project_id, "cases@latest").version == 2
        assert service.get_dataset_version(session, default.project_id, "cases@1", with_items=False).items == []
        assert first.content_hash != latest.content_hash
        with pytest.raises(NotFound, match=r"Dataset 'cases' has no version 3\. Its versions: 1, 2; cases \(latest\) is version 2"):
            service.get_dataset_version(session, default.project_id, "cases@3")
        with pytest.raises(NotFound, match="No dataset named 'case'. Datasets in this project: cases"):
            service.get_dataset_version(session, default.project_id, "case@1")
        with pytest.raises(NotFound, match="No dataset named 'cases'. This project has no datasets yet"):
            service.get_dataset_version(session, other.project_id, "cases@1")
        for bad in ("", "cases@", "cases@x", "cases@0", "cases@-1", "ca ses", "@1"):
            with pytest.raises(InvalidInput):
                service.get_dataset_version(session, default.project_id, bad)


def test_a_version_read_before_edits_stays_the_same(prepared, default):  # noqa: F811
    """A run holds on to name@N: edits during the run make new versions and never change N."""
    _import(prepared, default.project_id, "cases", CASES)
    with prepared.read() as session:
        pinned = service.get_dataset_version(session, default.project_id, "cases")
    with prepared.write() as session:
        editing.remove_item(session, SYSTEM, default.project_id, "cases", pinned.items[0]["id"])
        editing.update_item(session, SYSTEM, default.project_id, "cases", pinned.items[1]["id"], {"expected": "changed"})
    _import(prepared, default.project_id, "cases", [{"input": "new"}], mode="append")
    with prepared.read() as session:
        again = service.get_dataset_version(session, default.project_id, pinned.ref)
        assert again == pinned
        assert service.get_dataset_version(session, default.project_id, "cases").version == 4


def test_a_failed_change_leaves_nothing(prepared, default):  # noqa: F811
    _import(prepared, default.project_id, "cases", CASES)
    with pytest.raises(InvalidInput):
        _import(prepared, default.project_id, "cases", [{"input": "ok"}, {"input": "ok"}], mode="append")
    with pytest.raises(InvalidInput, match="mode 'merge'"):
        _import(prepared, default.project_id, "cases", CASES, mode="merge")
    with pytest.raises(InvalidInput, match="2000"):
        _import(prepared, default.project_id, "cases", CASES[:1], message="x" * 2001)
    with prepared.read() as session:
        assert service.list_versions(session, default.project_id, "cases")[0][0]["version"] == 1


def test_concurrent_appends_get_consecutive_versions(prepared, default):  # noqa: F811
    _import(prepared, default.project_id, "cases", CASES[:1])
    errors: list[BaseException] = []

    def append(n: int) -> None:
        try:
            _import(prepared, default.project_id, "cases", [{"input": f"case {n}"}], mode="append")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with prepared.read() as session:
        versions, _ = service.list_versions(session, default.project_id, "cases")
        assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
        assert [v["item_count"] for v in versions] == [5, 4, 3, 2, 1]
        latest = service.get_dataset_version(session, default.project_id, "cases")
        assert sorted(i["input"] for i in latest.items[1:]) == [f"case {n}" for n in range(4)]
