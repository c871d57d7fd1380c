"""Signing in to the web UI: password checks with rate limits, and server-side browser sessions.

A session is a row of ``web_sessions`` found by the SHA-256 of the cookie's random token (the token itself is
never stored), so every replica accepts it. It carries the CSRF token its forms must send back and the
project the browser is looking at. Failed sign-ins are rows too, counted per account and per address over a
window, so replicas share the limit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stackwright.auth.models import Membership, Project, SignInFailure, User, WebSession
from stackwright.auth.security import hash_api_key, hash_password, verify_password
from stackwright.core.clock import as_utc, new_id, utcnow
from stackwright.core.db import Database
from stackwright.core.errors import NotFound, StackwrightError

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 50
TOUCH_EVERY = timedelta(seconds=60)  # least time between writes of a session's last-seen time


class TooManySignIns(StackwrightError):
    status = 429
    code = "too_many_sign_ins"


@dataclass(frozen=True)
class ProjectRole:
    project_id: str
    name: str
    role: str


def limits_text() -> str:
    minutes = int(FAILURE_WINDOW.total_seconds() // 60)
    return (f"at most {MAX_FAILURES_PER_ACCOUNT} failed sign-ins per account and {MAX_FAILURES_PER_ADDRESS} per address "
            f"in {minutes} minutes")  # fmt: skip


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """Checked when the email has no account, so an unknown email takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def _check_limits(session: Session, email: str, address: str) -> None:
    since = utcnow() - FAILURE_WINDOW
    count = select(func.count()).select_from(SignInFailure).where(SignInFailure.created_at >= since)
    by_account = session.scalar(count.where(SignInFailure.email == email)) or 0
    by_address = session.scalar(count.where(SignInFailure.address == address)) or 0
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        raise TooManySignIns(
            f"Too many failed sign-ins: the limit is {limits_text()}.",
            hint="Wait a few minutes and try again, or ask an admin to reset the password (`stackwright users`).",
        )


def sign_in(db: Database, email: str, password: str, address: str) -> tuple[str, WebSession] | None:
    """A new session's token and row if the password is right; None (the failure recorded) if it is not.
    TooManySignIns when the account or the address is over its limit. The argon2 check holds no lock."""
    email, address = email.strip().lower()[:320], address[:64]
    with db.read() as session:
        _check_limits(session, email, address)
        user = session.scalar(select(User).where(User.email == email))
    if not verify_password(user.password_hash if user else _decoy_hash(), password) or user is None:
        with db.write() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.created_at < utcnow() - FAILURE_WINDOW))
            session.add(SignInFailure(email=email, address=address, created_at=utcnow()))
        return None
    token = secrets.token_urlsafe(32)
    with db.write() as session:
        projects = projects_of(session, user.id)
        now = utcnow()
        row = WebSession(
            id=new_id("wss"), token_hash=hash_api_key(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
            project_id=projects[0].project_id if projects else None, created_at=now, last_seen_at=now,
        )  # fmt: skip
        session.add(row)
    return token, row


def find_session(db: Database, token: str | None, idle: timedelta) -> tuple[WebSession | None, bool]:
    """The live session of a cookie's token and whether a session was found but had expired (then it is deleted)."""
    if not token or len(token) > 200:
        return None, False
    token_hash = hash_api_key(token)
    with db.read() as session:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash))
    if row is None:
        return None, False
    now = utcnow()
    idle_for = now - (as_utc(row.last_seen_at) or now)
    if idle_for > idle:
        with db.write() as session:
            session.execute(delete(WebSession).where(WebSession.id == row.id))
        return None, True
    if idle_for >= TOUCH_EVERY:
        with db.write() as session:
            session.execute(WebSession.__table__.update().where(WebSession.id == row.id).values(last_seen_at=now))
    return row, False


def end_session(db: Database, session_id: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.id == session_id))


def projects_of(session: Session, user_id: str) -> list[ProjectRole]:
    """The projects a user is a member of, oldest first, with their role in each."""
    query = (
        select(Project.id, Project.name, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user_id)
        .order_by(Project.created_at, Project.name)
    )
    return [ProjectRole(pid, name, role) for pid, name, role in session.execute(query)]


def switch_project(db: Database, session_id: str, user_id: str, project_id: str) -> None:
    """Point a session at another project of its user's (NotFound if the user is not a member)."""
    with db.write() as session:
        if session.get(Membership, (project_id, user_id)) is None:
            raise NotFound(f"No project {project_id[:40]!r} among yours.", hint="Pick one of the projects in the switcher.")
        session.execute(WebSession.__table__.update().where(WebSession.id == session_id).values(project_id=project_id))
