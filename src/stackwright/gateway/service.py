"""Applying and reading a project's gateway config (no HTTP here).

Apply is idempotent: the same content yields the same revision and no audit entry. Inline API keys
and keys named by ``api_key_env`` that the caller supplies are moved into the encrypted secret
store; the stored config keeps only their names.
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
from stackwright.core.errors import InvalidInput
from stackwright.gateway.config import GatewaySpec
from stackwright.gateway.models import GatewayConfig
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
) -> dict[str, Any]:
    """Validate and store ``raw``; returns {revision, changed, secrets_stored, models}."""
    spec = parse_spec(raw)
    _check_providers(spec)
    to_store = _move_secrets(spec, supplied_secrets or {})
    config = spec.model_dump(mode="json", exclude_defaults=False)
    digest = content_hash(config)
    stored_secrets = sorted(name for name, value in to_store.items() if put_secret(session, settings, project_id, name, value))
    row = session.get(GatewayConfig, project_id)
    changed = row is None or row.content_hash != digest
    if changed:
        before = row.config if row is not None else None
        if row is None:
            row = GatewayConfig(project_id=project_id, config=config, content_hash=digest, revision=1, updated_at=utcnow())
            session.add(row)
        else:
            row.config, row.content_hash, row.revision, row.updated_at = config, digest, row.revision + 1, utcnow()
        session.flush()
        _apply_model_limits(session, project_id, spec)
        audit.record(session, actor, "gateway.apply", "gateway_config", project_id, project_id=project_id,
                     before={"config": before}, after={"config": config, "revision": row.revision})  # fmt: skip
    if stored_secrets:
        audit.record(session, actor, "gateway.secrets", "gateway_secret", ",".join(stored_secrets), project_id=project_id,
                     after={"names": stored_secrets})  # fmt: skip
    return {"revision": row.revision, "changed": changed, "secrets_stored": stored_secrets, "models": [m.name for m in spec.models]}


def _apply_model_limits(session: Session, project_id: str, spec: GatewaySpec) -> None:
    from stackwright.gateway import limits

    replace = getattr(limits, "replace_model_limits", None)
    if replace is not None:
        replace(session, project_id, {m.name: m.limits for m in spec.models if m.limits is not None})


def read_config(session: Session, project_id: str) -> tuple[GatewaySpec, int]:
    """The applied spec and its revision (an empty spec, revision 0, if none was applied)."""
    row = session.get(GatewayConfig, project_id)
    if row is None:
        return EMPTY, 0
    return GatewaySpec.model_validate(row.config), row.revision


def config_revision(session: Session, project_id: str) -> int:
    row = session.get(GatewayConfig, project_id)
    return 0 if row is None else row.revision
