"""Prompt registry: prompts, immutable versions, labels and the label history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("protected_labels", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_prompts_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_prompts_project_id_name")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("prompt_id", BigIntId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("messages", JSONType, nullable=True),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("tools", JSONType, nullable=True),
        sa.Column("response_format", JSONType, nullable=True),
        sa.Column("variables", JSONType, nullable=False),
        sa.Column("includes", JSONType, nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_versions_prompt_id_prompts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("prompt_id", "version", name=op.f("uq_prompt_versions_prompt_id_version")),
        sa.UniqueConstraint("prompt_id", "content_hash", name=op.f("uq_prompt_versions_prompt_id_content_hash")),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", BigIntId, nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("version_id", BigIntId, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_labels_prompt_id_prompts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["prompt_versions.id"], name=op.f("fk_prompt_labels_version_id_prompt_versions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("prompt_id", "label", name=op.f("pk_prompt_labels")),
    )
    op.create_index(op.f("ix_prompt_labels_version_id"), "prompt_labels", ["version_id"])
    op.create_table(
        "prompt_label_history",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("prompt_id", BigIntId, nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_label_history_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_label_history")),
    )
    op.create_index("ix_prompt_label_history_prompt_id_id", "prompt_label_history", ["prompt_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_prompt_label_history_prompt_id_id", table_name="prompt_label_history")
    op.drop_table("prompt_label_history")
    op.drop_index(op.f("ix_prompt_labels_version_id"), table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
