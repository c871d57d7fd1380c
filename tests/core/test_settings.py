"""Settings: STACKWRIGHT_* env, TOML file (env var or --config), precedence, defaults, URL normalising."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackwright.core.config import Settings, load_settings
from stackwright.core.errors import ConfigError


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.home == Path(".stackwright")
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / '.stackwright' / 'stackwright.db'}"
    assert s.is_sqlite and s.database_url is None
    assert (s.host, s.port, s.log_level, s.init_project) == ("127.0.0.1", 8600, "info", "default")
    assert s.migrate_on_start is True and s.init_api_key is None and s.config_file is None


def test_env_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("STACKWRIGHT_PORT", "9123")
    monkeypatch.setenv("STACKWRIGHT_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("STACKWRIGHT_MIGRATE_ON_START", "false")
    monkeypatch.setenv("PORT", "1")  # unprefixed names are not ours
    monkeypatch.setenv("HOME", "/elsewhere")
    s = load_settings()
    assert s.port == 9123 and s.home == tmp_path / "data" and s.migrate_on_start is False
    assert s.db_url == f"sqlite:///{(tmp_path / 'data' / 'stackwright.db').resolve()}"


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stackwright.toml"
    path.write_text(text)
    return path


def test_toml_file_from_env_var(monkeypatch, tmp_path):
    path = _toml(tmp_path, 'port = 7001\nlog_level = "debug"\ninit_project = "acme"\n')
    monkeypatch.setenv("STACKWRIGHT_CONFIG_FILE", str(path))
    s = load_settings()
    assert (s.port, s.log_level, s.init_project) == (7001, "debug", "acme")


def test_toml_file_from_argument(tmp_path):
    path = _toml(tmp_path, "port = 7002\n")
    assert load_settings(config_file=path).port == 7002


def test_env_overrides_toml_and_arguments_override_env(monkeypatch, tmp_path):
    path = _toml(tmp_path, 'port = 7003\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("STACKWRIGHT_CONFIG_FILE", str(path))
    monkeypatch.setenv("STACKWRIGHT_PORT", "7004")
    s = load_settings()
    assert s.port == 7004 and s.host == "0.0.0.0"
    assert load_settings(port=7005).port == 7005  # a command-line option wins over both


def test_cli_config_option(tmp_path):
    from typer.testing import CliRunner

    from stackwright.cli.main import app

    db_path = tmp_path / "from-toml.db"
    path = _toml(tmp_path, f'home = "{tmp_path / "h"}"\ndatabase_url = "sqlite:///{db_path}"\n')
    result = CliRunner().invoke(app, ["--config", str(path), "db", "current", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["url"] == f"sqlite:///{db_path}"
    env_wins = CliRunner().invoke(
        app, ["--config", str(path), "db", "current", "--json"], env={"STACKWRIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"}
    )
    assert json.loads(env_wins.stdout)["url"].endswith("/env.db")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("", None),
    ],
)
def test_database_url_is_normalised(given, expected):
    s = Settings(database_url=given)
    assert s.database_url == expected
    if expected and expected.startswith("postgresql"):
        assert s.db_url == expected and not s.is_sqlite


def test_invalid_settings_become_one_config_error(monkeypatch):
    monkeypatch.setenv("STACKWRIGHT_PORT", "abc")
    monkeypatch.setenv("STACKWRIGHT_INIT_API_KEY", "nope")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert "port (STACKWRIGHT_PORT)" in message and "init_api_key (STACKWRIGHT_INIT_API_KEY)" in message


@pytest.mark.parametrize(
    ("content", "needle"),
    [("port = [\n", "could not be read"), ("no_such_setting = 1\n", "no_such_setting"), ('port = "x"\n', "port")],
)
def test_bad_toml_files(tmp_path, content, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(config_file=_toml(tmp_path, content))


def test_missing_toml_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml")


def test_init_values_are_checked_and_normalised():
    s = load_settings(init_admin_email="Ada@Example.COM", init_api_key="sw-" + "a" * 20, init_admin_password="")
    assert s.init_admin_email == "ada@example.com" and s.init_admin_password is None
    with pytest.raises(ConfigError, match="init_api_key"):
        load_settings(init_api_key="sw-short")
