"""Issue 13, findings 1 and SSRF: a config written through the API gets keys only from the project's
encrypted secrets (or variables the operator allows), never from STACKWRIGHT_*; its deployments reach
only public addresses unless the operator allows more (checked when written, and at every connect on
the resolved address); the operator's own configs (the CLI) are trusted; upstream error bodies are
summarised. Real app, real database, the fake upstream as a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stackwright.auth.actors import cli_actor
from tests.auth.conftest import client_for, default, other  # noqa: F401  (fixtures)
from tests.conftest import assert_error
from tests.gateway.helpers import FAST_RETRY, fake_model

MASTER_KEY = "fernet-master-key-that-must-never-leave"


@pytest.fixture
def apps(settings, prepared) -> Iterator[Any]:
    """``apps(**setting_changes)``: another app on the same database, as after a restart with other settings."""
    from stackwright.server.app import create_app

    made = []

    def make(**changes: Any) -> Any:
        app = create_app(settings.model_copy(update=changes), prepared)
        made.append(app)
        return app

    yield make
    for app in made:
        app.state.limits.close()


def client(app: Any, key: str) -> httpx.Client:
    from stackwright.sdk.transport import InProcessTransport

    transport = InProcessTransport(app, raise_app_exceptions=False)
    return httpx.Client(transport=transport, base_url="http://stackwright.test", headers={"Authorization": f"Bearer {key}"})


def put(api: httpx.Client, *models: dict[str, Any], secrets: dict[str, str] | None = None) -> httpx.Response:
    return api.put("/api/v1/gateway/config", json={"config": {"models": list(models), "retry": FAST_RETRY}, "secrets": secrets or {}})


def chat(api: httpx.Client, model: str) -> httpx.Response:
    return api.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def v1_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error of the OpenAI-compatible API (OpenAI's shape: code, message, type, param)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), error
    return error


def keyed(base_url: str, name: str, key_env: str) -> dict[str, Any]:
    model = fake_model(base_url, "fake-model", name=name, retries=0)
    model["deployments"][0]["api_key_env"] = key_env
    return model


def test_a_tenant_admin_cannot_read_the_servers_environment(monkeypatch, client_for, other, fake_upstream, prepared, settings):  # noqa: F811
    """The repro: a project admin's config names STACKWRIGHT_SECRET_KEY with a base_url they control."""
    monkeypatch.setenv("STACKWRIGHT_SECRET_KEY", MASTER_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-operators-own")
    tenant = client_for(other.key)
    for name in ("STACKWRIGHT_SECRET_KEY", "STACKWRIGHT_DATABASE_URL", "stackwright_init_admin_password"):
        error = assert_error(put(tenant, keyed(fake_upstream.base_url, "leak", name)), 403, "env_not_allowed")
        assert name in error["message"] and "STACKWRIGHT_*" in error["message"]
    error = assert_error(put(tenant, keyed(fake_upstream.base_url, "leak", "OPENAI_API_KEY")), 403, "env_not_allowed")
    assert "STACKWRIGHT_GATEWAY_ENV_ALLOW" in error["message"] and "PUT /api/v1/gateway/secrets/OPENAI_API_KEY" in error["message"]
    assert tenant.get("/api/v1/gateway/config").json()["revision"] == 0
    # even a config stored by the operator that names it: at call time the environment is not read
    from stackwright.gateway.service import apply_config

    with prepared.write() as session:
        apply_config(session, settings, cli_actor(), other.project_id, {"models": [keyed(fake_upstream.base_url, "leak", "STACKWRIGHT_SECRET_KEY")]},
                     operator=True)  # fmt: skip
    assert chat(tenant, "leak").status_code == 200
    seen = fake_upstream.requests()[-1]["headers"]
    assert MASTER_KEY not in str(seen) and "authorization" not in seen


def test_allowed_variables_and_project_secrets_reach_the_upstream(monkeypatch, apps, other, fake_upstream):  # noqa: F811
    monkeypatch.setenv("FAKE_PROVIDER_KEY", "sk-from-the-server-env")
    tenant = client(apps(gateway_env_allow=("FAKE_PROVIDER_KEY",)), other.key)
    models = [keyed(fake_upstream.base_url, "from-env", "FAKE_PROVIDER_KEY"), keyed(fake_upstream.base_url, "from-store", "TENANT_KEY")]
    assert put(tenant, *models, secrets={"TENANT_KEY": "sk-tenant-secret"}).status_code == 200
    assert chat(tenant, "from-env").status_code == 200
    assert fake_upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-from-the-server-env"
    assert chat(tenant, "from-store").status_code == 200
    assert fake_upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-tenant-secret"
    # a project secret of the same name wins over the environment
    assert tenant.put("/api/v1/gateway/secrets/FAKE_PROVIDER_KEY", json={"value": "sk-project-own"}).status_code == 204
    assert chat(tenant, "from-env").status_code == 200
    assert fake_upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-project-own"
    # a secret stored first may be named by a later config
    assert put(tenant, keyed(fake_upstream.base_url, "later", "FAKE_PROVIDER_KEY")).status_code == 200


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:9/v1", "http://[::1]:9/v1", "http://169.254.169.254/latest", "http://10.1.2.3/v1", "https://192.168.0.10/v1",
     "http://localhost:9/v1", "http://[fd00:ec2::254]/v1", "http://100.64.0.1/v1", "http://0.0.0.0:9/v1", "http://[::ffff:127.0.0.1]/v1"],
)  # fmt: skip
def test_api_written_base_urls_may_not_name_private_addresses(apps, base_url):
    from tests.conftest import TEST_API_KEY

    api = client(apps(egress_allow=()), TEST_API_KEY)  # the instance admin's key: API writes are all held to the policy
    error = assert_error(put(api, fake_model(base_url, "fake-model")), 400, "egress_blocked")
    assert "blocked" in error["message"] and "STACKWRIGHT_EGRESS_ALLOW" in error["message"] and "base_url" in error["message"]
    assert api.get("/api/v1/gateway/config").json()["revision"] == 0


