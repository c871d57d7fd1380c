"""`stackwright datasets ...`: every command with --json and as text, and bad input (error: ..., exit 1; usage: exit 2)."""

from __future__ import annotations

import orjson

from stackwright.datasets.models import Dataset, DatasetItem, DatasetVersion
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.datasets.conftest import CASES, jsonl


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _counts(runner) -> tuple[int, int, int]:
    return runner.count(Dataset), runner.count(DatasetVersion), runner.count(DatasetItem)


def test_import_show_versions_export(cli_ready, tmp_path):  # noqa: F811
    path = _write(tmp_path / "cases.jsonl", jsonl(CASES))
    result = cli_ready.json("datasets", "import", "support-cases", path, "-m", "first")
    assert (result["ref"], result["created"], result["item_count"]) == ("support-cases@1", True, 3)
    assert "support-cases@1: unchanged, 3 items" in cli_ready.ok("datasets", "import", "support-cases", path).stdout
    more = _write(tmp_path / "more.csv", "input.question,expected\nOpening hours?,9-5\n")
    assert "support-cases@2: new version, 4 items (1 imported" in cli_ready.ok("datasets", "import", "support-cases", more, "--append").stdout
    listed = cli_ready.json("datasets", "list")
    assert [(d["name"], d["latest_version"], d["item_count"]) for d in listed] == [("support-cases", 2, 4)]
    assert "support-cases" in cli_ready.ok("datasets", "list").stdout
    shown = cli_ready.json("datasets", "show", "support-cases@1")
    assert shown["version"]["ref"] == "support-cases@1" and [i["input"] for i in shown["items"]] == [c["input"] for c in CASES]
    text = cli_ready.ok("datasets", "show", "support-cases", "--limit", "2").stdout
    assert "support-cases@2 (latest): 4 items" in text and "... 2 more" in text and shown["items"][0]["id"] in text
    versions = cli_ready.json("datasets", "versions", "support-cases")
    assert [(v["version"], v["latest"], v["message"]) for v in versions] == [(2, True, ""), (1, False, "first")]
    assert "first" in cli_ready.ok("datasets", "versions", "support-cases").stdout
    exported = cli_ready.ok("datasets", "export", "support-cases@1").stdout
    assert [orjson.loads(line)["input"] for line in exported.splitlines()] == [c["input"] for c in CASES]
    out = tmp_path / "out.csv"
    cli_ready.ok("datasets", "export", "support-cases", "--format", "csv", "-o", str(out))
    again = cli_ready.json("datasets", "import", "copy", str(out))
    assert again["content_hash"] == cli_ready.json("datasets", "versions", "support-cases")[0]["content_hash"]


def test_edit_items(cli_ready, tmp_path):  # noqa: F811
    added = cli_ready.json("datasets", "add-item", "cases", "--input", '{"question": "Hi?"}', "--expected", '"Hello"', "--metadata", '{"t": 1}')
    assert (added["version"], added["item_count"]) == (1, 1)
    updated = cli_ready.json("datasets", "update-item", "cases", added["item_id"], "--expected", "null")
    assert updated["version"] == 2 and updated["old_item_id"] == added["item_id"]
    assert cli_ready.json("datasets", "show", "cases")["items"][0]["expected"] is None
    text = cli_ready.ok("datasets", "remove-item", "cases", updated["item_id"]).stdout
    assert "cases@3: new version, 0 items (removed" in text
    assert cli_ready.json("datasets", "show", "cases@1")["items"][0]["expected"] == "Hello"  # versions are immutable


def test_add_from_traces_with_no_traces(cli_ready):  # noqa: F811
    result = cli_ready.json("datasets", "add-from-traces", "prod", "--filter", "route=support.answer", "--limit", "5")
    assert result["matched"] == 0 and result["version"] is None
    assert "no version yet" in cli_ready.ok("datasets", "add-from-traces", "prod").stdout


def test_bad_input(cli_ready, tmp_path):  # noqa: F811
    fails = cli_ready.fails
    fails("datasets", "import", "cases", str(tmp_path / "missing.jsonl"), needle="does not exist")
    fails("datasets", "import", "cases", _write(tmp_path / "c.txt", jsonl(CASES)), needle="cannot tell the format")
    bad = _write(tmp_path / "bad.jsonl", jsonl(CASES) + '{"input": "x", "expectd": 1}\n')
    fails("datasets", "import", "cases", bad, needle="bad.jsonl line 4: unknown key 'expectd'")
    fails("datasets", "import", "cases", _write(tmp_path / "bad.csv", "question\nx\n"), needle="line 1: unknown column 'question'")
    fails("datasets", "import", "bad name", _write(tmp_path / "ok.jsonl", jsonl(CASES)), needle="not valid")
    assert _counts(cli_ready) == (0, 0, 0)  # nothing imported
    cli_ready.ok("datasets", "import", "cases", str(tmp_path / "ok.jsonl"))
    fails("datasets", "show", "cases@9", needle="has no version 9. Its versions: 1")
    fails("datasets", "show", "cases@x", needle="bad version")
    fails("datasets", "show", "nope", needle="No dataset named 'nope'. Datasets in this project: cases")
    fails("datasets", "export", "cases", "--format", "xml", needle="Format 'xml' is not supported")
    fails("datasets", "add-item", "cases", "--input", "hello", needle="--input 'hello' is not valid JSON")
    fails("datasets", "add-item", "cases", "--input", "null", needle="input is missing")
    fails("datasets", "add-item", "cases", "--input", '{"question": "How long do refunds take?"}', "--expected", '"5 days"', "--metadata", '{"topic": "billing"}', needle="already holds this item")
    fails("datasets", "update-item", "cases", "0" * 32, "--expected", "1", needle="has no item")
    fails("datasets", "update-item", "cases", "xyz", "--expected", "1", needle="Item id 'xyz' is not valid")
    fails("datasets", "remove-item", "cases", "0" * 32, needle="has no item")
    fails("datasets", "add-from-traces", "cases", "--filter", "route", needle="not of the form KEY=VALUE")
    fails("datasets", "add-from-traces", "cases", "--filter", "colour=red", needle="Unknown trace filter 'colour'")
    fails("datasets", "list", "--project", "nowhere", needle="nowhere")
    assert _counts(cli_ready) == (1, 1, 3)
    usage = cli_ready("datasets", "import", "cases")
    assert usage.exit_code == 2 and "missing argument" in usage.stderr.lower()
