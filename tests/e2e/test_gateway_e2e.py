"""The gateway over real HTTP: `stackwright serve`, the official `openai` SDK (sync, async, streaming),
the fake upstream on loopback, the embedded local models, and budgets shared by two servers on one
Postgres database."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
import yaml

from tests.conftest import TEST_API_KEY
from tests.e2e.serverproc import ServerProcess, clean_env, free_ports, run
from tests.gateway.fake_upstream import FakeUpstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as fake:
        yield fake


def _gateway_yaml(path, upstream_url: str) -> None:
    config = {
        "models": [
            {
                "name": "gpt-4o-mini",
                "deployments": [{"provider": "openai", "base_url": upstream_url, "model": "gpt-4o-mini", "api_key_env": "FAKE_KEY"}],
                "retries": 1,
                "fallbacks": ["local/extractive"],
            }
        ],
        "retry": {"backoff_s": 0.01},
    }
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    root = tmp_path_factory.mktemp("gateway-e2e")
    env = clean_env(home=root / "home", init_api_key=TEST_API_KEY)
    assert run(["init"], env).returncode == 0
    _gateway_yaml(root / "gateway.yaml", upstream.base_url)
    applied = run(["gateway", "apply", str(root / "gateway.yaml"), "--json"], {**env, "FAKE_KEY": "sk-fake-upstream-key"})
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["secrets_stored"] == ["FAKE_KEY"]
    proc = ServerProcess(root, env, free_ports(1)[0]).start().wait_ready()
    yield proc
    proc.kill()


def _sdk(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=TEST_API_KEY, max_retries=0)


def test_openai_sdk_sync_and_streaming_through_the_server(server, upstream):
    upstream.reset()
    client = _sdk(server)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello over http"}])
    assert completion.choices[0].message.content == "echo: hello over http"
    assert upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-fake-upstream-key"  # decrypted secret
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream over http"}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    assert len(chunks) > 3  # really streamed in pieces
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream over http"
    assert chunks[-1].usage.total_tokens > 0
    assert {m.id for m in client.models.list()} >= {"gpt-4o-mini", "local/extractive", "local/wordllama"}


def test_openai_sdk_async(server):
    async def calls() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TEST_API_KEY, max_retries=0) as client:
            done = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "async"}])
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "async stream"}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return done.choices[0].message.content, text

    assert asyncio.run(calls()) == ("echo: async", "echo: async stream")


def test_local_models_answer_without_any_upstream(server):
    client = _sdk(server)
    context = ("Context:\n[1] Password resets are done from Settings > Security > Reset password.\n"
               "[2] Invoices are emailed on the first day of each month.\n\nQuestion: How do I reset my password?")  # fmt: skip
    answer = client.chat.completions.create(model="local/extractive", messages=[{"role": "user", "content": context}])
    text = answer.choices[0].message.content
    assert "Settings > Security" in text and "[1]" in text and "Invoices" not in text
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    streamed = client.chat.completions.create(model="local/extractive", messages=[{"role": "user", "content": context}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text
    vectors = client.embeddings.create(model="local/wordllama", input=["reset my password", "password reset", "monthly invoice"])
    import numpy as np

    a, b, c = (np.array(d.embedding) for d in vectors.data)
    assert len(a) == 256 and a @ b > a @ c
    floats = client.embeddings.create(model="local/wordllama", input="reset my password", encoding_format="float")
    assert np.allclose(floats.data[0].embedding, a, atol=1e-6)


def test_an_unreachable_upstream_falls_back_to_the_local_model(server, upstream):
    client = _sdk(server)
    upstream.script("gpt-4o-mini", [{"status": 500}, {"status": 500}])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Context:\n[1] Shipping takes 3 days.\n\nQuestion: How long is shipping?"}]
    )
    assert raw.headers["x-stackwright-model"] == "local/extractive" and raw.headers["x-stackwright-attempts"] == "3"
    assert "3 days" in raw.parse().choices[0].message.content


@pytest.mark.postgres
def test_a_budget_holds_across_two_servers_on_one_postgres(tmp_path, new_postgres_db, upstream):
    """Alternating requests between two servers: the key's daily budget is not overshot by more than one request."""
    upstream.reset()
    env = clean_env(home=tmp_path / "cli", database_url=new_postgres_db, init_api_key=TEST_API_KEY)
    assert run(["init"], env).returncode == 0
    _gateway_yaml(tmp_path / "gateway.yaml", upstream.base_url)
    assert run(["gateway", "apply", str(tmp_path / "gateway.yaml")], env).returncode == 0
    budget = 0.01
    set_budget = run(["keys", "budget", TEST_API_KEY[:12], "--daily", str(budget)], env)
    assert set_budget.returncode == 0, set_budget.stderr
    ports = free_ports(2)
    servers = [
        ServerProcess(tmp_path / name, clean_env(home=tmp_path / name / "home", database_url=new_postgres_db), port, name=name)
        for name, port in zip(("a", "b"), ports, strict=True)
    ]
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready()
        with servers[0].client(TEST_API_KEY) as api:  # $100 per million tokens: each call costs about $0.0005
            assert api.put("/api/v1/traces/settings", json={"prices": {"gpt-4o-mini": {"input_per_mtok": 100, "output_per_mtok": 100}}}).status_code == 200
        clients = [_sdk(s) for s in servers]
        spent, costs, refused = 0.0, [], None
        for i in range(200):
            try:
                raw = clients[i % 2].chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"request number {i}"}]
                )
            except openai.RateLimitError as exc:
                refused = exc
                break
            cost = float(raw.headers["x-stackwright-cost-usd"])
            costs.append(cost)
            spent += cost
        assert refused is not None, f"never refused after spending ${spent:.4f} of ${budget}"
        assert budget - max(costs) <= spent <= budget + max(costs), (spent, budget, max(costs))
        assert "budget" in refused.message.lower() and "resets" in refused.message.lower()
        assert int(refused.response.headers["retry-after"]) >= 1
        with pytest.raises(openai.RateLimitError):  # the other server refuses too
            clients[1].chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "one more"}])
    finally:
        for s in servers:
            s.kill()
