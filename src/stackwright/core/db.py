"""The database: one engine per process, SQLite tuned for one writer path, Postgres for replicas."""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Table, TypeDecorator, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from stackwright.core.config import Settings
from stackwright.core.errors import DatabaseUnavailable
from stackwright.core.files import private_sqlite_files

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_JSON_DDL = "JSON_TEXT"


class SQLiteJSONText(sqlite.JSON):
    """JSON on SQLite in a column declared ``JSON_TEXT``, which SQLite gives TEXT affinity.

    A column declared ``JSON`` has NUMERIC affinity: SQLite turned a stored top-level number (the JSON text
    ``5`` or ``1e-300``) into an INTEGER or REAL, rounding some of them and leaving a value that is no longer
    JSON text. With TEXT affinity every JSON value (number, string, boolean, null, array, object) is kept
    exactly as written. Migration 0017 converts databases made before this type.
    """


@compiles(SQLiteJSONText, "sqlite")
def _sqlite_json_ddl(_type: SQLiteJSONText, _compiler: Any, **_kw: Any) -> str:
    return SQLITE_JSON_DDL


# Portable column types: JSONB on Postgres, JSON text elsewhere; BIGINT ids that autoincrement on SQLite too.
JSONType = JSON().with_variant(JSONB(), "postgresql").with_variant(SQLiteJSONText(), "sqlite")
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores timezone-aware UTC datetimes; SQLite hands back naive values, which are read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime; use stackwright.core.clock.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base for every layer's tables."""

    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # Every model names its table (__tablename__), so it maps a Table; SQLAlchemy types this as any FromClause.
        __table__: ClassVar[Table]


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: Session.execute returns a CursorResult for them, typed as a plain Result."""
    return cast(CursorResult[Any], result).rowcount


def plain_rows(result: Result[Any]) -> Iterable[tuple[Any, ...]]:
    """A result's rows to unpack (``for a, b in plain_rows(...)``) where SQLAlchemy cannot tell the columns' types
    (text() queries, Table columns): each row is a tuple as far as mypy knows, as it is at run time."""
    return cast("Iterable[tuple[Any, ...]]", result)


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _enable_wal(cursor: Any, attempts: int = 100) -> None:
    """Switch to WAL (persistent in the file). Converting a new file can answer "locked" at once, without
    waiting on busy_timeout, while another connection creates the schema: retry briefly."""
    import sqlite3
    import time

    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA wal_autocheckpoint=10000")  # fewer, larger checkpoints: bulk span ingest
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (BEGIN IMMEDIATE) so busy_timeout applies instead of a deadlock
        # on lock upgrade; readers use a plain deferred BEGIN and never block under WAL.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class WriterLock:
    """An exclusive lock across threads and processes (flock on a file), re-entrant within a thread."""

    def __init__(self, path: str | None):
        self.path = path
        self._local = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        with self._local:
            if self._depth == 0:
                fcntl.flock(self._file(self.path), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._file(self.path), fcntl.LOCK_UN)

    def _file(self, path: str) -> int:
        if self._fd is None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd


class Database:
    """Owns the engine and hands out read and write sessions."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.db_url
        self.is_sqlite = settings.is_sqlite
        self._engine: Engine | None = None
        self._factories: tuple[sessionmaker[Session], sessionmaker[Session]] | None = None
        self._dedicated: sessionmaker[Session] | None = None
        self._write_lock = WriterLock(self.url.removeprefix("sqlite:///") + ".write.lock" if self.is_sqlite else None)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self, **pool: Any) -> Engine:
        json_options = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            private_sqlite_files(self.url.removeprefix("sqlite:///"))  # 0600, before SQLite creates the file 0644
            engine = create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30}, **pool, **json_options
            )
            _tune_sqlite(engine, self.settings.sqlite_busy_timeout_ms)
            # Reflection (alembic's model comparison) reads a JSON_TEXT column back as JSON, not as plain TEXT.
            dialect = cast(SQLiteDialect, engine.dialect)
            dialect.ischema_names = {**dialect.ischema_names, SQLITE_JSON_DDL: SQLiteJSONText}
            return engine
        return create_engine(
            self.url,
            pool_size=self.settings.db_pool_size,
            max_overflow=self.settings.db_pool_size,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5, "application_name": "stackwright"},
            **json_options,
        )

    def _sessions(self, *, write: bool) -> sessionmaker[Session]:
        """The session factory for reads or writes, made once (this runs on every request)."""
        if self._factories is None:
            self._factories = (
                sessionmaker(self.engine, expire_on_commit=False),
                sessionmaker(self._writer, expire_on_commit=False),
            )
        return self._factories[1 if write else 0]

    @property
    def _writer(self) -> Engine:
        return self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closing it ends the transaction and leaves loaded objects usable."""
        with self._sessions(write=False)() as session:
            yield session

    def _dedicated_sessions(self) -> sessionmaker[Session]:
        """Sessions on one SQLite connection of their own, for a single thread that writes all the time
        (the span writer): its large prepared statements then live in one connection's statement cache,
        not in every pooled connection's, so a busy server's memory stays flat."""
        if not self.is_sqlite:
            return self._sessions(write=True)
        if self._dedicated is None:
            engine = self._create_engine(pool_size=1, max_overflow=0)
            self._dedicated = sessionmaker(engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        return self._dedicated

    @contextmanager
    def write(self, *, dedicated: bool = False) -> Iterator[Session]:
        """A session for changes: committed if the block succeeds, rolled back (no partial rows) if not.

        On SQLite, writers of every process on the file queue on one file lock first: a waiting writer
        wakes the moment the lock is free, instead of sleeping in SQLite's busy-handler back-off.
        ``dedicated=True`` (one thread only, never nested) writes on a connection kept for that thread.
        """
        factory = self._dedicated_sessions() if dedicated else self._sessions(write=True)
        with self._write_lock.hold(), factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def session(self, *, write: bool) -> Session:
        """A bare session (the caller commits); used by the request dependency."""
        return self._sessions(write=write)()

    def check_connection(self) -> None:
        """Raise DatabaseUnavailable with a fix-it message if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            hint = (
                "Check STACKWRIGHT_DATABASE_URL and that the SQLite file's folder exists and is writable."
                if self.is_sqlite
                else "Check STACKWRIGHT_DATABASE_URL and that the database server is running and accepts connections."
            )
            raise DatabaseUnavailable(f"Cannot reach the database at {redact_url(self.url)}: {reason}.", hint=hint) from None

    def dispose(self) -> None:
        if self._dedicated is not None:
            self._dedicated.kw["bind"].engine.dispose()
            self._dedicated = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._factories = None
