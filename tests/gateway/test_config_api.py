"""Applying and reading the gateway config over the API: idempotence, validation, secrets, isolation."""

from __future__ import annotations

from sqlalchemy import select

from stackwright.gateway.models import GatewaySecret
from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error

CONFIG = {
    "models": [
        {
            "name": "gpt-4o-mini",
            "deployments": [
                {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini"}
            ],
            "retries": 2,
            "fallbacks": ["local/extractive"],
        }
    ]
}


def test_apply_is_idempotent_and_revisions_move_on_change(api):
    first = api.put("/api/v1/gateway/config", json={"config": CONFIG}).json()
    assert first["changed"] is True and first["revision"] == 1 and first["models"] == ["gpt-4o-mini"]
    again = api.put("/api/v1/gateway/config", json={"config": CONFIG}).json()
    assert again["changed"] is False and again["revision"] == 1
    changed = {"models": [{**CONFIG["models"][0], "retries": 1}]}
    assert api.put("/api/v1/gateway/config", json={"config": changed}).json()["revision"] == 2
    stored = api.get("/api/v1/gateway/config").json()
    assert stored["revision"] == 2 and stored["config"]["models"][0]["retries"] == 1
    audit = api.get("/api/v1/audit", params={"action": "gateway.apply"}).json()["data"]
    assert len(audit) == 2


def test_models_lists_configured_and_builtin_models(api):
    api.put("/api/v1/gateway/config", json={"config": CONFIG})
    models = {m["name"]: m for m in api.get("/api/v1/gateway/models").json()}
    assert {"gpt-4o-mini", "local/extractive", "local/wordllama"} <= set(models)
    assert models["gpt-4o-mini"]["deployments"][0]["base_url"] == "http://127.0.0.1:9/v1"
    assert models["gpt-4o-mini"]["fallbacks"] == ["local/extractive"]
    listed = api.get("/v1/models").json()
    assert listed["object"] == "list" and {"gpt-4o-mini", "local/extractive"} <= {m["id"] for m in listed["data"]}


def test_secrets_are_encrypted_at_rest_and_never_returned(api, prepared):
    keyed = {"models": [{**CONFIG["models"][0], "deployments": [{**CONFIG["models"][0]["deployments"][0], "api_key_env": "OPENAI_API_KEY"}]}]}
    body = {"config": keyed, "secrets": {"OPENAI_API_KEY": "sk-test-secret-value-123"}}
    assert api.put("/api/v1/gateway/config", json=body).json()["secrets_stored"] == ["OPENAI_API_KEY"]
    inline = {"models": [{"name": "m", "deployments": [{"provider": "openai", "model": "x", "api_key": "sk-inline-456"}]}]}
    result = api.put("/api/v1/gateway/config", json={"config": inline}).json()
    assert result["secrets_stored"] == ["M_0_API_KEY"]
    assert "sk-inline-456" not in api.get("/api/v1/gateway/config").text
    names = [s["name"] for s in api.get("/api/v1/gateway/secrets").json()]
    assert names == ["M_0_API_KEY", "OPENAI_API_KEY"]
    models = api.get("/api/v1/gateway/models").json()
    assert "sk-" not in str(models) and any(d["has_api_key"] for m in models for d in m["deployments"])
    with prepared.read() as session:
        stored = [row.ciphertext for row in session.scalars(select(GatewaySecret))]
    assert stored and all("sk-" not in token for token in stored)
    assert api.put("/api/v1/gateway/secrets/EXTRA_KEY", json={"value": "v1"}).status_code == 204
    assert api.delete("/api/v1/gateway/secrets/EXTRA_KEY").status_code == 204
    assert_error(api.delete("/api/v1/gateway/secrets/EXTRA_KEY"), 404, "not_found")
    assert "sk-" not in api.get("/api/v1/audit").text


def test_bad_configs_name_the_field_and_change_nothing(api):
    api.put("/api/v1/gateway/config", json={"config": CONFIG})
    cases = [
        ({"models": [{"name": "m", "deployments": []}]}, "models.0.deployments"),
        ({"models": [{"name": "m", "deployments": [{"provider": "openai", "model": "x", "weight": -1}]}]}, "weight"),
        ({"models": [{"name": "m", "deployments": [{"provider": "nope", "model": "x"}]}]}, "unknown provider"),
        ({"models": [{"name": "m", "deployments": [{"provider": "openai", "model": "x"}], "fallbacks": ["ghost"]}]}, "ghost"),
        ({"models": [{"name": "m", "deployment": []}]}, "deployment"),
        ({"models": [{"name": "m", "deployments": [{"provider": "openai", "model": "x", "base_url": "ftp://x"}]}]}, "base_url"),
        ({"models": [{"name": "bad name!", "deployments": [{"provider": "openai", "model": "x"}]}]}, "models.0.name"),
        ({"models": [{"name": "a", "deployments": [{"provider": "openai", "model": "x"}]}] * 2}, "unique"),
        ({"models": "nope"}, "models"),
        ({"cache": {"mode": "sometimes"}}, "cache.mode"),
    ]
    for config, needle in cases:
        error = assert_error(api.put("/api/v1/gateway/config", json={"config": config}), 400)
        assert needle in error["message"], (needle, error["message"])
    assert_error(api.put("/api/v1/gateway/config", json={"config": CONFIG, "extra": 1}), 422)
    assert_error(api.put("/api/v1/gateway/config", content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert api.get("/api/v1/gateway/config").json()["revision"] == 1
    assert_error(api.put("/api/v1/gateway/secrets/bad-name", json={"value": "x"}), 400)
    assert_error(api.put("/api/v1/gateway/secrets/GOOD", json={"value": ""}), 422)


def test_scopes_and_projects_are_enforced(api, client_for, make_key, other):  # noqa: F811
    api.put("/api/v1/gateway/config", json={"config": CONFIG})
    _, read_key = make_key(["read"])
    reader = client_for(read_key)
    assert reader.get("/api/v1/gateway/config").status_code == 200
    assert_error(reader.put("/api/v1/gateway/config", json={"config": CONFIG}), 403)
    assert_error(reader.get("/api/v1/gateway/secrets"), 403)
    assert_error(client_for(None).get("/api/v1/gateway/config"), 401)
    theirs = client_for(other.key)
    assert theirs.get("/api/v1/gateway/config").json()["revision"] == 0
    assert "gpt-4o-mini" not in {m["name"] for m in theirs.get("/api/v1/gateway/models").json()}
    response = theirs.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
