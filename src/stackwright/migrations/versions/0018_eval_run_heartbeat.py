"""Eval runs record the process running them and its heartbeat, so a run whose process died is reaped to
``interrupted`` (and can be resumed) instead of staying ``running`` forever.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Column types as stackwright.core.db defined them when this migration was written, copied and frozen: a
# migration never imports live modules, whose later changes would change what it creates.
UTCDateTime = sa.DateTime(timezone=True)  # the column of core.db's UTCDateTime (its conversions are Python-side)


def upgrade() -> None:
    with op.batch_alter_table("eval_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("eval_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
