"""Online evaluation rules.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "eval_online_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filter", JSONType, nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("scorers", JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("watermark_ns", sa.BigInteger(), nullable=False),
        sa.Column("watermark_trace_id", sa.String(length=32), nullable=False),
        sa.Column("examined", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("unmeasured", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_eval_online_rules_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_online_rules")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_eval_online_rules_project_id_name")),
    )


def downgrade() -> None:
    op.drop_table("eval_online_rules")
