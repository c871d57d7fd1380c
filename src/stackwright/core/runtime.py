"""Opening the store for a process: check the data dir, reach the database, apply migrations."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stackwright.core import migrate
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.errors import ConfigError
from stackwright.core.files import private_dir


def ensure_home(settings: Settings) -> Path:
    """Create the data dir (0700; an existing one of ours is tightened) and prove it is writable, or say how to fix it."""
    home = settings.home
    try:
        private_dir(home)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=home)  # unique: threads share a pid
        os.write(fd, b"ok")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"The data dir {home} is not writable ({exc.strerror or exc}).",
            hint="Set STACKWRIGHT_HOME to a folder you can write, or fix its permissions.",
        ) from None
    return home


def connect(settings: Settings) -> Database:
    """A Database that is reachable, whatever its schema (for `stackwright db ...`)."""
    ensure_home(settings)
    db = Database(settings)
    db.check_connection()
    return db


def open_database(settings: Settings, *, migrate_now: bool | None = None) -> Database:
    """A Database that is reachable and at the current schema (migrated if allowed)."""
    db = connect(settings)
    if migrate_now if migrate_now is not None else settings.migrate_on_start:
        if not migrate.is_current(db):  # a current schema needs no lock and no Alembic import
            migrate.upgrade(db)
    elif not migrate.is_current(db):
        raise ConfigError(
            "The database schema is not current.",
            hint="Run `stackwright db upgrade` (or set STACKWRIGHT_MIGRATE_ON_START=true).",
        )
    return db
