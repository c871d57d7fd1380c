"""REST routes of the auth layer. Every route is scoped to the caller's project: other projects answer 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from stackwright.auth import audit, invitations, keys, service
from stackwright.auth.actors import Actor, Caller
from stackwright.auth.deps import AdminCaller, ReadCaller
from stackwright.auth.models import ApiKey, Invitation, Membership, Project, User
from stackwright.auth.schemas import (
    AuditOut,
    InvitationAccepted,
    InvitationCreate,
    InvitationOut,
    KeyCreate,
    KeyCreated,
    KeyOut,
    MemberOut,
    MeOut,
    MyInvitationOut,
    ProjectCreate,
    ProjectCreated,
    ProjectOut,
    UserCreate,
    UserUpdate,
    UTCTime,
)
from stackwright.core.config import Settings
from stackwright.core.deps import SessionDep, SettingsDep
from stackwright.core.errors import Conflict, Forbidden, NotFound
from stackwright.core.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["auth"])


def _own_project(session: Session, caller_project: str | None, project_id: str) -> Project:
    project = session.get(Project, project_id) if project_id == caller_project else None
    if project is None:
        raise NotFound(f"No project {project_id!r}.", hint="Your key sees only its own project; GET /api/v1/projects.")
    return project


def _member_out(user: User, member: Membership) -> MemberOut:
    return MemberOut(
        id=user.id, email=user.email, role=member.role, is_admin=user.is_admin, created_at=user.created_at, joined_at=member.created_at
    )


def _key_created(key: ApiKey, raw: str) -> KeyCreated:
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), key=raw)


@router.get("/me", response_model=MeOut, summary="The calling key, its project and user")
def me(caller: ReadCaller, session: SessionDep) -> MeOut:
    key = keys.find_key(session, caller.key_id or "", caller.project_id)
    user = session.get(User, key.user_id) if key.user_id else None
    project = _own_project(session, caller.project_id, caller.project_id)
    return MeOut(project=ProjectOut.model_validate(project), key=KeyOut.model_validate(key), user_email=user.email if user else None)


@router.get("/projects", response_model=Page[ProjectOut], summary="Projects visible to the key (its own)")
def list_projects(caller: ReadCaller, session: SessionDep) -> Page[ProjectOut]:
    return Page(data=[ProjectOut.model_validate(p) for p in service.list_projects(session, only_id=caller.project_id)])


def _is_instance_admin(session: Session, caller: Actor) -> bool:
    user = session.get(User, caller.user_id) if caller.user_id else None
    return user is not None and user.is_admin


@router.post("/projects", response_model=ProjectCreated, status_code=201, summary="Create a project and its owner key")
def create_project(body: ProjectCreate, caller: AdminCaller, session: SessionDep) -> ProjectCreated:
    if not _is_instance_admin(session, caller):
        raise Forbidden(
            "Only an instance admin's key may create projects.",
            hint="Ask the operator: `stackwright projects create` on the server, or a key of an instance admin user.",
        )
    project = service.create_project(session, caller, body.name, body.description)
    # The creating key's project records it too, so its admins can see what their key made.
    audit.record(session, caller, "project.create", "project", project.id, project_id=caller.project_id, after=audit.snapshot(project))
    # The first key belongs to the new project alone (no user): it acts as the project's owner and nowhere else.
    key, raw = keys.create_key(session, caller, project.id, "first admin key", ["admin"])
    session.commit()
    return ProjectCreated(project=ProjectOut.model_validate(project), api_key=_key_created(key, raw))


@router.get("/projects/{project_id}", response_model=ProjectOut, summary="One project (only the key's own)")
def get_project(project_id: str, caller: ReadCaller, session: SessionDep) -> ProjectOut:
    return ProjectOut.model_validate(_own_project(session, caller.project_id, project_id))


@router.get("/users", response_model=Page[MemberOut], summary="Members of the key's project")
def list_members(caller: ReadCaller, session: SessionDep) -> Page[MemberOut]:
    rows = service.list_members(session, caller.project_id)
    return Page(data=[_member_out(u, m) for u, m in rows])


@router.post(
    "/users",
    response_model=MemberOut | InvitationOut,
    status_code=201,
    summary="Invite an email to the project (202); an instance admin may create a new account directly (201)",
    responses={202: {"model": InvitationOut, "description": "An invitation, whether or not the email has an account"}},
)
def add_member(body: UserCreate, caller: AdminCaller, session: SessionDep, settings: SettingsDep, response: Response) -> MemberOut | InvitationOut:
    email = service.check_email(body.email)
    if not _is_instance_admin(session, caller):
        # A project admin never learns whether an email has an account elsewhere: every email gets an invitation.
        if body.password is not None:
            raise Forbidden(
                "Only an instance admin creates accounts with a password.",
                hint="Omit the password: the email gets an invitation, accepted with the person's own account.",
            )
        return _invite(session, caller, email, body.role, settings, response)
    try:
        user = service.find_user(session, email)
    except NotFound:
        user = service.create_user(session, caller, email, body.password, project_id=caller.project_id)
    else:
        if body.password is not None:
            raise Conflict(
                f"A user with email {email!r} already exists.", hint="Omit the password to invite them to this project."
            )
        return _invite(session, caller, email, body.role, settings, response)
    member = service.add_member(session, caller, caller.project_id, user.id, body.role)
    session.commit()
    return _member_out(user, member)


def _invite(session: Session, caller: Caller, email: str, role: str, settings: Settings, response: Response) -> InvitationOut:
    """202: the invitation waits for its user's answer. Nothing in it depends on whether the email has an account."""
    invitation = invitations.invite(session, caller, caller.project_id, email, role, settings.invitation_ttl_days)
    session.commit()
    response.status_code = 202
    return _invitation_out(invitation)


