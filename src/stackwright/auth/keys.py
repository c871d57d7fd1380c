"""API keys: created per project, shown once, stored hashed, found by prefix, scoped, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import ROLE_SCOPE, Actor, scopes_within_role
from stackwright.auth.models import SCOPES, ApiKey, Membership, Project
from stackwright.auth.security import api_key_matches, generate_api_key, hash_api_key, key_prefix
from stackwright.core.clock import as_utc, new_id, utcnow
from stackwright.core.config import API_KEY_PATTERN
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated

_HOW_TO_GET_A_KEY = "Create one with `stackwright keys create --project NAME` and send it as `Authorization: Bearer sw-...`."


def check_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise InvalidInput("A key needs at least one scope.", hint=f"Use one or more of: {', '.join(SCOPES)}.")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(f"Unknown scope(s): {', '.join(map(str, unknown))}.", hint=f"Use: {', '.join(SCOPES)}.")
    return sorted(set(scopes), key=SCOPES.index)


def role_of(session: Session, project_id: str, user_id: str) -> str | None:
    return session.scalar(select(Membership.role).where(Membership.project_id == project_id, Membership.user_id == user_id))


def check_scopes_within_role(session: Session, project_id: str, user_id: str, scopes: list[str]) -> None:
    role = role_of(session, project_id, user_id)
    if scopes_within_role(scopes, role) != tuple(scopes):
        allowed = f"at most the {ROLE_SCOPE[role]!r} scope" if role else "no key"
        raise Forbidden(
            f"A key cannot do more than its user's role allows: the user is {f'a {role}' if role else 'not a member'} "
            f"of this project, which allows {allowed}.",
            hint="Ask for fewer scopes, or have an owner give the user a higher role first.",
        )


def create_key(
    session: Session,
    actor: Actor,
    project_id: str,
    name: str,
    scopes: list[str],
    *,
    user_id: str | None = None,
    expires_at: datetime | None = None,
    raw_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Returns the stored key and the raw secret, which is never retrievable again. A user's key never exceeds their role."""
    scopes = check_scopes(scopes)
    if user_id is not None:
        check_scopes_within_role(session, project_id, user_id, scopes)
    expires_at = as_utc(expires_at)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A key name must have 1 to 100 characters.", hint="Name it after its use, e.g. 'ci'.")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at is in the past.", hint="Give a future time, or none for a key that never expires.")
    if raw_key is not None and not API_KEY_PATTERN.match(raw_key):
        raise InvalidInput("The key is not of the form sw-<20+ letters, digits, - or _>.")
    raw = raw_key or generate_api_key()
    if session.scalar(select(ApiKey.id).where(ApiKey.prefix == key_prefix(raw))):
        if raw_key is not None:
            raise Conflict("A key with the same first 12 characters exists.", hint="Use another key value.")
        raw = generate_api_key()
    key = ApiKey(
        id=new_id("key"),
        project_id=project_id,
        user_id=user_id,
        name=name,
        prefix=key_prefix(raw),
        key_hash=hash_api_key(raw),
        scopes=scopes,
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(session, actor, "key.create", "api_key", key.id, project_id=project_id, after=audit.snapshot(key))
    return key, raw


def create_own_key(
    session: Session, actor: Actor, project_id: str, name: str, scopes: list[str], *, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """An admin creates a key of their own (the API's POST /keys, the web UI's key form); it never exceeds their role."""
    actor.require_scope("admin", "Creating API keys")
    return create_key(session, actor, project_id, name, scopes, user_id=actor.user_id, expires_at=expires_at)


def list_keys(session: Session, project_id: str, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def find_key(session: Session, ref: str, project_id: str | None = None) -> ApiKey:
    """A key by id or by prefix; with ``project_id``, keys of other projects are not found."""
    key = session.get(ApiKey, ref) or session.scalar(select(ApiKey).where(ApiKey.prefix == key_prefix(ref)))
    if key is None or (project_id is not None and key.project_id != project_id):
        raise NotFound(f"No API key {ref!r} in this project.", hint="List keys with `stackwright keys list --project NAME` or GET /api/v1/keys.")
    return key


def revoke_key(session: Session, actor: Actor, key: ApiKey) -> ApiKey:
    """Idempotent: revoking a revoked key changes nothing."""
    actor.require_scope("admin", "Revoking API keys")
    if key.revoked_at is not None:
        return key
    before = audit.snapshot(key)
    key.revoked_at = utcnow()
    session.flush()
    audit.record(
        session, actor, "key.revoke", "api_key", key.id, project_id=key.project_id, before=before, after=audit.snapshot(key)
    )
    return key


def authenticate(session: Session, authorization: str | None) -> tuple[ApiKey, Project]:
    """The key and project behind an ``Authorization: Bearer sw-...`` header, or Unauthenticated."""
    if not authorization:
        raise Unauthenticated("No API key was sent.", hint=_HOW_TO_GET_A_KEY)
    scheme, _, raw = authorization.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise Unauthenticated("The Authorization header is not of the form `Bearer sw-...`.", hint=_HOW_TO_GET_A_KEY)
    if not raw.startswith("sw-"):
        raise Unauthenticated("That is not a Stackwright API key (they start with sw-).", hint=_HOW_TO_GET_A_KEY)
    if not API_KEY_PATTERN.match(raw):  # every issued key matches; others (e.g. with NUL) never reach the database
        raise Unauthenticated("The API key is not valid.", hint=_HOW_TO_GET_A_KEY)
    row = session.execute(
        select(ApiKey, Project).join(Project, Project.id == ApiKey.project_id).where(ApiKey.prefix == key_prefix(raw))
    ).first()
    if row is None or not api_key_matches(raw, row[0].key_hash):
        raise Unauthenticated("The API key is not valid.", hint=_HOW_TO_GET_A_KEY)
    key, project = row
    if key.revoked_at is not None:
        raise Unauthenticated("The API key was revoked.", hint=_HOW_TO_GET_A_KEY)
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise Unauthenticated("The API key has expired.", hint=_HOW_TO_GET_A_KEY)
    return key, project


def touch_key(session: Session, key_id: str, interval_s: int) -> None:
    """Record last use, at most once per interval, with a conditional update (no read-modify-write race)."""
    now = utcnow()
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - timedelta(seconds=interval_s)))
        .values(last_used_at=now)
    )
