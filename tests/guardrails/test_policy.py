"""Policy files: a valid one parses; each mistake names the file, the line and the key."""

from __future__ import annotations

import pytest

from stackwright.evals.spec import SpecError
from stackwright.guardrails.policy import from_payload, load_file, parse_text

GOOD = """\
name: support-guard
route: support.answer
input:
  - {check: pii, action: redact, kinds: [EMAIL]}
  - check: prompt_injection
    action: block
output:
  - check: json_schema
    action: reask
    schema: {type: object, required: [answer]}
    max_reasks: 2
    fallback: "Sorry."
"""


def test_a_valid_policy_parses_and_round_trips():
    policy = parse_text(GOOD, "p.yaml")
    assert (policy.name, policy.route) == ("support-guard", "support.answer")
    assert [(c.check, c.action) for c in policy.input] == [("pii", "redact"), ("prompt_injection", "block")]
    reask = policy.output[0]
    assert (reask.max_reasks, reask.fallback, reask.then) == (2, "Sorry.", "fallback")
    again = from_payload(policy.as_dict())
    assert again.as_dict() == policy.as_dict()


@pytest.mark.parametrize(
    ("change", "line", "needle"),
    [
        (("- check: prompt_injection", "- check: prompt_injektion"), 5, "input[1].check: unknown check 'prompt_injektion'"),
        (("    action: block", "    action: destroy"), 6, "input[1].action: unknown action 'destroy'"),
        (("kinds: [EMAIL]", "kinds: [EMAIL, DNA]"), 4, "input[0].kinds: unknown PII kind 'DNA'"),
        (("    max_reasks: 2", "    max_reasks: 9"), 11, "output[0].max_reasks: max_reasks must be an integer from 1 to 5"),
        (("    schema: {type: object, required: [answer]}", "    schema: {type: 12}"), 10, "output[0].schema: schema is not a valid JSON schema"),
        (("route: support.answer", "route: 'bad route!'"), 2, "route: `route` must be"),
        (("name: support-guard", "name: support-guard\ncolour: red"), 2, "colour: unknown key"),
        (("{check: pii, action: redact, kinds: [EMAIL]}", "{check: pii, action: redact, colour: red}"), 4, "input[0].colour: unknown parameter 'colour'"),
        (("    action: reask", "    action: redact"), 9, "output[0].action: the json_schema check cannot redact"),
        (("  - check: prompt_injection\n    action: block", "  - check: prompt_injection\n    action: reask"), 6, "reask re-asks the model"),
        (("input:\n  - {check: pii", "input:\n  - {check: json_schema, schema: {}}\n  - {check: pii"), 4, "runs on output only"),
    ],
)
def test_policy_errors_name_line_and_key(tmp_path, change, line, needle):
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SpecError) as caught:
        load_file(path)
    error = caught.value
    assert error.status == 400 and needle in error.message, error.message
    assert error.message.startswith(f"{path}:{line}: "), error.message
    assert error.details["line"] == line and error.details["file"] == str(path)


def test_not_yaml_missing_file_and_empty_policy(tmp_path):
    with pytest.raises(SpecError, match=r"p.yaml:2: not valid YAML"):
        parse_text("name: x\nroute: a: b\n", "p.yaml")
    with pytest.raises(SpecError, match="does not exist"):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="the policy has no checks"):
        parse_text("name: x\nroute: '*'\n", "p.yaml")
    with pytest.raises(SpecError, match="fallback action needs"):
        parse_text("name: x\ninput: [{check: pii, action: fallback}]\n", "p.yaml")
    with pytest.raises(SpecError, match="a policy is a mapping"):
        parse_text("- just a list\n", "p.yaml")