def _invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut.model_validate(invitation).model_copy(update={"status": invitations.shown_status(invitation)})


@router.get("/invitations", response_model=Page[InvitationOut], summary="The project's invitations, newest first")
def list_invitations(caller: AdminCaller, session: SessionDep) -> Page[InvitationOut]:
    return Page(data=[_invitation_out(i) for i in invitations.list_for_project(session, caller.project_id)])


@router.post("/invitations", response_model=InvitationOut, status_code=202, summary="Invite an email to the project with a role")
def create_invitation(body: InvitationCreate, caller: AdminCaller, session: SessionDep, settings: SettingsDep, response: Response) -> InvitationOut:
    return _invite(session, caller, body.email, body.role, settings, response)


@router.delete("/invitations/{invitation_id}", response_model=InvitationOut, summary="Revoke a pending invitation (idempotent)")
def revoke_invitation(invitation_id: str, caller: AdminCaller, session: SessionDep) -> InvitationOut:
    invitation = invitations.revoke(session, caller, caller.project_id, invitation_id)
    session.commit()
    return _invitation_out(invitation)


@router.get("/me/invitations", response_model=Page[MyInvitationOut], summary="Pending invitations of the key's user")
def my_invitations(caller: ReadCaller, session: SessionDep) -> Page[MyInvitationOut]:
    rows = invitations.list_for_user(session, invitations.user_of(session, caller))
    return Page(data=[_my_invitation_out(i, p) for i, p in rows])


def _my_invitation_out(invitation: Invitation, project: Project) -> MyInvitationOut:
    return MyInvitationOut(
        id=invitation.id, project=ProjectOut.model_validate(project), role=invitation.role, created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )  # fmt: skip


@router.post(
    "/me/invitations/{invitation_id}/accept", response_model=InvitationAccepted, status_code=201,
    summary="Accept an invitation: join the project and get a key there (shown once)",
)  # fmt: skip
def accept_invitation(invitation_id: str, caller: ReadCaller, session: SessionDep) -> InvitationAccepted:
    invitation, member, key, raw = invitations.accept(session, caller, invitations.user_of(session, caller), invitation_id)
    session.commit()
    project = session.get(Project, invitation.project_id)
    return InvitationAccepted(project=ProjectOut.model_validate(project), role=member.role, api_key=_key_created(key, raw))


@router.post("/me/invitations/{invitation_id}/decline", response_model=InvitationOut, summary="Decline an invitation")
def decline_invitation(invitation_id: str, caller: ReadCaller, session: SessionDep) -> InvitationOut:
    invitation = invitations.decline(session, caller, invitations.user_of(session, caller), invitation_id)
    session.commit()
    return _invitation_out(invitation)


@router.get("/users/{user_id}", response_model=MemberOut, summary="One member of the project")
def get_member(user_id: str, caller: ReadCaller, session: SessionDep) -> MemberOut:
    member = service.get_membership(session, caller.project_id, user_id)
    return _member_out(session.get_one(User, user_id), member)


@router.patch("/users/{user_id}", response_model=MemberOut, summary="Change a member's role")
def update_member(user_id: str, body: UserUpdate, caller: AdminCaller, session: SessionDep) -> MemberOut:
    member = service.set_member_role(session, caller, caller.project_id, user_id, body.role)
    session.commit()
    return _member_out(session.get_one(User, user_id), member)


@router.delete("/users/{user_id}", status_code=204, summary="Remove a member from the project")
def remove_member(user_id: str, caller: AdminCaller, session: SessionDep) -> Response:
    service.remove_member(session, caller, caller.project_id, user_id)
    session.commit()
    return Response(status_code=204)


@router.get("/keys", response_model=Page[KeyOut], summary="API keys of the project (secrets never shown)")
def list_keys(caller: AdminCaller, session: SessionDep) -> Page[KeyOut]:
    return Page(data=[KeyOut.model_validate(k) for k in keys.list_keys(session, caller.project_id)])


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create a key; the secret is shown once")
def create_key(body: KeyCreate, caller: AdminCaller, session: SessionDep) -> KeyCreated:
    key, raw = keys.create_own_key(session, caller, caller.project_id, body.name, list(body.scopes), expires_at=body.expires_at)
    session.commit()
    return _key_created(key, raw)


@router.get("/keys/{key_id}", response_model=KeyOut, summary="One key")
def get_key(key_id: str, caller: AdminCaller, session: SessionDep) -> KeyOut:
    return KeyOut.model_validate(keys.find_key(session, key_id, caller.project_id))


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke a key (idempotent)")
def revoke_key(key_id: str, caller: AdminCaller, session: SessionDep) -> KeyOut:
    key = keys.revoke_key(session, caller, keys.find_key(session, key_id, caller.project_id))
    session.commit()
    return KeyOut.model_validate(key)


@router.get("/audit", response_model=Page[AuditOut], summary="Audit log of the project, newest first")
def list_audit(
    caller: AdminCaller,
    session: SessionDep,
    action: str | None = None,
    actor: Annotated[str | None, Query(max_length=200, description="Part of the actor's label, e.g. an email or key prefix")] = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: UTCTime | None = None,
    until: Annotated[UTCTime | None, Query(description="Entries before this time")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AuditOut]:
    rows, next_cursor = audit.list_entries(
        session,
        caller.project_id,
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return Page(data=[AuditOut.model_validate(r) for r in rows], next_cursor=next_cursor)
