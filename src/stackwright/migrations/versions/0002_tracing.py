"""Tracing: spans, traces, scores, per-project trace settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:13:51.990253
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")  # declared JSON on SQLite; 0017 re-declares it
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    op.create_table('scores',
    sa.Column('id', BigIntId, autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('data_type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('string_value', sa.String(length=200), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scores'))
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_project_name', ['project_id', 'name', 'created_at'], unique=False)
        batch_op.create_index('ix_scores_project_trace', ['project_id', 'trace_id'], unique=False)

    op.create_table('spans',
    sa.Column('id', BigIntId, autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('parent_span_id', sa.String(length=16), nullable=True),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('service_name', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('prompt_name', sa.String(length=200), nullable=True),
    sa.Column('prompt_version', sa.String(length=64), nullable=True),
    sa.Column('route', sa.String(length=200), nullable=True),
    sa.Column('environment', sa.String(length=64), nullable=True),
    sa.Column('release_arm', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('session_id', sa.String(length=256), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('total_tokens', sa.Integer(), nullable=True),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('documents', JSONType, nullable=True),
    sa.Column('attributes', JSONType, nullable=False),
    sa.Column('events', JSONType, nullable=True),
    sa.Column('resource', JSONType, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spans')),
    sa.UniqueConstraint('project_id', 'trace_id', 'span_id', name=op.f('uq_spans_project_id_trace_id_span_id'))
    )
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.create_index('ix_spans_project_start', ['project_id', 'start_ns'], unique=False)
        batch_op.create_index('ix_spans_project_user', ['project_id', 'user_id'], unique=False)

    op.create_table('traces',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('root_span_id', sa.String(length=16), nullable=True),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('span_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('service_name', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('prompt_name', sa.String(length=200), nullable=True),
    sa.Column('prompt_version', sa.String(length=64), nullable=True),
    sa.Column('route', sa.String(length=200), nullable=True),
    sa.Column('environment', sa.String(length=64), nullable=True),
    sa.Column('release_arm', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('session_id', sa.String(length=256), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('total_tokens', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', 'trace_id', name=op.f('pk_traces'))
    )
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index('ix_traces_project_cost', ['project_id', 'cost'], unique=False)
        batch_op.create_index('ix_traces_project_duration', ['project_id', 'duration_ms'], unique=False)
        batch_op.create_index('ix_traces_project_model', ['project_id', 'model', 'start_ns'], unique=False)
        batch_op.create_index('ix_traces_project_prompt', ['project_id', 'prompt_name', 'prompt_version', 'start_ns'], unique=False)
        batch_op.create_index('ix_traces_project_route', ['project_id', 'route', 'start_ns'], unique=False)
        batch_op.create_index('ix_traces_project_session', ['project_id', 'session_id', 'start_ns'], unique=False)
        batch_op.create_index('ix_traces_project_start', ['project_id', 'start_ns'], unique=False)
        batch_op.create_index('ix_traces_project_user', ['project_id', 'user_id', 'start_ns'], unique=False)

    op.create_table('trace_settings',
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('retention_days', sa.Integer(), nullable=True),
    sa.Column('prices', JSONType, nullable=False),
    sa.Column('updated_at', UTCDateTime, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_trace_settings_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_trace_settings'))
    )


def downgrade() -> None:
    op.drop_table('trace_settings')
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.drop_index('ix_traces_project_user')
        batch_op.drop_index('ix_traces_project_start')
        batch_op.drop_index('ix_traces_project_session')
        batch_op.drop_index('ix_traces_project_route')
        batch_op.drop_index('ix_traces_project_prompt')
        batch_op.drop_index('ix_traces_project_model')
        batch_op.drop_index('ix_traces_project_duration')
        batch_op.drop_index('ix_traces_project_cost')

    op.drop_table('traces')
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.drop_index('ix_spans_project_user')
        batch_op.drop_index('ix_spans_project_start')

    op.drop_table('spans')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_project_trace')
        batch_op.drop_index('ix_scores_project_name')

    op.drop_table('scores')
