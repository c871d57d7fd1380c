"""Each project's gateway config, resolved for serving: models with their deployments, secrets
decrypted, built-in local models added. A deployment's key comes from the project's encrypted secrets;
the server's environment is read only for names on ``STACKWRIGHT_GATEWAY_ENV_ALLOW`` (never STACKWRIGHT_*).
Deployments of a config written through the API carry the egress policy; the operator's (CLI) do not. Cached per process; re-read when the stored revision moves
(checked at most every ``gateway_config_refresh_s``; at once after an apply through this process)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.egress import EgressPolicy
from stackwright.core.errors import NotFound
from stackwright.gateway.config import BUILTIN_PREFIX, CacheSpec, GatewaySpec, ModelSpec, RetrySpec
from stackwright.gateway.providers.base import Deployment


@dataclass
class ServedModel:
    """A model clients can ask for, with what is needed to route a request to it."""

    name: str
    kind: str  # chat or embedding (built-ins); configured models serve both
    deployments: list[Deployment]
    tags: list[frozenset[str]]  # per deployment
    retries: int = 0
    fallbacks: list[str] = field(default_factory=list)
    rules: list[tuple[dict[str, str], str]] = field(default_factory=list)
    cache: CacheSpec | None = None
    cooldown_s: float = 30.0
    failures_to_cooldown: int = 3
    builtin: bool = False


@dataclass
class ProjectGateway:
    project_id: str
    revision: int
    models: dict[str, ServedModel]
    cache: CacheSpec
    retry: RetrySpec

    def model(self, name: str) -> ServedModel:
        found = self.models.get(name)
        if found is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise NotFound(
                f"The model {name!r} does not exist in this project's gateway.",
                hint=f"Available: {known}. Add it to gateway.yaml and run `stackwright gateway apply gateway.yaml`.",
                code="model_not_found",
            )
        return found


def builtin_models() -> dict[str, ServedModel]:
    """Models served with no configuration: those a registered provider offers through its
    ``builtin_models()`` (client-facing name -> (kind, the provider's model name)), like the local models."""
    from stackwright.core.plugins import providers

    out = {}
    for provider_name in providers.names():
        offered = getattr(providers.get(provider_name), "builtin_models", None)
        for name, (kind, model) in (offered() if callable(offered) else {}).items():
            deployment = Deployment(id=f"{name}/0", provider=provider_name, model=model, timeout_s=120.0)
            out[name] = ServedModel(name=name, kind=kind, deployments=[deployment], tags=[frozenset()], builtin=True)
    return out


def api_key(name: str | None, secrets: dict[str, str], env_allow: tuple[str, ...]) -> str | None:
    """The key a deployment's ``api_key_env`` names: the project's secret, else the server's environment
    variable if the operator allows that name (never a STACKWRIGHT_* one)."""
    if not name:
        return None
    if name in secrets:
        return secrets[name]
    if name in env_allow and not name.upper().startswith("STACKWRIGHT_"):
        return os.environ.get(name) or None
    return None


def _served(spec: ModelSpec, secrets: dict[str, str], env_allow: tuple[str, ...], egress: EgressPolicy | None) -> ServedModel:
    deployments, tags = [], []
    for index, d in enumerate(spec.deployments):
        deployments.append(
            Deployment(
                id=f"{spec.name}/{index}", provider=d.provider, model=d.model, base_url=d.base_url,
                api_key=api_key(d.api_key_env, secrets, env_allow), timeout_s=d.timeout_s, weight=d.weight,
                headers=dict(d.headers), options=dict(d.options), egress=egress,
            )
        )  # fmt: skip
        tags.append(frozenset(d.tags))
    return ServedModel(
        name=spec.name, kind="any", deployments=deployments, tags=tags, retries=spec.retries, fallbacks=list(spec.fallbacks),
        rules=[(dict(r.when), r.use) for r in spec.rules], cache=spec.cache, cooldown_s=spec.cooldown_s,
        failures_to_cooldown=spec.failures_to_cooldown,
    )  # fmt: skip


def resolve(project_id: str, spec: GatewaySpec, revision: int, secrets: dict[str, str], *,
            env_allow: tuple[str, ...] = (), egress: EgressPolicy | None = None) -> ProjectGateway:  # fmt: skip
    """``egress``: the policy the deployments' connections obey (None for a config the operator applied)."""
    models = builtin_models()
    for model in spec.models:
        models[model.name] = _served(model, secrets, env_allow, egress)
    return ProjectGateway(project_id=project_id, revision=revision, models=models, cache=spec.cache, retry=spec.retry)


class Catalog:
    """Per app: project id -> ProjectGateway, refreshed when the stored revision changes."""

    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self._projects: dict[str, tuple[float, ProjectGateway]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, project_id: str) -> ProjectGateway:
        cached = self._projects.get(project_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        async with lock:
            cached = self._projects.get(project_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            project = await asyncio.to_thread(self._load, project_id, cached[1] if cached else None)
            self._projects[project_id] = (time.monotonic() + self.settings.gateway_config_refresh_s, project)
            return project

    def _load(self, project_id: str, current: ProjectGateway | None) -> ProjectGateway:
        from stackwright.gateway.secrets import project_secrets
        from stackwright.gateway.service import config_revision, read_config_trust

        with self.db.read() as session:
            if current is not None and config_revision(session, project_id) == current.revision:
                return current
            spec, revision, by_operator = read_config_trust(session, project_id)
            secrets = project_secrets(session, self.settings, project_id) if spec.models else {}
        egress = None if by_operator else EgressPolicy.from_settings(self.settings)
        return resolve(project_id, spec, revision, secrets, env_allow=self.settings.gateway_env_allow, egress=egress)

    def forget(self, project_id: str) -> None:
        self._projects.pop(project_id, None)


def is_builtin(name: str) -> bool:
    return name.startswith(BUILTIN_PREFIX)


def describe(project: ProjectGateway) -> list[dict[str, Any]]:
    """The models a project serves, for /v1/models and `stackwright gateway models` (no secrets)."""
    rows = []
    for model in sorted(project.models.values(), key=lambda m: (m.builtin, m.name)):
        rows.append({
            "name": model.name,
            "kind": model.kind,
            "builtin": model.builtin,
            "deployments": [
                {"id": d.id, "provider": d.provider, "model": d.model, "base_url": d.base_url, "weight": d.weight,
                 "timeout_s": d.timeout_s, "tags": sorted(t), "has_api_key": d.api_key is not None}
                for d, t in zip(model.deployments, model.tags, strict=True)
            ],
            "retries": model.retries,
            "fallbacks": model.fallbacks,
        })  # fmt: skip
    return rows
