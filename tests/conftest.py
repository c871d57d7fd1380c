"""Fixtures shared by the whole suite. Database tests run on SQLite and on Postgres.

Postgres comes from scripts/postgres.sh (run by `make test`), which exports STACKWRIGHT_TEST_POSTGRES_URL.
Without it the Postgres variants are skipped locally, and fail under CI=true: they must never skip there.
"""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackwright.core.config import Settings
from stackwright.core.db import Database

PG_URL_ENV = "STACKWRIGHT_TEST_POSTGRES_URL"
TEST_API_KEY = "sw-test-admin-key-0123456789abcdef"
TEST_ADMIN_EMAIL = "admin@example.com"
TEST_ADMIN_PASSWORD = "correct horse battery"

for _name in [n for n in os.environ if n.startswith("STACKWRIGHT_") and not n.startswith("STACKWRIGHT_TEST_")]:
    os.environ.pop(_name)  # a developer's own settings must not leak into tests (the suite's own STACKWRIGHT_TEST_* stay)


def pytest_configure(config: pytest.Config) -> None:
    # Runs after pytest's last garbage collection (which reports unraisable exceptions): what is left is
    # frozen, so the interpreter's own collections at exit skip it instead of walking the whole heap of a
    # long run, seconds after the summary was printed.
    config.add_cleanup(gc.freeze)


def postgres_admin_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_URL_ENV} is not set under CI=true: run the suite with `make test`.")
        pytest.skip(f"Postgres tests need {PG_URL_ENV} (run `make test`, which starts Postgres).")
    return url


def _pg_execute(admin_url: str, sql: str) -> None:
    import psycopg

    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def new_postgres_db() -> Iterator[str]:
    """A fresh, empty Postgres database; dropped afterwards."""
    admin_url = postgres_admin_url()
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    _pg_execute(admin_url, f"CREATE DATABASE {name}")
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    _pg_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the parametrized backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'stackwright.db'}"
    return request.getfixturevalue("new_postgres_db")


def standard_settings(home: Path, database_url: str) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        init_api_key=TEST_API_KEY,
        init_admin_email=TEST_ADMIN_EMAIL,
        init_admin_password=TEST_ADMIN_PASSWORD,
        log_format="text",
        egress_allow=("127.0.0.1",),  # fake upstreams listen on loopback: allowed as an operator would
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return standard_settings(tmp_path / "home", database_url)


@pytest.fixture
def prepared(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """Data dir made, schema migrated, first-start bootstrap done. With the suite's standard settings the
    database starts as a copy of one prepared once per test process (migrating and hashing the admin's
    password for every test was a good part of the suite's time); ``prepare`` then finds it up to date."""
    from stackwright.server.startup import prepare

    if _is_standard(settings):
        _copy_template(settings, tmp_path_factory)
    db, _ = prepare(settings)
    yield db
    db.dispose()


_STANDARD_FIELDS = {"home", "database_url"}
_templates: dict[str, str] = {}  # backend -> a prepared SQLite file, or a prepared Postgres database's name


def _is_standard(settings: Settings) -> bool:
    standard = standard_settings(settings.home, settings.database_url)
    return settings.model_dump(exclude=_STANDARD_FIELDS) == standard.model_dump(exclude=_STANDARD_FIELDS)


def _copy_template(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    from stackwright.server.startup import prepare

    backend = "sqlite" if settings.is_sqlite else "postgres"
    if backend not in _templates:
        home = tmp_path_factory.mktemp("template") / "home"
        if backend == "sqlite":
            url = f"sqlite:///{home / 'stackwright.db'}"
        else:
            name = f"sw_template_{uuid.uuid4().hex[:12]}"
            _pg_execute(postgres_admin_url(), f"CREATE DATABASE {name}")
            url = postgres_admin_url().rsplit("/", 1)[0] + f"/{name}"
        db, _ = prepare(standard_settings(home, url))
        db.dispose()
        if backend == "sqlite":
            import sqlite3

            with sqlite3.connect(home / "stackwright.db") as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole database in the one file copied
            _templates[backend] = str(home / "stackwright.db")
        else:
            _templates[backend] = name
    if backend == "sqlite":
        import shutil

        target = Path(settings.db_url.removeprefix("sqlite:///"))
        if target.exists():
            return  # a fixture of the test made it already (and may hold it open): it stays as it is
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(_templates[backend], target)
        target.chmod(0o600)
    else:
        import psycopg

        name = settings.db_url.rsplit("/", 1)[1]
        try:
            _pg_execute(postgres_admin_url(), f"DROP DATABASE {name}")
        except psycopg.errors.ObjectInUse:
            return  # a fixture of the test is connected already: it keeps its empty database, prepared in full
        _pg_execute(postgres_admin_url(), f"CREATE DATABASE {name} TEMPLATE {_templates[backend]} STRATEGY FILE_COPY")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "postgres" in _templates:
        _pg_execute(postgres_admin_url(), f"DROP DATABASE IF EXISTS {_templates.pop('postgres')} WITH (FORCE)")


@pytest.fixture
def app(settings: Settings, prepared: Database):
    from stackwright.server.app import create_app

    app = create_app(settings, prepared)
    yield app
    app.state.limits.close()  # in-process tests never run the lifespan that would stop its thread
    asyncio.run(app.state.span_writer.close())  # nor its span writer's: a live writer thread keeps the whole app alive


@pytest.fixture
def anon(app) -> Iterator[httpx.Client]:
    """An httpx client driving the app in process, without credentials."""
    from stackwright.sdk.transport import InProcessTransport

    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test") as client:
        yield client


@pytest.fixture
def api(app) -> Iterator[httpx.Client]:
    """An httpx client driving the app in process with the bootstrapped admin key."""
    from stackwright.sdk.transport import InProcessTransport

    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with httpx.Client(transport=InProcessTransport(app), base_url="http://stackwright.test", headers=headers) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is the one error shape with this status (and code); returns the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
