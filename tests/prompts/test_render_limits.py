"""Rendering is bounded: output size, loop iterations, sizes built by operators, filters and methods, and time.

Each hostile template answers 400 (code ``prompt_render_limit``) naming the limit and the setting that raises
it, quickly and without the memory it asks for; ordinary templates render as before.
"""

from __future__ import annotations

import pytest

from stackwright.core.errors import InvalidInput
from stackwright.prompts.limits import RenderLimits
from stackwright.prompts.templates import render_payload
from tests.conftest import assert_error
from tests.prompts.conftest import push

OUTPUT, ITERATIONS, TIMEOUT = "prompt_render_max_output_chars", "prompt_render_max_iterations", "prompt_render_timeout_s"


def _render(template: str, variables: dict | None = None, limits: RenderLimits | None = None) -> str:
    return render_payload({"name": "p", "version": 1, "type": "text", "template": template}, variables or {}, limits)["text"]


@pytest.mark.parametrize(
    ("template", "setting"),
    [
        ("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}", ITERATIONS),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", ITERATIONS),
        ("{% for x in items recursive %}{% if loop.depth < 30 %}{% set _ = loop(items) %}{% endif %}{% endfor %}", ITERATIONS),
        ("{{ range(10 ** 12) | list | length }}", ITERATIONS),
        ("{{ ('a' * 1000000000000) | length }}", OUTPUT),
        ("{{ ([0] * 1000000000000) | length }}", OUTPUT),
        ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", OUTPUT),
        ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", OUTPUT),
        ("{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}", OUTPUT),
        ("{% set x %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}", OUTPUT),
        ("{% for i in range(50000) %}" + "static text, counted like any output. " * 3 + "{% endfor %}", OUTPUT),
        ("{{ 'a' | center(1000000000) }}", OUTPUT),
        ("{{ 'a'.ljust(1000000000) }}", OUTPUT),
        ("{{ '%1000000000s' % 'x' }}", OUTPUT),
        ("{{ '{:>1000000000}'.format('x') }}", OUTPUT),
        ("{{ '%*s' % (1000000000, 'x') }}", OUTPUT),
        ("{{ (['a' * 1000000] * 3000) | join }}", OUTPUT),
        ("{{ ('a' * 1000000) | replace('a', 'b' * 1000) }}", OUTPUT),
        ("{{ 2 ** 100000000 }}", None),
        ("{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}", TIMEOUT),
    ],
)
def test_hostile_templates_stop_with_a_400_naming_the_limit(template, setting):
    with pytest.raises(InvalidInput) as info:
        _render(template, {"items": [1, 2, 3]}, RenderLimits(4_000_000, 100_000, 60 if setting != TIMEOUT else 0.2))
    error = info.value
    assert error.code == "prompt_render_limit", error.message
    assert error.details["setting"] == setting, error.message
    assert "the template of prompt p@1" in error.message
    if setting:
        assert f"STACKWRIGHT_{setting.upper()}" in error.message


def test_ordinary_templates_render_as_before():
    template = (
        "Hi {{ name }}! {% for i in range(3) %}{{ i }},{% endfor %} {{ '%5.2f' % 3.14159 }} {{ '{:>4}'.format(7) }} "
        "{{ items | join(', ') }} {{ 'ab' * 2 }}{{ [1] * 2 }}{{ 2 ** 10 }} order 123456789 "
        "{% for x in items %}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}{% for x in [] %}{% else %} empty{% endfor %}"
    )
    assert _render(template, {"name": "Ann", "items": ["a", "b"]}) == (
        "Hi Ann! 0,1,2,  3.14    7 a, b abab[1, 1]1024 order 123456789 1/22/2 empty"
    )
    assert len(_render("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}")) == 1_000_000


def test_the_output_limit_counts_all_messages_together():
    payload = {"name": "p", "version": 1, "type": "chat",
               "messages": [{"role": "user", "content": "{{ text }}"}, {"role": "user", "content": "{{ text }}"}]}  # fmt: skip
    limits = RenderLimits(max_output_chars=1500, max_iterations=100, timeout_s=5)
    assert render_payload(payload, {"text": "x" * 700}, limits)["messages"][1]["content"] == "x" * 700
    with pytest.raises(InvalidInput, match="produced more than 1500 characters"):
        render_payload(payload, {"text": "x" * 800}, limits)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"prompt_render_max_iterations": 1000})


def test_the_render_api_obeys_the_settings(api):
    push(api, {"name": "loops", "template": "{% for i in range(n) %}.{% endfor %}"})
    assert api.post("/api/v1/prompts/loops/render", json={"variables": {"n": 1000}}).json()["text"] == "." * 1000
    error = assert_error(api.post("/api/v1/prompts/loops/render", json={"variables": {"n": 1001}}), 400, "prompt_render_limit")
    assert "range of 1001 numbers, more than 1000" in error["message"] and "STACKWRIGHT_PROMPT_RENDER_MAX_ITERATIONS" in error["message"]
    assert error["details"]["setting"] == "prompt_render_max_iterations"
    push(api, {"name": "bomb", "template": "{{ ('a' * 1000000000000) | length }}"})
    error = assert_error(api.post("/api/v1/prompts/bomb/render", json={}), 400, "prompt_render_limit")
    assert "1000000000000 items" in error["message"]
    assert api.get("/healthz").status_code == 200
