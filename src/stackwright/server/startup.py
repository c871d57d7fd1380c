"""Everything a server process does before it accepts requests."""

from __future__ import annotations

from pathlib import Path

from stackwright.auth.bootstrap import BootstrapResult, PasswordHashing, bootstrap
from stackwright.core import migrate
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.runtime import open_database


def prepare(settings: Settings, *, migrate_now: bool | None = None) -> tuple[Database, BootstrapResult | None]:
    """Check the data dir, reach the database, migrate, and run the first-start bootstrap once.

    The bootstrap runs under the migration lock, so replicas starting together create one admin, not several.
    """
    # A new SQLite file means a first start: hash the admin's password while the migrations run.
    hashing = PasswordHashing(settings) if settings.is_sqlite and not _sqlite_file(settings).exists() else None
    db = open_database(settings, migrate_now=migrate_now)
    with migrate.migration_lock(db):
        return db, bootstrap(db, settings, hashing)


def _sqlite_file(settings: Settings) -> Path:
    return Path(settings.db_url.removeprefix("sqlite:///"))
