"""Provider credentials, encrypted at rest with Fernet (AES-128-CBC + HMAC) and never returned.

The key comes from ``STACKWRIGHT_SECRET_KEY`` or, by default, from ``<home>/secret.key``, created once
with mode 0600. Replicas on one Postgres must share the key (set the setting on each).

``store_secret`` and ``delete_secret`` are what the API and the web UI call: they need an admin (or owner)
and write the audit entry, which names the secret, never its value.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.config import Settings
from stackwright.core.errors import ConfigError, InvalidInput, NotFound
from stackwright.gateway.config import SECRET_NAME
from stackwright.gateway.models import GatewaySecret

KEY_FILE = "secret.key"
MAX_SECRET_CHARS = 8192


def _key_bytes(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.home / KEY_FILE
    if not path.exists():
        from cryptography.fernet import Fernet

        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


@lru_cache(maxsize=16)
def _fernet(key: bytes) -> Any:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key)
    except ValueError:
        raise ConfigError(
            "The secret key is not a valid Fernet key.",
            hint="Set STACKWRIGHT_SECRET_KEY to 32 url-safe base64-encoded bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())').",
        ) from None


def cipher(settings: Settings) -> Any:
    return _fernet(_key_bytes(settings))


def check_name(name: str) -> str:
    if not SECRET_NAME.fullmatch(name or ""):
        raise InvalidInput(
            f"{name!r} is not a valid secret name.", hint="Use letters, digits and underscores, e.g. OPENAI_API_KEY.",
            details={"field": "name"},
        )
    return name


def put_secret(session: Session, settings: Settings, project_id: str, name: str, value: str) -> bool:
    """Store (or replace) a secret; returns whether it changed. No role check and no audit entry: for callers
    that check and audit themselves (applying a config); others call ``store_secret``."""
    check_name(name)
    if not value or len(value) > MAX_SECRET_CHARS:
        raise InvalidInput(f"Secret {name} must have 1 to {MAX_SECRET_CHARS} characters.", details={"field": "value"})
    row = session.get(GatewaySecret, (project_id, name))
    if row is not None and reveal(settings, row.ciphertext) == value:
        return False
    token = cipher(settings).encrypt(value.encode()).decode()
    if row is None:
        session.add(GatewaySecret(project_id=project_id, name=name, ciphertext=token, updated_at=utcnow()))
    else:
        row.ciphertext, row.updated_at = token, utcnow()
    return True


def store_secret(session: Session, settings: Settings, actor: Actor, project_id: str, name: str, value: str) -> bool:
    """Store (or replace) a secret as ``actor``, an admin or owner; a change is audited (``gateway.secret.set``).
    Returns whether it changed."""
    actor.require_scope("admin", "Storing a provider secret")
    changed = put_secret(session, settings, project_id, name, value)
    if changed:
        audit.record(session, actor, "gateway.secret.set", "gateway_secret", name, project_id=project_id)
    return changed


def delete_secret(session: Session, actor: Actor, project_id: str, name: str) -> None:
    """Delete a secret as ``actor``, an admin or owner; audited (``gateway.secret.delete``)."""
    actor.require_scope("admin", "Deleting a provider secret")
    row = session.get(GatewaySecret, (project_id, check_name(name)))
    if row is None:
        raise NotFound(f"No secret named {name} in this project.")
    session.delete(row)
    audit.record(session, actor, "gateway.secret.delete", "gateway_secret", name, project_id=project_id)


def list_secrets(session: Session, project_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(GatewaySecret).where(GatewaySecret.project_id == project_id).order_by(GatewaySecret.name))
    return [{"name": r.name, "updated_at": r.updated_at} for r in rows]


def reveal(settings: Settings, token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return cipher(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "A stored provider secret cannot be decrypted with this server's secret key.",
            hint="Give every replica the same STACKWRIGHT_SECRET_KEY, or set the secret again.",
        ) from None


def project_secrets(session: Session, settings: Settings, project_id: str) -> dict[str, str]:
    rows = session.scalars(select(GatewaySecret).where(GatewaySecret.project_id == project_id))
    return {r.name: reveal(settings, r.ciphertext) for r in rows}
