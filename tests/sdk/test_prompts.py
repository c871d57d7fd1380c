"""client.prompts: get by label or version, local render, the cache (TTL, stale-while-revalidate), spans."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from stackwright.sdk import AsyncClient, Client, InvalidRequestError, NotFoundError, PermissionDeniedError
from stackwright.sdk.observe import InMemoryExporter, configure_tracing, flush, observe
from stackwright.sdk.observe.state import STATE
from tests.auth.conftest import default, make_key  # noqa: F401  (fixtures)
from tests.prompts.conftest import SUPPORT, TONE, VARIABLES, support


@pytest.fixture(autouse=True)
def _tracing_off_afterwards() -> Iterator[None]:
    yield
    configure_tracing(enabled=False)
    STATE.config = None
    STATE.active = True


def _wait_for(condition, bound: float = 30.0, step: float = 0.02):
    """Poll until ``condition()`` is truthy; returns (value, seconds waited). Fails only past a generous bound."""
    started = time.monotonic()
    while True:
        value = condition()
        if value:
            return value, time.monotonic() - started
        assert time.monotonic() - started < bound, "the condition never held"
        time.sleep(step)


def test_get_and_render(client: Client):
    client.prompts.push(SUPPORT)
    prompt = client.prompts.get("support-answer", label="staging")
    assert (prompt.name, prompt.version, prompt.type, prompt.model) == ("support-answer", 1, "chat", "gpt-4o-mini")
    assert prompt.params == {"temperature": 0.2} and prompt.labels == ["latest", "staging"] and prompt.source == "server"
    assert prompt.variables["required"] == ["context", "product", "question"]
    result = prompt.render(**VARIABLES)
    assert result["messages"][0]["content"] == "You are the support assistant for Acme. Answer only from the context."
    assert (result["model"], result["params"], result["prompt_name"], result["prompt_version"]) == ("gpt-4o-mini", {"temperature": 0.2}, "support-answer", 1)
    assert result == client.prompts.render_remote("support-answer", VARIABLES, label="staging")
    with pytest.raises(InvalidRequestError, match="'question'") as info:
        prompt.render(product="Acme", context="c")
    assert info.value.details == {"missing": ["question"]}
    assert "support-answer@1" in repr(prompt)


def test_includes_render_locally(client: Client):
    client.prompts.push(TONE)
    client.prompts.push(support(system="{{ product }}: {% include 'prompt:tone' %}"))
    result = client.prompts.get("support-answer").render(**VARIABLES, mood="calm")
    assert result["messages"][0]["content"] == "Acme: Be calm and brief."


def test_registry_calls(client: Client):
    client.prompts.push(SUPPORT)
    client.prompts.push(support(system="two {{ product }}"))
    assert client.prompts.set_label("support-answer", "production", 1)["moved"] is True
    assert [p["name"] for p in client.prompts.list()] == ["support-answer"]
    assert [v["version"] for v in client.prompts.versions("support-answer")] == [2, 1]
    assert client.prompts.history("support-answer", label="production").data[0]["to_version"] == 1
    assert "+two {{ product }}" in client.prompts.diff("support-answer", "production", 2)["diff"]
    assert client.prompts.get("support-answer", version=1).version == 1
    with pytest.raises(NotFoundError, match="no label 'canary'"):
        client.prompts.get("support-answer", label="canary")
    with pytest.raises(NotFoundError):
        client.prompts.get("nope")


def test_a_cached_prompt_is_served_until_its_ttl_ends(client: Client):
    client.prompts.push(SUPPORT)
    first = client.prompts.get("support-answer", label="staging", cache_ttl=3600)
    client.prompts.push(support(system="v2 {{ product }}"))  # moves staging to 2
    assert client.prompts.get("support-answer", label="staging", cache_ttl=3600) is first
    assert client.prompts.get("support-answer", label="staging", cache_ttl=0).version == 2  # 0: always ask
    client.prompts.clear_cache()
    assert client.prompts.get("support-answer", label="staging").version == 2


def test_after_a_label_move_clients_serve_the_new_version_within_their_ttl(client: Client, settings):
    """Two clients with a 0.3 s TTL; the label moves; both serve the new version within TTL + a generous bound."""
    ttl = 0.3
    client.prompts.push(SUPPORT)
    client.prompts.push(support(system="v2 {{ product }}", labels=[]))
    client.prompts.set_label("support-answer", "production", 1)
    with Client.in_process(settings) as second:
        readers = [client, second]
        for reader in readers:
            reader.prompts.cache_ttl = ttl
            assert reader.prompts.get("support-answer", label="production").version == 1
        moved_at = time.monotonic()
        client.prompts.set_label("support-answer", "production", 2)
        for reader in readers:
            _, waited = _wait_for(lambda r=reader: r.prompts.get("support-answer", label="production").version == 2)
            print(f"new version served {time.monotonic() - moved_at:.3f} s after the move (ttl {ttl} s)")
        assert time.monotonic() - moved_at < ttl + 30  # 'eventually', with a bound no healthy run comes near


def test_stale_while_revalidate_serves_the_old_copy_once(client: Client):
    client.prompts.push(SUPPORT)
    old = client.prompts.get("support-answer", cache_ttl=0.05)
    client.prompts.push(support(system="v2 {{ product }}"))
    time.sleep(0.1)  # the cached copy is now stale
    assert client.prompts.get("support-answer", cache_ttl=0.05) is old  # served at once; a refresh starts
    fresh, _ = _wait_for(lambda: (p := client.prompts.get("support-answer", cache_ttl=60)).version == 2 and p)
    assert fresh.version == 2 and fresh is not old


def test_a_pinned_version_is_fetched_once(client: Client):
    client.prompts.push(SUPPORT)
    pinned = client.prompts.get("support-answer", version=1, cache_ttl=0.01)
    time.sleep(0.05)
    assert client.prompts.get("support-answer", version=1, cache_ttl=0.01) is pinned


def test_errors_are_raised_not_hidden(client: Client, tmp_path):
    fallback = tmp_path / "support.yaml"
    fallback.write_text("name: support-answer\ntemplate: 'offline {{ x }}'\n")
    with pytest.raises(NotFoundError):  # a 404 is an answer, not an outage: no fallback
        client.prompts.get("support-answer", fallback_file=fallback)
    reader = Client(client.base_url, "sw-not-a-key", transport=client._http._transport)
    with pytest.raises(Exception) as info:
        reader.prompts.get("support-answer")
    assert type(info.value).__name__ == "AuthenticationError"


def test_spans_carry_the_prompt(client: Client):
    client.prompts.push(SUPPORT)
    prompt = client.prompts.get("support-answer")
    sink = InMemoryExporter()
    assert configure_tracing(exporter=sink, schedule_delay=0.05) is True
    with observe("answer") as outer:
        prompt.render(**VARIABLES)  # tags the current span
        with observe("untagged"):
            pass
    with prompt.use():
        with observe("llm-call", kind="llm"):
            with observe("nested"):
                pass
    with observe("after"):
        pass
    assert outer.attributes["stackwright.prompt.name"] == "support-answer"
    assert flush(5) is True
    spans = {span.name: span.attributes for span in sink.spans}
    for name in ("answer", "llm-call", "nested"):
        assert (spans[name]["stackwright.prompt.name"], spans[name]["stackwright.prompt.version"]) == ("support-answer", 1), name
    assert "stackwright.prompt.name" not in spans["untagged"] and "stackwright.prompt.name" not in spans["after"]


def test_spans_carry_the_prompt_across_asyncio(client: Client):
    client.prompts.push(SUPPORT)
    prompt = client.prompts.get("support-answer")
    sink = InMemoryExporter()
    configure_tracing(exporter=sink, schedule_delay=0.05)

    @observe(name="step")
    async def step() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        async with prompt.use():
            await asyncio.gather(step(), step())

    asyncio.run(main())
    assert flush(5) is True
    assert [s.attributes.get("stackwright.prompt.version") for s in sink.named("step")] == [1, 1]


def test_pushing_needs_a_write_key(client: Client, make_key, connect):
    reader = connect(make_key(["read"])[1])
    with pytest.raises(PermissionDeniedError):
        reader.prompts.push(SUPPORT)


def test_async_client(settings):
    async def main() -> None:
        async with AsyncClient.in_process(settings) as sdk:
            await sdk.prompts.push(SUPPORT)
            prompt = await sdk.prompts.get("support-answer", label="staging", cache_ttl=0.05)
            assert prompt.render(**VARIABLES)["prompt_version"] == 1
            await sdk.prompts.push(support(system="v2 {{ product }}"))
            await asyncio.sleep(0.1)
            assert await sdk.prompts.get("support-answer", label="staging", cache_ttl=0.05) is prompt  # stale, refreshing
            for _ in range(1500):
                if (await sdk.prompts.get("support-answer", label="staging", cache_ttl=60)).version == 2:
                    break
                await asyncio.sleep(0.02)
            assert (await sdk.prompts.get("support-answer", label="staging", cache_ttl=60)).version == 2
            page = await sdk.prompts.list()
            assert page.data[0]["latest_version"] == 2

    asyncio.run(main())
