"""Alembic migrations, applied programmatically: on start, by `stackwright db upgrade`, and in tests.

Several processes may start at once on one database, so upgrades run under a lock: a Postgres
advisory lock, or an exclusive file lock next to the SQLite file.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from stackwright.core.db import Database
from stackwright.core.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_PG_LOCK_KEY = 0x5357_4D49  # "SWMI"


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*(None|['\"]([^'\"]+)['\"])", re.MULTILINE)


@cache
def head_revisions() -> frozenset[str]:
    """The revisions the code expects the database to be at: read from the revision files' ``revision``
    and ``down_revision`` lines, without importing Alembic (a start on a current database stays fast)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for field, _, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if field == "revision" else parents).add(value)
    return frozenset(revisions - parents)


def current_revisions(db: Database) -> set[str]:
    """The revisions the database is at (empty for a new database)."""
    from sqlalchemy import inspect

    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def is_current(db: Database) -> bool:
    return current_revisions(db) == head_revisions()


@contextmanager
def migration_lock(db: Database) -> Iterator[Connection]:
    """A connection holding the cross-process migration lock."""
    if db.is_sqlite:
        lock_path = Path(db.url.removeprefix("sqlite:///") + ".migrate.lock")
        with open(lock_path, "a+", opener=lambda path, flags: os.open(path, flags, 0o600)) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                with db.engine.connect() as conn:
                    yield conn
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.commit()
        try:
            yield conn
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()


@contextmanager
def _revision_errors(revision: str) -> Iterator[None]:
    """Alembic's errors for a bad target revision, as an InvalidInput the CLI can print."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise InvalidInput(
            f"Cannot migrate to revision {revision!r}: {exc}.",
            hint=f"Use 'head', 'base' or a known revision ({', '.join(sorted(head_revisions()))} is the head).",
        ) from None


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (default: head)."""
    from alembic import command

    with migration_lock(db) as conn, _revision_errors(revision):
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()


def downgrade(db: Database, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` empties the schema)."""
    from alembic import command

    with migration_lock(db) as conn, _revision_errors(revision):
        command.downgrade(_alembic_config(conn), revision)
        conn.commit()
