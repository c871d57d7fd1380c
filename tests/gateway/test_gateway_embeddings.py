"""/v1/embeddings through the gateway (local and upstream), and the /api/v1/gateway/test endpoint."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from tests.conftest import TEST_API_KEY, assert_error
from tests.gateway.helpers import apply, fake_model, openai_client, unique, wait_trace


@pytest.fixture
def client(app):
    sdk = openai_client(app)
    yield sdk
    sdk.close()


def test_local_wordllama_embeddings_with_the_sdk(api, client):
    raw = client.embeddings.with_raw_response.create(model="local/wordllama", input=["reset password", "password reset", "invoice"])
    result = raw.parse()  # the SDK asked for base64 and decoded it
    a, b, c = (np.array(d.embedding) for d in result.data)
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-4 and a @ b > a @ c
    assert result.usage.prompt_tokens > 0
    short = client.embeddings.create(model="local/wordllama", input="reset password", dimensions=64, encoding_format="float")
    assert len(short.data[0].embedding) == 64
    trace = wait_trace(api, raw.headers["x-stackwright-trace-id"], spans=2)
    assert trace["spans"][0]["name"] == "gateway embeddings local/wordllama" and trace["spans"][0]["kind"] == "embedding"


def test_upstream_embeddings_pass_through(api, client, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, "fake-embed", name=model))
    result = client.embeddings.create(model=model, input="hello", encoding_format="float")
    assert len(result.data) == 1 and len(result.data[0].embedding) > 0
    sent = fake_upstream.requests()[-1]
    assert sent["path"] == "/v1/embeddings" and sent["body"]["model"] == "fake-embed"


def test_bad_embedding_requests(api, client, anon):
    with pytest.raises(openai.BadRequestError) as wrong_kind:
        client.embeddings.create(model="local/extractive", input="x")
    assert "chat model" in wrong_kind.value.message
    with pytest.raises(openai.BadRequestError) as wrong_way:
        client.chat.completions.create(model="local/wordllama", messages=[{"role": "user", "content": "x"}])
    assert "embedding model" in wrong_way.value.message
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")
    headers = {"authorization": f"Bearer {TEST_API_KEY}"}
    for body, needle in [({"model": "local/wordllama"}, "input"), ({"model": "local/wordllama", "input": []}, "input"),
                         ({"model": "local/wordllama", "input": ""}, "empty"), ({"input": "x"}, "model"),
                         ({"model": "local/wordllama", "input": ["x"] * 3000}, "2048")]:  # fmt: skip
        response = anon.post("/v1/embeddings", json=body, headers=headers)
        assert response.status_code == 400 and needle in response.json()["error"]["message"], (body, response.text)
    assert anon.post("/v1/embeddings", json={"model": "local/wordllama", "input": "x"}).status_code == 401
    assert anon.get("/v1/models").status_code == 401


def test_the_test_endpoint(api, fake_upstream):
    model = unique()
    apply(api, fake_model(fake_upstream.base_url, model))
    ok = api.post("/api/v1/gateway/test", json={"model": model, "prompt": "ping"}).json()
    assert ok["ok"] is True and ok["output"] == "echo: ping" and ok["served_by"] == f"{model}/0" and ok["trace_id"]
    missing = api.post("/api/v1/gateway/test", json={"model": "ghost"}).json()
    assert missing["ok"] is False and missing["code"] == "model_not_found"
    assert_error(api.post("/api/v1/gateway/test", json={}), 422)
    assert_error(api.post("/api/v1/gateway/test", json={"model": model, "prompt": ""}), 422)
    assert_error(api.post("/api/v1/gateway/test", json={"model": model, "extra": True}), 422)
