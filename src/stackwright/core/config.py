"""Settings: one class, read from init arguments, then ``STACKWRIGHT_*`` env vars, then an optional TOML file."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from stackwright.core.errors import ConfigError

API_KEY_PATTERN = re.compile(r"^sw-[A-Za-z0-9_-]{20,200}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PYTHON_REF_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?$")


class Settings(BaseSettings):
    """Every setting Stackwright reads. Each one is documented in the README (a test checks)."""

    model_config = SettingsConfigDict(env_prefix="STACKWRIGHT_", extra="forbid", validate_default=True)

    config_file: Path | None = Field(
        default=None, description="TOML file with settings (same names, lower case). Env vars override it."
    )
    home: Path = Field(default=Path(".stackwright"), description="Data dir: the SQLite file, credentials file, locks.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite in the data dir. Postgres: postgresql+psycopg://user:pw@host:5432/db",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to. Loopback unless you change it.")
    port: int = Field(default=8600, ge=1, le=65535, description="Port `serve` listens on.")
    public_url: str | None = Field(
        default=None,
        description="Address people open the server at (e.g. https://stackwright.example.com), for the web UI links the "
        "CLI prints. Default: http://{host}:{port} (a wildcard host as 127.0.0.1).",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Server processes sharing the port; more use more cores (one database)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level.")
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="`json` (one object per line), `text`, or `auto` (text on a terminal, else json)."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes; larger answers 413."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5000, ge=0, description="How long a SQLite writer waits for the lock before failing, in ms."
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections kept open per process (Postgres).")
    migrate_on_start: bool = Field(
        default=True, description="Apply pending migrations when the server or a CLI command starts."
    )
    api_key_touch_interval_s: int = Field(
        default=60, ge=0, description="Minimum seconds between writes of an API key's last-used time."
    )
    web_session_idle_minutes: int = Field(
        default=60, ge=1, le=43_200, description="A web UI sign-in ends after this many minutes without a request."
    )
    invitation_ttl_days: int = Field(
        default=7, ge=1, le=365, description="Days an invitation to a project can be accepted before it expires."
    )
    ingest_queue_max_spans: int = Field(
        default=200_000, ge=1000, description="Spans waiting to be written before ingest answers 429 (backpressure)."
    )
    max_attribute_chars: int = Field(
        default=32_768, ge=256, description="Longer span attribute values, inputs and outputs are truncated with a marker."
    )
    retention_check_interval_s: int = Field(
        default=3600, ge=1, description="How often the server purges traces older than each project's retention."
    )
    online_eval_interval_s: float = Field(
        default=30.0, ge=0, le=86_400,
        description="How often the server scores new traces with the online evaluation rules (seconds); 0 turns it off.",
    )
    eval_python_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Python code that eval specs sent through the server (API, jobs, online rules) may run as targets and "
        "scorers: modules (with their submodules) or exact `module:function` entries, comma-separated or a JSON list. "
        "Empty by default: none. Binds every key, instance admins' too; specs run from a file by the CLI are not limited.",
    )
    jobs_enabled: bool = Field(default=True, description="Run background jobs and job schedules in the server.")
    jobs_executor: str = Field(default="local", description="Where jobs run: `local` (thread pool) or `ray` (needs the ray extra).")
    jobs_concurrency: int = Field(default=2, ge=1, le=256, description="Jobs one server process runs at the same time.")
    jobs_poll_interval_s: float = Field(default=2.0, gt=0, le=3600, description="How often the server looks for due schedules and queued jobs.")
    jobs_stale_after_s: float = Field(default=60.0, ge=1, description="A running job whose heartbeat is older than this is re-queued (its worker died).")
    eval_stale_after_s: float = Field(
        default=60.0, ge=1, le=86_400,
        description="A running eval run whose heartbeat is older than this is marked interrupted and can be resumed (its process died).",
    )
    secret_key: str | None = Field(
        default=None,
        repr=False,
        description="Key that encrypts provider secrets at rest (Fernet). Default: generated once into the data dir's "
        "secret.key. Replicas sharing one Postgres must all be given the same value.",
    )
    gateway_key_cache_s: float = Field(
        default=5.0, ge=0, le=300, description="How long the gateway trusts a checked API key before checking it again."
    )
    gateway_config_refresh_s: float = Field(
        default=2.0, ge=0, le=300, description="How soon a gateway config applied on another replica is picked up."
    )
    gateway_cache_memory_entries: int = Field(
        default=10_000, ge=0, description="Cached gateway responses also kept in memory per process (the rest stay in the database)."
    )
    gateway_env_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Environment variables of the server that gateway configs written through the API may name as "
        "`api_key_env` (used when the project has no secret of that name), comma-separated or a JSON list. Never "
        "STACKWRIGHT_*. Empty by default: API-written configs get keys only from the project's encrypted secrets.",
    )
    egress_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Hostnames and networks (e.g. `ollama.internal,10.0.0.0/8,127.0.0.1`), comma-separated or a JSON "
        "list, that gateway base_urls and eval http targets written through the API may reach although they are "
        "loopback, private, link-local, metadata or otherwise non-public addresses. Empty by default: public only.",
    )
    prompt_render_max_output_chars: int = Field(
        default=4_000_000, ge=1000, le=1_000_000_000,
        description="Most characters one prompt render may produce (all messages together), and the largest string or list a template may build; more answers 400.",
    )
    prompt_render_max_iterations: int = Field(
        default=100_000, ge=100, le=100_000_000,
        description="Most loop iterations one prompt render may run (and the largest `range`); more answers 400.",
    )
    prompt_render_timeout_s: float = Field(
        default=2.0, gt=0, le=600, description="Longest one prompt render may take, in seconds; longer answers 400."
    )
    retrieval_max_file_mb: float = Field(
        default=50, gt=0, le=10_000, description="Largest file `stackwright ingest` reads, in MB; larger files are reported and skipped."
    )
    project: str | None = Field(
        default=None,
        description="Project (name or id) CLI commands act on without --project; the credentials files set it.",
    )
    init_admin_email: str | None = Field(
        default=None, description="First start only: the admin user's email (generated if unset)."
    )
    init_admin_password: str | None = Field(
        default=None, description="First start only: the admin user's password (generated if unset)."
    )
    init_project: str = Field(default="default", description="First start only: name of the default project.")
    init_api_key: str | None = Field(
        default=None, description="First start only: the default project's admin key, `sw-` + 20+ chars (generated if unset)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = getattr(init_settings, "init_kwargs", {}).get("config_file") or os.environ.get(
            "STACKWRIGHT_CONFIG_FILE"
        )
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise ConfigError(
                    f"Config file {path} does not exist.",
                    hint="Fix STACKWRIGHT_CONFIG_FILE (or --config) or create the file.",
                )
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"Config file {path} could not be read: {exc}.",
                    hint="Fix the file's TOML syntax (settings are lower-case names, e.g. port = 8600).",
                ) from None
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "must start with sqlite:/// or postgresql+psycopg:// (e.g. postgresql+psycopg://user:pw@127.0.0.1:5432/db)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. https://stackwright.example.com)")
        return value.rstrip("/") if value else None

    @field_validator("eval_python_allow", mode="before")
    @classmethod
    def _check_python_allow(cls, value: Any) -> tuple[str, ...]:
        entries = _string_list(value, "modules or module:function entries, e.g. my_evals,other.mod:score")
        bad = [e for e in entries if not PYTHON_REF_PATTERN.match(e)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a module (my_evals.scorers) or module:function (my_evals:score)")
        return entries

    @field_validator("gateway_env_allow", mode="before")
    @classmethod
    def _check_env_allow(cls, value: Any) -> tuple[str, ...]:
        names = _string_list(value, "environment variable names, e.g. OPENAI_API_KEY,ANTHROPIC_API_KEY")
        bad = [n for n in names if not ENV_NAME_PATTERN.match(n) or n.upper().startswith("STACKWRIGHT_")]
        if bad:
            raise ValueError(f"{bad[0]!r} is not allowed: name variables like OPENAI_API_KEY, never STACKWRIGHT_*")
        return names

    @field_validator("egress_allow", mode="before")
    @classmethod
    def _check_egress_allow(cls, value: Any) -> tuple[str, ...]:
        from stackwright.core.egress import parse_allow

        entries = _string_list(value, "hostnames and networks, e.g. localhost,10.0.0.0/8")
        parse_allow(list(entries))  # ValueError names a bad entry
        return entries

    @field_validator("init_api_key")
    @classmethod
    def _check_api_key(cls, value: str | None) -> str | None:
        if value and not API_KEY_PATTERN.match(value):
            raise ValueError("must look like sw- followed by 20 to 200 letters, digits, '-' or '_'")
        return value or None

    @field_validator("init_admin_email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value and not EMAIL_PATTERN.match(value):
            raise ValueError("must be an email address such as admin@example.com")
        return value.lower() if value else None

    @field_validator("init_admin_password")
    @classmethod
    def _check_password(cls, value: str | None) -> str | None:
        if value and len(value) < 8:  # empty means unset, like the other init_* settings
            raise ValueError("must be at least 8 characters")
        return value or None

    @property
    def db_url(self) -> str:
        """The database URL in use: the configured one or the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'stackwright.db').resolve()}"

    @property
    def base_url(self) -> str:
        """Where people reach the server: `public_url`, else the host and port `serve` binds."""
        if self.public_url:
            return self.public_url
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


def _string_list(value: Any, expected: str) -> tuple[str, ...]:
    """A list setting from TOML/init (a list) or an env var (comma-separated, or a JSON list)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not a valid JSON list ({exc.msg}); or give comma-separated entries") from None
        else:
            value = text.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of {expected}")
    return tuple(v.strip() for v in value if v.strip())


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"]) or "settings"
            env = f"STACKWRIGHT_{name.upper()}"
            problems.append(f"{name} ({env}): {err['msg']}")
        raise ConfigError("Invalid settings: " + "; ".join(problems), hint="Fix the values named above.") from None
