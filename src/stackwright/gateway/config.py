"""The shape of gateway.yaml: models, their deployments, retries, fallbacks, cache, limits, rules.

Validated with Pydantic; unknown keys are refused so a typo never silently does nothing. Secrets never
live in the stored config: a deployment names them (``api_key_env``), and an inline ``api_key`` is
moved into the encrypted secret store on apply.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
BUILTIN_PREFIX = "local/"
MAX_DEPLOYMENTS = 100  # per model; each request looks at every one
MAX_RULES = 100  # per model; each request is matched against every one


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentSpec(_Strict):
    provider: str = Field(description="Provider plugin: openai (any OpenAI-compatible server), anthropic, local.")
    model: str = Field(min_length=1, max_length=200, description="The model name the upstream knows.")
    base_url: str | None = Field(default=None, max_length=500, description="The upstream's URL; provider default if unset.")
    api_key_env: str | None = Field(default=None, description="Name of the secret (or env var) holding the API key.")
    api_key: str | None = Field(default=None, description="Inline key: moved to the encrypted store on apply.")
    weight: float = Field(default=1.0, gt=0, le=1e6, description="Share of traffic among this model's deployments.")
    timeout_s: float = Field(default=30.0, gt=0, le=3600, description="Per-attempt timeout.")
    tags: list[str] = Field(default_factory=list, description="Routing tags; requests asking for tags use matching deployments.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers sent upstream.")
    options: dict[str, Any] = Field(default_factory=dict, description="Provider-specific options.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must start with http:// or https:// followed by a host")
        return value.rstrip("/") if value else value

    @field_validator("api_key_env")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_NAME.fullmatch(value):
            raise ValueError("api_key_env must be a name like OPENAI_API_KEY (letters, digits, underscores)")
        return value


class CacheSpec(_Strict):
    mode: Literal["auto", "always", "off"] = Field(
        default="auto", description="auto: cache deterministic requests (temperature 0 or a seed); always; off."
    )
    ttl_s: int = Field(default=3600, ge=1, le=30 * 86400, description="How long a cached response is served.")

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_boolean(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` (or ``no``, ``false``) as the boolean false: that means "off". A bare
        ``on``/``yes``/``true`` is read as true, which names no mode, so the error says what happened."""
        if value is False:
            return "off"
        if value is True:
            raise ValueError(
                "mode was read as the boolean true (YAML reads a bare on, yes or true that way); "
                "write mode: auto or mode: always (or quote it)"
            )
        return value


class LimitsSpec(_Strict):
    daily_usd: float | None = Field(default=None, ge=0)
    monthly_usd: float | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)


class RuleSpec(_Strict):
    when: dict[str, str] = Field(min_length=1, description="Request metadata that must all match (string values).")
    use: str = Field(description="The model to send a matching request to instead.")


class RetrySpec(_Strict):
    backoff_s: float = Field(default=0.5, ge=0, le=60, description="First retry delay; doubles per retry, with jitter.")
    max_backoff_s: float = Field(default=8.0, ge=0, le=600, description="Longest wait, also caps Retry-After.")


class ModelSpec(_Strict):
    name: str = Field(description="The name clients ask for.")
    deployments: list[DeploymentSpec] = Field(min_length=1, max_length=MAX_DEPLOYMENTS)
    retries: int = Field(default=2, ge=0, le=10, description="Retries per deployment chain before falling back.")
    fallbacks: list[str] = Field(default_factory=list, description="Models tried in order when this one fails.")
    cache: CacheSpec | None = None
    limits: LimitsSpec | None = None
    rules: list[RuleSpec] = Field(default_factory=list, max_length=MAX_RULES)
    cooldown_s: float = Field(default=30.0, ge=0, le=3600, description="How long a failing deployment is skipped.")
    failures_to_cooldown: int = Field(default=3, ge=1, le=100, description="Consecutive failures that start a cooldown.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not MODEL_NAME.fullmatch(value):
            raise ValueError("a model name has 1-200 letters, digits or . _ : / @ + - and starts with a letter or digit")
        if value.startswith("prompt:"):
            raise ValueError("names starting with 'prompt:' are reserved for stored prompts")
        return value


class GatewaySpec(_Strict):
    models: list[ModelSpec] = Field(default_factory=list)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)

    @model_validator(mode="after")
    def _references(self) -> GatewaySpec:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        known = set(names)
        for model in self.models:
            for target in [*model.fallbacks, *(r.use for r in model.rules)]:
                if target not in known and not target.startswith(BUILTIN_PREFIX):
                    raise ValueError(
                        f"model {model.name!r} refers to {target!r}, which is neither configured nor a built-in local/ model"
                    )
            if model.name in model.fallbacks:
                raise ValueError(f"model {model.name!r} lists itself as a fallback")
        return self
