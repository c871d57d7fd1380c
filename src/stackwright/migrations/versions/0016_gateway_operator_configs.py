"""Gateway configs remember whether the operator applied them (from the CLI): only those may reach
loopback, private and link-local addresses without the egress allow-list.

Existing rows are marked as the operator's when the newest ``gateway.apply`` audit entry of the project
was made from the CLI (actor ``cli:...``); the others are held to the egress policy.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_configs") as batch:
        batch.add_column(sa.Column("applied_by_operator", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        sa.text(
            "UPDATE gateway_configs SET applied_by_operator = :yes WHERE EXISTS ("
            " SELECT 1 FROM audit_log a WHERE a.id = ("
            "  SELECT max(b.id) FROM audit_log b"
            "  WHERE b.project_id = gateway_configs.project_id AND b.action = 'gateway.apply')"
            " AND a.actor LIKE 'cli:%')"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("gateway_configs") as batch:
        batch.drop_column("applied_by_operator")
