"""Alert history (de-duplication across workers) and an index for per-key reports.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "switchman_alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_switchman_alert_events_rule_ts", "switchman_alert_events", ["rule", "ts"])
    op.create_index("ix_switchman_calls_key_ts", "switchman_calls", ["key_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_switchman_calls_key_ts", "switchman_calls")
    op.drop_table("switchman_alert_events")
