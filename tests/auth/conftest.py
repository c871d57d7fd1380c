"""Fixtures for the auth API tests: a second project, keys of any scope, clients per key, a DB fingerprint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select

from stackwright.auth import keys, service
from stackwright.auth.actors import SYSTEM
from stackwright.auth.models import ApiKey, AuditEntry, Membership, Project, User
from stackwright.core.db import Database
from tests.conftest import TEST_ADMIN_EMAIL

BASE_URL = "http://stackwright.test"


def db_state(db: Database) -> dict:
    """Everything the API can change (but a key's last-used time): compare before and after a rejected request."""
    with db.read() as s:
        return {
            "projects": sorted((p.id, p.name, p.description) for p in s.scalars(select(Project))),
            "users": sorted((u.id, u.email, u.is_admin, u.password_hash) for u in s.scalars(select(User))),
            "members": sorted((m.project_id, m.user_id, m.role) for m in s.scalars(select(Membership))),
            "keys": sorted(
                (k.id, k.project_id, k.name, tuple(k.scopes), str(k.expires_at), str(k.revoked_at))
                for k in s.scalars(select(ApiKey))
            ),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
        }


@pytest.fixture
def unchanged(prepared: Database) -> Callable[[], None]:
    """Call it after rejected requests: fails if anything was stored since the fixture was set up."""
    before = db_state(prepared)

    def check() -> None:
        assert db_state(prepared) == before

    return check


@dataclass
class Ctx:
    project_id: str
    admin_user_id: str


@pytest.fixture
def default(prepared: Database) -> Ctx:
    """Ids of the bootstrapped project and its admin user."""
    with prepared.read() as s:
        project = s.scalar(select(Project).where(Project.name == "default"))
        user = s.scalar(select(User).where(User.email == TEST_ADMIN_EMAIL))
        return Ctx(project_id=project.id, admin_user_id=user.id)


@dataclass
class OtherProject:
    project_id: str
    owner_id: str
    member_id: str
    key_id: str
    key: str


@pytest.fixture
def other(prepared: Database) -> OtherProject:
    """A second project with an owner, a member and an admin key, made through the service layer."""
    with prepared.write() as s:
        project = service.create_project(s, SYSTEM, "other", "Someone else's.")
        owner = service.create_user(s, SYSTEM, "owner@other.example", "other-password", project_id=project.id)
        member = service.create_user(s, SYSTEM, "member@other.example", None, project_id=project.id)
        service.add_member(s, SYSTEM, project.id, owner.id, "owner")
        service.add_member(s, SYSTEM, project.id, member.id, "member")
        key, raw = keys.create_key(s, SYSTEM, project.id, "other admin", ["admin"], user_id=owner.id)
        return OtherProject(project.id, owner.id, member.id, key.id, raw)


@pytest.fixture
def make_key(prepared: Database, default: Ctx) -> Callable[..., tuple[str, str]]:
    """Create a key in the default project (or ``project_id``); returns (key id, raw key)."""

    def make(
        scopes: list[str], *, project_id: str | None = None, user_id: str | None = None, expires_at: datetime | None = None
    ) -> tuple[str, str]:
        with prepared.write() as s:
            key, raw = keys.create_key(
                s, SYSTEM, project_id or default.project_id, f"test {'+'.join(scopes)}", scopes,
                user_id=user_id, expires_at=expires_at,
            )
            return key.id, raw

    return make


@pytest.fixture
def client_for(app) -> Iterator[Callable[..., httpx.Client]]:
    """A factory of in-process clients sending the given raw key (or none)."""
    from stackwright.sdk.transport import InProcessTransport

    clients: list[httpx.Client] = []

    def make(raw_key: str | None = None, **headers: str) -> httpx.Client:
        if raw_key is not None:
            headers["Authorization"] = f"Bearer {raw_key}"
        client = httpx.Client(transport=InProcessTransport(app), base_url=BASE_URL, headers=headers)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def audit_entries(client: httpx.Client, **params: str) -> list[dict]:
    response = client.get("/api/v1/audit", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]
