"""Gateway: applied configs, encrypted provider secrets, response cache.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "gateway_configs",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_gateway_configs_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_gateway_configs")),
    )
    op.create_table(
        "gateway_secrets",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_gateway_secrets_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "name", name=op.f("pk_gateway_secrets")),
    )
    op.create_table(
        "gateway_cache",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("response", JSONType, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_gateway_cache_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "key", name=op.f("pk_gateway_cache")),
    )
    op.create_index("ix_gateway_cache_expires", "gateway_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_gateway_cache_expires", table_name="gateway_cache")
    op.drop_table("gateway_cache")
    op.drop_table("gateway_secrets")
    op.drop_table("gateway_configs")
