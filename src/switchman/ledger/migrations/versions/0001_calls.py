"""The calls table: one row per request.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "switchman_calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(128)),
        sa.Column("tenant", sa.String(128)),
        sa.Column("requested_model", sa.String(256), nullable=False),
        sa.Column("router", sa.String(256)),
        sa.Column("route", sa.String(512)),
        sa.Column("model", sa.String(256)),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.String(256)),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("cache_hit", sa.Boolean, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("usage_estimated", sa.Boolean, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("baseline_cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("n_attempts", sa.Integer, nullable=False),
        sa.Column("fallback", sa.Boolean, nullable=False),
        sa.Column("chain", sa.JSON, nullable=False),
        sa.Column("attempts", sa.JSON, nullable=False),
        sa.Column("feedback", sa.Float),
        sa.Column("prompt_body", sa.Text),
        sa.Column("response_body", sa.Text),
    )
    op.create_index("ix_switchman_calls_ts", "switchman_calls", ["ts"])
    op.create_index("ix_switchman_calls_model_ts", "switchman_calls", ["model", "ts"])


def downgrade() -> None:
    op.drop_table("switchman_calls")
