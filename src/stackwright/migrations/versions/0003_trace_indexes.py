"""Trace indexes for the UI's queries: a trace's spans in time order, keyset paging tie-breaks, status.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_REPLACED = {
    "ix_traces_project_start": (["project_id", "start_ns"], ["project_id", "start_ns", "trace_id"]),
    "ix_traces_project_duration": (["project_id", "duration_ms"], ["project_id", "duration_ms", "trace_id"]),
    "ix_traces_project_cost": (["project_id", "cost"], ["project_id", "cost", "trace_id"]),
}


def upgrade() -> None:
    op.create_index("ix_spans_project_trace_start", "spans", ["project_id", "trace_id", "start_ns"])
    op.create_index("ix_traces_project_status", "traces", ["project_id", "status", "start_ns"])
    for name, (_, columns) in _REPLACED.items():
        op.drop_index(name, table_name="traces")
        op.create_index(name, "traces", columns)


def downgrade() -> None:
    for name, (columns, _) in _REPLACED.items():
        op.drop_index(name, table_name="traces")
        op.create_index(name, "traces", columns)
    op.drop_index("ix_traces_project_status", table_name="traces")
    op.drop_index("ix_spans_project_trace_start", table_name="spans")
