"""Read-side queries over the ledger for ``switchman report``, ``/dashboard`` and alerts.

Sums and counts run in SQL; percentiles are computed here from the latency column of the window (exact,
and the same on every database).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from switchman.ledger.tables import calls

GroupBy = Literal["model", "router", "key", "day"]
GROUP_BYS: tuple[GroupBy, ...] = ("model", "router", "key", "day")


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return float(sorted_values[int(k)])


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> Percentiles:
        v = sorted(values)
        return cls(percentile(v, 50), percentile(v, 95), percentile(v, 99))


@dataclass(frozen=True, slots=True)
class GroupStats:
    key: str
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    estimated: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    quality: float | None = None  # mean feedback/eval score where there is one
    rated: int = 0
    latency_ms: Percentiles = field(default_factory=Percentiles)
    ttft_ms: Percentiles = field(default_factory=Percentiles)

    @property
    def savings_usd(self) -> float:
        return self.baseline_cost_usd - self.cost_usd

    @property
    def savings_pct(self) -> float | None:
        return 100 * self.savings_usd / self.baseline_cost_usd if self.baseline_cost_usd else None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.requests if self.requests else 0.0

    @property
    def capture_rate(self) -> float:
        """Share of requests whose tokens came from the upstream's usage (not estimated)."""
        return 1 - self.estimated / self.requests if self.requests else 1.0

    @property
    def cost_per_request(self) -> float:
        return self.cost_usd / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": self.cost_usd,
            "baseline_cost_usd": self.baseline_cost_usd,
            "savings_usd": self.savings_usd,
            "savings_pct": self.savings_pct,
            "error_rate": self.error_rate,
            "fallback_rate": self.fallback_rate,
            "usage_capture_rate": self.capture_rate,
            "quality": self.quality,
            "latency_p50_ms": self.latency_ms.p50,
            "latency_p95_ms": self.latency_ms.p95,
            "latency_p99_ms": self.latency_ms.p99,
            "ttft_p50_ms": self.ttft_ms.p50,
            "ttft_p95_ms": self.ttft_ms.p95,
            "ttft_p99_ms": self.ttft_ms.p99,
        }


@dataclass(frozen=True, slots=True)
class Report:
    since: float
    until: float
    by: GroupBy | None
    total: GroupStats
    groups: tuple[GroupStats, ...]
    #: (router, served model, requests) for routed requests.
    mix: tuple[tuple[str, str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "by": self.by,
            "total": self.total.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "routing_mix": [{"router": r, "model": m, "requests": n} for r, m, n in self.mix],
        }


def bucket_expr(engine: Engine, width_s: float) -> ColumnElement[Any]:
    """``floor(ts / width)`` as an integer on every dialect."""
    x = calls.c.ts / width_s
    if engine.dialect.name == "sqlite":
        return cast(x, Integer)  # ts > 0: truncation is floor
    return cast(func.floor(x), Integer)


def group_expr(engine: Engine, by: GroupBy | None) -> ColumnElement[Any]:
    if by == "model":
        return func.coalesce(calls.c.model, "(none)")
    if by == "router":
        return func.coalesce(calls.c.router, "(direct)")
    if by == "key":
        return func.coalesce(calls.c.key_id, "(no key)")
    if by == "day":
        return bucket_expr(engine, 86400)
    return literal("all")


def _window(since: float, until: float) -> ColumnElement[bool]:
    return (calls.c.ts >= since) & (calls.c.ts < until)


def _as_int(v: Any) -> int:
    return int(v or 0)


def summarize(
    engine: Engine, since: float, until: float, by: GroupBy | None = None, **filters: str
) -> Report:
    """Totals and per-group stats of the calls in ``[since, until)``."""
    key = group_expr(engine, by).label("k")
    where = _window(since, until)
    for col, value in filters.items():
        where = where & (calls.c[col] == value)
    sums = select(
        key,
        func.count(),
        func.sum(case((calls.c.status >= 400, 1), else_=0)),
        func.sum(case((calls.c.fallback, 1), else_=0)),
        func.sum(case((calls.c.usage_estimated, 1), else_=0)),
        func.sum(calls.c.input_tokens),
        func.sum(calls.c.output_tokens),
        func.sum(calls.c.cached_tokens),
        func.sum(calls.c.cost_usd),
        func.sum(calls.c.baseline_cost_usd),
        func.avg(calls.c.feedback),
        func.count(calls.c.feedback),
    ).where(where)
    if by is not None:
        sums = sums.group_by(key)
    lat: dict[str, list[float]] = defaultdict(list)
    ttft: dict[str, list[float]] = defaultdict(list)
    with engine.connect() as conn:
        agg = conn.execute(sums).all()
        for k, latency, first in conn.execute(select(key, calls.c.latency_ms, calls.c.ttft_ms).where(where)):
            lat[str(k)].append(latency)
            if first is not None:
                ttft[str(k)].append(first)
        mix_rows = conn.execute(
            select(calls.c.router, calls.c.model, func.count())
            .where(where & calls.c.router.is_not(None) & calls.c.model.is_not(None))
            .group_by(calls.c.router, calls.c.model)
            .order_by(calls.c.router, func.count().desc())
        ).all()
    groups = [
        GroupStats(
            key=_label(by, k),
            requests=_as_int(n),
            errors=_as_int(err),
            fallbacks=_as_int(fb),
            estimated=_as_int(est),
            input_tokens=_as_int(i),
            output_tokens=_as_int(o),
            cached_tokens=_as_int(c),
            cost_usd=float(cost or 0),
            baseline_cost_usd=float(base or 0),
            quality=None if q is None else float(q),
            rated=_as_int(rated),
            latency_ms=Percentiles.of(lat[str(k)]),
            ttft_ms=Percentiles.of(ttft[str(k)]),
        )
        for k, n, err, fb, est, i, o, c, cost, base, q, rated in agg
        if n
    ]
    groups.sort(key=lambda g: (g.key if by == "day" else -g.cost_usd, g.key))
    total = _total(groups, lat, ttft)
    mix = tuple((str(r), str(m), int(n)) for r, m, n in mix_rows)
    return Report(since, until, by, total, tuple(groups), mix)


def _label(by: GroupBy | None, k: Any) -> str:
    if by == "day":
        import datetime as dt

        return dt.datetime.fromtimestamp(int(k) * 86400, dt.UTC).strftime("%Y-%m-%d")
    return str(k)


def _total(groups: list[GroupStats], lat: dict[str, list[float]], ttft: dict[str, list[float]]) -> GroupStats:
    rated = sum(g.rated for g in groups)
    quality = sum((g.quality or 0) * g.rated for g in groups) / rated if rated else None
    return GroupStats(
        key="total",
        requests=sum(g.requests for g in groups),
        errors=sum(g.errors for g in groups),
        fallbacks=sum(g.fallbacks for g in groups),
        estimated=sum(g.estimated for g in groups),
        input_tokens=sum(g.input_tokens for g in groups),
        output_tokens=sum(g.output_tokens for g in groups),
        cached_tokens=sum(g.cached_tokens for g in groups),
        cost_usd=sum(g.cost_usd for g in groups),
        baseline_cost_usd=sum(g.baseline_cost_usd for g in groups),
        quality=quality,
        rated=rated,
        latency_ms=Percentiles.of(v for vs in lat.values() for v in vs),
        ttft_ms=Percentiles.of(v for vs in ttft.values() for v in vs),
    )
