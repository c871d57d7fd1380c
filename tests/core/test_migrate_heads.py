"""The fast head-revision reader agrees with Alembic, and a start on a current database skips Alembic."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from stackwright.core import migrate, runtime
from stackwright.core.config import Settings


def test_head_revisions_match_alembic():
    script = ScriptDirectory.from_config(migrate._alembic_config())
    assert migrate.head_revisions() == set(script.get_heads())
    assert len(migrate.head_revisions()) == 1


def test_open_database_on_current_schema_does_not_upgrade(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")
    db = runtime.open_database(settings)  # a new database: migrated
    assert migrate.is_current(db)
    db.dispose()
    calls: list[str] = []
    monkeypatch.setattr(migrate, "upgrade", lambda db, revision="head": calls.append(revision))
    db = runtime.open_database(settings)
    try:
        assert calls == [] and migrate.is_current(db)
    finally:
        db.dispose()


def test_current_revisions_of_an_empty_database(tmp_path):
    settings = Settings(home=tmp_path / "home")
    db = runtime.connect(settings)
    try:
        assert migrate.current_revisions(db) == set() and not migrate.is_current(db)
    finally:
        db.dispose()
