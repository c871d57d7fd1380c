"""`stackwright retrieval eval`: the shipped set after `stackwright ingest`, table and JSON output, bad input."""

from __future__ import annotations

import json

from stackwright.retrieval.sample import corpus_dir, labels_path, load_labels
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)
from tests.retrieval.test_eval_service import HYBRID_HIT_AT_5_FLOOR


def test_eval_the_shipped_set_after_ingesting_the_folder(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("collections", "create", "help-center")
    cli_ready.ok("ingest", str(corpus_dir()), "--collection", "help-center")
    labels = str(labels_path())
    # the folder's sources are help-center/<file>.md; the labels name <file>.md: matched by suffix
    result = cli_ready.json("retrieval", "eval", labels, "--collection", "help-center", "-k", "5")
    total = len(load_labels())
    assert result["labels"] == total and result["unknown_ids"] == 0 and result["k"] == 5
    assert {mode: scores["measured"] for mode, scores in result["modes"].items()} == {"vector": total, "keyword": total, "hybrid": total}
    assert result["modes"]["hybrid"]["hit_rate"] >= HYBRID_HIT_AT_5_FLOOR
    assert result["queries"][0]["modes"]["vector"]["retrieved"][0]["source"].startswith("help-center/")

    text = cli_ready.ok("retrieval", "eval", labels, "--collection", "help-center", "-k", "5").stdout
    assert f"help-center: {total} queries, document granularity" in text
    for needle in ("hit@5", "MRR@5", "nDCG@5", "P@5", "R@5", "vector", "keyword", "hybrid"):
        assert needle in text
    hybrid_line = next(line for line in text.splitlines() if "│ hybrid" in line)
    assert f"{result['modes']['hybrid']['hit_rate']:.3f}" in hybrid_line

    one = cli_ready.json("retrieval", "eval", labels, "-c", "help-center", "--mode", "keyword", "--granularity", "chunk", "-k", "3")
    assert list(one["modes"]) == ["keyword"] and one["granularity"] == "chunk"
    assert all(len(r["id"]) == 32 for r in one["queries"][0]["modes"]["keyword"]["retrieved"])

    # ids that match nothing are reported (stderr) and left out; a query left without any is unmeasured
    partial = tmp_path / "partial.jsonl"
    partial.write_text(json.dumps({"query": "AUTH-423", "relevant": ["account-locked.md", "gone.md"]}) + "\n"
                       + json.dumps({"query": "refunds", "relevant": ["gone.md"]}) + "\n")  # fmt: skip
    run = cli_ready.ok("retrieval", "eval", str(partial), "-c", "help-center", "--mode", "keyword")
    assert "relevant id 'gone.md': no document source" in run.stderr
    assert "1 queries were not measured" in run.stderr
    assert "keyword" in run.stdout


def test_bad_input(cli_ready, tmp_path):  # noqa: F811
    cli_ready.ok("collections", "create", "kb")
    good = tmp_path / "labels.jsonl"
    good.write_text('{"query": "refunds", "relevant": ["a.md"]}\n')
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"query": "refunds", "relevant": ["a.md"]}\n{"query": "oops", relevant: []}\n')
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"query": "refunds", "relevant": ["a.md"]}\n{"relevant": ["a.md"]}\n')
    cli_ready.fails("retrieval", "eval", str(broken), "-c", "kb", needle=f"{broken}, line 2: not valid JSON")
    cli_ready.fails("retrieval", "eval", str(missing), "-c", "kb", needle="line 2: 'query' is missing")
    cli_ready.fails("retrieval", "eval", str(tmp_path / "nope.jsonl"), "-c", "kb", needle="no such file")
    cli_ready.fails("retrieval", "eval", str(tmp_path), "-c", "kb", needle="cannot be read")
    cli_ready.fails("retrieval", "eval", str(good), "-c", "nope", needle="No collection named 'nope'")
    cli_ready.fails("retrieval", "eval", str(good), "-c", "kb", "--mode", "semantic", needle="Unknown mode 'semantic'")
    cli_ready.fails("retrieval", "eval", str(good), "-c", "kb", "--granularity", "page", needle="granularity must be document or chunk")
    cli_ready.fails("retrieval", "eval", str(good), "-c", "kb", "--filter", "lang = = en", needle="filter")
    cli_ready.fails("retrieval", "eval", str(good), "-c", "kb", "--project", "nope", needle="nope")
    assert cli_ready("retrieval", "eval", str(good), "-c", "kb", "-k", "0").exit_code == 2  # typer's range check
