"""Passwords: the length rule, a user changing their own, and an instance admin (or the operator's CLI) setting
another user's. Either way only an argon2 hash is stored, the change is audited, and the user's other browser
sessions end (a changed password signs out whoever else was using the old one)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.auth.models import User, WebSession
from stackwright.auth.security import hash_password, verify_password
from stackwright.core.errors import Forbidden, InvalidInput, NotFound

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def check_new_password(password: str, field: str = "new_password") -> str:
    """``field`` names the form field a page shows the message beside (in the error's details)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.", details={"field": field})
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password is too long: use at most {MAX_PASSWORD_LENGTH} characters.", details={"field": field})
    return password


def change_own_password(
    session: Session, actor: Actor, user_id: str, current: str, new: str, *, keep_session_id: str | None = None
) -> User:
    """The signed-in user's own change: the current password must be right. Their sessions other than
    ``keep_session_id`` (the browser asking) end."""
    user = session.get(User, user_id)
    if user is None or actor.user_id != user_id:
        raise Forbidden("You can change only your own password here.")
    if not verify_password(user.password_hash, current):
        raise InvalidInput("The current password is not right.", details={"field": "current_password"})
    check_new_password(new)
    if new == current:
        raise InvalidInput("The new password is the same as the current one.", details={"field": "new_password"})
    return _store(session, actor, user, new, "user.password_change", keep_session_id)


def may_set_passwords(session: Session, actor: Actor) -> bool:
    """Instance admins, and the operator (the CLI, the system: no key and no user) set other users' passwords."""
    if actor.user_id is None:
        return actor.key_id is None and actor.has_scope("admin")
    user = session.get(User, actor.user_id)
    return user is not None and user.is_admin


def set_password(session: Session, actor: Actor, ref: str, new: str) -> User:
    """Reset the password of the user with id or email ``ref``; all of that user's browser sessions end."""
    if not may_set_passwords(session, actor):
        raise Forbidden("Only an instance admin sets another user's password.", hint="Ask the operator: `stackwright users set-password EMAIL`.")
    user = session.get(User, ref) or session.scalar(select(User).where(User.email == ref.strip().lower()))
    if user is None:
        raise NotFound(f"No user {ref[:320]!r}.", hint="List users with `stackwright users list`.", details={"field": "email"})
    check_new_password(new)
    return _store(session, actor, user, new, "user.password_reset", None)


def _store(session: Session, actor: Actor, user: User, new: str, action: str, keep_session_id: str | None) -> User:
    user.password_hash = hash_password(new)
    ended = [WebSession.user_id == user.id] + ([WebSession.id != keep_session_id] if keep_session_id is not None else [])
    count = session.scalar(select(func.count()).select_from(WebSession).where(*ended)) or 0
    session.execute(delete(WebSession).where(*ended))
    session.flush()
    audit.record(session, actor, action, "user", user.id, project_id=actor.project_id, after={"email": user.email, "sessions_ended": count})
    return user
