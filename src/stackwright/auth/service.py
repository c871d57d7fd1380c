"""Projects, users and memberships. No HTTP here: the API and the CLI both call these functions."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import ROLE_RANK, Actor
from stackwright.auth.keys import list_keys, revoke_key, role_of
from stackwright.auth.models import ROLES, Membership, Project, User
from stackwright.auth.passwords import check_new_password
from stackwright.auth.security import hash_password
from stackwright.core.clock import new_id, utcnow
from stackwright.core.config import EMAIL_PATTERN
from stackwright.core.errors import Conflict, Forbidden, InvalidInput, NotFound

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MANAGE_MEMBERS = "Managing the project's members"


def check_project_name(name: str) -> str:
    if not PROJECT_NAME.match(name):
        raise InvalidInput(
            f"Project name {name!r} is not valid.",
            hint="Use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return name


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise InvalidInput(f"{email!r} is not an email address.", hint="Use a form such as ada@example.com.")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Role {role!r} does not exist.", hint=f"Use one of: {', '.join(ROLES)}.")
    return role


# -- projects -------------------------------------------------------------------------------------


def create_project(session: Session, actor: Actor, name: str, description: str = "") -> Project:
    check_project_name(name)
    if session.scalar(select(Project.id).where(Project.name == name)):
        raise Conflict(f"A project named {name!r} already exists.", hint="Pick another name.")
    project = Project(id=new_id("prj"), name=name, description=description, created_at=utcnow())
    session.add(project)
    session.flush()
    audit.record(session, actor, "project.create", "project", project.id, project_id=project.id, after=audit.snapshot(project))
    return project


def list_projects(session: Session, only_id: str | None = None) -> list[Project]:
    query = select(Project).order_by(Project.created_at, Project.name)
    if only_id is not None:
        query = query.where(Project.id == only_id)
    return list(session.scalars(query))


def find_project(session: Session, ref: str) -> Project:
    """A project by id or name (CLI use; the API scopes by the key instead)."""
    project = session.get(Project, ref) or session.scalar(select(Project).where(Project.name == ref))
    if project is None:
        raise NotFound(f"No project {ref!r}.", hint="List projects with `stackwright projects list`.")
    return project


def choose_project(session: Session, flag: str | None, configured: str | None) -> Project:
    """The project a CLI command acts on: ``flag`` (its --project), else ``configured`` (STACKWRIGHT_PROJECT),
    else the only project, else the one named ``default``. Otherwise the error names the projects there are."""
    ref, source = (flag, "--project") if flag else (configured, "STACKWRIGHT_PROJECT")
    if ref:
        project = session.get(Project, ref) or session.scalar(select(Project).where(Project.name == ref))
        if project is None:
            raise NotFound(f"No project {ref!r} (from {source}); {_project_names(session)}.",
                           hint="Pass --project NAME or set STACKWRIGHT_PROJECT to one of them.")  # fmt: skip
        return project
    projects = list_projects(session)
    if len(projects) == 1:
        return projects[0]
    named_default = [p for p in projects if p.name == "default"]
    if named_default:
        return named_default[0]
    if not projects:
        raise NotFound("There is no project yet.", hint="Run `stackwright init` or `stackwright projects create NAME`.")
    raise InvalidInput(
        f"Which project? There are {len(projects)} and none is named 'default'; {_project_names(session)}.",
        hint="Pass --project NAME or set STACKWRIGHT_PROJECT.",
    )


def _project_names(session: Session, shown: int = 20) -> str:
    names = list(session.scalars(select(Project.name).order_by(Project.name).limit(shown + 1)))
    if not names:
        return "there is no project yet"
    more = " and more (`stackwright projects list`)" if len(names) > shown else ""
    return f"the projects are: {', '.join(names[:shown])}{more}"


# -- users ----------------------------------------------------------------------------------------


def create_user(
    session: Session, actor: Actor, email: str, password: str | None, *, is_admin: bool = False, project_id: str | None = None,
    password_hash: str | None = None,
) -> User:
    """``password_hash``: the argon2 hash of ``password`` when the caller computed it already."""
    email = check_email(email)
    if password is not None:
        check_new_password(password)
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"A user with email {email!r} already exists.", hint="Add the existing user to a project instead.")
    user = User(
        id=new_id("usr"),
        email=email,
        password_hash=(password_hash or hash_password(password)) if password else None,
        is_admin=is_admin,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, project_id=project_id, after=audit.snapshot(user))
    return user


def find_user(session: Session, ref: str) -> User:
    """A user by id or email."""
    user = session.get(User, ref) or session.scalar(select(User).where(User.email == ref.strip().lower()))
    if user is None:
        raise NotFound(f"No user {ref!r}.", hint="List users with `stackwright users list`.")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at, User.email)))


# -- memberships ----------------------------------------------------------------------------------


def require_role_over(session: Session, actor: Actor, project_id: str, *roles: str) -> None:
    """Nobody grants, changes or removes a role above their own. Keys without a user (a project's own keys),
    the CLI and the system act as owner."""
    mine = "owner" if actor.user_id is None else role_of(session, project_id, actor.user_id)
    needed = max(roles, key=ROLE_RANK.__getitem__)
    if ROLE_RANK.get(mine or "", 0) < ROLE_RANK[needed]:
        raise Forbidden(
            f"Your role in this project ({mine or 'none'}) is below {needed!r}: you cannot grant, change or remove it.",
            hint="Ask an owner of the project to do it.",
        )


def get_membership(session: Session, project_id: str, user_id: str) -> Membership:
    member = session.get(Membership, (project_id, user_id))
    if member is None:
        raise NotFound(f"User {user_id!r} is not a member of this project.", hint="List members with GET /api/v1/users.")
    return member


def add_member(session: Session, actor: Actor, project_id: str, user_id: str, role: str) -> Membership:
    actor.require_scope("admin", MANAGE_MEMBERS)
    check_role(role)
    require_role_over(session, actor, project_id, role)
    return insert_member(session, actor, project_id, user_id, role)


def insert_member(session: Session, actor: Actor, project_id: str, user_id: str, role: str) -> Membership:
    """Without the granting check: for a role granted already (an accepted invitation)."""
    if session.get(Membership, (project_id, user_id)) is not None:
        raise Conflict("That user is already a member of this project.", hint="Change their role with PATCH instead.")
    member = Membership(project_id=project_id, user_id=user_id, role=role, created_at=utcnow())
    session.add(member)
    session.flush()
    audit.record(
        session, actor, "member.add", "user", user_id, project_id=project_id, after=audit.snapshot(member)
    )
    return member


def _owner_count(session: Session, project_id: str) -> int:
    query = select(func.count()).select_from(Membership).where(Membership.project_id == project_id, Membership.role == "owner")
    return session.scalar(query) or 0


def set_member_role(session: Session, actor: Actor, project_id: str, user_id: str, role: str) -> Membership:
    actor.require_scope("admin", MANAGE_MEMBERS)
    check_role(role)
    member = get_membership(session, project_id, user_id)
    if member.role == role:
        return member
    require_role_over(session, actor, project_id, member.role, role)
    if member.role == "owner" and _owner_count(session, project_id) <= 1:
        raise Conflict("This is the project's last owner.", hint="Make another member owner first.")
    before = audit.snapshot(member)
    member.role = role
    session.flush()
    audit.record(
        session, actor, "member.update", "user", user_id, project_id=project_id, before=before, after=audit.snapshot(member)
    )
    return member


def remove_member(session: Session, actor: Actor, project_id: str, user_id: str) -> None:
    actor.require_scope("admin", MANAGE_MEMBERS)
    member = get_membership(session, project_id, user_id)
    require_role_over(session, actor, project_id, member.role)
    if member.role == "owner" and _owner_count(session, project_id) <= 1:
        raise Conflict("This is the project's last owner.", hint="Make another member owner first.")
    before = audit.snapshot(member)
    session.delete(member)
    session.flush()
    audit.record(session, actor, "member.remove", "user", user_id, project_id=project_id, before=before)
    for key in list_keys(session, project_id, include_revoked=False):
        if key.user_id == user_id:  # a removed member's keys stop working with them
            revoke_key(session, actor, key)


def list_members(session: Session, project_id: str) -> list[tuple[User, Membership]]:
    query = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id)
        .order_by(Membership.created_at, User.email)
    )
    return [(user, member) for user, member in session.execute(query)]
