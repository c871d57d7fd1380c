"""The shipped assets load with the layers' own validators; the dataset has the cases the issue asks for."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from stackwright.apps.support.accounts import ASSETS, AccountsDB, shipped_accounts
from stackwright.apps.support.seed import dataset_cases, load_yaml, prompt_files
from stackwright.core.errors import NotFound


def test_gateway_policy_prompts_and_eval_spec_validate() -> None:
    from stackwright.evals.spec import load_file as load_spec
    from stackwright.evals.trust import CodePolicy
    from stackwright.gateway.service import parse_spec
    from stackwright.guardrails.policy import load_file as load_policy
    from stackwright.prompts.spec import parse_file

    spec = parse_spec(load_yaml(ASSETS / "gateway.yaml"))
    assert {m.name for m in spec.models} >= {"support-model", "support-fallback"}
    assert all(d.provider == "local" for m in spec.models for d in m.deployments)  # offline
    policy = load_policy(ASSETS / "guardrails.yaml")
    assert policy.route == "support.answer" and policy.input and policy.output
    files = prompt_files()
    assert len(files) == 2
    for path in files:
        assert parse_file(load_yaml(path)).name == "support-answer"
    eval_spec = load_spec(ASSETS / "eval.yaml", CodePolicy.operator())
    assert eval_spec.dataset == "support-cases" and eval_spec.gate.scorers


def test_dataset_has_at_least_50_cases_of_every_kind() -> None:
    cases = dataset_cases()
    assert len(cases) >= 50
    kinds = Counter(c["metadata"]["kind"] for c in cases)
    assert {"answerable", "escalation", "injection", "pii", "off_topic"} <= set(kinds)
    for case in cases:
        assert case["input"]["question"].strip()
        assert set(case["expected"]) >= {"sources", "escalate", "blocked"}
    accounts = {a["id"] for a in shipped_accounts()}
    assert {c["input"]["account"] for c in cases if c["input"]["account"]} <= accounts
    json.dumps(cases)


def test_accounts_database(tmp_path) -> None:
    db = AccountsDB(tmp_path / "accounts.db")
    assert db.count() == len(shipped_accounts()) >= 20
    assert db.find("acct-1006")["status"] == "locked"
    assert db.find("DANA@northwind.example")["id"] == "acct-1001"
    with pytest.raises(NotFound, match="acct-1001 to acct-1020"):
        db.find("acct-9999")
    db.close()
    again = AccountsDB(tmp_path / "accounts.db")  # reopening does not duplicate
    assert again.count() == len(shipped_accounts())
    again.close()


def test_traffic_generator_is_varied_and_deterministic() -> None:
    from stackwright.apps.support.traffic import generate

    requests = generate(300, seed=7)
    assert requests == generate(300, seed=7)
    assert len(requests) == 300
    kinds = Counter(r["kind"] for r in requests)
    assert {"question", "pii", "injection", "escalation"} <= set(kinds)
    assert kinds["question"] > kinds["injection"]
    assert len({r["user_id"] for r in requests}) > 20
    assert any(r["session_id"] for r in requests)
    with pytest.raises(ValueError):
        generate(-1)
