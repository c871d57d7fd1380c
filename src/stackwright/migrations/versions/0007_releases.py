"""Releases: routes per environment and their history; alert records.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("stable", JSONType, nullable=False),
        sa.Column("candidate", JSONType, nullable=True),
        sa.Column("candidate_mode", sa.String(length=16), nullable=True),
        sa.Column("candidate_share", sa.Float(), nullable=True),
        sa.Column("candidate_salt", sa.String(length=32), nullable=True),
        sa.Column("candidate_started_at", UTCDateTime, nullable=True),
        sa.Column("required_eval", sa.String(length=200), nullable=True),
        sa.Column("rollback_rules", JSONType, nullable=True),
        sa.Column("last_rollback", JSONType, nullable=True),
        sa.Column("last_rollback_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_releases_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("project_id", "route", "environment", name=op.f("uq_releases_project_id_route_environment")),
    )
    op.create_table(
        "release_history",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("before", JSONType, nullable=True),
        sa.Column("after", JSONType, nullable=False),
        sa.Column("details", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name=op.f("fk_release_history_release_id_releases"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_history")),
    )
    op.create_index("ix_release_history_release_id_id", "release_history", ["release_id", "id"])
    op.create_table(
        "alerts",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("details", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_alerts_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_project_id_id", "alerts", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_project_id_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_release_history_release_id_id", table_name="release_history")
    op.drop_table("release_history")
    op.drop_table("releases")
