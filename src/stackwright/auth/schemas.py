"""API shapes of the auth layer. Inputs reject unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Role = Literal["owner", "admin", "member", "viewer"]
Scope = Literal["read", "write", "admin"]


def _to_utc(value: datetime) -> datetime:
    """Aware UTC (naive is read as UTC); a time that leaves the datetime range in UTC is a 422, not a 500."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


UTCTime = Annotated[datetime, AfterValidator(_to_utc)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Postgres cannot store NUL in text (SQLite can): refuse it on both, by field name.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=64, description="Lower-case letters, digits, '.', '_' or '-'.")
    description: str = Field(default="", max_length=500)


class ProjectOut(Output):
    id: str
    name: str
    description: str
    created_at: datetime


class UserCreate(Input):
    email: str = Field(min_length=3, max_length=320)
    password: str | None = Field(
        default=None, min_length=8, max_length=200,
        description="Instance admins only, for a new account. Without it the email gets an invitation to accept.",
    )
    role: Role = "member"


class InvitationCreate(Input):
    email: str = Field(min_length=3, max_length=320)
    role: Role = "member"


class InvitationOut(Output):
    """The same for every email: nothing in it says whether the email has an account."""

    id: str
    project_id: str
    email: str
    role: Role
    status: Literal["pending", "accepted", "declined", "revoked", "expired"]
    invited_by: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class MyInvitationOut(BaseModel):
    """What the invited user sees (not who invited them: an actor label names a key of a project they are not in yet)."""

    id: str
    project: ProjectOut
    role: Role
    created_at: datetime
    expires_at: datetime


class UserUpdate(Input):
    role: Role


class MemberOut(BaseModel):
    id: str
    email: str
    role: Role
    is_admin: bool
    created_at: datetime
    joined_at: datetime


def _default_scopes() -> list[Scope]:
    return ["read", "write"]


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=_default_scopes, min_length=1)
    expires_at: UTCTime | None = None


class KeyOut(Output):
    id: str
    project_id: str
    name: str
    prefix: str
    scopes: list[str]
    user_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. Shown only in this response; store it now.")


class ProjectCreated(BaseModel):
    project: ProjectOut
    api_key: KeyCreated


class InvitationAccepted(BaseModel):
    project: ProjectOut
    role: Role
    api_key: KeyCreated


class MeOut(BaseModel):
    project: ProjectOut
    key: KeyOut
    user_email: str | None


class AuditOut(Output):
    id: int
    project_id: str | None
    actor: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    created_at: datetime
