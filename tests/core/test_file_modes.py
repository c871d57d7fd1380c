"""The data dir is 0700 and the SQLite files 0600 (created so, or tightened on start when ours); the
credentials file stays 0600. Paths of another user, and shared sticky folders, are left alone."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from stackwright.auth.bootstrap import CREDENTIALS_FILE
from stackwright.core.config import Settings
from stackwright.server.startup import prepare


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_data_dir_and_its_files_are_private(tmp_path, database_url, backend):
    old_umask = os.umask(0o022)  # the usual umask: what made them 0755 / 0644 before
    try:
        settings = Settings(home=tmp_path / "home", database_url=database_url)  # generated credentials: the file is written
        db, result = prepare(settings)
    finally:
        os.umask(old_umask)
    try:
        assert result is not None and result.credentials_file == settings.home / CREDENTIALS_FILE
        assert mode(settings.home) == 0o700
        assert mode(settings.home / CREDENTIALS_FILE) == 0o600
        if backend == "sqlite":
            with db.engine.connect():  # a connection keeps the -wal and -shm files
                files = [settings.home / f"stackwright.db{suffix}" for suffix in ("", "-wal", "-shm", ".migrate.lock")]
                assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert not [p for p in settings.home.iterdir() if mode(p) & 0o077]
    finally:
        db.dispose()


def test_an_existing_loose_data_dir_and_database_are_tightened_on_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    path = home / "stackwright.db"
    with sqlite3.connect(path) as conn:  # as an older version left it: WAL, files 0644
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE leftover (x)")
        for made in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            os.chmod(made, 0o644)
        db, _ = prepare(Settings(home=home))
        try:
            assert mode(home) == 0o700
            assert {p.name: mode(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))} == {
                "stackwright.db": 0o600, "stackwright.db-wal": 0o600, "stackwright.db-shm": 0o600
            }
        finally:
            db.dispose()


def test_a_shared_sticky_folder_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    db, _ = prepare(Settings(home=shared))
    try:
        assert mode(shared) == 0o1777
        assert mode(shared / "stackwright.db") == 0o600  # the files Stackwright makes are private all the same
    finally:
        db.dispose()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_data_dir_of_another_user_is_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)
    os.chown(home, 65534, 65534)
    db, _ = prepare(Settings(home=home))
    try:
        assert mode(home) == 0o755 and os.stat(home).st_uid == 65534
    finally:
        db.dispose()
