"""The runner through the real gateway and the fake upstream: outputs, traces, scores, errors, retries."""

from __future__ import annotations

from tests.evals.conftest import base_spec


def test_a_run_scores_every_case_and_links_its_trace(evals):
    result = evals.run(base_spec(scorers=["contains", {"type": "exact", "name": "exact"}]))
    assert result["status"] == "completed" and result["dataset"].startswith("file:")
    summary = result["summary"]
    assert summary["cases"] == 4 and summary["errors"] == 0
    contains = summary["scorers"]["contains"]
    # outputs are "echo: <question>": three of four expected texts appear (the third never does)
    assert contains["measured"] == 4 and contains["passed"] == 3 and contains["mean"] == 0.75
    assert contains["ci_low"] <= 0.75 <= contains["ci_high"]
    cases = evals.cases(result["id"])
    assert all(c["trace_id"] and len(c["trace_id"]) == 32 for c in cases)
    assert {c["output"] for c in cases} == {"echo: refund policy", "echo: reset password", "echo: delete account", "echo: shipping time"}
    assert all(c["input_tokens"] for c in cases)


def test_the_case_trace_is_stored(evals):
    from tests.gateway.helpers import wait_trace

    result = evals.run(base_spec())
    case = evals.cases(result["id"])[0]
    trace = wait_trace(evals.api, case["trace_id"])
    assert trace["trace"]["trace_id"] == case["trace_id"] and trace["spans"][0]["name"] == "gateway chat fake-model"


def test_a_target_that_raises_or_times_out_is_a_case_error_and_the_run_goes_on(evals):
    result = evals.run(base_spec(target={"python": "tests.evals.pyfuncs:boom"}))
    assert result["status"] == "completed" and result["summary"]["errors"] == 1
    broken = [c for c in evals.cases(result["id"]) if c["error"]]
    assert len(broken) == 1 and "RuntimeError: the target broke on purpose" in broken[0]["error"]
    assert broken[0]["scores"]["contains"]["value"] is None and "the target failed" in broken[0]["scores"]["contains"]["reason"]
    contains = result["summary"]["scorers"]["contains"]
    assert contains["measured"] == 3 and contains["unmeasured"] == 1 and contains["mean"] == 1.0  # unmeasured excluded, counted

    result = evals.run(base_spec(target={"python": "tests.evals.pyfuncs:slow"}, timeout_s=0.3, retries=1))
    timed_out = [c for c in evals.cases(result["id"]) if c["error"]]
    assert [c["input"]["question"] for c in timed_out] == ["shipping time"]
    assert "timed out after 0.3 s (after 2 attempts)" in timed_out[0]["error"]


def test_transient_errors_are_retried(evals):
    result = evals.run(base_spec(target={"python": "tests.evals.pyfuncs:flaky"}, retries=1))
    assert result["summary"]["errors"] == 0 and result["summary"]["scorers"]["contains"]["measured"] == 4
    from tests.evals.conftest import write_cases

    write_cases(evals.tmp_path / "fresh.jsonl", [{"input": {"question": f"fresh {evals.project_id} {i}"}, "expected": "fresh"} for i in range(3)])
    result = evals.run(base_spec(target={"python": "tests.evals.pyfuncs:flaky"}, retries=0, dataset="fresh.jsonl"))
    assert result["summary"]["errors"] == 3
    assert all("ConnectionError: connection reset by peer" == c["error"] for c in evals.cases(result["id"]))


def test_http_and_route_targets(evals):
    spec = base_spec(target={"http": evals.fake.base_url + "/chat/completions"}, dataset="http.jsonl")
    from tests.evals.conftest import write_cases

    write_cases(evals.tmp_path / "http.jsonl", [{"input": {"model": "fake-model", "messages": [{"role": "user", "content": "hi there"}]},
                                                 "expected": "echo: hi there"}])  # fmt: skip
    result = evals.run(spec)
    case = evals.cases(result["id"])[0]
    assert result["summary"]["scorers"]["contains"]["passed"] == 1 and case["trace_id"] and case["output"]["object"] == "chat.completion"


