"""Postgres without pgvector (a role that may not create the extension): the migration still succeeds,
collections use the embedded backend, and ingest fills the keyword column."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.conftest import _pg_execute, postgres_admin_url


@pytest.fixture
def database_without_vector():
    """A fresh database owned by a role that is not a superuser (pgvector is not a trusted extension)."""
    admin_url = postgres_admin_url()
    if "://postgres@" not in admin_url:
        pytest.skip("needs the test server's admin URL (user postgres, no password) to log in as a new role")
    suffix = uuid.uuid4().hex[:10]
    role, name = f"sw_novec_{suffix}", f"sw_test_novec_{suffix}"
    _pg_execute(admin_url, f"CREATE ROLE {role} LOGIN")
    _pg_execute(admin_url, f"CREATE DATABASE {name} OWNER {role}")
    base = admin_url.rsplit("/", 1)[0].replace("://postgres@", f"://{role}@", 1)
    yield f"{base}/{name}"
    _pg_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _pg_execute(admin_url, f"DROP ROLE IF EXISTS {role}")


def test_postgres_without_pgvector_uses_the_embedded_backend(tmp_path, database_without_vector):
    from stackwright.auth import service as auth_service
    from stackwright.auth.actors import cli_actor
    from stackwright.core.config import Settings
    from stackwright.retrieval.collections import service as collections
    from stackwright.retrieval.embedders import EmbedContext
    from stackwright.retrieval.ingest import DocumentInput, ingest_documents
    from stackwright.server.startup import prepare

    settings = Settings(home=tmp_path / "home", database_url=database_without_vector, log_format="text")
    db, _ = prepare(settings)
    try:
        with db.read() as session:
            project_id = auth_service.find_project(session, "default").id
            columns = set(session.scalars(text("SELECT column_name FROM information_schema.columns WHERE table_name = 'retrieval_chunks'")))
        assert "search_tsv" in columns and "embedding_vec" not in columns
        created = collections.create(EmbedContext(db, project_id), cli_actor(), {"name": "kb"})
        assert created["backend"] == "embedded"
        with db.read() as session:
            collection = collections.get_collection(session, project_id, "kb")
        report = ingest_documents(db, collection, [DocumentInput("faq", "Refunds take five business days.")])
        assert report.chunks_added == 1
        with db.read() as session:
            found = session.scalar(text("SELECT count(*) FROM retrieval_chunks WHERE search_tsv @@ plainto_tsquery('english', 'refund')"))
        assert found == 1
    finally:
        db.dispose()
