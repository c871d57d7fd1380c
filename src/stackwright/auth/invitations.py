"""Invitations: how an existing account joins a project. A project admin offers a role to an email; the user
behind that email (now or once the operator creates the account) accepts or declines it.

Creating an invitation never looks at whether the email has an account, so its answer is the same for every
email: a project admin learns nothing about other projects' users. There is no secret token: only the
invited user's own credentials (a key of theirs, or the operator's CLI) can answer an invitation.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit, keys, service
from stackwright.auth.actors import ROLE_SCOPE, SCOPE_RANK, Actor
from stackwright.auth.models import ApiKey, Invitation, Membership, Project, User
from stackwright.core.clock import new_id, utcnow
from stackwright.core.errors import Conflict, Forbidden, NotFound

_ASK_AGAIN = "Ask an admin of the project for a new invitation."


def is_expired(invitation: Invitation) -> bool:
    return invitation.status == "pending" and invitation.expires_at <= utcnow()


def shown_status(invitation: Invitation) -> str:
    """pending, accepted, declined, revoked, or expired (a pending invitation past its time)."""
    return "expired" if is_expired(invitation) else invitation.status


def _member_by_email(session: Session, project_id: str, email: str) -> Membership | None:
    query = select(Membership).join(User, User.id == Membership.user_id)
    return session.scalar(query.where(Membership.project_id == project_id, User.email == email))


def _open_for(session: Session, project_id: str, email: str) -> Invitation | None:
    query = select(Invitation).where(
        Invitation.project_id == project_id, Invitation.email == email, Invitation.status == "pending", Invitation.expires_at > utcnow()
    )
    return session.scalar(query)


def invite(session: Session, actor: Actor, project_id: str, email: str, role: str, ttl_days: int) -> Invitation:
    """Offer ``role`` in the project to ``email``. Only this project's own members and invitations are looked at."""
    actor.require_scope("admin", "Inviting people to the project")
    email = service.check_email(email)
    service.check_role(role)
    service.require_role_over(session, actor, project_id, role)
    if _member_by_email(session, project_id, email) is not None:
        raise Conflict(f"{email} is already a member of this project.", hint="Change their role with PATCH /api/v1/users/{id}.")
    if _open_for(session, project_id, email) is not None:
        raise Conflict(f"{email} already has a pending invitation to this project.", hint="Revoke it first to send another.")
    now = utcnow()
    invitation = Invitation(
        id=new_id("inv"), project_id=project_id, email=email, role=role, status="pending", invited_by=actor.label,
        created_at=now, expires_at=now + timedelta(days=ttl_days),
    )  # fmt: skip
    session.add(invitation)
    session.flush()
    audit.record(session, actor, "invitation.create", "invitation", invitation.id, project_id=project_id, after=audit.snapshot(invitation))
    return invitation


def list_for_project(session: Session, project_id: str) -> list[Invitation]:
    query = select(Invitation).where(Invitation.project_id == project_id)
    return list(session.scalars(query.order_by(Invitation.created_at.desc(), Invitation.id)))


def find_in_project(session: Session, project_id: str, invitation_id: str) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.project_id != project_id:
        raise NotFound(f"No invitation {invitation_id!r} in this project.", hint="List them with GET /api/v1/invitations.")
    return invitation


def list_for_user(session: Session, user: User) -> list[tuple[Invitation, Project]]:
    """The user's pending, unexpired invitations, with their projects."""
    query = (
        select(Invitation, Project)
        .join(Project, Project.id == Invitation.project_id)
        .where(Invitation.email == user.email, Invitation.status == "pending", Invitation.expires_at > utcnow())
        .order_by(Invitation.created_at, Invitation.id)
    )
    return [(invitation, project) for invitation, project in session.execute(query)]


def find_for_user(session: Session, user: User, invitation_id: str) -> Invitation:
    """Someone else's invitation is not found, exactly like a missing one."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.email != user.email:
        raise NotFound(f"No invitation {invitation_id!r} for {user.email}.", hint="List yours with GET /api/v1/me/invitations.")
    return invitation


def _check_open(invitation: Invitation) -> None:
    if is_expired(invitation):
        raise Conflict(f"This invitation expired at {invitation.expires_at.isoformat()}.", hint=_ASK_AGAIN)
    if invitation.status != "pending":
        raise Conflict(f"This invitation was already {invitation.status}.", hint=_ASK_AGAIN)


def _answer(session: Session, actor: Actor, invitation: Invitation, status: str) -> None:
    before = audit.snapshot(invitation)
    invitation.status = status
    invitation.answered_at = utcnow()
    session.flush()
    action = {"accepted": "invitation.accept", "declined": "invitation.decline", "revoked": "invitation.revoke"}[status]
    audit.record(
        session, actor, action, "invitation", invitation.id, project_id=invitation.project_id, before=before,
        after=audit.snapshot(invitation),
    )  # fmt: skip


def accept(session: Session, actor: Actor, user: User, invitation_id: str) -> tuple[Invitation, Membership, ApiKey, str]:
    """Join the project with the invited role and get a key there. The key has the role's scopes, but never more than
    ``actor`` itself holds (a key never mints a stronger one); the CLI (the operator) holds every scope."""
    invitation = find_for_user(session, user, invitation_id)
    _check_open(invitation)
    if session.get(Membership, (invitation.project_id, user.id)) is not None:
        raise Conflict("You are already a member of this project.", hint="Decline the invitation instead.")
    _answer(session, actor, invitation, "accepted")
    member = service.insert_member(session, actor, invitation.project_id, user.id, invitation.role)
    ceiling = min(SCOPE_RANK[ROLE_SCOPE[invitation.role]], max(SCOPE_RANK[s] for s in actor.scopes))
    scopes = [scope for scope, rank in SCOPE_RANK.items() if rank <= ceiling]
    key, raw = keys.create_key(session, actor, invitation.project_id, f"invitation {invitation.id}", scopes, user_id=user.id)
    return invitation, member, key, raw


def decline(session: Session, actor: Actor, user: User, invitation_id: str) -> Invitation:
    invitation = find_for_user(session, user, invitation_id)
    _check_open(invitation)
    _answer(session, actor, invitation, "declined")
    return invitation


def revoke(session: Session, actor: Actor, project_id: str, invitation_id: str) -> Invitation:
    """Idempotent for revoked invitations; an answered one cannot be taken back (remove the member instead)."""
    actor.require_scope("admin", "Revoking an invitation")
    invitation = find_in_project(session, project_id, invitation_id)
    if invitation.status == "revoked":
        return invitation
    if invitation.status != "pending":
        raise Conflict(f"This invitation was already {invitation.status}.", hint="Remove the member with DELETE /api/v1/users/{id}.")
    _answer(session, actor, invitation, "revoked")
    return invitation


def user_of(session: Session, actor: Actor) -> User:
    """The account behind a key; a project's own key (no user) cannot hold invitations."""
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise Forbidden(
            "This key belongs to a project, not to a user, so it has no invitations.",
            hint="Use a key of your own user (from any project), or ask the operator: `stackwright invitations list --user EMAIL`.",
        )
    return user
