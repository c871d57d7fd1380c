"""Trace indexes for the UI's queries: keyset paging tie-breaks and status on traces.

Spans get no (trace, start) index: random trace ids make every such index cost a random B-tree
insert per span (it halved ingest speed); a trace's spans are found by the unique (project, trace,
span) index and ordered after. The (project, user) span index goes for the same reason: it served only
privacy deletes, rare admin requests that can afford a scan of the project's spans.

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
    op.drop_index("ix_spans_project_user", table_name="spans")
    op.create_index("ix_traces_project_status", "traces", ["project_id", "status", "start_ns"])
    for name, (_, columns) in _REPLACED.items():
        op.drop_index(name, table_name="traces")
        op.create_index(name, "traces", columns)


def downgrade() -> None:
    for name, (columns, _) in _REPLACED.items():
        op.drop_index(name, table_name="traces")
        op.create_index(name, "traces", columns)
    op.drop_index("ix_traces_project_status", table_name="traces")
    op.create_index("ix_spans_project_user", "spans", ["project_id", "user_id"])
