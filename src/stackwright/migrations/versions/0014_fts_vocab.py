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

# The DDL of stackwright.retrieval.index_schema when this migration was written, copied and frozen: a migration
# never imports live modules, whose later changes would change what it creates.
FTS_VOCAB_DDL = "CREATE VIRTUAL TABLE IF NOT EXISTS retrieval_chunks_fts_vocab USING fts5vocab('retrieval_chunks_fts', 'row')"
FTS_VOCAB_DROP = "DROP TABLE IF EXISTS retrieval_chunks_fts_vocab"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(FTS_VOCAB_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(FTS_VOCAB_DROP)
