"""Request dependencies every layer's router uses: settings, database, the request's session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from stackwright.core.config import Settings
from stackwright.core.db import Database

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Reads use a deferred transaction; changes take the write lock up front. Endpoints commit explicitly."""
    session = get_db(request).session(write=request.method not in _READ_METHODS)
    try:
        yield session
    finally:
        session.close()  # uncommitted work is rolled back; loaded objects stay readable


SessionDep = Annotated[Session, Depends(get_session)]
DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


