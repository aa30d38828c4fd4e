"""Time series and recent rows from the ledger, for the dashboard."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from switchman.ledger.queries import Percentiles, bucket_expr
from switchman.ledger.tables import alert_events, calls


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float  # unix seconds
    requests: int
    errors: int
    fallbacks: int
    cost_usd: float
    baseline_cost_usd: float
    latency_ms: Percentiles


def timeseries(engine: Engine, since: float, until: float, width_s: float) -> list[Bucket]:
    """One bucket per ``width_s`` seconds that has traffic, oldest first."""
    b = bucket_expr(engine, width_s).label("b")
    q = select(
        b,
        calls.c.status,
        calls.c.fallback,
        calls.c.cost_usd,
        calls.c.baseline_cost_usd,
        calls.c.latency_ms,
    ).where((calls.c.ts >= since) & (calls.c.ts < until))
    acc: dict[int, list[Any]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0, []])
    with engine.connect() as conn:
        for k, status, fallback, cost, base, latency in conn.execute(q):
            a = acc[int(k)]
            a[0] += 1
            a[1] += status >= 400
            a[2] += bool(fallback)
            a[3] += cost
            a[4] += base
            a[5].append(latency)
    return [
        Bucket(k * width_s, n, e, f, c, bc, Percentiles.of(lat))
        for k, (n, e, f, c, bc, lat) in sorted(acc.items())
    ]


RECENT_COLUMNS = (
    "id",
    "ts",
    "key_id",
    "requested_model",
    "router",
    "route",
    "model",
    "stream",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "usage_estimated",
    "cost_usd",
    "baseline_cost_usd",
    "latency_ms",
    "ttft_ms",
    "fallback",
    "chain",
    "attempts",
)


def recent(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The newest calls with their decision (chain with predicted quality and reasons) and attempts."""
    cols = [calls.c[c] for c in RECENT_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).order_by(calls.c.ts.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


def recent_alerts(engine: Engine, since: float, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert_events)
            .where(alert_events.c.ts >= since)
            .order_by(alert_events.c.ts.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]
