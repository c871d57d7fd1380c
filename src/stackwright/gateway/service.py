"""Applying and reading a project's gateway config (no HTTP here).

Apply is idempotent: the same content yields the same revision and no audit entry. Inline API keys
and keys named by ``api_key_env`` that the caller supplies are moved into the encrypted secret
store; the stored config keeps only their names.

Who applies matters. The operator (the CLI on the host) is trusted: its deployments may reach any
address, and the CLI reads the keys it names from its own shell. A config written through the API (any
key, an instance admin's too) may name in ``api_key_env`` only a secret it supplies or the project has
stored, or a variable on ``STACKWRIGHT_GATEWAY_ENV_ALLOW``, never ``STACKWRIGHT_*``; and its base_urls are
held to the egress policy (``STACKWRIGHT_EGRESS_ALLOW``), checked here for literal addresses and again at
every connect.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.config import Settings
from stackwright.core.egress import EgressPolicy
from stackwright.core.errors import Forbidden, InvalidInput
from stackwright.gateway.config import GatewaySpec
from stackwright.gateway.models import GatewayConfig, GatewaySecret
from stackwright.gateway.secrets import put_secret

EMPTY = GatewaySpec()


def parse_spec(raw: Any) -> GatewaySpec:
    """A validated spec, or InvalidInput naming each wrong field by its path (models.0.deployments.1.weight)."""
    if not isinstance(raw, dict):
        raise InvalidInput("A gateway config must be a mapping with a `models:` list.", hint="See the README's gateway section.")
    try:
        return GatewaySpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(top level)", "problem": e["msg"]} for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidInput(f"The gateway config is not valid: {summary}.", details={"errors": problems}) from None


def _check_providers(spec: GatewaySpec) -> None:
    from stackwright.core import plugins

    known = set(plugins.providers.names())
    for model in spec.models:
        for index, deployment in enumerate(model.deployments):
            if deployment.provider not in known:
                raise InvalidInput(
                    f"models.{model.name}.deployments.{index}: unknown provider {deployment.provider!r}.",
                    hint=f"Use one of: {', '.join(sorted(known))} (or install the plugin that provides it).",
                )
            check_options = getattr(plugins.providers.get(deployment.provider), "check_options", None)
            try:
                if check_options is not None:  # a provider may refuse options its models cannot take (sizes, threads)
                    check_options(deployment.model, deployment.options)
            except ValueError as exc:
                raise InvalidInput(f"models.{model.name}.deployments.{index}.options: {exc}.") from None


def check_api_written(session: Session, settings: Settings, project_id: str, spec: GatewaySpec, supplied: dict[str, str]) -> None:
    """What a config written through the API may not do: name the server's own settings or environment
    as a key (403), or point a deployment at a blocked literal address (400)."""
    from sqlalchemy import select

    stored = set(session.scalars(select(GatewaySecret.name).where(GatewaySecret.project_id == project_id)))
    policy = EgressPolicy.from_settings(settings)
    for model in spec.models:
        for index, deployment in enumerate(model.deployments):
            where = f"models.{model.name}.deployments.{index}"
            name = deployment.api_key_env
            if name and name.upper().startswith("STACKWRIGHT_"):
                raise Forbidden(
                    f"{where}: api_key_env may not name {name}: the server's own STACKWRIGHT_* settings are never sent upstream.",
                    hint="Store the provider key as a project secret (the `secrets` field of this request, or "
                    "PUT /api/v1/gateway/secrets/NAME) and name that secret.",
                    code="env_not_allowed",
                )  # fmt: skip
            if name and not deployment.api_key and not supplied.get(name) and name not in stored and name not in settings.gateway_env_allow:
                raise Forbidden(
                    f"{where}: api_key_env names {name}, which is neither a secret of this project nor a server "
                    "environment variable the operator allows (STACKWRIGHT_GATEWAY_ENV_ALLOW).",
                    hint=f"Send the key with the config (`secrets: {{{name}: ...}}`) or store it first with "
                    f"PUT /api/v1/gateway/secrets/{name}; or ask the operator to add {name} to STACKWRIGHT_GATEWAY_ENV_ALLOW.",
                    code="env_not_allowed",
                )  # fmt: skip
            if "model_path" in deployment.options:
                raise Forbidden(
                    f"{where}.options.model_path names a file on the server; reading the server's files is the operator's alone.",
                    hint="Leave model_path out (the bundled model is used), or ask the operator to apply this deployment "
                    "with `stackwright gateway apply` on the host.",
                    code="file_not_allowed",
                )  # fmt: skip
            if deployment.base_url:
                try:
                    policy.check_url(deployment.base_url)
                except InvalidInput as exc:
                    raise type(exc)(f"{where}.base_url: {exc.message}") from None


def _move_secrets(spec: GatewaySpec, supplied: dict[str, str]) -> dict[str, str]:
    """Strip inline keys out of the spec; return the secrets to store (name -> value)."""
    to_store: dict[str, str] = {}
    for model in spec.models:
        for index, deployment in enumerate(model.deployments):
            if deployment.api_key:
                name = deployment.api_key_env or _inline_secret_name(model.name, index)
                to_store[name] = deployment.api_key
                deployment.api_key, deployment.api_key_env = None, name
            elif deployment.api_key_env and supplied.get(deployment.api_key_env):
                to_store[deployment.api_key_env] = supplied[deployment.api_key_env]
    return to_store


def _inline_secret_name(model: str, index: int) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in model.upper())
    return f"{cleaned}_{index}_API_KEY"[:128]


def content_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def apply_config(
    session: Session,
    settings: Settings,
    actor: Actor,
    project_id: str,
    raw: Any,
    supplied_secrets: dict[str, str] | None = None,
    *,
    operator: bool = False,
) -> dict[str, Any]:
    """Validate and store ``raw``; returns {revision, changed, secrets_stored, models}. ``operator``: applied
    from the CLI on the host (trusted: see the module doc); otherwise held to the API's rules."""
    spec = parse_spec(raw)
    _check_providers(spec)
    if not operator:
        check_api_written(session, settings, project_id, spec, supplied_secrets or {})
    to_store = _move_secrets(spec, supplied_secrets or {})
    config = spec.model_dump(mode="json", exclude_defaults=False)
    digest = content_hash(config)
    stored_secrets = sorted(name for name, value in to_store.items() if put_secret(session, settings, project_id, name, value))
    row = session.get(GatewayConfig, project_id)
    changed = row is None or row.content_hash != digest or row.applied_by_operator != operator
    if changed:
        before = row.config if row is not None else None
        if row is None:
            row = GatewayConfig(project_id=project_id, config=config, content_hash=digest, revision=1, updated_at=utcnow(),
                                applied_by_operator=operator)  # fmt: skip
            session.add(row)
        else:
            row.config, row.content_hash, row.revision, row.updated_at = config, digest, row.revision + 1, utcnow()
            row.applied_by_operator = operator
        session.flush()
        _apply_model_limits(session, project_id, spec)
        audit.record(session, actor, "gateway.apply", "gateway_config", project_id, project_id=project_id,
                     before={"config": before}, after={"config": config, "revision": row.revision, "operator": operator})  # fmt: skip
    assert row is not None  # stored above when it was missing (a missing row is a change)
    if stored_secrets:
        audit.record(session, actor, "gateway.secrets", "gateway_secret", ",".join(stored_secrets), project_id=project_id,
                     after={"names": stored_secrets})  # fmt: skip
    return {"revision": row.revision, "changed": changed, "secrets_stored": stored_secrets, "models": [m.name for m in spec.models]}


def _apply_model_limits(session: Session, project_id: str, spec: GatewaySpec) -> None:
    from stackwright.gateway.limits.service import replace_model_limits

    replace_model_limits(session, project_id, {m.name: m.limits for m in spec.models if m.limits is not None})


def read_config(session: Session, project_id: str) -> tuple[GatewaySpec, int]:
    """The applied spec and its revision (an empty spec, revision 0, if none was applied)."""
    spec, revision, _ = read_config_trust(session, project_id)
    return spec, revision


def read_config_trust(session: Session, project_id: str) -> tuple[GatewaySpec, int, bool]:
    """The applied spec, its revision and whether the operator applied it (trusted)."""
    row = session.get(GatewayConfig, project_id)
    if row is None:
        return EMPTY, 0, False
    return GatewaySpec.model_validate(row.config), row.revision, row.applied_by_operator


def config_revision(session: Session, project_id: str) -> int:
    row = session.get(GatewayConfig, project_id)
    return 0 if row is None else row.revision
