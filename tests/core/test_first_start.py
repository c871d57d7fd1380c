"""First start: STACKWRIGHT_INIT_* honoured, or credentials generated, printed once and saved 0600; later starts
create nothing. Runs on SQLite and Postgres."""

from __future__ import annotations

import os
import stat
import threading

from stackwright.auth.bootstrap import CREDENTIALS_FILE, DEFAULT_ADMIN_EMAIL
from stackwright.auth.keys import authenticate
from stackwright.auth.models import ApiKey, AuditEntry, Membership, Project, User
from stackwright.auth.security import verify_password
from stackwright.core.config import Settings
from stackwright.server.startup import prepare
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_API_KEY
from tests.e2e.serverproc import read_env_file


def _counts(db) -> dict[str, int]:
    from sqlalchemy import func, select

    with db.read() as session:
        return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in (Project, User, Membership, ApiKey, AuditEntry)}


def test_init_settings_are_honoured(settings):
    settings = settings.model_copy(update={"init_project": "acme"})
    db, result = prepare(settings)
    try:
        assert result is not None
        assert (result.admin_email, result.project) == (TEST_ADMIN_EMAIL, "acme")
        assert result.admin_password is None and result.api_key is None  # given, so never repeated
        assert result.credentials_file is None and not (settings.home / CREDENTIALS_FILE).exists()
        with db.read() as session:
            key, project = authenticate(session, f"Bearer {TEST_API_KEY}")
            assert project.name == "acme" and key.scopes == ["admin"]
            admin = session.get(User, key.user_id)
            assert admin.email == TEST_ADMIN_EMAIL and admin.is_admin
            assert verify_password(admin.password_hash, TEST_ADMIN_PASSWORD)
            assert session.get(Membership, (project.id, admin.id)).role == "owner"
        assert _counts(db) == {"Project": 1, "User": 1, "Membership": 1, "ApiKey": 1, "AuditEntry": 4}
    finally:
        db.dispose()


def test_generated_credentials_are_saved_once(tmp_path, database_url):
    settings = Settings(home=tmp_path / "home", database_url=database_url, port=8765)
    db, result = prepare(settings)
    try:
        assert result is not None and result.admin_email == DEFAULT_ADMIN_EMAIL
        assert result.admin_password and result.api_key and result.project == "default"
        path = settings.home / CREDENTIALS_FILE
        assert result.credentials_file == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        values = read_env_file(path)
        assert values == {
            "STACKWRIGHT_BASE_URL": "http://127.0.0.1:8765",
            "STACKWRIGHT_ADMIN_EMAIL": DEFAULT_ADMIN_EMAIL,
            "STACKWRIGHT_PROJECT": "default",
            "STACKWRIGHT_ADMIN_PASSWORD": result.admin_password,
            "STACKWRIGHT_API_KEY": result.api_key,
        }
        with db.read() as session:
            key, project = authenticate(session, f"Bearer {result.api_key}")
            assert project.name == "default"
            assert verify_password(session.get(User, key.user_id).password_hash, result.admin_password)
        before, content = _counts(db), path.read_text()
    finally:
        db.dispose()

    db, again = prepare(settings)  # second start
    try:
        assert again is None
        assert _counts(db) == before and path.read_text() == content
    finally:
        db.dispose()


def test_a_second_start_ignores_changed_init_settings(settings):
    db, _ = prepare(settings)
    db.dispose()
    changed = settings.model_copy(update={"init_project": "other", "init_api_key": "sw-another-key-0123456789abcdef"})
    db, result = prepare(changed)
    try:
        assert result is None
        with db.read() as session:
            assert [p.name for p in session.query(Project)] == ["default"]
    finally:
        db.dispose()


def test_partly_given_credentials_save_only_the_generated_ones(tmp_path, database_url):
    settings = Settings(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY)
    db, result = prepare(settings)
    db.dispose()
    assert result.api_key is None and result.admin_password
    values = read_env_file(settings.home / CREDENTIALS_FILE)
    assert "STACKWRIGHT_API_KEY" not in values and values["STACKWRIGHT_ADMIN_PASSWORD"] == result.admin_password


def test_concurrent_first_starts_bootstrap_once(tmp_path, database_url):
    """Replicas starting together: one admin, one project, one key, whatever the interleaving."""
    count = 4
    barrier = threading.Barrier(count)
    results, errors = [], []

    def start(i: int) -> None:
        settings = Settings(home=tmp_path / "home", database_url=database_url, init_api_key=TEST_API_KEY)
        try:
            barrier.wait()
            db, result = prepare(settings)
            results.append(result)
            db.dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(results) == count
    assert sum(r is not None for r in results) == 1
    db, _ = prepare(Settings(home=tmp_path / "home", database_url=database_url))
    try:
        assert _counts(db)["User"] == 1 and _counts(db)["ApiKey"] == 1
    finally:
        db.dispose()
