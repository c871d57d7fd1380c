"""`stackwright projects|users|keys|audit ...`: administer the store directly (audited as cli:<os user>)."""

from __future__ import annotations

from typing import Any

import typer

from stackwright.core import command_helpers as common

projects_app = typer.Typer(help="Projects: create and list.", no_args_is_help=True)
users_app = typer.Typer(help="Users: create and list; add them to projects with roles.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke; budgets and rate limits.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of every change.", no_args_is_help=True)
invitations_app = typer.Typer(
    help="Invitations: offer a role in a project to an email; its user accepts or declines.", no_args_is_help=True
)

ROLE_HELP = "Role in the project: owner, admin, member or viewer."


def _project_row(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "description": p.description, "created_at": p.created_at}


def _key_row(k: Any) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": k.scopes,
        "project_id": k.project_id,
        "user_id": k.user_id,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "last_used_at": k.last_used_at,
        "revoked_at": k.revoked_at,
    }


@projects_app.command("create")
def projects_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Lower-case letters, digits, '.', '_' or '-'."),
    description: str = typer.Option("", help="What the project is for."),
    owner: str = typer.Option(None, help="Email or id of a user to make owner."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create a project."""
    from stackwright.auth import service
    from stackwright.auth.actors import cli_actor

    actor = cli_actor()
    with common.database(ctx).write() as session:
        project = service.create_project(session, actor, name, description)
        if owner:
            service.add_member(session, actor, project.id, service.find_user(session, owner).id, "owner")
    if as_json:
        common.print_json(_project_row(project))
    else:
        typer.echo(f"Created project {project.name} ({project.id}).")


@projects_app.command("list")
def projects_list(ctx: typer.Context, as_json: bool = common.JSON_OPTION) -> None:
    """List all projects."""
    from stackwright.auth import service

    with common.database(ctx).read() as session:
        rows = [_project_row(p) for p in service.list_projects(session)]
    common.emit(rows, ["id", "name", "description", "created_at"], as_json, title="projects")


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The user's email."),
    password: str = typer.Option(None, help="At least 8 characters; prompted for if omitted on a terminal."),
    no_password: bool = typer.Option(False, "--no-password", help="Create without a password (API keys only)."),
    admin: bool = typer.Option(False, "--admin", help="Make an instance admin (may create projects)."),
    project: str = typer.Option(None, help="Add to this project (name or id)."),
    role: str = typer.Option("member", help=ROLE_HELP),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create a user, optionally adding them to a project."""
    import sys

    from stackwright.auth import service
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput

    if password is None and not no_password:
        if not sys.stdin.isatty():
            raise InvalidInput("No password given.", hint="Pass --password, or --no-password for a user without one.")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    actor = cli_actor()
    with common.database(ctx).write() as session:
        target = service.find_project(session, project) if project else None
        service.check_role(role)
        user = service.create_user(session, actor, email, password, is_admin=admin, project_id=target.id if target else None)
        if target:
            service.add_member(session, actor, target.id, user.id, role)
    row = {"id": user.id, "email": user.email, "is_admin": user.is_admin, "project": target and target.name, "role": target and role}
    if as_json:
        common.print_json(row)
    else:
        typer.echo(f"Created user {user.email} ({user.id})" + (f", {role} of {target.name}." if target else "."))


@users_app.command("set-password")
def users_set_password(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The user's email (or id)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from standard input."),
) -> None:
    """Set a user's password (prompted for, or read from stdin); their browser sessions end."""
    import sys

    from stackwright.auth import passwords
    from stackwright.auth.actors import cli_actor
    from stackwright.core.errors import InvalidInput

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        raise InvalidInput("No password given.", hint="Type it at the prompt on a terminal, or pipe it in with --password-stdin.")
    passwords.check_new_password(password)
    with common.database(ctx).write() as session:
        user = passwords.set_password(session, cli_actor(), email, password)
    typer.echo(f"Set the password of {user.email}; their browser sessions were signed out.")


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    project: str = typer.Option(None, help="Only members of this project (name or id), with their roles."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List users (or a project's members)."""
    from stackwright.auth import service

    with common.database(ctx).read() as session:
        if project:
            target = service.find_project(session, project)
            rows = [
                {"id": u.id, "email": u.email, "role": m.role, "is_admin": u.is_admin, "created_at": u.created_at}
                for u, m in service.list_members(session, target.id)
            ]
        else:
            rows = [
                {"id": u.id, "email": u.email, "role": None, "is_admin": u.is_admin, "created_at": u.created_at}
                for u in service.list_users(session)
            ]
    common.emit(rows, ["id", "email", "role", "is_admin", "created_at"], as_json, title="users")


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Email or id of an existing user."),
    project: str = typer.Option(..., help="Project name or id."),
    role: str = typer.Option("member", help=ROLE_HELP),
) -> None:
    """Add an existing user to a project with a role."""
    from stackwright.auth import service
    from stackwright.auth.actors import cli_actor

    with common.database(ctx).write() as session:
        target = service.find_project(session, project)
        user = service.find_user(session, email)
        service.add_member(session, cli_actor(), target.id, user.id, role)
    typer.echo(f"Added {user.email} to {target.name} as {role}.")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    project: str = typer.Option(..., help="Project name or id the key belongs to."),
    name: str = typer.Option("cli key", help="What the key is for."),
    scope: list[str] = typer.Option(["read", "write"], "--scope", help="read, write or admin; repeat for several."),
    user: str = typer.Option(None, help="Email or id of the user the key acts for."),
    expires_in_days: int = typer.Option(None, min=1, help="Expire after this many days (default: never)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Create an API key. The secret is printed once and never again."""
    from datetime import timedelta

    from stackwright.auth import keys, service
    from stackwright.auth.actors import cli_actor
    from stackwright.core.clock import utcnow

    with common.database(ctx).write() as session:
        target = service.find_project(session, project)
        owner = service.find_user(session, user) if user else None
        expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        key, raw = keys.create_key(
            session, cli_actor(), target.id, name, list(scope), user_id=owner.id if owner else None, expires_at=expires_at
        )
    if as_json:
        common.print_json({**_key_row(key), "key": raw})
    else:
        typer.echo(f"Created key {key.id} for project {target.name} with scopes {', '.join(key.scopes)}.")
        typer.echo("Store it now; it will not be shown again:")
        typer.echo(raw)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    project: str = typer.Option(..., help="Project name or id."),
    active: bool = typer.Option(False, "--active", help="Hide revoked keys."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List a project's keys (never their secrets)."""
    from stackwright.auth import keys, service

    with common.database(ctx).read() as session:
        target = service.find_project(session, project)
        rows = [_key_row(k) for k in keys.list_keys(session, target.id, include_revoked=not active)]
    common.emit(rows, ["id", "name", "prefix", "scopes", "last_used_at", "revoked_at"], as_json, title=f"keys of {project}")


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Key id (key_...) or the key's first 12 characters."),
    project: str = typer.Option(None, help="Only revoke if the key belongs to this project."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Revoke a key; requests with it answer 401 from then on."""
    from stackwright.auth import keys, service
    from stackwright.auth.actors import cli_actor

    with common.database(ctx).write() as session:
        project_id = service.find_project(session, project).id if project else None
        revoked = keys.revoke_key(session, cli_actor(), keys.find_key(session, key, project_id))
    if as_json:
        common.print_json(_key_row(revoked))
    else:
        typer.echo(f"Revoked key {revoked.id} ({revoked.prefix}…).")


KEY_REF_HELP = "Key id (key_...), the key's first 12 characters, or its name."


def _invitation_row(i: Any) -> dict[str, Any]:
    from stackwright.auth.invitations import shown_status

    return {
        "id": i.id, "project_id": i.project_id, "email": i.email, "role": i.role, "status": shown_status(i),
        "invited_by": i.invited_by, "created_at": i.created_at, "expires_at": i.expires_at, "answered_at": i.answered_at,
    }  # fmt: skip


INVITATION_COLUMNS = ["id", "email", "role", "status", "project_id", "expires_at"]


@invitations_app.command("create")
def invitations_create(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Email of the person to invite (an account may or may not exist yet)."),
    project: str = typer.Option(..., help="Project name or id."),
    role: str = typer.Option("member", help=ROLE_HELP),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Invite an email to a project; its user sees it with `invitations list --user` and accepts it."""
    from stackwright.auth import invitations, service
    from stackwright.auth.actors import cli_actor

    settings = common.settings(ctx)
    with common.database(ctx).write() as session:
        target = service.find_project(session, project)
        invitation = invitations.invite(session, cli_actor(), target.id, email, role, settings.invitation_ttl_days)
        row = _invitation_row(invitation)
    if as_json:
        common.print_json(row)
    else:
        typer.echo(f"Invited {row['email']} to {target.name} as {row['role']} ({row['id']}, expires {row['expires_at']:%Y-%m-%d}).")


@invitations_app.command("list")
def invitations_list(
    ctx: typer.Context,
    project: str = typer.Option(None, help="Every invitation of this project (name or id)."),
    user: str = typer.Option(None, help="The pending invitations of this user (email or id)."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """List a project's invitations, or a user's pending ones."""
    from stackwright.auth import invitations, service
    from stackwright.core.errors import InvalidInput

    if (project is None) == (user is None):
        raise InvalidInput("Give either --project or --user.", hint="--project P lists a project's; --user EMAIL a user's pending ones.")
    with common.database(ctx).read() as session:
        if project:
            rows = [_invitation_row(i) for i in invitations.list_for_project(session, service.find_project(session, project).id)]
        else:
            rows = [_invitation_row(i) for i, _ in invitations.list_for_user(session, service.find_user(session, user))]
    common.emit(rows, INVITATION_COLUMNS, as_json, title="invitations")


@invitations_app.command("accept")
def invitations_accept(
    ctx: typer.Context,
    invitation: str = typer.Argument(..., help="Invitation id (inv_...)."),
    user: str = typer.Option(..., help="Email or id of the invited user, on whose behalf the operator answers."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Accept an invitation for its user: they join the project, and a key of theirs there is printed once."""
    from stackwright.auth import invitations, service
    from stackwright.auth.actors import cli_actor

    with common.database(ctx).write() as session:
        accepted, member, key, raw = invitations.accept(session, cli_actor(), service.find_user(session, user), invitation)
        row = {**_invitation_row(accepted), "api_key": {**_key_row(key), "key": raw}}
    if as_json:
        common.print_json(row)
    else:
        typer.echo(f"{row['email']} joined {row['project_id']} as {member.role}. Their key, shown once:")
        typer.echo(raw)


@invitations_app.command("decline")
def invitations_decline(
    ctx: typer.Context,
    invitation: str = typer.Argument(..., help="Invitation id (inv_...)."),
    user: str = typer.Option(..., help="Email or id of the invited user."),
) -> None:
    """Decline an invitation for its user."""
    from stackwright.auth import invitations, service
    from stackwright.auth.actors import cli_actor

    with common.database(ctx).write() as session:
        declined = invitations.decline(session, cli_actor(), service.find_user(session, user), invitation)
    typer.echo(f"Declined invitation {declined.id}.")


@invitations_app.command("revoke")
def invitations_revoke(
    ctx: typer.Context,
    invitation: str = typer.Argument(..., help="Invitation id (inv_...)."),
    project: str = typer.Option(..., help="Project name or id the invitation belongs to."),
) -> None:
    """Revoke a pending invitation."""
    from stackwright.auth import invitations, service
    from stackwright.auth.actors import cli_actor

    with common.database(ctx).write() as session:
        revoked = invitations.revoke(session, cli_actor(), service.find_project(session, project).id, invitation)
    typer.echo(f"Revoked invitation {revoked.id}.")


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    project: str = typer.Option(None, help="Project name or id (default: every project and instance-wide changes)."),
    action: str = typer.Option(None, help="Only this action, e.g. key.create."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many entries, newest first."),
    as_json: bool = common.JSON_OPTION,
) -> None:
    """Show the audit log, newest first."""
    from stackwright.auth import audit, service

    with common.database(ctx).read() as session:
        project_id = service.find_project(session, project).id if project else None
        entries, _ = audit.list_entries(session, project_id, action=action, limit=limit, all_projects=project is None)
        rows = [
            {
                "id": e.id,
                "created_at": e.created_at,
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "project_id": e.project_id,
                "before": e.before,
                "after": e.after,
            }
            for e in entries
        ]
    common.emit(rows, ["id", "created_at", "actor", "action", "object_id", "project_id"], as_json, title="audit log")
