"""Evaluations: runs and their per-case results.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec_name", sa.String(length=200), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("dataset_ref", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("total_cases", sa.Integer(), nullable=False),
        sa.Column("summary", JSONType, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_eval_runs_project_id_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
    )
    op.create_index("ix_eval_runs_project_id_name", "eval_runs", ["project_id", "name"])
    op.create_table(
        "eval_case_results",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=100), nullable=False),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("input", JSONType, nullable=True),
        sa.Column("expected", JSONType, nullable=True),
        sa.Column("output", JSONType, nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("scores", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["eval_runs.id"], name=op.f("fk_eval_case_results_run_id_eval_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_case_results")),
        sa.UniqueConstraint("run_id", "item_id", "repeat_index", name=op.f("uq_eval_case_results_run_id_item_id_repeat_index")),
    )


def downgrade() -> None:
    op.drop_table("eval_case_results")
    op.drop_index("ix_eval_runs_project_id_name", table_name="eval_runs")
    op.drop_table("eval_runs")
