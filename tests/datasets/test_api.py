"""The datasets API: import (JSONL, CSV, JSON), idempotent re-import, immutable versions, edits, export, paging, scoping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stackwright.auth.models import AuditEntry
from tests.conftest import assert_error
from tests.datasets.conftest import (  # noqa: F401  (fixtures)
    CASES,
    OtherProject,
    client_for,
    contents,
    default,
    fingerprint,
    import_jsonl,
    items_of,
    jsonl,
    make_key,
    other,
)


def test_import_creates_version_one_and_reimport_is_idempotent(api, prepared):
    first = import_jsonl(api, "support-cases", CASES, status=201)
    assert (first["version"], first["ref"], first["created"], first["item_count"], first["imported"]) == (1, "support-cases@1", True, 3, 3)
    before = fingerprint(prepared)
    again = import_jsonl(api, "support-cases", CASES, status=200)
    assert (again["version"], again["created"], again["content_hash"]) == (1, False, first["content_hash"])
    assert fingerprint(prepared) == before
    items = items_of(api, "support-cases", 1)
    assert contents(items) == [{**c, "metadata": c.get("metadata", {})} for c in CASES]
    assert [i["position"] for i in items] == [0, 1, 2] and all(len(i["id"]) == 32 for i in items)


def test_versions_are_immutable_and_share_items(api, prepared):
    import_jsonl(api, "cases", CASES)
    changed = [*CASES[:2], {"input": {"question": "New?"}, "expected": "new"}]
    second = import_jsonl(api, "cases", changed, message="swap the last case")
    assert (second["version"], second["parent_version"], second["created"]) == (2, 1, True)
    assert contents(items_of(api, "cases", 1))[2]["input"] == CASES[2]["input"]  # version 1 unchanged
    assert contents(items_of(api, "cases", 2))[2]["input"] == {"question": "New?"}
    assert fingerprint(prepared)["dataset_items"] == 4  # two shared, one per version of its own
    shown = api.get("/api/v1/datasets/cases").json()
    assert shown["latest_version"] == 2 and shown["item_count"] == 3
    assert [(v["version"], v["latest"], v["message"]) for v in shown["versions"]] == [(2, True, "swap the last case"), (1, False, "")]
    back = import_jsonl(api, "cases", CASES)  # the same content as version 1 is version 1 again, now the latest
    assert (back["version"], back["created"]) == (1, False)
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 1


def test_append_skips_items_already_there(api):
    import_jsonl(api, "cases", CASES[:2])
    result = import_jsonl(api, "cases", CASES[1:], mode="append")
    assert (result["version"], result["item_count"], result["imported"], result["skipped"]) == (2, 3, 1, 1)
    assert contents(items_of(api, "cases", 2))[2]["input"] == CASES[2]["input"]


def test_import_csv_and_json_bodies(api):
    csv_text = "input.question,expected,metadata.topic\nHow long?,5 days,billing\n\"Ship, to Canada?\",Yes,\n"
    result = api.post("/api/v1/datasets/csv-cases/import", content=csv_text, headers={"Content-Type": "text/csv"})
    assert result.status_code == 201, result.text
    assert contents(items_of(api, "csv-cases", 1)) == [
        {"input": {"question": "How long?"}, "expected": "5 days", "metadata": {"topic": "billing"}},
        {"input": {"question": "Ship, to Canada?"}, "expected": "Yes", "metadata": {}},
    ]
    body = {"items": [{"input": "hello"}], "mode": "replace", "message": "from JSON"}
    result = api.post("/api/v1/datasets/json-cases/import", json=body)
    assert result.status_code == 201 and result.json()["item_count"] == 1
    assert api.get("/api/v1/datasets/json-cases/versions").json()["data"][0]["message"] == "from JSON"


@pytest.mark.parametrize(
    ("content", "content_type", "needle"),
    [
        ('{"input": "a"}\n{"input": "b"\n', "application/x-ndjson", "line 2 is not valid JSON"),
        ('{"input": "a"}\n\n{"inptu": "b"}\n', "application/x-ndjson", "line 3: unknown key 'inptu'"),
        ('{"input": "a"}\n{"expected": "b"}\n', "application/x-ndjson", "line 2: input is missing"),
        ('{"input": "a", "metadata": [1]}\n', "application/x-ndjson", "line 1: metadata must be a JSON object"),
        ('["not an object"]\n', "application/x-ndjson", "line 1: an item must be a JSON object"),
        ('{"input": "a"}\n{"input": "a"}\n', "application/x-ndjson", "line 2 is identical to The body line 1"),
        ("\n\n", "application/x-ndjson", "holds no items"),
        ("input,color\nx,red\n", "text/csv", "unknown column 'color'"),
        ("input,expected\nx,1\ny\n", "text/csv", "line 3 has 1 cells"),
        ("input,expected:json\nx,1\ny,{bad\n", "text/csv", "line 3: column 'expected:json' is not valid JSON"),
        ("input,input.q\nx,y\n", "text/csv", "both a input column and input.KEY columns"),
        ('{"items": []}', "application/json", "items is empty"),
        ('{"items": [{"input": 1}], "mode": "merge"}', "application/json", "mode 'merge' is not valid"),
        ('{"items": [{"input": 1}], "extra": 1}', "application/json", "extra"),
        ('{"items": [{"input": 1, "expected": "\\u0000"}]}', "application/json", "NUL"),
        ("<xml/>", "application/xml", "content type 'application/xml' is not supported"),
    ],
)
def test_bad_import_names_the_problem_and_stores_nothing(api, prepared, content, content_type, needle):
    import_jsonl(api, "cases", CASES)
    before = fingerprint(prepared)
    response = api.post("/api/v1/datasets/cases/import", content=content, headers={"Content-Type": content_type})
    error = assert_error(response, 400, "invalid_input")
    assert needle.lower() in error["message"].lower(), error["message"]
    assert fingerprint(prepared) == before
    assert api.get("/api/v1/datasets/cases").json()["latest_version"] == 1


def test_bad_names_and_refs(api):
    assert_error(api.post("/api/v1/datasets", json={"name": "bad name"}), 400, "invalid_input")
    assert_error(api.post("/api/v1/datasets/-x/import", content=jsonl(CASES), headers={"Content-Type": "application/x-ndjson"}), 400)
    assert_error(api.get("/api/v1/datasets/nope"), 404, "not_found")
    import_jsonl(api, "cases", CASES)
    error = assert_error(api.get("/api/v1/datasets/cases/versions/7/items"), 404, "not_found")
    assert "no version 7" in error["message"] and "Its versions: 1" in error["message"]
    assert_error(api.get("/api/v1/datasets/cases/versions/0/items"), 422, "validation_error")
    assert_error(api.get("/api/v1/datasets/cases/versions/1/items", params={"cursor": "zz"}), 400, "invalid_input")


def test_create_list_and_pages(api):
    created = api.post("/api/v1/datasets", json={"name": "empty", "description": "for later"})
    assert created.status_code == 201 and created.json()["latest_version"] is None
    assert_error(api.post("/api/v1/datasets", json={"name": "empty"}), 409, "conflict")
    assert "no versions yet" in assert_error(api.get("/api/v1/datasets/empty/export"), 404)["message"]
    for n in range(3):
        import_jsonl(api, f"ds{n}", CASES)
    page = api.get("/api/v1/datasets", params={"limit": 2}).json()
    assert [d["name"] for d in page["data"]] == ["ds2", "ds1"] and page["data"][0]["item_count"] == 3
    rest = api.get("/api/v1/datasets", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [d["name"] for d in rest["data"]] == ["ds0", "empty"] and rest["next_cursor"] is None
    first = api.get("/api/v1/datasets/ds0/versions/1/items", params={"limit": 2}).json()
    second = api.get("/api/v1/datasets/ds0/versions/1/items", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["position"] for i in first["data"] + second["data"]] == [0, 1, 2] and second["next_cursor"] is None
    assert first["version"]["ref"] == "ds0@1"


def test_edit_items_make_new_versions(api, prepared):
    import_jsonl(api, "cases", CASES)
    added = api.post("/api/v1/datasets/cases/items", json={"input": {"question": "Hours?"}, "expected": "9-5", "message": "hours"})
    assert added.status_code == 201, added.text
    assert (added.json()["version"], added.json()["item_count"]) == (2, 4)
    item_id = added.json()["item_id"]
    assert_error(api.post("/api/v1/datasets/cases/items", json={"input": {"question": "Hours?"}, "expected": "9-5"}), 409, "conflict")
    patched = api.patch(f"/api/v1/datasets/cases/items/{item_id}", json={"expected": "9am-5pm"})
    assert patched.status_code == 200, patched.text
    new_id = patched.json()["item_id"]
    assert patched.json()["version"] == 3 and new_id != item_id
    v3 = items_of(api, "cases", 3)
    assert v3[3]["id"] == new_id and v3[3]["expected"] == "9am-5pm" and v3[3]["input"] == {"question": "Hours?"}
    cleared = api.patch(f"/api/v1/datasets/cases/items/{new_id}", json={"expected": None, "metadata": {"k": "v"}})
    assert cleared.json()["version"] == 4 and items_of(api, "cases", 4)[3]["expected"] is None
    removed = api.delete(f"/api/v1/datasets/cases/items/{v3[0]['id']}")
    assert removed.status_code == 200 and removed.json()["item_count"] == 3 and removed.json()["version"] == 5
    assert len(items_of(api, "cases", 1)) == 3 and items_of(api, "cases", 2)[3]["expected"] == "9-5"  # old versions intact
    before = fingerprint(prepared)
    assert_error(api.delete(f"/api/v1/datasets/cases/items/{v3[0]['id']}"), 404, "not_found")  # not in the latest version
    assert_error(api.delete("/api/v1/datasets/cases/items/not-an-id"), 400, "invalid_input")
    assert_error(api.patch(f"/api/v1/datasets/cases/items/{new_id}", json={"expected": "x"}), 404)  # replaced in version 4
    v5 = items_of(api, "cases", 5)
    assert_error(api.patch(f"/api/v1/datasets/cases/items/{v5[0]['id']}", json={}), 400, "invalid_input")  # nothing to change
    assert_error(api.patch(f"/api/v1/datasets/cases/items/{v5[0]['id']}", json={"input": None}), 400, "invalid_input")
    duplicate = api.patch(f"/api/v1/datasets/cases/items/{v5[0]['id']}", json={**{k: v5[1][k] for k in ("input", "expected", "metadata")}})
    assert "identical" in assert_error(duplicate, 400, "invalid_input")["message"]
    assert_error(api.post("/api/v1/datasets/cases/items", json={"expected": "x"}), 422, "validation_error")
    assert fingerprint(prepared) == before
    with prepared.read() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("dataset.%")).order_by(AuditEntry.id)))
    assert actions == ["dataset.import", "dataset.add_item", "dataset.update_item", "dataset.update_item", "dataset.remove_item"]


def test_export_round_trips(api):
    mixed = [*CASES, {"input": "plain text", "expected": {"answer": 42, "ok": True}, "metadata": {"n": 3, "tags": ["a"]}}]
    import_jsonl(api, "mixed", mixed)
    for fmt in ("jsonl", "csv"):
        exported = api.get("/api/v1/datasets/mixed/export", params={"format": fmt})
        assert exported.status_code == 200 and exported.headers["x-dataset-ref"] == "mixed@1"
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        again = api.post(f"/api/v1/datasets/copy-{fmt}/import", content=exported.content, headers={"Content-Type": content_type})
        assert again.status_code == 201, again.text
        assert again.json()["content_hash"] == api.get("/api/v1/datasets/mixed").json()["latest"]["content_hash"]
    assert_error(api.get("/api/v1/datasets/mixed/export", params={"format": "xlsx"}), 400, "invalid_input")


def test_other_projects_datasets_are_not_found(api, client_for, other, prepared):  # noqa: F811
    import_jsonl(api, "cases", CASES)
    theirs = client_for(other.key)
    assert_error(theirs.get("/api/v1/datasets/cases"), 404, "not_found")
    assert_error(theirs.get("/api/v1/datasets/cases/versions/1/items"), 404)
    assert_error(theirs.get("/api/v1/datasets/cases/export"), 404)
    item_id = items_of(api, "cases", 1)[0]["id"]
    assert_error(theirs.patch(f"/api/v1/datasets/cases/items/{item_id}", json={"expected": "x"}), 404)
    assert_error(theirs.delete(f"/api/v1/datasets/cases/items/{item_id}"), 404)
    assert theirs.get("/api/v1/datasets").json()["data"] == []
    import_jsonl(theirs, "cases", CASES[:1])  # the same name in another project is its own dataset
    assert api.get("/api/v1/datasets/cases").json()["item_count"] == 3


def test_scopes(client_for, make_key, anon):  # noqa: F811
    _, read_key = make_key(["read"])
    reader = client_for(read_key)
    assert reader.get("/api/v1/datasets").status_code == 200
    assert_error(reader.post("/api/v1/datasets", json={"name": "x"}), 403, "forbidden")
    assert_error(reader.post("/api/v1/datasets/x/import", content=jsonl(CASES), headers={"Content-Type": "application/x-ndjson"}), 403)
    assert_error(reader.post("/api/v1/datasets/x/from-traces", json={}), 403)
    assert_error(anon.get("/api/v1/datasets"), 401)
