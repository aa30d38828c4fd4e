"""Everything one dashboard page shows, read from the ledger in one go (runs in a worker thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from switchman.ledger.queries import Report, summarize
from switchman.ledger.timeline import Bucket, recent, recent_alerts, timeseries


@dataclass(frozen=True, slots=True)
class DashboardData:
    since: float
    until: float
    bucket_s: float
    report: Report
    by_router: Report
    buckets: list[Bucket]
    recent: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def bucket_width(window_s: float) -> float:
    """About 60 points per chart, at least a minute each."""
    return max(60.0, window_s / 60)


def collect(engine: Engine, since: float, until: float, recent_limit: int = 50) -> DashboardData:
    width = bucket_width(until - since)
    return DashboardData(
        since=since,
        until=until,
        bucket_s=width,
        report=summarize(engine, since, until, "model"),
        by_router=summarize(engine, since, until, "router"),
        buckets=timeseries(engine, since, until, width),
        recent=recent(engine, recent_limit),
        alerts=recent_alerts(engine, since),
    )
