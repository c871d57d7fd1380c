"""Migration 0017 on SQLite: JSON columns become JSON_TEXT (TEXT affinity) and the numbers SQLite stored as
INTEGER/REAL in the old JSON (NUMERIC affinity) columns are written back as JSON text, so a dataset that a
bare number broke reads again. On Postgres (JSONB) it changes nothing."""

from __future__ import annotations

import pytest

from stackwright.core import migrate

BEFORE = "0016"


def _declared(db, table: str) -> dict[str, str]:
    with db.engine.connect() as conn:
        return {row[1]: row[2] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')}


def _storage(db, sql: str) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_dataset_broken_by_a_bare_number_reads_again_after_the_upgrade(prepared, api):
    migrate.downgrade(prepared, BEFORE)  # the schema the old code wrote to: columns declared JSON
    assert _declared(prepared, "dataset_items")["input"] == "JSON"
    assert api.post("/api/v1/datasets", json={"name": "d"}).status_code == 201
    items = [{"input": 5, "expected": 0.1}, {"input": {"q": "x"}, "expected": 12345678901234567}]
    assert api.post("/api/v1/datasets/d/import", json={"items": items}).status_code == 201  # stored as the old code did
    assert _storage(prepared, "SELECT typeof(input), typeof(expected) FROM dataset_items ORDER BY input") == [
        ("integer", "real"), ("text", "integer")
    ]  # fmt: skip
    assert api.get("/api/v1/datasets/d/versions/1/items").status_code == 500  # the defect, before the repair

    migrate.upgrade(prepared)

    assert {_declared(prepared, "dataset_items")[c] for c in ("input", "expected", "metadata")} == {"JSON_TEXT"}
    assert _storage(prepared, "SELECT DISTINCT typeof(input), typeof(expected) FROM dataset_items") == [("text", "text")]
    items = api.get("/api/v1/datasets/d/versions/1/items").json()["data"]
    assert [(i["input"], i["expected"]) for i in items] == [(5, 0.1), ({"q": "x"}, 12345678901234567)]
    assert api.post("/api/v1/datasets/d/items", json={"input": 6}).status_code == 201  # adds work again
    assert _storage(prepared, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_upgrade_keeps_indexes_triggers_and_rows(prepared):
    def schema() -> set[tuple]:
        return set(_storage(prepared, "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('index', 'trigger', 'table')"))

    at_head = schema()
    migrate.downgrade(prepared, BEFORE)
    assert _declared(prepared, "retrieval_chunks")["heading_path"] == "JSON"
    migrate.upgrade(prepared)
    assert schema() == at_head  # the FTS triggers on retrieval_chunks, every index and table are still there
    assert _declared(prepared, "spans")["attributes"] == "JSON_TEXT"
    assert migrate.is_current(prepared)


@pytest.mark.parametrize("backend", ["postgres"])
def test_postgres_is_unchanged(prepared):
    """JSONB holds any JSON value already: down and up again leaves the column types alone."""
    from sqlalchemy import inspect

    def types() -> dict[str, str]:
        with prepared.engine.connect() as conn:
            return {c["name"]: str(c["type"]) for c in inspect(conn).get_columns("dataset_items")}

    at_head = types()
    migrate.downgrade(prepared, BEFORE)
    assert types() == at_head and at_head["input"] == "JSONB"
    migrate.upgrade(prepared)
    assert types() == at_head
