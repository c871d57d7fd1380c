"""The keyword index's fts5vocab table over retrieval_chunks_fts (SQLite only).

``retrieval_chunks_fts_vocab`` (``fts5vocab('retrieval_chunks_fts', 'row')``) gives the document frequency
of every term; the keyword accelerator reads FTS5's bm25 statistics through it. It holds no data of its own.
Databases where a search made it at run time (before this migration) keep theirs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from stackwright.retrieval import index_schema

    if op.get_bind().dialect.name == "sqlite":
        op.execute(index_schema.sqlite_fts_vocab_ddl())


def downgrade() -> None:
    from stackwright.retrieval import index_schema

    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {index_schema.FTS_VOCAB_TABLE}")