def test_the_resolved_address_is_checked_at_every_connect(apps, fake_upstream):
    """127.1 is not an address literal Python recognises, so it passes the write-time check; it resolves to
    127.0.0.1, which the connect refuses. A stricter policy after a restart applies to stored configs too."""
    from tests.conftest import TEST_API_KEY

    strict = client(apps(egress_allow=()), TEST_API_KEY)
    sneaky = fake_upstream.base_url.replace("127.0.0.1", "127.1")
    assert put(strict, fake_model(sneaky, "fake-model", name="sneaky", retries=0)).status_code == 200
    fake_upstream.reset()
    error = v1_error(chat(strict, "sneaky"), 502, "upstream_egress_blocked")
    assert "127.1 (127.0.0.1)" in error["message"] and "loopback" in error["message"] and "STACKWRIGHT_EGRESS_ALLOW" in error["message"]
    by_name = fake_upstream.base_url.replace("127.0.0.1", "localhost")
    lenient = client(apps(egress_allow=("127.0.0.1",)), TEST_API_KEY)
    assert put(lenient, fake_model(by_name, "fake-model", name="named", retries=0)).status_code == 200
    error = v1_error(chat(client(apps(egress_allow=()), TEST_API_KEY), "named"), 502, "upstream_egress_blocked")
    assert "localhost (127.0.0.1)" in error["message"]
    assert fake_upstream.requests() == []  # nothing reached the upstream
    assert chat(client(apps(egress_allow=("localhost",)), TEST_API_KEY), "named").status_code == 200  # a named host, allowed
    assert chat(lenient, "named").status_code == 200  # or its network


def test_operator_configs_reach_loopback_and_the_trust_is_recorded(apps, prepared, settings, default, fake_upstream):  # noqa: F811
    from stackwright.gateway.models import GatewayConfig
    from stackwright.gateway.service import apply_config
    from tests.conftest import TEST_API_KEY

    config = {"models": [fake_model(fake_upstream.base_url, "fake-model", retries=0)], "retry": FAST_RETRY}
    with prepared.write() as session:  # what `stackwright gateway apply` does
        first = apply_config(session, settings, cli_actor(), default.project_id, config, operator=True)
    strict_app = apps(egress_allow=())
    strict = client(strict_app, TEST_API_KEY)
    assert chat(strict, "fake-model").status_code == 200  # an operator running Ollama/vLLM on localhost needs no setting
    with prepared.read() as session:
        assert session.get(GatewayConfig, default.project_id).applied_by_operator is True
    # the same content PUT through the API is no longer the operator's: a new revision, held to the policy
    lenient = client(apps(egress_allow=("127.0.0.1",)), TEST_API_KEY)
    again = lenient.put("/api/v1/gateway/config", json={"config": config}).json()
    assert again["changed"] is True and again["revision"] == first["revision"] + 1
    strict_app.state.gateway.catalog.forget(default.project_id)
    v1_error(chat(strict, "fake-model"), 502, "upstream_egress_blocked")


def test_upstream_error_bodies_are_summarised(api, fake_upstream):
    put(api, fake_model(fake_upstream.base_url, "fake-model", retries=0))
    body = {"error": {"message": "x" * 3000, "type": "server_error"}, "internal": {"db_password": "hunter2-internal"}}
    fake_upstream.script("fake-model", [{"status": 500, "json": body}])
    error = v1_error(chat(api, "fake-model"), 502)
    assert "answered 500: " + "x" * 200 + "..." in error["message"] and "x" * 201 not in error["message"]
    assert "hunter2-internal" not in error["message"]
