"""A plain model target's own chat messages (`target.messages`): sent before each case's input, or filled from
the case input's fields where they name them; only with a model alone."""

from __future__ import annotations

import pytest

from stackwright.evals.spec import SpecError, SpecSource, validate
from stackwright.evals.targets import with_case
from stackwright.evals.trust import CodePolicy


def test_messages_come_before_the_case_input_unless_they_name_its_fields() -> None:
    system = [{"role": "system", "content": "Answer briefly."}]
    assert with_case(system, "refunds?") == [*system, {"role": "user", "content": "refunds?"}]
    filled = with_case([{"role": "user", "content": "Q: {{ question }} ({{ account }}) {{ unknown }}"}], {"question": "refunds?", "account": 7})
    assert filled == [{"role": "user", "content": "Q: refunds? (7) {{ unknown }}"}]
    assert with_case([{"role": "user", "content": "{{input}}"}], ["a"]) == [{"role": "user", "content": '["a"]'}]


def test_messages_go_with_a_model_alone() -> None:
    raw = {"name": "s", "dataset": "d", "target": {"prompt": "p", "messages": [{"role": "user", "content": "x"}]}, "scorers": ["contains"]}
    with pytest.raises(SpecError, match="messages go with a plain model target"):
        validate(raw, SpecSource("<t>", None), CodePolicy(False))
    raw["target"] = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert validate(raw, SpecSource("<t>", None), CodePolicy(False)).target.messages == [{"role": "user", "content": "x"}]
