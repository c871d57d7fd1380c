"""Templates: syntax errors with line and column, missing variables by name, the sandbox, includes and cycles."""

from __future__ import annotations

import pytest

from stackwright.core.errors import InvalidInput
from stackwright.prompts import templates
from tests.auth.conftest import unchanged  # noqa: F401  (fixture)
from tests.conftest import assert_error
from tests.prompts.conftest import SUPPORT, TONE, VARIABLES, push, support


@pytest.mark.parametrize(
    ("source", "line", "column", "problem"),
    [
        ("Hello {{ name }", 1, 15, "unexpected '}'"),
        ("line one\n  {{ a b }}", 2, 8, "expected token 'end of print statement'"),
        ("ok\n{% if x %}open", 2, 15, "Unexpected end of template"),
        ("x {% frobnicate %}", 1, 6, "unknown tag 'frobnicate'"),
        ("x {{ a ! b }}", 1, 8, "unexpected char '!'"),
        ("{% for x in %}{% endfor %}", 1, 13, "Expected an expression"),
    ],
)
def test_syntax_errors_name_line_and_column(source, line, column, problem):
    with pytest.raises(InvalidInput) as info:
        templates.analyze(source, "message 2 (user)")
    details = info.value.details
    assert (details["line"], details["column"]) == (line, column), details
    assert problem in info.value.message and f"line {line}, column {column}" in info.value.message
    assert "message 2 (user)" in info.value.message


def test_a_push_with_a_syntax_error_names_the_message_and_stores_nothing(api, unchanged):
    bad = support(messages=[SUPPORT["messages"][0], {"role": "user", "content": "Q:\n{{ question }"}])
    error = assert_error(api.post("/api/v1/prompts", json=bad), 400, "invalid_input")
    assert "message 2 (user) at line 2, column 13" in error["message"], error
    assert error["details"]["line"] == 2 and error["details"]["where"] == "message 2 (user)"
    text = assert_error(api.post("/api/v1/prompts", json={"name": "t", "template": "a\nb {% endif %}"}), 400)
    assert "the template at line 2" in text["message"]
    assert_error(api.get("/api/v1/prompts/support-answer"), 404)
    unchanged()


def test_missing_variables_are_named(api):
    push(api, SUPPORT)
    error = assert_error(api.post("/api/v1/prompts/support-answer/render", json={"variables": {"product": "Acme"}}), 400)
    assert "'context', 'question'" in error["message"] and error["details"]["missing"] == ["context", "question"]
    push(api, {"name": "nested", "template": "Hi {{ user.name }} {% if extra is defined %}{{ extra }}{% endif %}",
               "variables": {"extra": {"required": False}}})  # fmt: skip
    error = assert_error(api.post("/api/v1/prompts/nested/render", json={"variables": {"user": {}}}), 400)
    assert "has no attribute 'name'" in error["message"] and "nested@1" in error["message"]
    assert api.post("/api/v1/prompts/nested/render", json={"variables": {"user": {"name": "Ada"}}}).json()["text"] == "Hi Ada "


def test_default_filtered_variables_are_optional(api):
    push(api, TONE)
    shown = api.get("/api/v1/prompts/tone").json()
    assert shown["variables"] == {"type": "object", "properties": {"mood": {}}, "required": []}
    assert api.post("/api/v1/prompts/tone/render", json={}).json()["text"] == "Be kind and brief."


def test_the_sandbox_refuses_unsafe_attribute_access(api):
    push(api, {"name": "evil", "template": "{{ thing.__class__.__mro__ }}"})
    error = assert_error(api.post("/api/v1/prompts/evil/render", json={"variables": {"thing": "x"}}), 400)
    assert "evil@1" in error["message"]


def test_includes_render_the_included_prompt_as_labelled_now(api):
    push(api, TONE)
    error = assert_error(api.post("/api/v1/prompts", json=support(system="{% include 'prompt:tone@production' %}")), 404)
    assert "includes 'prompt:tone@production'" in error["message"] and "no label 'production'" in error["message"]
    api.put("/api/v1/prompts/tone/labels/production", json={"version": 1})
    push(api, support(system="Support for {{ product }}. {% include 'prompt:tone@production' %}"))
    shown = api.get("/api/v1/prompts/support-answer").json()
    assert shown["includes"] == ["prompt:tone@production"] and shown["included"] == {"prompt:tone@production": TONE["template"]}
    render = lambda: api.post("/api/v1/prompts/support-answer/render", json={"variables": {**VARIABLES, "mood": "warm"}}).json()  # noqa: E731
    assert render()["messages"][0]["content"] == "Support for Acme. Be warm and brief."
    push(api, {**TONE, "template": "Always be {{ mood | default('formal') }}."})
    assert render()["messages"][0]["content"] == "Support for Acme. Be warm and brief."  # production still on 1
    api.put("/api/v1/prompts/tone/labels/production", json={"version": 2})
    assert render()["messages"][0]["content"] == "Support for Acme. Always be warm."


def test_include_cycles_and_bad_includes_are_refused(api, unchanged):
    push(api, {"name": "a", "template": "A"})
    push(api, {"name": "b", "template": "B {% include 'prompt:a' %}"})
    snapshot_then = api.get("/api/v1/prompts/a").json()["version"]
    cycle = assert_error(api.post("/api/v1/prompts", json={"name": "a", "template": "A {% include 'prompt:b@latest' %}"}), 400)
    assert "Include cycle: a -> b -> a" in cycle["message"]
    itself = assert_error(api.post("/api/v1/prompts", json={"name": "c", "template": "{% include 'prompt:c@1' %}"}), 400)
    assert "Include cycle: c -> c" in itself["message"]
    assert api.get("/api/v1/prompts/a").json()["version"] == snapshot_then
    push(api, SUPPORT)
    chat = assert_error(api.post("/api/v1/prompts", json={"name": "d", "template": "{% include 'prompt:support-answer' %}"}), 400)
    assert "only text prompts can be included" in chat["message"]
    for template, needle in [
        ("{% include 'other.html' %}", "must name a prompt literally"),
        ("{% include name %}", "must name a prompt literally"),
        ("{% extends 'prompt:a' %}", "only {% include"),
        ("{% import 'prompt:a' as m %}", "only {% include"),
        ("{% include 'prompt:bad name' %}", "not valid"),
    ]:
        error = assert_error(api.post("/api/v1/prompts", json={"name": "e", "template": template}), 400)
        assert needle in error["message"], (template, error)


def test_a_cycle_made_by_label_moves_is_refused_at_render(api, prepared):
    """a includes b@production; b v2 includes a: refused at push. Rendering guards the graph too."""
    push(api, {"name": "b", "template": "B"})
    api.put("/api/v1/prompts/b/labels/production", json={"version": 1})
    push(api, {"name": "a", "template": "A {% include 'prompt:b@production' %}"})
    assert_error(api.post("/api/v1/prompts", json={"name": "b", "template": "B {% include 'prompt:a' %}"}), 400)
    assert api.post("/api/v1/prompts/a/render", json={}).json()["text"] == "A B"
