"""Datasets: datasets, immutable content-addressed versions, items shared between versions, version membership.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_datasets_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_datasets_project_id_name")),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("dataset_id", BigIntId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_versions_dataset_id_datasets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint("dataset_id", "version", name=op.f("uq_dataset_versions_dataset_id_version")),
        sa.UniqueConstraint("dataset_id", "content_hash", name=op.f("uq_dataset_versions_dataset_id_content_hash")),
    )
    op.create_table(
        "dataset_items",
        sa.Column("dataset_id", BigIntId, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("input", JSONType, nullable=False),
        sa.Column("expected", JSONType, nullable=True),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_items_dataset_id_datasets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "item_id", name=op.f("pk_dataset_items")),
    )
    op.create_table(
        "dataset_version_items",
        sa.Column("version_id", BigIntId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dataset_id", BigIntId, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["dataset_versions.id"], name=op.f("fk_dataset_version_items_version_id_dataset_versions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id", "item_id"],
            ["dataset_items.dataset_id", "dataset_items.item_id"],
            name=op.f("fk_dataset_version_items_dataset_id_dataset_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "position", name=op.f("pk_dataset_version_items")),
    )


def downgrade() -> None:
    op.drop_table("dataset_version_items")
    op.drop_table("dataset_items")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
