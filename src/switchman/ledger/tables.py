"""The ledger's tables (SQLAlchemy Core). Change them only together with a new migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Alembic's version table (prefixed, so the ledger can share a database with other apps).
VERSION_TABLE = "switchman_alembic_version"

#: One row per request the gateway answered (or refused after parsing).
calls = Table(
    "switchman_calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),  # unix seconds when the request arrived
    Column("key_id", String(128)),
    Column("tenant", String(128)),
    Column("requested_model", String(256), nullable=False),
    Column("router", String(256)),
    Column("route", String(512)),
    Column("model", String(256)),
    Column("stream", Boolean, nullable=False),
    Column("status", Integer, nullable=False),
    Column("error", String(256)),
    Column("truncated", Boolean, nullable=False),
    Column("cache_hit", Boolean, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("usage_estimated", Boolean, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("baseline_cost_usd", Float, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("n_attempts", Integer, nullable=False),
    Column("fallback", Boolean, nullable=False),
    Column("chain", JSON, nullable=False),
    Column("attempts", JSON, nullable=False),
    Column("feedback", Float),
    Column("prompt_body", Text),
    Column("response_body", Text),
    Index("ix_switchman_calls_ts", "ts"),
    Index("ix_switchman_calls_model_ts", "model", "ts"),
    Index("ix_switchman_calls_key_ts", "key_id", "ts"),
)

#: Alerts that fired (history for the dashboard, and de-duplication across worker processes).
alert_events = Table(
    "switchman_alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("rule", String(256), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_switchman_alert_events_rule_ts", "rule", "ts"),
)
