"""Who is acting: an API key, the local CLI, or the system itself. Carried into every audit entry."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from stackwright.core.errors import Forbidden

SCOPE_RANK = {"read": 1, "write": 2, "admin": 3}
SCOPE_HOLDERS = {"read": "any role in the project", "write": "a member of the project or above", "admin": "an admin or owner of the project"}
ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}
ROLE_SCOPE = {"viewer": "read", "member": "write", "admin": "admin", "owner": "admin"}  # the most a role's keys may do


def scopes_within_role(scopes: tuple[str, ...] | list[str], role: str | None) -> tuple[str, ...]:
    """A user's key never acts above the user's role in the key's project: no role, no scope."""
    ceiling = SCOPE_RANK[ROLE_SCOPE[role]] if role else 0
    if max((SCOPE_RANK[s] for s in scopes), default=0) <= ceiling:
        return tuple(scopes)
    return (ROLE_SCOPE[role],) if role else ()


@dataclass(frozen=True)
class Actor:
    label: str
    project_id: str | None = None
    scopes: tuple[str, ...] = ()
    user_id: str | None = None
    key_id: str | None = None
    request_id: str | None = field(default=None, compare=False)

    def has_scope(self, needed: str) -> bool:
        """admin implies write, write implies read."""
        return max((SCOPE_RANK[s] for s in self.scopes), default=0) >= SCOPE_RANK[needed]

    def require_scope(self, needed: str, doing: str) -> None:
        """Forbidden unless the actor holds ``needed``: the check every caller (API key, web page, CLI) passes
        through in the service layer. ``doing`` says what was refused."""
        if not self.has_scope(needed):
            held = ", ".join(self.scopes) or "none"
            raise Forbidden(
                f"{doing} needs the {needed!r} scope ({SCOPE_HOLDERS[needed]}); you have {held}.",
                hint="Ask an admin of the project for the member role." if needed == "write"
                else "Ask an admin of the project to do it, or to give you a higher role.",
            )


@dataclass(frozen=True, kw_only=True)
class Caller(Actor):
    """An API key's actor: it always acts in the key's project."""

    project_id: str


def cli_actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(label=f"cli:{who}", scopes=("admin",))


SYSTEM = Actor(label="system", scopes=("admin",))
