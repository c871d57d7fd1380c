"""Gateway budgets and rate limits: limit definitions and shared counters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "gateway_limits",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("daily_usd", sa.Float(), nullable=True),
        sa.Column("monthly_usd", sa.Float(), nullable=True),
        sa.Column("rpm", sa.BigInteger(), nullable=True),
        sa.Column("tpm", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_gateway_limits_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "scope", "subject", name=op.f("pk_gateway_limits")),
    )
    op.create_table(
        "gateway_counters",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("leased", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_gateway_counters_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(
            "project_id", "scope", "subject", "metric", "period", "period_start", "holder", name=op.f("pk_gateway_counters")
        ),
    )
    op.create_index("ix_gateway_counters_period_end", "gateway_counters", ["period_end"])
    op.create_index("ix_gateway_counters_holder_updated_at", "gateway_counters", ["holder", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_gateway_counters_holder_updated_at", table_name="gateway_counters")
    op.drop_index("ix_gateway_counters_period_end", table_name="gateway_counters")
    op.drop_table("gateway_counters")
    op.drop_table("gateway_limits")
