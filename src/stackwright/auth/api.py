"""REST routes of the auth layer. Every route is scoped to the caller's project: other projects answer 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from stackwright.auth import audit, keys, service
from stackwright.auth.deps import AdminCaller, ReadCaller
from stackwright.auth.models import ApiKey, Membership, Project, User
from stackwright.auth.schemas import (
    AuditOut,
    KeyCreate,
    KeyCreated,
    KeyOut,
    MemberOut,
    MeOut,
    ProjectCreate,
    ProjectCreated,
    ProjectOut,
    UserCreate,
    UserUpdate,
    UTCTime,
)
from stackwright.core.deps import SessionDep
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
    project = _own_project(session, caller.project_id, caller.project_id or "")
    return MeOut(project=ProjectOut.model_validate(project), key=KeyOut.model_validate(key), user_email=user and user.email)


@router.get("/projects", response_model=Page[ProjectOut], summary="Projects visible to the key (its own)")
def list_projects(caller: ReadCaller, session: SessionDep) -> Page[ProjectOut]:
    return Page(data=[ProjectOut.model_validate(p) for p in service.list_projects(session, only_id=caller.project_id)])


@router.post("/projects", response_model=ProjectCreated, status_code=201, summary="Create a project and its first admin key")
def create_project(body: ProjectCreate, caller: AdminCaller, session: SessionDep) -> ProjectCreated:
    user = session.get(User, caller.user_id) if caller.user_id else None
    if user is None or not user.is_admin:
        raise Forbidden(
            "Only an instance admin's key may create projects.",
            hint="Use a key created for an admin user, or `stackwright projects create` on the server.",
        )
    project = service.create_project(session, caller, body.name, body.description)
    # The creating key's project records it too, so its admins can see what their key made.
    audit.record(session, caller, "project.create", "project", project.id, project_id=caller.project_id, after=audit.snapshot(project))
    service.add_member(session, caller, project.id, user.id, "owner")
    key, raw = keys.create_key(session, caller, project.id, "first admin key", ["admin"], user_id=user.id)
    session.commit()
    return ProjectCreated(project=ProjectOut.model_validate(project), api_key=_key_created(key, raw))


@router.get("/projects/{project_id}", response_model=ProjectOut, summary="One project (only the key's own)")
def get_project(project_id: str, caller: ReadCaller, session: SessionDep) -> ProjectOut:
    return ProjectOut.model_validate(_own_project(session, caller.project_id, project_id))


@router.get("/users", response_model=Page[MemberOut], summary="Members of the key's project")
def list_members(caller: ReadCaller, session: SessionDep) -> Page[MemberOut]:
    rows = service.list_members(session, caller.project_id or "")
    return Page(data=[_member_out(u, m) for u, m in rows])


@router.post("/users", response_model=MemberOut, status_code=201, summary="Add a user (new or existing) to the project")
def add_member(body: UserCreate, caller: AdminCaller, session: SessionDep) -> MemberOut:
    email = service.check_email(body.email)
    try:
        user = service.find_user(session, email)
    except NotFound:
        user = service.create_user(session, caller, email, body.password, project_id=caller.project_id)
    else:
        if body.password is not None:
            raise Conflict(
                f"A user with email {email!r} already exists.", hint="Omit the password to add them to this project."
            )
    member = service.add_member(session, caller, caller.project_id or "", user.id, body.role)
    session.commit()
    return _member_out(user, member)


@router.get("/users/{user_id}", response_model=MemberOut, summary="One member of the project")
def get_member(user_id: str, caller: ReadCaller, session: SessionDep) -> MemberOut:
    member = service.get_membership(session, caller.project_id or "", user_id)
    return _member_out(session.get(User, user_id), member)


@router.patch("/users/{user_id}", response_model=MemberOut, summary="Change a member's role")
def update_member(user_id: str, body: UserUpdate, caller: AdminCaller, session: SessionDep) -> MemberOut:
    member = service.set_member_role(session, caller, caller.project_id or "", user_id, body.role)
    session.commit()
    return _member_out(session.get(User, user_id), member)


@router.delete("/users/{user_id}", status_code=204, summary="Remove a member from the project")
def remove_member(user_id: str, caller: AdminCaller, session: SessionDep) -> Response:
    service.remove_member(session, caller, caller.project_id or "", user_id)
    session.commit()
    return Response(status_code=204)


@router.get("/keys", response_model=Page[KeyOut], summary="API keys of the project (secrets never shown)")
def list_keys(caller: AdminCaller, session: SessionDep) -> Page[KeyOut]:
    return Page(data=[KeyOut.model_validate(k) for k in keys.list_keys(session, caller.project_id or "")])


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create a key; the secret is shown once")
def create_key(body: KeyCreate, caller: AdminCaller, session: SessionDep) -> KeyCreated:
    key, raw = keys.create_key(
        session, caller, caller.project_id or "", body.name, list(body.scopes), user_id=caller.user_id, expires_at=body.expires_at
    )
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
    object_type: str | None = None,
    object_id: str | None = None,
    since: UTCTime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AuditOut]:
    rows, next_cursor = audit.list_entries(
        session,
        caller.project_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        cursor=cursor,
        limit=limit,
    )
    return Page(data=[AuditOut.model_validate(r) for r in rows], next_cursor=next_cursor)
