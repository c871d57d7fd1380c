"""Migrations on SQLite and Postgres: empty -> head, round trip, models == migrations, concurrent upgrades."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from stackwright.core import migrate
from stackwright.core.config import Settings
from stackwright.core.db import Database
from stackwright.core.errors import ConfigError, InvalidInput
from stackwright.core.layers import target_metadata
from stackwright.core.runtime import open_database
from stackwright.retrieval.index_schema import FTS_TABLE, FTS_VOCAB_TABLE, include_object
from tests.e2e.serverproc import clean_env, run

AUTH_TABLES = {"instance_meta", "projects", "users", "memberships", "api_keys", "audit_log"}
GATEWAY_TABLES = {"gateway_configs", "gateway_secrets", "gateway_cache", "gateway_limits", "gateway_counters"}
TABLES = AUTH_TABLES | {"spans", "traces", "scores", "trace_settings"} | GATEWAY_TABLES | {"prompts", "prompt_versions", "prompt_labels", "prompt_label_history"}
TABLES |= {"releases", "release_history", "alerts"}
TABLES |= {"collections", "retrieval_documents", "retrieval_document_acl", "retrieval_chunks"}
TABLES |= {"datasets", "dataset_versions", "dataset_items", "dataset_version_items"}
TABLES |= {"eval_runs", "eval_case_results", "eval_online_rules"}
TABLES |= {"jobs", "job_logs", "job_schedules"}
TABLES |= {"guardrail_policies"}
TABLES |= {"invitations"}
TABLES |= {"web_sessions", "sign_in_failures"}
MIGRATIONS = Path(migrate.__file__).resolve().parents[1] / "migrations" / "versions"


def test_tables_lists_every_table_the_migrations_create():
    """TABLES is what the tests below expect at head: it must name every ``op.create_table`` of every migration."""
    import ast

    created: dict[str, set[str]] = {}
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py")):
        tree = ast.parse(path.read_text())
        upgrade = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade")
        created[path.name] = {
            call.args[0].value
            for call in ast.walk(upgrade)
            if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "create_table"
            and call.args and isinstance(call.args[0], ast.Constant)
        }  # fmt: skip
    assert len(created) >= 14 and "0001_auth_schema.py" in created
    assert set().union(*created.values()) == TABLES


def _db(tmp_path: Path, url: str) -> Database:
    settings = Settings(home=tmp_path / "home", database_url=url)
    (tmp_path / "home").mkdir(exist_ok=True)
    return Database(settings)


@pytest.fixture
def db(tmp_path, database_url):
    database = _db(tmp_path, database_url)
    yield database
    database.dispose()


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names()) - {"alembic_version"}
    return {name for name in names if include_object(None, name, "table", True, None)}  # not the FTS5 tables


def test_empty_to_head(db):
    assert migrate.current_revisions(db) == set() and not migrate.is_current(db)
    assert _tables(db) == set()
    migrate.upgrade(db)
    assert migrate.current_revisions(db) == migrate.head_revisions() and migrate.is_current(db)
    assert _tables(db) == TABLES
    migrate.upgrade(db)  # a second upgrade is a no-op
    assert migrate.is_current(db)


def test_step_by_step_upgrade_and_downgrade(db):
    migrate.upgrade(db, "0001")
    assert _tables(db) == AUTH_TABLES
    migrate.upgrade(db)
    assert _tables(db) == TABLES and migrate.is_current(db)
    migrate.downgrade(db, "0001")
    assert _tables(db) == AUTH_TABLES and migrate.current_revisions(db) == {"0001"}


def test_round_trip(db):
    migrate.upgrade(db)
    migrate.downgrade(db, "base")
    assert migrate.current_revisions(db) == set() and _tables(db) == set()
    migrate.upgrade(db)
    assert migrate.is_current(db) and _tables(db) == TABLES
    with db.engine.connect() as conn:  # the indexes came back too
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("audit_log")}
    assert "ix_audit_log_project_id_id" in indexes


@pytest.mark.filterwarnings("ignore:Did not recognize type 'vector'")  # pgvector's column, outside the models
def test_models_match_migrations(db):
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True, "include_object": include_object}
        context = MigrationContext.configure(conn, opts=opts)
        differences = compare_metadata(context, target_metadata())
    assert differences == []


def _retrieval_index_objects(db: Database) -> set[str]:
    """The keyword/vector index objects outside the models that exist now."""
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        if db.is_sqlite:
            return {name for name in inspector.get_table_names() if name.startswith(FTS_TABLE)}
        if not inspector.has_table("retrieval_chunks"):
            return set()
        columns = {c["name"] for c in inspector.get_columns("retrieval_chunks")} & {"search_tsv", "embedding_vec"}
        return columns | {ix["name"] for ix in inspector.get_indexes("retrieval_chunks") if ix["name"] == "ix_retrieval_chunks_search_tsv"}


@pytest.mark.filterwarnings("ignore:Did not recognize type 'vector'")
def test_retrieval_index_objects_come_and_go_with_0008(db):
    migrate.upgrade(db, "0007")
    assert _retrieval_index_objects(db) == set()
    migrate.upgrade(db, "0008")
    expected = {FTS_TABLE} if db.is_sqlite else {"search_tsv", "embedding_vec", "ix_retrieval_chunks_search_tsv"}
    assert expected <= _retrieval_index_objects(db)
    assert FTS_VOCAB_TABLE not in _retrieval_index_objects(db)
    assert include_object(None, FTS_TABLE, "table", True, None) is False and include_object(None, "spans", "table", True, None)
    assert include_object(None, FTS_VOCAB_TABLE, "table", True, None) is False
    migrate.upgrade(db)  # 0014 adds the keyword accelerator's fts5vocab table on SQLite
    assert (FTS_VOCAB_TABLE in _retrieval_index_objects(db)) is db.is_sqlite
    migrate.downgrade(db, "0013")
    assert FTS_VOCAB_TABLE not in _retrieval_index_objects(db) and expected <= _retrieval_index_objects(db)
    migrate.downgrade(db, "0007")
    assert _retrieval_index_objects(db) == set() and "retrieval_chunks" not in _tables(db)


def test_a_vocab_table_made_at_run_time_goes_with_0008(db):
    """Before 0014 a search made the fts5vocab table itself; going below 0008 still removes everything."""
    migrate.upgrade(db, "0013")
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {FTS_VOCAB_TABLE} USING fts5vocab('{FTS_TABLE}', 'row')")
    migrate.upgrade(db)  # 0014 keeps a table that is already there
    migrate.downgrade(db, "0007")
    assert _retrieval_index_objects(db) == set()
    migrate.upgrade(db)
    assert migrate.is_current(db) and _tables(db) == TABLES


def test_unknown_revision_is_invalid_input(db):
    with pytest.raises(InvalidInput, match="'nope'"):
        migrate.upgrade(db, "nope")
    assert migrate.current_revisions(db) == set()


def test_open_database_without_migrate_on_start(tmp_path, database_url):
    settings = Settings(home=tmp_path / "home", database_url=database_url, migrate_on_start=False)
    with pytest.raises(ConfigError, match="stackwright db upgrade"):
        open_database(settings)
    db = open_database(settings, migrate_now=True)
    try:
        assert migrate.is_current(db)
        assert open_database(settings).url == db.url  # now current: opens without migrating
    finally:
        db.dispose()


def _upgrade_in_threads(tmp_path: Path, url: str, count: int) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        database = _db(tmp_path, url)  # one engine per thread, like one per process
        try:
            barrier.wait()
            migrate.upgrade(database)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an upgrade never finished"
    return errors


def test_concurrent_upgrades_from_threads(tmp_path, database_url):
    assert _upgrade_in_threads(tmp_path, database_url, 4) == []
    db = _db(tmp_path, database_url)
    try:
        assert migrate.is_current(db) and _tables(db) == TABLES
    finally:
        db.dispose()


def test_concurrent_upgrades_from_processes_on_postgres(tmp_path, new_postgres_db):
    import subprocess

    from tests.e2e.serverproc import executable

    env = clean_env(home=tmp_path / "home", database_url=new_postgres_db)
    procs = [
        subprocess.Popen([executable(), "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    current = run(["db", "current", "--json"], env)
    assert '"up_to_date": true' in current.stdout


def test_sqlite_file_in_a_missing_folder_says_what_to_fix(tmp_path):
    from stackwright.core.errors import DatabaseUnavailable

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(DatabaseUnavailable) as info:
        open_database(settings)
    assert "SQLite file's folder exists" in info.value.message and str(tmp_path / "missing") in info.value.message
