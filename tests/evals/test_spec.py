"""Spec errors name the file and the line: bad YAML, unknown fields and scorers, bad scorer parameters,
missing datasets and versions."""

from __future__ import annotations

import pytest

from stackwright.evals.spec import SpecError, load_file, parse_text
from stackwright.evals.trust import CodePolicy
from tests.evals.conftest import base_spec, write_spec

OPERATOR = CodePolicy.operator()

GOOD = """\
name: support-regression
dataset: support-cases@3
target:
  prompt: support-answer@staging
  model: gpt-4o-mini
scorers:
  - contains
  - {type: llm_judge, rubric: "Answers only from the context and cites it", model: judge}
concurrency: 16
gate:
  contains: {min_mean: 0.9}
  no_regression_vs: baseline
"""


def test_the_issue_example_parses():
    spec = parse_text(GOOD, "spec.yaml", OPERATOR)
    assert spec.target.kind == "prompt" and spec.target.model == "gpt-4o-mini"
    assert [s.key for s in spec.scorers] == ["contains", "llm_judge"]
    assert spec.gate.scorers["contains"].min_mean == 0.9 and spec.gate.no_regression_vs == "baseline"
    assert spec.content_hash() == parse_text(GOOD, "other.yaml", OPERATOR).content_hash()


def error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_text(text, "spec.yaml", OPERATOR)
    return info.value


@pytest.mark.parametrize(
    ("change", "line", "needle"),
    [
        (("  - contains\n", "  - contans\n"), 7, "unknown scorer 'contans'"),
        (("  model: gpt-4o-mini\n", "  modle: gpt-4o-mini\n"), 5, "target.modle: unknown field"),
        (("concurrency: 16\n", "concurrency: lots\n"), 9, "concurrency"),
        (("concurrency: 16\n", "concurrency: 0\n"), 9, "greater than or equal to 1"),
        (("rubric: \"Answers only from the context and cites it\", ", ""), 8, "give `rubric`"),
        (("  contains: {min_mean: 0.9}\n", "  contains: {min_men: 0.9}\n"), 11, "min_men"),
        (("  contains: {min_mean: 0.9}\n", "  exact: {min_mean: 0.9}\n"), 11, "the gate names scorer 'exact'"),
        (("  prompt: support-answer@staging\n", "  prompt: a@b\n  http: http://x\n"), 3, "not prompt and http"),
        (("name: support-regression\n", ""), 1, "name: this field is required"),
        (("  - contains\n", "  - contains\n  - contains\n"), 8, "two scorers are named 'contains'"),
    ],
)
def test_errors_name_file_and_line(change, line, needle):
    exc = error(GOOD.replace(*change))
    assert exc.details["file"] == "spec.yaml" and exc.details["line"] == line, exc.message
    assert exc.message.startswith(f"spec.yaml:{line}: ") and needle in exc.message, exc.message
    assert exc.status == 400 and exc.code == "invalid_spec"


def test_bad_yaml_names_the_line():
    exc = error(GOOD.replace("concurrency: 16\n", "concurrency: [16\n"))
    assert exc.message.startswith("spec.yaml:") and "not valid YAML" in exc.message and exc.details["line"] >= 9
    assert "a mapping" in error("- just\n- a list\n").message


def test_a_missing_file(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_file(tmp_path / "nope.yaml", OPERATOR)


def test_missing_dataset_file_or_stored_dataset_or_version(evals, tmp_path):
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets.editing import import_items

    with pytest.raises(SpecError) as info:
        evals.prepare(base_spec(dataset="missing.jsonl"))
    assert "spec.yaml:2: dataset: cannot read the dataset file" in info.value.message
    with pytest.raises(SpecError) as info:
        evals.prepare(base_spec(dataset="support-cases"))
    assert info.value.message.startswith(f"{tmp_path / 'spec.yaml'}:2: dataset: ") and "support-cases" in info.value.message
    with evals.app.state.db.write() as session:
        import_items(session, cli_actor(), evals.project_id, "support-cases", [{"input": {"q": "x"}, "expected": "x", "metadata": {}}], ["line 1"])
    with pytest.raises(SpecError) as info:
        evals.prepare(base_spec(dataset="support-cases@7"))
    assert ":2: dataset: " in info.value.message and "7" in info.value.message
    (tmp_path / "bad.jsonl").write_text('{"input": {"q": 1}}\n{oops\n')
    with pytest.raises(SpecError) as info:
        evals.prepare(base_spec(dataset="bad.jsonl"))
    assert "line 2" in info.value.message
    assert write_spec  # the helper wrote spec.yaml next to the dataset files
