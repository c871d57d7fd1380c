"""Pushing over the API: idempotence by content, new immutable versions, latest and file labels, audit."""

from __future__ import annotations

from tests.conftest import assert_error
from tests.prompts.conftest import SUPPORT, VARIABLES, push, support


def test_same_content_same_version_new_content_new_version(api):
    first = push(api, SUPPORT, 201)
    assert (first["version"], first["created"], first["labels"]) == (1, True, ["latest", "staging"])
    assert first["variables"] == ["context", "product", "question"]
    again = push(api, SUPPORT, 200)
    assert (again["version"], again["created"], again["moved"]) == (1, False, [])
    same_model_as_string = push(api, support(model={"name": "gpt-4o-mini", "params": {"temperature": 0.2}}), 200)
    assert same_model_as_string["version"] == 1
    second = push(api, support(system="You help with {{ product }}."), 201)
    assert (second["version"], second["moved"]) == (2, ["latest", "staging"])
    third = push(api, support(model={"name": "gpt-4o", "temperature": 0.2}, labels=[]), 201)
    assert (third["version"], third["labels"], third["moved"]) == (3, ["latest"], ["latest"])
    back = push(api, SUPPORT, 200)  # old content again: its old version, latest stays on 3
    assert (back["version"], back["created"]) == (1, False)
    assert api.get("/api/v1/prompts/support-answer").json()["version"] == 3
    assert api.get("/api/v1/prompts/support-answer", params={"label": "staging"}).json()["version"] == 1


def test_versions_are_immutable_and_carry_everything(api):
    push(api, support(message="first cut", tools=[{"type": "function", "function": {"name": "lookup"}}],
                      response_format={"type": "json_object"}))  # fmt: skip
    body = api.get("/api/v1/prompts/support-answer", params={"version": 1}).json()
    assert body["type"] == "chat" and body["model"] == "gpt-4o-mini" and body["params"] == {"temperature": 0.2}
    assert body["tools"][0]["function"]["name"] == "lookup" and body["response_format"] == {"type": "json_object"}
    assert body["message"] == "first cut" and body["author"].startswith("key:") and body["created_at"]
    assert body["variables"]["required"] == ["context", "product", "question"]
    assert body["labels"] == ["latest", "staging"] and body["included"] == {}
    push(api, support(system="changed {{ product }}"))
    assert api.get("/api/v1/prompts/support-answer", params={"version": 1}).json()["messages"] == SUPPORT["messages"]


def test_text_prompts_and_variable_overrides(api):
    body = {"name": "summary", "template": "Summarize in {{ words }} words:\n{{ text }}",
            "variables": {"words": {"type": "integer", "default": 50}, "text": {"type": "string", "description": "input"}}}  # fmt: skip
    result = push(api, body)
    shown = api.get("/api/v1/prompts/summary").json()
    assert shown["type"] == "text" and result["variables"] == ["text", "words"]
    assert shown["variables"]["required"] == ["text"] and shown["variables"]["properties"]["words"]["default"] == 50
    rendered = api.post("/api/v1/prompts/summary/render", json={"variables": {"text": "abc"}}).json()
    assert rendered["text"] == "Summarize in 50 words:\nabc" and rendered["prompt_version"] == 1
    assert_error(api.post("/api/v1/prompts/summary/render", json={"variables": {"text": "a", "words": "x"}}), 400, "invalid_input")


def test_push_is_audited(api):
    push(api, SUPPORT)
    push(api, SUPPORT)
    entries = api.get("/api/v1/audit", params={"action": "prompt.push"}).json()["data"]
    assert len(entries) == 1 and entries[0]["after"]["version"] == 1 and entries[0]["object_id"] == "support-answer"


def test_render_returns_messages_and_model_config(api):
    push(api, SUPPORT)
    result = api.post("/api/v1/prompts/support-answer/render", json={"label": "staging", "variables": VARIABLES}).json()
    assert result["messages"][0] == {"role": "system", "content": "You are the support assistant for Acme. Answer only from the context."}
    assert result["messages"][1]["content"].endswith("Question: How long do refunds take?")
    assert (result["model"], result["params"], result["prompt_name"], result["prompt_version"]) == ("gpt-4o-mini", {"temperature": 0.2}, "support-answer", 1)
    assert result["tools"] is None and result["response_format"] is None
