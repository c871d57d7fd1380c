"""API shapes of the auth layer. Inputs reject unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["owner", "admin", "member", "viewer"]
Scope = Literal["read", "write", "admin"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    password: str | None = Field(default=None, min_length=8, max_length=200, description="Omit for an existing user.")
    role: Role = "member"


class UserUpdate(Input):
    role: Role


class MemberOut(BaseModel):
    id: str
    email: str
    role: Role
    is_admin: bool
    created_at: datetime
    joined_at: datetime


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=lambda: ["read", "write"], min_length=1)
    expires_at: datetime | None = None


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
    before: dict | None
    after: dict | None
    request_id: str | None
    created_at: datetime
