"""First start: an admin user, a default project and its admin key, from STACKWRIGHT_INIT_* or generated."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.security import generate_password
from stackwright.core.clock import utcnow
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.meta import get_meta, set_meta

CREDENTIALS_FILE = "initial-credentials.env"
DEFAULT_ADMIN_EMAIL = "admin@stackwright.local"


@dataclass
class BootstrapResult:
    admin_email: str
    admin_password: str | None  # None when it came from the environment (not repeated anywhere)
    project: str
    api_key: str | None  # None when it came from the environment
    credentials_file: Path | None


class PasswordHashing:
    """The first admin's password, hashed (argon2, ~0.3 s) on a side thread while migrations run; the
    hash is only awaited when the bootstrap needs it."""

    def __init__(self, settings: Settings):
        import threading

        from stackwright.auth.security import hash_password

        self.password = settings.init_admin_password or generate_password()
        self._hash: str | None = None
        self._thread = threading.Thread(target=self._run, args=(hash_password,), name="stackwright-hash", daemon=True)
        self._thread.start()

    def _run(self, hash_password: Any) -> None:
        self._hash = hash_password(self.password)

    def result(self) -> str | None:
        self._thread.join()
        return self._hash


def bootstrap(db: Database, settings: Settings, hashing: PasswordHashing | None = None) -> BootstrapResult | None:
    """Create the first admin, project and key once; later starts return None and change nothing."""
    with db.write() as session:
        if get_meta(session, "bootstrapped_at"):
            return None
        password = hashing.password if hashing else settings.init_admin_password or generate_password()
        admin = service.create_user(
            session, SYSTEM, settings.init_admin_email or DEFAULT_ADMIN_EMAIL, password, is_admin=True,
            password_hash=hashing.result() if hashing else None,
        )
        project = service.create_project(session, SYSTEM, settings.init_project, "Created on first start.")
        service.add_member(session, SYSTEM, project.id, admin.id, "owner")
        _, raw_key = keys.create_key(
            session, SYSTEM, project.id, "bootstrap admin key", ["admin"], user_id=admin.id, raw_key=settings.init_api_key
        )
        set_meta(session, "bootstrapped_at", utcnow().isoformat())
    result = BootstrapResult(
        admin_email=admin.email,
        admin_password=None if settings.init_admin_password else password,
        project=project.name,
        api_key=None if settings.init_api_key else raw_key,
        credentials_file=None,
    )
    if result.admin_password or result.api_key:
        result.credentials_file = write_credentials(settings, result)
    return result


def write_credentials(settings: Settings, result: BootstrapResult) -> Path:
    """Generated secrets go to a 0600 file in the data dir, in env-file form (source it to use the SDK/CLI)."""
    path = settings.home / CREDENTIALS_FILE
    lines = [
        "# Stackwright first-start credentials. Shown once; keep this file secret or delete it.",
        f"STACKWRIGHT_BASE_URL=http://{settings.host}:{settings.port}",
        f"STACKWRIGHT_ADMIN_EMAIL={result.admin_email}",
        f"STACKWRIGHT_PROJECT={result.project}",
    ]
    if result.admin_password:
        lines.append(f"STACKWRIGHT_ADMIN_PASSWORD={result.admin_password}")
    if result.api_key:
        lines.append(f"STACKWRIGHT_API_KEY={result.api_key}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path
