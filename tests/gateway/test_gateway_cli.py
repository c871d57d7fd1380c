"""`stackwright gateway apply|models|test`, including bad files."""

from __future__ import annotations

import yaml

from stackwright.gateway.models import GatewaySecret
from tests.cli.conftest import cli, cli_ready  # noqa: F401  (fixtures)


def _write(path, config) -> str:
    path.write_text(yaml.safe_dump(config) if not isinstance(config, str) else config)
    return str(path)


def test_apply_models_and_test(cli_ready, tmp_path, fake_upstream):  # noqa: F811
    config = {"models": [{"name": "support", "retries": 1, "fallbacks": ["local/extractive"],
                          "deployments": [{"provider": "openai", "base_url": fake_upstream.base_url, "model": "fake-model",
                                           "api_key_env": "SUPPORT_KEY"}]}]}  # fmt: skip
    path = _write(tmp_path / "gateway.yaml", config)
    result = cli_ready.json("gateway", "apply", path, env={"SUPPORT_KEY": "sk-from-the-shell"})
    assert result == {"revision": 1, "changed": True, "secrets_stored": ["SUPPORT_KEY"], "models": ["support"]}
    again = cli_ready.ok("gateway", "apply", path, env={"SUPPORT_KEY": "sk-from-the-shell"}).stdout
    assert "unchanged: revision 1" in again
    assert cli_ready.count(GatewaySecret) == 1
    models = {m["name"]: m for m in cli_ready.json("gateway", "models")}
    assert models["support"]["deployments"][0]["has_api_key"] is True and "local/extractive" in models
    table = cli_ready.ok("gateway", "models").stdout
    assert "support" in table and "openai:fake-model" in table and "sk-" not in table
    tested = cli_ready.json("gateway", "test", "support", "--prompt", "ping")
    assert tested["ok"] is True and tested["output"] == "echo: ping" and tested["served_by"] == "support/0"
    assert fake_upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-from-the-shell"
    human = cli_ready.ok("gateway", "test", "local/extractive", "--prompt", "Context: The sky is blue.\n\nQuestion: What colour is the sky?")
    assert "ok: local/extractive" in human.stdout and "blue" in human.stdout


def test_bad_files_and_failing_models(cli_ready, tmp_path, fake_upstream):  # noqa: F811
    cli_ready.fails("gateway", "apply", str(tmp_path / "missing.yaml"), needle="does not exist")
    broken = _write(tmp_path / "broken.yaml", "models:\n  - name: x\n    deployments: [\n")
    message = cli_ready.fails("gateway", "apply", broken, needle="not valid YAML")
    assert "line" in message and "column" in message
    invalid = _write(tmp_path / "invalid.yaml", {"models": [{"name": "x", "deployments": [{"provider": "openai", "model": "m", "weight": 0}]}]})
    cli_ready.fails("gateway", "apply", invalid, needle="models.0.deployments.0.weight")
    cli_ready.fails("gateway", "apply", _write(tmp_path / "list.yaml", "- a\n- b\n"), needle="mapping")
    cli_ready.fails("gateway", "apply", invalid, "--project", "nope", needle="nope")
    cli_ready.fails("gateway", "test", "no-such-model", needle="no-such-model")
    config = {"models": [{"name": "down", "retries": 0,
                          "deployments": [{"provider": "openai", "base_url": fake_upstream.base_url, "model": "down"}]}]}  # fmt: skip
    cli_ready.ok("gateway", "apply", _write(tmp_path / "down.yaml", config))
    fake_upstream.script("down", [{"status": 500}])
    cli_ready.fails("gateway", "test", "down", needle="500")