def completion(text: str) -> dict:
    return {"id": "chatcmpl-judge", "object": "chat.completion", "created": 0, "model": "judge-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}}  # fmt: skip


def test_the_judge_is_re_asked_when_its_answer_does_not_parse(evals):
    from tests.evals.conftest import write_cases

    write_cases(evals.tmp_path / "one.jsonl", [{"input": {"question": "refund policy"}, "expected": "refund"}])
    judge = {"type": "llm_judge", "rubric": "Mentions the refund policy", "model": "judge", "retries": 2}
    evals.fake.script("judge-model", [{"json": completion("I think it is fine")}, {"json": completion('{"score": 0.8, "rationale": "mentions refunds"}')}])
    result = evals.run(base_spec(dataset="one.jsonl", scorers=[judge], concurrency=1))
    score = evals.cases(result["id"])[0]["scores"]["llm_judge"]
    assert score["value"] == 0.8 and score["passed"] is True and score["reason"] == "mentions refunds"
    assert score["details"]["attempts"] == 2 and score["details"]["rationale"] == "mentions refunds"
    judged = [r for r in evals.fake.requests() if r["body"].get("model") == "judge-model"]
    assert len(judged) == 2 and judged[0]["body"]["response_format"] == {"type": "json_object"}
    assert "could not be used (it is not JSON)" in judged[1]["body"]["messages"][-1]["content"]

    evals.fake.script("judge-model", [{"json": completion("garbage")}, {"json": completion('{"score": 7}')}, {"json": completion("[1, 2]")}])
    result = evals.run(base_spec(dataset="one.jsonl", scorers=[judge], concurrency=1))
    score = evals.cases(result["id"])[0]["scores"]["llm_judge"]
    assert score["value"] is None and score["passed"] is None
    assert score["reason"] == "the judge's answer did not parse after 3 attempt(s): it is not a JSON object"
    assert score["details"]["problems"] == ["it is not JSON", "score is 7, not a number from 0 to 1", "it is not a JSON object"]
    assert result["summary"]["scorers"]["llm_judge"]["unmeasured"] == 1 and result["summary"]["scorers"]["llm_judge"]["mean"] is None


def test_an_interrupted_run_resumes_without_redoing_finished_cases(evals):
    from tests.evals.conftest import write_cases

    write_cases(evals.tmp_path / "many.jsonl", [{"input": {"question": f"q{i}"}, "expected": f"q{i % 3}"} for i in range(12)])
    spec = base_spec(dataset="many.jsonl", concurrency=2, scorers=["contains", "similarity"], repeat=2, seed=7)
    full = evals.run(spec, name="full")
    prepared = evals.prepare(spec, name="killed")

    class Stop(Exception):
        pass

    def stop_after_five(done, total):
        if done >= 5:
            raise Stop("stop")

    try:
        evals.resume(prepared.run_id, stop_after_five)
    except Stop:
        pass
    first = {(c["item_id"], c["repeat_index"]): c["trace_id"] for c in evals.cases(prepared.run_id)}
    assert 5 <= len(first) < 24
    evals.fake.reset()
    resumed = evals.resume(prepared.run_id)
    # a request is (question, seed = spec seed + repeat index); a cancelled case's request may still land after the reset
    asked = {(r["body"]["messages"][-1]["content"], r["body"]["seed"]) for r in evals.fake.requests()}
    pairs = {(c["item_id"], c["repeat_index"]): (c["input"]["question"], 7 + c["repeat_index"]) for c in evals.cases(prepared.run_id)}
    assert not asked & {pairs[k] for k in first}  # finished cases did not run again
    assert {pairs[k] for k in pairs if k not in first} <= asked
    after = {(c["item_id"], c["repeat_index"]): c["trace_id"] for c in evals.cases(prepared.run_id)}
    assert len(after) == 24 and all(after[k] == v for k, v in first.items())
    assert resumed["status"] == "completed"
    strip = lambda s: {k: v for k, v in s.items() if k != "latency_ms"}  # noqa: E731
    assert strip(resumed["summary"]) == strip(full["summary"])


def test_a_dataset_edited_during_a_run_leaves_the_run_on_its_version(evals):
    from stackwright.auth.actors import cli_actor
    from stackwright.datasets.editing import add_item, import_items

    db = evals.app.state.db
    with db.write() as session:
        items = [{"input": {"question": f"q{i}"}, "expected": f"q{i}", "metadata": {}} for i in range(6)]
        import_items(session, cli_actor(), evals.project_id, "support-cases", items, [f"line {i}" for i in range(6)])
    prepared = evals.prepare(base_spec(dataset="support-cases", concurrency=1))
    edits = []

    def edit_once(done, total):
        if done == 2 and not edits:
            with db.write() as session:
                edits.append(add_item(session, cli_actor(), evals.project_id, "support-cases", {"input": {"question": "new"}, "expected": "x"}))

    result = evals.resume(prepared.run_id, edit_once)
    assert edits and edits[0]["version"] == 2
    assert result["dataset"] == "support-cases@1" and result["summary"]["cases"] == 6
    assert result["summary"]["scorers"]["contains"]["passed"] == 6


def test_prompt_and_route_targets_render_stored_prompts(evals):
    from tests.prompts.conftest import push

    prompt = {"name": "support-answer", "type": "chat", "model": {"name": "fake-model"}, "labels": ["staging"],
              "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Q: {{ question }}"}]}  # fmt: skip
    push(evals.api, prompt)
    result = evals.run(base_spec(target={"prompt": "support-answer@staging"}))
    assert result["summary"]["errors"] == 0 and result["summary"]["scorers"]["contains"]["passed"] == 3
    sent = evals.fake.requests()[-1]["body"]
    assert sent["model"] == "fake-model" and sent["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert sent["messages"][1]["content"].startswith("Q: ")

    evals.fake.reset()
    evals.run(base_spec(target={"prompt": "support-answer@staging", "model": "judge"}))
    assert {r["body"]["model"] for r in evals.fake.requests()} == {"judge-model"}  # the spec's model wins over the prompt's

    release = {"env": "production", "prompt": "support-answer@1", "model": "fake-model"}
    assert evals.api.post("/api/v1/releases/support.answer/set", json=release).status_code == 200
    evals.fake.reset()
    result = evals.run(base_spec(target={"route": "support.answer@production"}))
    assert result["summary"]["errors"] == 0 and len(evals.fake.requests()) == 4
    assert all(c["trace_id"] for c in evals.cases(result["id"]))

    result = evals.run(base_spec(target={"route": "no.such@production"}))  # a missing route: every case records the 404
    assert result["summary"]["errors"] == 4 and "no.such" in evals.cases(result["id"])[0]["error"]


def test_judge_variance_across_repeats(evals):
    from stackwright.evals.compare import compare_runs
    from tests.evals.conftest import write_cases

    write_cases(evals.tmp_path / "one.jsonl", [{"input": {"question": "refund policy"}, "expected": "refund"}])
    evals.fake.script("judge-model", [{"json": completion('{"score": 0.2}')}, {"json": completion('{"score": 0.6}')}])
    judge = {"type": "llm_judge", "rubric": "Mentions the refund policy", "model": "judge"}
    result = evals.run(base_spec(dataset="one.jsonl", scorers=[judge], concurrency=1, repeat=2, seed=5))
    assert sorted(r["body"]["seed"] for r in evals.fake.requests() if r["body"]["model"] == "judge-model") == [5, 6]
    with evals.app.state.db.read() as session:
        compared = compare_runs(session, evals.project_id, result["id"], result["id"])
    assert compared["scorers"]["llm_judge"]["judge_variance_a"] == 0.08
